//! The symbolic DAG file (`dag.json`), described in `docs/bundle-format.md`.

use super::Symbolic;
use super::dag::{Dag, Id, Node, op};
use serde::Deserialize;
use std::io::Write;

pub const FORMAT: &str = "ptd-symbolic";
pub const FORMAT_VERSION: u32 = 1;

/// A symbolic DAG file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {place}: {message}")]
pub struct SymbolicFormatError {
    pub file: String,
    pub place: String,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    format: String,
    format_version: u32,
    param_length: usize,
    n_vertices: usize,
    nodes: Vec<Vec<f64>>,
    edges: Vec<[f64; 3]>,
    vars: Vec<f64>,
    start: Vec<[f64; 2]>,
    forward: Vec<[f64; 3]>,
    pivots: Vec<f64>,
    rows: Vec<Vec<f64>>,
    #[serde(default)]
    discrete: bool,
}

fn write_f64(out: &mut Vec<u8>, x: f64) {
    serde_json::to_writer(&mut *out, &x).expect("finite float");
}

fn list<T>(out: &mut Vec<u8>, items: &[T], mut each: impl FnMut(&mut Vec<u8>, &T)) {
    out.push(b'[');
    for (i, it) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        each(out, it);
    }
    out.push(b']');
}

impl Symbolic {
    /// The DAG file's bytes; equal symbolic forms give equal bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.dag.nodes.len() * 12 + self.row_vars.len() * 16);
        write!(
            out,
            "{{\n\"format\": \"{FORMAT}\",\n\"format_version\": {FORMAT_VERSION},\n\"param_length\": {},\n\"n_vertices\": {},\n\"nodes\": ",
            self.param_length, self.n_vertices
        )
        .expect("vec write");
        let args = &self.dag.args;
        list(&mut out, &self.dag.nodes, |o, n| {
            let (code, ops): (u8, &[Id]) = match *n {
                Node::Const(x) => {
                    write!(o, "[{},", op::CONST).expect("vec write");
                    write_f64(o, x);
                    o.push(b']');
                    return;
                }
                Node::Param(i) => {
                    write!(o, "[{},{i}]", op::PARAM).expect("vec write");
                    return;
                }
                Node::Add(a, b) => (op::ADD, &[a, b]),
                Node::Sub(a, b) => (op::SUB, &[a, b]),
                Node::Mul(a, b) => (op::MUL, &[a, b]),
                Node::Div(a, b) => (op::DIV, &[a, b]),
                Node::Sum { start, len } => {
                    (op::SUM, &args[start as usize..(start + len) as usize])
                }
                Node::Dot { start, len } => {
                    (op::DOT, &args[start as usize..(start + 2 * len) as usize])
                }
            };
            write!(o, "[{code}").expect("vec write");
            for a in ops {
                write!(o, ",{a}").expect("vec write");
            }
            o.push(b']');
        });
        out.extend_from_slice(b",\n\"edges\": ");
        list(&mut out, &self.edges, |o, &(f, t, r)| {
            write!(o, "[{f},{t},{r}]").expect("vec write")
        });
        out.extend_from_slice(b",\n\"vars\": ");
        list(&mut out, &self.vars, |o, v| {
            write!(o, "{v}").expect("vec write")
        });
        out.extend_from_slice(b",\n\"start\": ");
        list(&mut out, &self.start, |o, &(i, p)| {
            write!(o, "[{i},").expect("vec write");
            write_f64(o, p);
            o.push(b']');
        });
        out.extend_from_slice(b",\n\"forward\": ");
        list(&mut out, &self.forward, |o, &(u, v, f)| {
            write!(o, "[{u},{v},{f}]").expect("vec write")
        });
        out.extend_from_slice(b",\n\"pivots\": ");
        list(&mut out, &self.pivots, |o, p| {
            write!(o, "{p}").expect("vec write")
        });
        out.extend_from_slice(b",\n\"rows\": ");
        let rows: Vec<usize> = (0..self.vars.len()).collect();
        list(&mut out, &rows, |o, &i| {
            let ks = self.row_offsets[i]..self.row_offsets[i + 1];
            let pairs: Vec<(u32, Id)> = ks.map(|k| (self.row_vars[k], self.row_nodes[k])).collect();
            o.push(b'[');
            for (j, (w, a)) in pairs.iter().enumerate() {
                if j > 0 {
                    o.push(b',');
                }
                write!(o, "{w},{a}").expect("vec write");
            }
            o.push(b']');
        });
        if self.discrete {
            out.extend_from_slice(b",\n\"discrete\": true");
        }
        out.extend_from_slice(b"\n}\n");
        out
    }

    /// Reads and checks a DAG file: every index is in range and every operand precedes its
    /// node, so evaluation cannot fail on a malformed file.
    pub fn from_bytes(bytes: &[u8], file: &str) -> Result<Symbolic, SymbolicFormatError> {
        let err = |place: String, message: String| SymbolicFormatError {
            file: file.to_string(),
            place,
            message,
        };
        let raw: Raw = serde_json::from_slice(bytes).map_err(|e| {
            err(
                format!("line {} column {}", e.line(), e.column()),
                format!("not a symbolic DAG file: {e}"),
            )
        })?;
        if raw.format != FORMAT || raw.format_version != FORMAT_VERSION {
            return Err(err(
                "format".into(),
                format!(
                    "is {} version {}; this ptd reads {FORMAT} version {FORMAT_VERSION} (upgrade ptd, or rebuild the bundle)",
                    raw.format, raw.format_version
                ),
            ));
        }
        // A DAG belongs to a graph, whose parameters are bounded so.
        if raw.param_length > crate::graph::file::MAX_PARAM_LENGTH {
            return Err(err(
                "param_length".into(),
                format!(
                    "is {}, more than the {} parameters ptd accepts",
                    raw.param_length,
                    crate::graph::file::MAX_PARAM_LENGTH
                ),
            ));
        }
        let idx = |place: &dyn Fn() -> String,
                   x: f64,
                   bound: usize|
         -> Result<u32, SymbolicFormatError> {
            if x.fract() == 0.0 && x >= 0.0 && (x as usize) < bound && x < u32::MAX as f64 {
                Ok(x as u32)
            } else {
                Err(err(place(), format!("{x} is not an index below {bound}")))
            }
        };
        let mut dag = Dag::default();
        for (i, n) in raw.nodes.iter().enumerate() {
            let place = || format!("nodes[{i}]");
            let Some((&code, ops)) = n.split_first() else {
                return Err(err(place(), "empty node".into()));
            };
            let arity_err = || {
                err(
                    place(),
                    format!("wrong number of operands for operator {code}"),
                )
            };
            let node = match code as u8 {
                _ if code.fract() != 0.0 || !(0.0..=7.0).contains(&code) => {
                    return Err(err(place(), format!("unknown operator {code}")));
                }
                op::CONST => match ops {
                    [x] if x.is_finite() => Node::Const(*x),
                    _ => return Err(arity_err()),
                },
                op::PARAM => match ops {
                    [p] => Node::Param(idx(&place, *p, raw.param_length)?),
                    _ => return Err(arity_err()),
                },
                op::SUM | op::DOT => {
                    if ops.is_empty() || (code as u8 == op::DOT && ops.len() % 2 != 0) {
                        return Err(arity_err());
                    }
                    let start = dag.args.len() as u32;
                    for &a in ops {
                        dag.args.push(idx(&place, a, i)?);
                    }
                    let len = ops.len() as u32;
                    if code as u8 == op::SUM {
                        Node::Sum { start, len }
                    } else {
                        Node::Dot {
                            start,
                            len: len / 2,
                        }
                    }
                }
                c => match ops {
                    [a, b] => {
                        let (a, b) = (idx(&place, *a, i)?, idx(&place, *b, i)?);
                        match c {
                            op::ADD => Node::Add(a, b),
                            op::SUB => Node::Sub(a, b),
                            op::MUL => Node::Mul(a, b),
                            _ => Node::Div(a, b),
                        }
                    }
                    _ => return Err(arity_err()),
                },
            };
            dag.nodes.push(node);
        }
        let nn = dag.nodes.len();
        let nv = raw.n_vertices;
        let m = raw.vars.len();
        let mut edges = Vec::with_capacity(raw.edges.len());
        for (i, e) in raw.edges.iter().enumerate() {
            let place = || format!("edges[{i}]");
            edges.push((
                idx(&place, e[0], nv)?,
                idx(&place, e[1], nv)?,
                idx(&place, e[2], nn)?,
            ));
        }
        let vars = (0..m)
            .map(|i| idx(&|| format!("vars[{i}]"), raw.vars[i], nv))
            .collect::<Result<Vec<_>, _>>()?;
        let mut start = Vec::with_capacity(raw.start.len());
        for (i, s) in raw.start.iter().enumerate() {
            let place = || format!("start[{i}]");
            if !(0.0..=1.0).contains(&s[1]) {
                return Err(err(
                    place(),
                    format!("probability {} is not in [0, 1]", s[1]),
                ));
            }
            start.push((idx(&place, s[0], m)?, s[1]));
        }
        let mut forward = Vec::with_capacity(raw.forward.len());
        for (i, f) in raw.forward.iter().enumerate() {
            let place = || format!("forward[{i}]");
            forward.push((
                idx(&place, f[0], m)?,
                idx(&place, f[1], m)?,
                idx(&place, f[2], nn)?,
            ));
        }
        if raw.pivots.len() != m || raw.rows.len() != m {
            return Err(err(
                "pivots".into(),
                format!(
                    "{} pivots and {} rows for {m} unknowns",
                    raw.pivots.len(),
                    raw.rows.len()
                ),
            ));
        }
        let pivots = (0..m)
            .map(|i| idx(&|| format!("pivots[{i}]"), raw.pivots[i], nn))
            .collect::<Result<Vec<_>, _>>()?;
        let mut row_offsets = vec![0];
        let mut row_vars = Vec::new();
        let mut row_nodes = Vec::new();
        for (i, r) in raw.rows.iter().enumerate() {
            let place = || format!("rows[{i}]");
            if r.len() % 2 != 0 {
                return Err(err(
                    place(),
                    "a row is a flat list of (unknown, node) pairs".into(),
                ));
            }
            for p in r.chunks_exact(2) {
                row_vars.push(idx(&place, p[0], m)?);
                row_nodes.push(idx(&place, p[1], nn)?);
            }
            row_offsets.push(row_vars.len());
        }
        let rate_nodes = super::rate_nodes(&dag, &edges);
        Ok(Symbolic {
            param_length: raw.param_length,
            n_vertices: nv,
            dag,
            edges,
            vars,
            start,
            forward,
            pivots,
            row_offsets,
            row_vars,
            row_nodes,
            rate_nodes,
            discrete: raw.discrete,
        })
    }
}
