//! The binary DAG layout, `dag.bin` in a bundle (`docs/bundle-format.md`): the symbolic form's
//! arrays written little-endian ([`crate::layout`]) and read straight back into them, with the
//! same checks as the JSON form (`dag.json`): every index in range, every operand before its
//! node, so evaluation cannot fail or read out of bounds on a damaged file.

use super::Symbolic;
use super::dag::{Dag, Id, Node, op};
use super::format::SymbolicFormatError;
use crate::layout::{Ints, LayoutError, Reader, Writer};

/// The layout's magic.
pub const MAGIC: &[u8; 8] = b"PTDDAG\0\0";
/// The layout version: version 2 of the `ptd-symbolic` format (version 1 is `dag.json`).
pub const VERSION: u32 = 2;
/// Flag bit: the form of a discrete graph.
const DISCRETE: u32 = 1;

impl From<LayoutError> for SymbolicFormatError {
    fn from(e: LayoutError) -> Self {
        SymbolicFormatError {
            file: e.file,
            place: e.place,
            message: e.message,
        }
    }
}

/// The three columns of a list of triples.
fn columns(xs: &[(u32, u32, Id)]) -> [Vec<u32>; 3] {
    [
        xs.iter().map(|t| t.0).collect(),
        xs.iter().map(|t| t.1).collect(),
        xs.iter().map(|t| t.2).collect(),
    ]
}

impl Symbolic {
    /// The symbolic form in the binary layout; equal forms give equal bytes.
    pub fn to_binary(&self) -> Vec<u8> {
        let nodes = &self.dag.nodes;
        let mut ops = Vec::with_capacity(nodes.len());
        let mut a = Vec::with_capacity(nodes.len());
        let mut b = Vec::with_capacity(nodes.len());
        let mut consts = Vec::new();
        let mut args: Vec<Id> = Vec::with_capacity(self.dag.args.len());
        for n in nodes {
            let (code, x, y) = match *n {
                Node::Const(v) => {
                    consts.push(v);
                    (op::CONST, consts.len() as u32 - 1, 0)
                }
                Node::Param(j) => (op::PARAM, j, 0),
                Node::Add(p, q) => (op::ADD, p, q),
                Node::Sub(p, q) => (op::SUB, p, q),
                Node::Mul(p, q) => (op::MUL, p, q),
                Node::Div(p, q) => (op::DIV, p, q),
                Node::Sum { start, len } => {
                    let at = args.len() as u32;
                    args.extend_from_slice(&self.dag.args[start as usize..(start + len) as usize]);
                    (op::SUM, at, len)
                }
                Node::Dot { start, len } => {
                    let at = args.len() as u32;
                    args.extend_from_slice(
                        &self.dag.args[start as usize..(start + 2 * len) as usize],
                    );
                    (op::DOT, at, len)
                }
            };
            ops.push(code);
            a.push(x);
            b.push(y);
        }
        let flags = if self.discrete { DISCRETE } else { 0 };
        let size = nodes.len() * 9 + args.len() * 4 + self.row_vars.len() * 8;
        let mut w = Writer::new(MAGIC, VERSION, flags, size + self.forward.len() * 12);
        w.u64(self.param_length as u64);
        w.u64(self.n_vertices as u64);
        w.u8s(&ops);
        w.uints(&a);
        w.uints(&b);
        w.f64s(consts.into_iter());
        w.uints(&args);
        for column in columns(&self.edges) {
            w.uints(&column);
        }
        w.uints(&self.vars);
        w.uints(&self.start.iter().map(|s| s.0).collect::<Vec<_>>());
        w.f64s(self.start.iter().map(|s| s.1));
        for column in columns(&self.forward) {
            w.uints(&column);
        }
        w.uints(&self.pivots);
        w.uints(
            &self
                .row_offsets
                .iter()
                .map(|&o| o as u32)
                .collect::<Vec<_>>(),
        );
        w.uints(&self.row_vars);
        w.uints(&self.row_nodes);
        w.finish()
    }

    /// Reads and checks a binary DAG: every index is in range and every operand precedes its
    /// node, so evaluation cannot fail on a malformed file.
    pub fn from_binary(bytes: &[u8], file: &str) -> Result<Symbolic, SymbolicFormatError> {
        let mut r = Reader::open(
            bytes,
            MAGIC,
            (VERSION, DISCRETE),
            file,
            "a binary symbolic DAG (dag.bin)",
        )?;
        let discrete = r.flags & DISCRETE != 0;
        // A DAG belongs to a graph, whose parameters are bounded so.
        let param_length = r.size("param_length", crate::graph::file::MAX_PARAM_LENGTH as u64)?;
        let nv = r.size("n_vertices", u32::MAX as u64)?;
        let ops = r.u8s("ops")?;
        let a = r.uints("a")?;
        let b = r.uints("b")?;
        let consts = r.f64s("constants")?;
        let args = r.uints("args")?;
        let edges = [
            r.uint_column("edge_from")?,
            r.uint_column("edge_to")?,
            r.uint_column("edge_rate")?,
        ];
        let vars = r.uints("vars")?;
        let start_unknowns = r.uints("start_unknowns")?;
        let start_probs = r.f64s("start_probabilities")?;
        let forward = [
            r.uint_column("forward_to")?,
            r.uint_column("forward_from")?,
            r.uint_column("forward_node")?,
        ];
        let pivots = r.uints("pivots")?;
        let row_offsets = r.uints("row_offsets")?;
        let row_vars = r.uints("row_unknowns")?;
        let row_nodes = r.uints("row_nodes")?;
        r.finish()?;
        let err = |place: String, message: String| SymbolicFormatError {
            file: file.to_string(),
            place,
            message,
        };
        let nn = ops.len();
        if a.len() != nn || b.len() != nn {
            return Err(err(
                "a".into(),
                format!("{} and {} operands for {nn} nodes", a.len(), b.len()),
            ));
        }
        let below = |place: &dyn Fn() -> String, x: u32, bound: usize| {
            if (x as usize) < bound {
                Ok(x)
            } else {
                Err(err(place(), format!("{x} is not an index below {bound}")))
            }
        };
        // Every element of a column below `bound`: one pass for the maximum, and the first
        // element that is too large only on failure.
        let all_below = |name: &str, xs: &[u32], bound: usize| {
            if xs
                .iter()
                .copied()
                .max()
                .is_none_or(|m| (m as usize) < bound)
            {
                return Ok(());
            }
            let k = xs
                .iter()
                .position(|&x| x as usize >= bound)
                .expect("one is too large");
            Err(err(
                format!("{name}[{k}]"),
                format!("{} is not an index below {bound}", xs[k]),
            ))
        };
        let mut nodes = Vec::with_capacity(nn);
        let (mut next_const, mut next_arg) = (0usize, 0usize);
        for i in 0..nn {
            let place = || format!("nodes[{i}]");
            let (x, y) = (a[i], b[i]);
            let node = match ops[i] {
                op::CONST => {
                    if x as usize != next_const || next_const >= consts.len() {
                        return Err(err(
                            place(),
                            format!(
                                "constant {x}: constants are numbered in node order, the next is {next_const} of {}",
                                consts.len()
                            ),
                        ));
                    }
                    let v = consts[next_const];
                    next_const += 1;
                    if !v.is_finite() {
                        return Err(err(place(), format!("constant {v} is not finite")));
                    }
                    Node::Const(v)
                }
                op::PARAM => Node::Param(below(&place, x, param_length)?),
                code @ (op::SUM | op::DOT) => {
                    let width = if code == op::SUM { 1 } else { 2 };
                    let count = (y as usize) * width;
                    if x as usize != next_arg || y == 0 || count > args.len() - next_arg {
                        return Err(err(
                            place(),
                            format!(
                                "operands {x}..+{count}: a sum or dot product takes the next {} and at least one, of {} operands",
                                next_arg,
                                args.len()
                            ),
                        ));
                    }
                    for k in next_arg..next_arg + count {
                        below(&|| format!("args[{k}]"), args[k], i)?;
                    }
                    next_arg += count;
                    if code == op::SUM {
                        Node::Sum { start: x, len: y }
                    } else {
                        Node::Dot { start: x, len: y }
                    }
                }
                code @ (op::ADD | op::SUB | op::MUL | op::DIV) => {
                    let (p, q) = (below(&place, x, i)?, below(&place, y, i)?);
                    match code {
                        op::ADD => Node::Add(p, q),
                        op::SUB => Node::Sub(p, q),
                        op::MUL => Node::Mul(p, q),
                        _ => Node::Div(p, q),
                    }
                }
                code => return Err(err(place(), format!("unknown operator {code}"))),
            };
            nodes.push(node);
        }
        if next_const != consts.len() || next_arg != args.len() {
            return Err(err(
                "constants".into(),
                format!(
                    "{} constants and {} operands are listed but the nodes use {next_const} and {next_arg}",
                    consts.len(),
                    args.len()
                ),
            ));
        }
        let m = vars.len();
        let triples = |names: [&str; 3], cols: &[Ints<'_>; 3], bounds: [usize; 3]| {
            for ((name, col), bound) in names.iter().zip(cols).zip(bounds) {
                if col.len() != cols[0].len() {
                    return Err(err(
                        (*name).into(),
                        format!(
                            "has {} entries, {} has {}",
                            col.len(),
                            names[0],
                            cols[0].len()
                        ),
                    ));
                }
                if col.max().is_some_and(|m| m as usize >= bound) {
                    let k = (0..col.len())
                        .find(|&k| col.get(k) as usize >= bound)
                        .expect("one is too large");
                    return Err(err(
                        format!("{name}[{k}]"),
                        format!("{} is not an index below {bound}", col.get(k)),
                    ));
                }
            }
            Ok((0..cols[0].len())
                .map(|k| (cols[0].get(k), cols[1].get(k), cols[2].get(k)))
                .collect::<Vec<_>>())
        };
        let edges = triples(["edge_from", "edge_to", "edge_rate"], &edges, [nv, nv, nn])?;
        all_below("vars", &vars, nv)?;
        if start_unknowns.len() != start_probs.len() {
            return Err(err(
                "start_probabilities".into(),
                format!(
                    "{} probabilities for {} unknowns",
                    start_probs.len(),
                    start_unknowns.len()
                ),
            ));
        }
        let mut start = Vec::with_capacity(start_unknowns.len());
        for (k, (&u, &p)) in start_unknowns.iter().zip(&start_probs).enumerate() {
            if !(0.0..=1.0).contains(&p) {
                return Err(err(
                    format!("start_probabilities[{k}]"),
                    format!("probability {p} is not in [0, 1]"),
                ));
            }
            start.push((below(&|| format!("start_unknowns[{k}]"), u, m)?, p));
        }
        let forward = triples(
            ["forward_to", "forward_from", "forward_node"],
            &forward,
            [m, m, nn],
        )?;
        if pivots.len() != m || row_offsets.len() != m + 1 {
            return Err(err(
                "pivots".into(),
                format!(
                    "{} pivots and {} row offsets for {m} unknowns (expected {m} and {})",
                    pivots.len(),
                    row_offsets.len(),
                    m + 1
                ),
            ));
        }
        all_below("pivots", &pivots, nn)?;
        if row_vars.len() != row_nodes.len() {
            return Err(err(
                "row_nodes".into(),
                format!("{} nodes for {} unknowns", row_nodes.len(), row_vars.len()),
            ));
        }
        if row_offsets[0] != 0 || row_offsets[m] as usize != row_vars.len() {
            return Err(err(
                "row_offsets".into(),
                format!("must run from 0 to the {} row entries", row_vars.len()),
            ));
        }
        for i in 0..m {
            if row_offsets[i + 1] < row_offsets[i] {
                return Err(err(
                    format!("row_offsets[{}]", i + 1),
                    "row offsets must not decrease".into(),
                ));
            }
        }
        all_below("row_unknowns", &row_vars, m)?;
        all_below("row_nodes", &row_nodes, nn)?;
        let dag = Dag { nodes, args };
        let rate_nodes = super::rate_nodes(&dag, &edges);
        Ok(Symbolic {
            param_length,
            n_vertices: nv,
            dag,
            edges,
            vars,
            start,
            forward,
            pivots,
            row_offsets: row_offsets.into_iter().map(|o| o as usize).collect(),
            row_vars,
            row_nodes,
            rate_nodes,
            discrete,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::GraphBuilder;

    fn model(discrete: bool) -> crate::graph::Graph {
        let mut b = GraphBuilder::new(1, 2);
        b.set_discrete(discrete);
        let (x, _) = b.find_or_create(&[1]);
        let (y, _) = b.find_or_create(&[2]);
        let (z, _) = b.find_or_create(&[3]);
        let (d, _) = b.find_or_create(&[4]);
        b.add_start_edge(x, 1.0);
        b.add_start_edge(z, 0.5);
        b.add_edge(x, y, &[1.0, 0.0]);
        b.add_edge(y, x, &[0.0, 2.0]);
        b.add_edge(y, z, &[0.5, 0.5]);
        b.add_edge(z, x, &[0.25, 0.0]);
        b.add_edge(x, d, &[0.5, 0.0]);
        b.add_edge(z, d, &[0.0, 1.0]);
        b.build().unwrap()
    }

    #[test]
    fn forms_round_trip_byte_for_byte_and_agree_with_the_json_form() {
        for discrete in [false, true] {
            let s = crate::eliminate::eliminate(&model(discrete));
            let bytes = s.to_binary();
            let back = Symbolic::from_binary(&bytes, "dag.bin").unwrap();
            assert_eq!(
                back,
                Symbolic::from_bytes(&s.to_bytes(), "dag.json").unwrap()
            );
            assert_eq!(back.to_binary(), bytes);
            assert_eq!(back.to_bytes(), s.to_bytes());
            let theta = [0.7, 1.3];
            assert_eq!(
                back.moments(&theta, 3).unwrap(),
                s.moments(&theta, 3).unwrap()
            );
        }
    }

    #[test]
    fn damage_is_refused_with_its_place() {
        let s = crate::eliminate::eliminate(&model(false));
        let good = s.to_binary();
        let nn = s.dag.nodes.len();
        let at = crate::layout::field_offsets(&good, KINDS).unwrap();
        let check = |bytes: Vec<u8>, want: &str| {
            let e = Symbolic::from_binary(&bytes, "dag.bin")
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("dag.bin: "), "{e}");
            assert!(e.contains(want), "{e}\n  expected: {want}");
        };
        let mut b = good.clone();
        b[..8].copy_from_slice(b"PTDDAGX\0");
        check(b, "header: not a binary symbolic DAG");
        let mut b = good.clone();
        b[8] = 1;
        check(b, "layout version 1");
        // The first node made an operator that does not exist.
        let mut b = good.clone();
        b[at[2].0] = 9;
        check(b, "nodes[0]: unknown operator 9");
        // The last binary operation pointing at itself (its operand `a`, one byte wide here).
        let last = (0..nn)
            .rev()
            .find(|&i| {
                matches!(
                    s.dag.nodes[i],
                    Node::Div(..) | Node::Mul(..) | Node::Add(..)
                )
            })
            .unwrap();
        assert_eq!(at[3].1, 1);
        let mut b = good.clone();
        b[at[3].0 + last] = last as u8;
        check(
            b,
            &format!("nodes[{last}]: {last} is not an index below {last}"),
        );
        // A pivot past the nodes.
        let mut b = good.clone();
        b[at[16].0] = 200;
        check(b, "pivots[0]: 200 is not an index below");
        check(good[..good.len() - 4].to_vec(), "row_nodes: ");
        // More parameters than any graph may have: refused before anything is sized by them.
        let mut b = good.clone();
        b[at[0].0..at[0].0 + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
        check(
            b,
            "param_length: 1099511627776 is more than the 1048576 allowed",
        );
        let mut b = good.clone();
        b.extend_from_slice(&[0; 8]);
        check(b, "end: 8 bytes follow");
    }

    /// The fields of `dag.bin` ([`crate::layout::field_offsets`]).
    const KINDS: &str = "uubiifiiiiiifiiiiiii";
}
