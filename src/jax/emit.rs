//! The JAX evaluator: tables derived from a symbolic DAG (`evaluator.bin`) and ptd's own Python
//! module that reads them (`evaluator.py`, the same text for every model).
//!
//! The module keeps the model as data: every loop over the DAG or the triangular sweeps is one
//! `jax.lax.scan` over rectangular tables, so the program XLA compiles has the same operations
//! for every model and only its array shapes grow with the model. The DAG's nodes are renumbered
//! by depth (operands before users) and each depth level is cut into *steps* of at most a fixed
//! number of terms: a step gathers its operands, multiplies them and scatter-adds the products
//! into the nodes it computes (`a + b` is `a*1 + b*1`, `a - b` is `a*1 + b*(-1)`, both exact),
//! and sets its divisions. The forward sweep is scheduled by the level at which the value it
//! reads is final, back-substitution by dependency level, both cut into steps the same way.
//! Unused slots of a step point at spare entries past the real ones and at the constant 1, so
//! they compute finite values that nothing reads. The values equal `ptd eval`'s up to the order
//! of additions. The tables are named little-endian int32 and float64 arrays in a small binary
//! file; no code is derived from, or shipped in, a bundle.

use crate::eliminate::{Id, Node, Symbolic};

/// What the module's header names, and what the tables need beyond the DAG.
pub struct Header<'a> {
    pub name: &'a str,
    pub version: &'a semver::Version,
    pub parameters: &'a [String],
    /// The graph's canonical content hash.
    pub graph_hash: &'a str,
    /// The absorption time's atom at 0: the share of the start weight that goes straight to
    /// absorbing vertices ([`crate::eliminate::start_atom`]).
    pub atom0: f64,
}

enum Data {
    Int(Vec<i32>),
    Float(Vec<f64>),
}

/// One named array of the tables file.
struct Array {
    name: &'static str,
    shape: Vec<usize>,
    data: Data,
}

/// The tables the module reads, by name.
#[derive(Default)]
struct Tables {
    arrays: Vec<Array>,
}

fn int32(x: usize) -> i32 {
    i32::try_from(x).expect("model sizes fit in int32")
}

impl Tables {
    fn ints(&mut self, name: &'static str, shape: &[usize], xs: Vec<i32>) {
        debug_assert_eq!(shape.iter().product::<usize>(), xs.len(), "{name}");
        self.arrays.push(Array {
            name,
            shape: shape.to_vec(),
            data: Data::Int(xs),
        });
    }
    fn floats(&mut self, name: &'static str, xs: Vec<f64>) {
        self.arrays.push(Array {
            name,
            shape: vec![xs.len()],
            data: Data::Float(xs),
        });
    }
    /// A padded schedule: one `steps x width` array per field.
    fn steps(&mut self, names: &[&'static str], lane: Lane) {
        assert_eq!(names.len(), lane.fields.len());
        for (name, xs) in names.iter().zip(lane.fields) {
            self.ints(name, &[lane.steps, lane.width], xs);
        }
    }
}

/// One kind of work in a padded schedule: `fields[f][step * width + slot]`.
struct Lane {
    steps: usize,
    width: usize,
    fields: Vec<Vec<i32>>,
}

impl Lane {
    /// A lane of `steps` steps of `width` slots, filled with `pad` (one value per field, or a
    /// per-slot value when `spare` says the field's padding must differ slot by slot: then slot
    /// `j` gets `pad + j`).
    fn new(steps: usize, width: usize, pad: &[usize], spare: &[bool]) -> Lane {
        let fields = pad
            .iter()
            .zip(spare)
            .map(|(&p, &s)| {
                if s {
                    let step: Vec<i32> = (0..width).map(|j| int32(p + j)).collect();
                    let mut xs = Vec::with_capacity(steps * width);
                    (0..steps).for_each(|_| xs.extend_from_slice(&step));
                    xs
                } else {
                    vec![int32(p); steps * width]
                }
            })
            .collect();
        Lane {
            steps,
            width,
            fields,
        }
    }

    /// Sets slot `k` (`step * width + slot`) of every field.
    fn set<const N: usize>(&mut self, k: usize, values: [usize; N]) {
        for (field, v) in self.fields.iter_mut().zip(values) {
            field[k] = int32(v);
        }
    }
}

/// Where the items of each group of a schedule go: group `g`'s `j`-th item is slot
/// `first[g] * width + j`, the `j`-th slot from the first step the group's items take (items
/// fill a group's steps in order, `width` to a step).
struct Slots {
    next: Vec<usize>,
}

impl Slots {
    fn new(width: usize, first_steps: impl IntoIterator<Item = usize>) -> Slots {
        Slots {
            next: first_steps.into_iter().map(|s| s * width).collect(),
        }
    }

    /// The slot of the next item of group `g`.
    fn take(&mut self, g: usize) -> usize {
        let k = self.next[g];
        self.next[g] += 1;
        k
    }
}

/// The first step of each group, for groups taking `steps[g]` steps one after another.
fn first_steps(steps: impl IntoIterator<Item = usize>) -> Vec<usize> {
    let mut at = 0;
    steps
        .into_iter()
        .map(|n| {
            let first = at;
            at += n;
            first
        })
        .collect()
}

/// Fixed cost of one step of a schedule, in slots: what a step costs beyond its gathers and
/// scatters (the loop's own work), measured on CPU.
const STEP_COST: usize = 512;

/// Slot widths tried: powers of two.
fn widths() -> impl Iterator<Item = usize> + Clone {
    (0..=16).map(|i| 1usize << i)
}

/// `ceil(a / b)`.
fn ceil_div(a: usize, b: usize) -> usize {
    a.div_ceil(b)
}

/// The widths `(wa, wb)` of a two-lane schedule that minimise `steps * (wa + wb + STEP_COST)`,
/// where `steps(wa, wb)` counts the steps.
fn best_widths(steps: impl Fn(usize, usize) -> usize) -> (usize, usize) {
    let mut best = (usize::MAX, 1, 1);
    for wa in widths() {
        for wb in widths() {
            let cost = steps(wa, wb).saturating_mul(wa + wb + STEP_COST);
            if cost < best.0 {
                best = (cost, wa, wb);
            }
        }
    }
    (best.1, best.2)
}

/// The width `w` of a one-lane schedule that minimises `steps(w) * (w + STEP_COST)`.
fn best_width(steps: impl Fn(usize) -> usize) -> usize {
    best_widths(|wa, wb| if wb == 1 { steps(wa) } else { usize::MAX }).0
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

/// Node numbering of the tables: `new_id[node]`, the number of numbered nodes (the DAG's and
/// the constants 1 and -1), and where the constant 1 is.
struct Numbering {
    new_id: Vec<usize>,
    total: usize,
    one: usize,
}

/// The DAG's tables: constants, parameters, and the node schedule. Nodes are renumbered:
/// constants (then 1 and -1), parameters, then every deeper level in turn.
fn dag_tables(s: &Symbolic, t: &mut Tables) -> Numbering {
    let dag = &s.dag;
    let level = levels(s);
    let mut consts: Vec<f64> = Vec::new();
    let mut params: Vec<i32> = Vec::new();
    let mut new_id = vec![usize::MAX; dag.nodes.len()];
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
            params.push(int32(*j as usize));
        }
    }
    // Per level: its nodes, product terms (node, a, b) and divisions (node, numerator,
    // denominator). `a + b` is two terms, `a * b` one, a sum or dot product one per operand
    // (pair).
    let depth = level.iter().copied().max().unwrap_or(0);
    let (mut nodes, mut nterms, mut ndivs) =
        (vec![0; depth + 1], vec![0; depth + 1], vec![0; depth + 1]);
    for (node, &l) in dag.nodes.iter().zip(&level) {
        if l == 0 {
            continue;
        }
        nodes[l] += 1;
        match *node {
            Node::Const(_) | Node::Param(_) => unreachable!("level 0"),
            Node::Add(..) | Node::Sub(..) => nterms[l] += 2,
            Node::Mul(..) => nterms[l] += 1,
            Node::Div(..) => ndivs[l] += 1,
            Node::Sum { len, .. } | Node::Dot { len, .. } => nterms[l] += len as usize,
        }
    }
    // Numbers after the constants and parameters, level by level, one slot per node.
    let fixed = consts.len() + params.len();
    let mut numbered = Slots::new(1, first_steps(nodes.iter().copied()));
    for (i, &l) in level.iter().enumerate() {
        if l > 0 {
            new_id[i] = fixed + numbered.take(l);
        }
    }
    let total = fixed + nodes.iter().sum::<usize>();
    let (nterms, ndivs) = (&nterms, &ndivs);
    let per_level = |wt: usize, wd: usize| {
        (1..=depth).map(move |l| ceil_div(nterms[l], wt).max(ceil_div(ndivs[l], wd)))
    };
    let (wt, wd) = best_widths(|wt, wd| per_level(wt, wd).sum());
    let steps: usize = per_level(wt, wd).sum();
    let first = first_steps(std::iter::once(0).chain(per_level(wt, wd)));
    // Unused slots: products 1 * 1 into the spare entry `total`, quotients 1 / 1 into the
    // spare entries `total + slot` (distinct, so a step's divisions have distinct targets).
    let mut terms = Lane::new(steps, wt, &[total, one, one], &[false; 3]);
    let mut divs = Lane::new(steps, wd, &[total, one, one], &[true, false, false]);
    let (mut term_slot, mut div_slot) =
        (Slots::new(wt, first.iter().copied()), Slots::new(wd, first));
    let id = |x: Id| new_id[x as usize];
    for (i, &l) in level.iter().enumerate() {
        if l == 0 {
            continue;
        }
        let k = new_id[i];
        let mut term = |a: usize, b: usize| terms.set(term_slot.take(l), [k, a, b]);
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
            Node::Div(x, y) => divs.set(div_slot.take(l), [k, id(x), id(y)]),
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
    t.floats("consts", consts);
    let np = params.len();
    t.ints("params", &[np], params);
    t.steps(&["dag_dst", "dag_a", "dag_b"], terms);
    t.steps(&["div_dst", "div_num", "div_den"], divs);
    Numbering { new_id, total, one }
}

/// The forward sweep (`c[u] += value(f) * c[v]`), grouped by the level at which the `c[v]` it
/// reads is final, and back-substitution (`x[i] = (c[i] + sum value(a) x[w]) / pivot`), grouped
/// by dependency level: a step first divides (unknowns whose sums are complete), then adds
/// terms that read only divided unknowns.
fn sweep_tables(s: &Symbolic, ids: &Numbering, t: &mut Tables) {
    let m = s.vars.len();
    let (new_id, one) = (&ids.new_id, ids.one);
    let mut ready = vec![0usize; m];
    for &(u, v, _) in &s.forward {
        ready[u as usize] = ready[u as usize].max(ready[v as usize] + 1);
    }
    let flevels = s.forward.iter().map(|f| ready[f.1 as usize] + 1).max();
    let mut fw = vec![0usize; flevels.unwrap_or(0)];
    for &(_, v, _) in &s.forward {
        fw[ready[v as usize]] += 1;
    }
    let w = best_width(|w| fw.iter().map(|&l| ceil_div(l, w)).sum());
    let steps = fw.iter().map(|&l| ceil_div(l, w)).sum();
    let mut lane = Lane::new(steps, w, &[m, one, m], &[false; 3]);
    let mut slot = Slots::new(w, first_steps(fw.iter().map(|&l| ceil_div(l, w))));
    for &(u, v, f) in &s.forward {
        let k = slot.take(ready[v as usize]);
        lane.set(k, [u as usize, new_id[f as usize], v as usize]);
    }
    t.steps(&["fw_dst", "fw_node", "fw_src"], lane);

    // x[i] needs x[w] for every w in its row (all later unknowns).
    let row = |i: usize| s.row_offsets[i]..s.row_offsets[i + 1];
    let mut lvl = vec![0usize; m];
    for i in (0..m).rev() {
        lvl[i] = row(i)
            .map(|k| lvl[s.row_vars[k] as usize] + 1)
            .max()
            .unwrap_or(0);
    }
    let blevels = lvl.iter().max().map_or(0, |d| d + 1);
    // Per level: its unknowns, and the terms of their rows (none at level 0).
    let (mut unknowns, mut terms) = (vec![0usize; blevels], vec![0usize; blevels + 1]);
    for i in 0..m {
        unknowns[lvl[i]] += 1;
        terms[lvl[i]] += row(i).len();
    }
    // Group l: the divisions of level l, then the terms of level l + 1, from the step of the
    // last division on.
    let group = |l: usize, wt: usize, wd: usize| {
        let nd = ceil_div(unknowns[l], wd);
        (nd, nd - 1 + ceil_div(terms[l + 1], wt).max(1))
    };
    let (wt, wd) = best_widths(|wt, wd| (0..blevels).map(|l| group(l, wt, wd).1).sum());
    let steps = (0..blevels).map(|l| group(l, wt, wd).1).sum();
    let first = first_steps((0..blevels).map(|l| group(l, wt, wd).1));
    let mut divs = Lane::new(steps, wd, &[m, one], &[true, false]);
    let mut adds = Lane::new(steps, wt, &[m, one, m], &[false; 3]);
    let mut div_slot = Slots::new(wd, first.iter().copied());
    // The terms of level l (l >= 1) start at the step of group l - 1's last division.
    let mut add_slot = Slots::new(
        wt,
        std::iter::once(0).chain((0..blevels).map(|l| first[l] + group(l, wt, wd).0 - 1)),
    );
    for i in 0..m {
        divs.set(div_slot.take(lvl[i]), [i, new_id[s.pivots[i] as usize]]);
        for k in row(i) {
            let k_slot = add_slot.take(lvl[i]);
            adds.set(
                k_slot,
                [i, new_id[s.row_nodes[k] as usize], s.row_vars[k] as usize],
            );
        }
    }
    t.steps(&["bw_div", "bw_piv"], divs);
    t.steps(&["bw_dst", "bw_node", "bw_src"], adds);
}

/// Builds every table.
fn tables(s: &Symbolic, atom0: f64) -> (Tables, Numbering) {
    let mut t = Tables::default();
    let ids = dag_tables(s, &mut t);
    sweep_tables(s, &ids, &mut t);
    let m = s.vars.len();
    // By vertex, the unknowns only: the vertex count is the DAG's claim and sizes nothing.
    let unknown_of: rustc_hash::FxHashMap<u32, i32> = s
        .vars
        .iter()
        .enumerate()
        .map(|(i, &v)| (v, int32(i)))
        .collect();
    let unknown = |v: u32| unknown_of.get(&v).copied().unwrap_or(-1);
    let e = s.edges.len();
    let from = s.edges.iter().map(|x| unknown(x.0)).collect();
    let to = s.edges.iter().map(|x| unknown(x.1)).collect();
    let rate = s
        .edges
        .iter()
        .map(|x| int32(ids.new_id[x.2 as usize]))
        .collect();
    t.ints("edge_from", &[e], from);
    t.ints("edge_to", &[e], to);
    t.ints("edge_rate", &[e], rate);
    t.ints(
        "var_vertex",
        &[m],
        s.vars.iter().map(|&v| int32(v as usize)).collect(),
    );
    let ns = s.start.len();
    t.ints(
        "start_index",
        &[ns],
        s.start.iter().map(|&(i, _)| int32(i as usize)).collect(),
    );
    t.floats("start_prob", s.start.iter().map(|&(_, p)| p).collect());
    t.floats("atom0", vec![atom0]);
    (t, ids)
}

/// The evaluator's data file: magic, format version, a JSON header, then the tables.
pub const TABLES_MAGIC: &[u8; 8] = b"PTDEVAL\0";
pub const TABLES_FORMAT_VERSION: u32 = 2;

/// `evaluator.bin`: the tables [`MODULE`] reads, identical for identical input. Layout
/// (little-endian): the 8-byte magic `PTDEVAL\0`, u32 format version, u32 header length, the
/// JSON header (name, version, parameters, graph hash, param_length, n_vertices, unknowns,
/// nodes, and `arrays`: each array's name, dtype `<i4` or `<f8` and shape, in file order), then
/// each array's values, every array starting at a multiple of 8 bytes (zero padding).
pub fn tables_file(s: &Symbolic, h: &Header) -> Vec<u8> {
    let (t, ids) = tables(s, h.atom0);
    let arrays: Vec<serde_json::Value> = t
        .arrays
        .iter()
        .map(|a| {
            let dtype = match a.data {
                Data::Int(_) => "<i4",
                Data::Float(_) => "<f8",
            };
            serde_json::json!({"name": a.name, "dtype": dtype, "shape": a.shape})
        })
        .collect();
    let header = serde_json::json!({
        "name": h.name,
        "version": h.version.to_string(),
        "parameters": h.parameters,
        "graph_hash": h.graph_hash,
        "param_length": s.param_length,
        "n_vertices": s.n_vertices,
        "unknowns": s.vars.len(),
        "discrete": s.discrete,
        "nodes": ids.total,
        "arrays": arrays,
    });
    let header = serde_json::to_vec(&header).expect("header serializes");
    let size = t.arrays.iter().fold(16 + header.len(), |at, a| {
        at.next_multiple_of(8)
            + match &a.data {
                Data::Int(xs) => 4 * xs.len(),
                Data::Float(xs) => 8 * xs.len(),
            }
    });
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(TABLES_MAGIC);
    out.extend_from_slice(&TABLES_FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    out.extend_from_slice(&header);
    for a in &t.arrays {
        out.resize(out.len().next_multiple_of(8), 0);
        let at = out.len();
        match &a.data {
            Data::Int(xs) => {
                out.resize(at + 4 * xs.len(), 0);
                for (b, x) in out[at..].chunks_exact_mut(4).zip(xs) {
                    b.copy_from_slice(&x.to_le_bytes());
                }
            }
            Data::Float(xs) => {
                out.resize(at + 8 * xs.len(), 0);
                for (b, x) in out[at..].chunks_exact_mut(8).zip(xs) {
                    b.copy_from_slice(&x.to_le_bytes());
                }
            }
        }
    }
    debug_assert_eq!(out.len(), size);
    out
}

/// The format version of a tables file, read from its first 16 bytes, if it is one.
pub fn tables_version(bytes: &[u8]) -> Option<u32> {
    if bytes.len() < 16 || &bytes[..8] != TABLES_MAGIC {
        return None;
    }
    Some(u32::from_le_bytes(
        bytes[8..12].try_into().expect("4 bytes"),
    ))
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
    use crate::eliminate::SplitMix;
    use crate::graph::GraphBuilder;

    fn ints<'a>(t: &'a Tables, name: &str) -> (&'a [i32], &'a [usize]) {
        let a = t.arrays.iter().find(|a| a.name == name).expect(name);
        match &a.data {
            Data::Int(xs) => (xs, &a.shape),
            Data::Float(_) => panic!("{name} is not int32"),
        }
    }

    fn floats<'a>(t: &'a Tables, name: &str) -> &'a [f64] {
        match &t.arrays.iter().find(|a| a.name == name).expect(name).data {
            Data::Float(xs) => xs,
            Data::Int(_) => panic!("{name} is not float64"),
        }
    }

    fn div(a: f64, b: f64) -> f64 {
        if b == 0.0 { 0.0 } else { a / b }
    }

    /// Runs a padded schedule as the module does: per step, every slot's operands are read
    /// before any slot writes.
    fn run_dag(t: &Tables, nodes: usize, theta: &[f64]) -> Vec<f64> {
        let consts = floats(t, "consts");
        let (params, _) = ints(t, "params");
        let (dst, shape) = ints(t, "dag_dst");
        let (a, _) = ints(t, "dag_a");
        let (b, _) = ints(t, "dag_b");
        let (ddst, dshape) = ints(t, "div_dst");
        let (num, _) = ints(t, "div_num");
        let (den, _) = ints(t, "div_den");
        let mut v: Vec<f64> = consts.to_vec();
        v.extend(params.iter().map(|&p| theta[p as usize]));
        v.resize(nodes + dshape[1], 0.0);
        for step in 0..shape[0] {
            let terms = step * shape[1]..(step + 1) * shape[1];
            let prods: Vec<f64> = terms
                .clone()
                .map(|k| v[a[k] as usize] * v[b[k] as usize])
                .collect();
            for (k, p) in terms.zip(prods) {
                v[dst[k] as usize] += p;
            }
            let ds = step * dshape[1]..(step + 1) * dshape[1];
            let qs: Vec<f64> = ds
                .clone()
                .map(|k| div(v[num[k] as usize], v[den[k] as usize]))
                .collect();
            for (k, q) in ds.zip(qs) {
                v[ddst[k] as usize] = q;
            }
        }
        v
    }

    fn run_solve(t: &Tables, v: &[f64], r: &[f64]) -> Vec<f64> {
        let m = r.len();
        let (fd, fshape) = ints(t, "fw_dst");
        let (fnode, _) = ints(t, "fw_node");
        let (fsrc, _) = ints(t, "fw_src");
        let mut c = r.to_vec();
        c.push(0.0);
        for step in 0..fshape[0] {
            let ks = step * fshape[1]..(step + 1) * fshape[1];
            let adds: Vec<f64> = ks
                .clone()
                .map(|k| v[fnode[k] as usize] * c[fsrc[k] as usize])
                .collect();
            for (k, x) in ks.zip(adds) {
                c[fd[k] as usize] += x;
            }
        }
        let (bdiv, dshape) = ints(t, "bw_div");
        let (bpiv, _) = ints(t, "bw_piv");
        let (bd, ashape) = ints(t, "bw_dst");
        let (bnode, _) = ints(t, "bw_node");
        let (bsrc, _) = ints(t, "bw_src");
        assert_eq!(dshape[0], ashape[0]);
        let mut x = c[..m].to_vec();
        x.resize(m + dshape[1], 0.0);
        for step in 0..dshape[0] {
            let ks = step * dshape[1]..(step + 1) * dshape[1];
            let qs: Vec<f64> = ks
                .clone()
                .map(|k| div(x[bdiv[k] as usize], v[bpiv[k] as usize]))
                .collect();
            for (k, q) in ks.zip(qs) {
                x[bdiv[k] as usize] = q;
            }
            let ks = step * ashape[1]..(step + 1) * ashape[1];
            let adds: Vec<f64> = ks
                .clone()
                .map(|k| v[bnode[k] as usize] * x[bsrc[k] as usize])
                .collect();
            for (k, a) in ks.zip(adds) {
                x[bd[k] as usize] += a;
            }
        }
        x.truncate(m);
        x
    }

    /// A random graph with cycles: `n` transient vertices, two parameters, some edges
    /// constant, some start mass straight into an absorbing vertex.
    fn random_graph(rng: &mut SplitMix, n: usize) -> crate::graph::Graph {
        let mut b = GraphBuilder::new(1, 2);
        let vs: Vec<usize> = (1..=n as i32 + 2)
            .map(|s| b.find_or_create(&[s]).0)
            .collect();
        let (sink, other_sink) = (vs[n], vs[n + 1]);
        b.add_start_edge(vs[0], 1.0);
        if n > 1 {
            b.add_start_edge(vs[n / 2], 0.5);
        }
        b.add_start_edge(other_sink, 0.25);
        for i in 0..n {
            let mut targets = vec![if i + 1 < n { vs[i + 1] } else { sink }];
            for _ in 0..2 {
                let j = (rng.next_u64() % (n as u64 + 1)) as usize;
                let w = if j == n { sink } else { vs[j] };
                if w != vs[i] && !targets.contains(&w) {
                    targets.push(w);
                }
            }
            for w in targets {
                let c = [rng.unit() + 0.1, if rng.unit() < 0.5 { 0.0 } else { 1.3 }];
                b.add_edge(vs[i], w, &c);
            }
        }
        b.build().unwrap()
    }

    #[test]
    fn schedules_compute_what_the_symbolic_form_computes() {
        let mut rng = SplitMix(7);
        let mut cyclic = 0;
        for n in [1usize, 2, 3, 5, 8, 13, 30, 80] {
            let g = random_graph(&mut rng, n);
            let s = crate::eliminate::eliminate(&g);
            let (t, ids) = tables(&s, crate::eliminate::start_atom(&g));
            let total = if n > 1 { 1.75 } else { 1.25 };
            assert_eq!(floats(&t, "atom0"), [0.25 / total]);
            let theta = [0.7 + rng.unit(), 0.2 + 3.0 * rng.unit()];
            let want = s.dag.evaluate(&theta).values;
            let v = run_dag(&t, ids.total, &theta);
            // Renumbered, but every node the same to the last bit: the products are added in
            // the order `ptd eval` adds them.
            for (i, node) in s.dag.nodes.iter().enumerate() {
                let got = v[ids.new_id[i]];
                assert!(
                    got == want[i],
                    "n = {n}: node {i} ({node:?}) is {got}, not {}",
                    want[i]
                );
            }
            // The solve: x = U r as the symbolic form's, up to the order in which the forward
            // sweep's updates into one unknown are added.
            let m = s.vars.len();
            let r: Vec<f64> = (0..m).map(|i| 1.0 + (i % 3) as f64).collect();
            let mut want_x = vec![0.0; m];
            s.solve(&want, &r, &mut want_x);
            let got = run_solve(&t, &v, &r);
            for (a, b) in got.iter().zip(&want_x) {
                assert!(
                    (a - b).abs() <= 1e-13 * b.abs(),
                    "n = {n}: {got:?} vs {want_x:?}"
                );
            }
            if s.forward.is_empty() {
                assert_eq!(got, want_x, "n = {n}: without a forward sweep, bit for bit");
            } else {
                cyclic += 1;
            }
        }
        assert!(cyclic >= 3, "the graphs have cycles to eliminate");
    }

    #[test]
    fn the_tables_file_is_aligned_and_names_its_arrays() {
        let mut b = GraphBuilder::new(1, 1);
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
            atom0: 0.0,
        };
        let bytes = tables_file(&s, &h);
        assert_eq!(&bytes[..8], TABLES_MAGIC);
        assert_eq!(tables_version(&bytes), Some(TABLES_FORMAT_VERSION));
        let hlen = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
        let header: serde_json::Value = serde_json::from_slice(&bytes[16..16 + hlen]).unwrap();
        let mut at = 16 + hlen;
        for a in header["arrays"].as_array().unwrap() {
            at = at.div_ceil(8) * 8;
            let size = if a["dtype"] == "<i4" { 4 } else { 8 };
            let count: u64 = a["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap())
                .product();
            at += size * count as usize;
        }
        assert_eq!(bytes.len(), at);
        assert_eq!(header["unknowns"], 1);
        assert_eq!(tables_file(&s, &h), bytes, "deterministic");
    }
}
