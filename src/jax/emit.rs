//! The JAX evaluator: tables derived from a symbolic DAG (`evaluator.bin`) and ptd's own Python
//! module that reads them (`evaluator.py`, the same text for every model), computing the moments
//! as pure `jax.numpy` code batched over a leading axis.
//!
//! XLA compiles a few array operations per *level* far faster than one operation per node, so
//! the module works level by level: the DAG's nodes are renumbered by depth (operands before
//! users) and every level is one gather, one product and one scatter-add; the triangular sweeps
//! are scheduled the same way. Each node is written as a sum of products (`a + b` as
//! `a*1 + b*1`, `a - b` as `a*1 + b*(-1)`, both exact), so the values equal `ptd eval`'s up to
//! the order of additions inside a level. The tables are little-endian int32 and float64 arrays
//! in a small binary file; no code is derived from, or shipped in, a bundle.

use crate::eliminate::{Id, Node, Symbolic};

/// What the module's header names.
pub struct Header<'a> {
    pub name: &'a str,
    pub version: &'a semver::Version,
    pub parameters: &'a [String],
    /// The graph's canonical content hash.
    pub graph_hash: &'a str,
}

/// The tables the module decodes, in the order it reads them.
#[derive(Default)]
struct Tables {
    ints: Vec<i32>,
    floats: Vec<f64>,
}

impl Tables {
    fn int(&mut self, x: usize) {
        self.ints
            .push(i32::try_from(x).expect("model sizes fit in int32"));
    }
    fn array(&mut self, xs: impl IntoIterator<Item = usize>) {
        let at = self.ints.len();
        self.ints.push(0);
        let mut n = 0;
        for x in xs {
            self.int(x);
            n += 1;
        }
        self.ints[at] = n;
    }
}

/// Node levels: constants and parameters 0, any other node one more than its deepest operand.
fn levels(s: &Symbolic) -> Vec<usize> {
    let dag = &s.dag;
    let mut level = vec![0usize; dag.nodes.len()];
    for (i, node) in dag.nodes.iter().enumerate() {
        let ops: &[Id] = match node {
            Node::Const(_) | Node::Param(_) => &[],
            Node::Add(a, b) | Node::Sub(a, b) | Node::Mul(a, b) | Node::Div(a, b) => {
                level[i] = 1 + level[*a as usize].max(level[*b as usize]);
                continue;
            }
            Node::Sum { start, len } => &dag.args[*start as usize..(*start + *len) as usize],
            Node::Dot { start, len } => &dag.args[*start as usize..(*start + 2 * *len) as usize],
        };
        level[i] = ops
            .iter()
            .map(|&a| 1 + level[a as usize])
            .max()
            .unwrap_or(0);
    }
    level
}

/// Builds the tables: node renumbering by level, per-level terms, and the sweep schedules.
fn tables(s: &Symbolic) -> Tables {
    let dag = &s.dag;
    let n = dag.nodes.len();
    let level = levels(s);
    // Level 0 first: constants (plus 1 and -1 for sums and differences), then parameters.
    let mut consts: Vec<f64> = Vec::new();
    let mut params: Vec<usize> = Vec::new();
    let mut new_id = vec![usize::MAX; n];
    for (i, node) in dag.nodes.iter().enumerate() {
        if let Node::Const(x) = node {
            new_id[i] = consts.len();
            consts.push(*x);
        }
    }
    let one = consts.len();
    consts.push(1.0);
    let minus_one = consts.len();
    consts.push(-1.0);
    for (i, node) in dag.nodes.iter().enumerate() {
        if let Node::Param(j) = node {
            new_id[i] = consts.len() + params.len();
            params.push(*j as usize);
        }
    }
    let depth = level.iter().copied().max().unwrap_or(0);
    let mut by_level: Vec<Vec<usize>> = vec![Vec::new(); depth + 1];
    for i in 0..n {
        if level[i] > 0 {
            by_level[level[i]].push(i);
        }
    }
    let mut next = consts.len() + params.len();
    for nodes in &by_level[1..] {
        for &i in nodes {
            new_id[i] = next;
            next += 1;
        }
    }
    let total = next;
    let mut t = Tables::default();
    let node_levels = by_level[1..].iter().filter(|l| !l.is_empty()).count();
    for x in [total, consts.len(), params.len(), s.vars.len(), node_levels] {
        t.int(x);
    }
    t.array(params.iter().copied());
    for nodes in by_level[1..].iter().filter(|l| !l.is_empty()) {
        let start = new_id[nodes[0]];
        let (mut a, mut b, mut seg) = (Vec::new(), Vec::new(), Vec::new());
        let (mut dpos, mut num, mut den) = (Vec::new(), Vec::new(), Vec::new());
        for (k, &i) in nodes.iter().enumerate() {
            let id = |x: Id| new_id[x as usize];
            let mut term = |x: usize, y: usize| {
                a.push(x);
                b.push(y);
                seg.push(k);
            };
            match dag.nodes[i] {
                Node::Const(_) | Node::Param(_) => unreachable!("level 0"),
                Node::Add(x, y) => {
                    term(id(x), one);
                    term(id(y), one);
                }
                Node::Sub(x, y) => {
                    term(id(x), one);
                    term(id(y), minus_one);
                }
                Node::Mul(x, y) => term(id(x), id(y)),
                Node::Div(x, y) => {
                    dpos.push(k);
                    num.push(id(x));
                    den.push(id(y));
                }
                Node::Sum { start, len } => {
                    for &x in &dag.args[start as usize..(start + len) as usize] {
                        term(id(x), one);
                    }
                }
                Node::Dot { start, len } => {
                    for p in dag.args[start as usize..(start + 2 * len) as usize].chunks_exact(2) {
                        term(id(p[0]), id(p[1]));
                    }
                }
            }
        }
        t.int(start);
        t.int(nodes.len());
        for xs in [a, b, seg, dpos, num, den] {
            t.array(xs);
        }
    }
    sweeps(s, &new_id, &mut t);
    t.floats = consts;
    t.floats.extend(s.start.iter().map(|&(_, p)| p));
    t
}

/// The forward sweep grouped by the level of the value it reads, and back-substitution grouped
/// by dependency level, then the start distribution.
fn sweeps(s: &Symbolic, new_id: &[usize], t: &mut Tables) {
    let m = s.vars.len();
    // c[v] is final once every update into it has been applied.
    let mut ready = vec![0usize; m];
    for &(u, v, _) in &s.forward {
        ready[u as usize] = ready[u as usize].max(ready[v as usize] + 1);
    }
    let fdepth = s.forward.iter().map(|f| ready[f.1 as usize]).max();
    let flevels = fdepth.map_or(0, |d| d + 1);
    t.int(flevels);
    for l in 0..flevels {
        let ops: Vec<&(u32, u32, Id)> = s
            .forward
            .iter()
            .filter(|f| ready[f.1 as usize] == l)
            .collect();
        t.array(ops.iter().map(|f| f.1 as usize));
        t.array(ops.iter().map(|f| new_id[f.2 as usize]));
        t.array(ops.iter().map(|f| f.0 as usize));
    }
    // x[i] needs x[w] for every w in its row (all later unknowns).
    let mut lvl = vec![0usize; m];
    for i in (0..m).rev() {
        lvl[i] = (s.row_offsets[i]..s.row_offsets[i + 1])
            .map(|k| lvl[s.row_vars[k] as usize] + 1)
            .max()
            .unwrap_or(0);
    }
    let blevels = lvl.iter().max().map_or(0, |d| d + 1);
    t.int(blevels);
    for l in 0..blevels {
        let idx: Vec<usize> = (0..m).filter(|&i| lvl[i] == l).collect();
        let (mut seg, mut a, mut w) = (Vec::new(), Vec::new(), Vec::new());
        for (k, &i) in idx.iter().enumerate() {
            for j in s.row_offsets[i]..s.row_offsets[i + 1] {
                seg.push(k);
                a.push(new_id[s.row_nodes[j] as usize]);
                w.push(s.row_vars[j] as usize);
            }
        }
        t.array(idx.iter().map(|&i| new_id[s.pivots[i] as usize]));
        t.array(idx);
        t.array(seg);
        t.array(a);
        t.array(w);
    }
    t.array(s.start.iter().map(|&(i, _)| i as usize));
}

/// The evaluator's data file: magic, format version, a JSON header, then the tables.
pub const TABLES_MAGIC: &[u8; 8] = b"PTDEVAL\0";
pub const TABLES_FORMAT_VERSION: u32 = 1;

fn pad8(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(8) {
        out.push(0);
    }
}

/// `evaluator.bin`: the tables [`MODULE`] reads, identical for identical input. Layout
/// (little-endian): the 8-byte magic `PTDEVAL\0`, u32 format version, u32 header length, the
/// JSON header (name, version, parameters, graph hash, param_length, ints, floats), zero padding
/// to a multiple of 8, `ints` int32 values, zero padding to a multiple of 8, `floats` float64
/// values.
pub fn tables_file(s: &Symbolic, h: &Header) -> Vec<u8> {
    let t = tables(s);
    let header = serde_json::json!({
        "name": h.name,
        "version": h.version.to_string(),
        "parameters": h.parameters,
        "graph_hash": h.graph_hash,
        "param_length": s.param_length,
        "ints": t.ints.len(),
        "floats": t.floats.len(),
    });
    let header = serde_json::to_vec(&header).expect("header serializes");
    let mut out = Vec::with_capacity(24 + header.len() + 4 * t.ints.len() + 8 * t.floats.len());
    out.extend_from_slice(TABLES_MAGIC);
    out.extend_from_slice(&TABLES_FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    out.extend_from_slice(&header);
    pad8(&mut out);
    for x in &t.ints {
        out.extend_from_slice(&x.to_le_bytes());
    }
    pad8(&mut out);
    for x in &t.floats {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

/// The evaluator module: ptd's own code, the same for every model, which reads the tables from
/// `evaluator.bin` beside it. Bundles never carry code; ptd writes this module next to the
/// tables it derives from a verified DAG.
pub const MODULE: &str = include_str!("evaluator.py");

/// The evaluator's two files, module and tables, as (name, bytes).
pub fn evaluator_files(s: &Symbolic, h: &Header) -> [(&'static str, Vec<u8>); 2] {
    [
        (super::EVALUATOR, MODULE.as_bytes().to_vec()),
        (super::EVALUATOR_TABLES, tables_file(s, h)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tables_file_is_aligned_and_names_its_sizes() {
        let mut b = crate::graph::GraphBuilder::new(1, 1);
        let (a, _) = b.find_or_create(&[1]);
        let (z, _) = b.find_or_create(&[2]);
        b.add_start_edge(a, 1.0);
        b.add_edge(a, z, &[2.0]);
        let s = crate::eliminate::eliminate(&b.build().unwrap());
        let v = semver::Version::new(1, 0, 0);
        let h = Header {
            name: "t/x",
            version: &v,
            parameters: &["theta".to_string()],
            graph_hash: "00",
        };
        let bytes = tables_file(&s, &h);
        assert_eq!(&bytes[..8], TABLES_MAGIC);
        let hlen = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
        let header: serde_json::Value = serde_json::from_slice(&bytes[16..16 + hlen]).unwrap();
        let ints = header["ints"].as_u64().unwrap() as usize;
        let floats = header["floats"].as_u64().unwrap() as usize;
        let at = (16 + hlen).div_ceil(8) * 8;
        let at = (at + 4 * ints).div_ceil(8) * 8;
        assert_eq!(bytes.len(), at + 8 * floats);
        assert_eq!(tables_file(&s, &h), bytes, "deterministic");
    }
}
