//! Symbolic graph elimination.
//!
//! The moments of a phase-type distribution PH(alpha, T) are `E[T^k] = k! alpha U^k 1` with
//! `U = (-T)^-1`. Each application of `U` solves `(-T) x = r`, i.e. for every transient vertex
//! `lambda_v x_v - sum_w rate_vw x_w = r_v`. Elimination factors that sparse system once, as
//! expressions over theta:
//!
//! * vertices are eliminated in topological order of their strongly connected components
//!   (sources first), so an acyclic graph needs no elimination work at all and fill-in stays
//!   inside cycles;
//! * inside a cycle, eliminating `v` reroutes every remaining parent `u` through `v`'s row:
//!   `a_uw += (a_uv / d_v) a_vw`, with the multiplier `a_uv / d_v` recorded for the right-hand
//!   side. Pivots are formed as sums of the remaining out-rates, exits included (the
//!   Grassmann-Taksar-Heyman form), so no subtraction can cancel.
//!
//! The result is a [`Symbolic`]: an expression DAG for the factor entries plus the fixed sparse
//! structure of the triangular solves. Evaluating it for a theta computes the DAG once and then
//! runs one forward and one backward sweep per moment.
//!
//! Here: the [`Symbolic`] form and [`eliminate`]; evaluating it is in `evaluate`, the
//! component order in `scc`, its file format in `format`, and checking it against a graph in
//! `check`.

mod binary;
mod check;
pub mod dag;
pub mod density;
mod evaluate;
mod format;
mod scc;
mod transform;

use crate::graph::Graph;
pub use binary::VERSION as BINARY_FORMAT_VERSION;
pub use check::{CheckError, SplitMix, random_thetas};
pub use dag::{Dag, DagBuilder, Id, Node};
pub use density::{Chain, Density, Method, TimeError, check_times};
pub use format::{FORMAT, FORMAT_VERSION, SymbolicFormatError};
use std::collections::{BTreeMap, BTreeSet};
pub use transform::Transform;

/// The eliminated form of a graph.
#[derive(Clone, Debug, PartialEq)]
pub struct Symbolic {
    pub(crate) param_length: usize,
    pub(crate) n_vertices: usize,
    pub(crate) dag: Dag,
    /// Every edge between reachable vertices: (from, to, rate node).
    pub(crate) edges: Vec<(u32, u32, Id)>,
    /// Vertex of each unknown, in elimination order.
    pub(crate) vars: Vec<u32>,
    /// Initial distribution over unknowns (normalised start weights).
    pub(crate) start: Vec<(u32, f64)>,
    /// Forward sweep: `c[u] += value(f) * c[v]`, in order.
    pub(crate) forward: Vec<(u32, u32, Id)>,
    /// Per unknown, in elimination order: pivot node.
    pub(crate) pivots: Vec<Id>,
    /// Per unknown: CSR offsets into `row_vars` / `row_nodes` (later unknowns only).
    pub(crate) row_offsets: Vec<usize>,
    pub(crate) row_vars: Vec<u32>,
    pub(crate) row_nodes: Vec<Id>,
    /// Distinct rate nodes that must be >= 0.
    pub(crate) rate_nodes: Vec<Id>,
    /// Eliminated from a discrete graph: rates are one-step probabilities, `U = (I - P)^-1`.
    pub(crate) discrete: bool,
}
pub use evaluate::EvalError;
use scc::{components, tarjan};

impl Symbolic {
    pub fn param_length(&self) -> usize {
        self.param_length
    }

    /// The vertex count of the graph the DAG is for (its claim, until checked against a graph).
    pub fn n_vertices(&self) -> usize {
        self.n_vertices
    }

    pub fn dag(&self) -> &Dag {
        &self.dag
    }

    /// Whether this is the form of a discrete graph ([`Graph::is_discrete`]).
    pub fn is_discrete(&self) -> bool {
        self.discrete
    }

    /// Number of unknowns (reachable transient vertices).
    pub fn unknowns(&self) -> usize {
        self.vars.len()
    }
}

/// The distinct non-constant rate nodes, in edge order: the rates to check for each theta.
fn rate_nodes(dag: &Dag, edges: &[(u32, u32, Id)]) -> Vec<Id> {
    let mut seen = vec![false; dag.nodes.len()];
    edges
        .iter()
        .map(|e| e.2)
        .filter(|&r| {
            let fresh = !std::mem::replace(&mut seen[r as usize], true);
            fresh && !matches!(dag.nodes[r as usize], Node::Const(_))
        })
        .collect()
}

fn live(coeffs: &[f64]) -> bool {
    coeffs.iter().any(|&c| c != 0.0)
}

/// The initial distribution over unknowns: the start weights divided by their sum, on the
/// vertices that are unknowns (`var_of[v]`, `u32::MAX` for none; mass on absorbing vertices is
/// dropped because their time is 0).
fn start_distribution(g: &Graph, var_of: &[u32]) -> Vec<(u32, f64)> {
    let total: f64 = g.start_edges().iter().map(|e| e.1).sum();
    g.start_edges()
        .iter()
        .filter(|&&(to, w)| w > 0.0 && var_of[to as usize] != u32::MAX)
        .map(|&(to, w)| (var_of[to as usize], w / total))
        .collect()
}

/// The atom at 0 of the absorption time: the share of the start weight that goes straight to
/// absorbing vertices, computed from those weights (not as one minus the initial distribution's
/// sum, which would lose a small atom to rounding).
pub fn start_atom(g: &Graph) -> f64 {
    let total: f64 = g.start_edges().iter().map(|e| e.1).sum();
    let direct: f64 = g
        .start_edges()
        .iter()
        .filter(|&&(to, w)| w > 0.0 && (to == 0 || g.is_absorbing(to as usize)))
        .map(|e| e.1)
        .sum();
    if total > 0.0 { direct / total } else { 0.0 }
}

/// Eliminates a validated graph into its symbolic form.
pub fn eliminate(g: &Graph) -> Symbolic {
    let n = g.vertex_count();
    let reach = g.reachable();
    // Unknowns: reachable vertices with out-edges (the start is handled by alpha).
    let transient: Vec<bool> = (0..n)
        .map(|v| v != 0 && reach[v] && !g.is_absorbing(v))
        .collect();
    let comps = components(g, &transient, live);
    let mut var_of = vec![u32::MAX; n];
    let mut vars = Vec::new();
    for comp in &comps {
        for &v in comp {
            var_of[v as usize] = vars.len() as u32;
            vars.push(v);
        }
    }
    let mut b = DagBuilder::new();
    // Rate nodes of every live edge out of an unknown.
    let mut edges: Vec<(u32, u32, Id)> = Vec::new();
    let mut rates: Vec<Vec<(u32, Id)>> = vec![Vec::new(); n];
    for &v in &vars {
        let mut out: Vec<(u32, Id)> = Vec::new();
        for e in g.edges(v as usize) {
            if !live(e.coeffs) {
                continue;
            }
            let r = if g.is_parameterized() {
                b.linear(e.coeffs)
            } else {
                b.constant(e.coeffs[0])
            };
            out.push((e.to as u32, r));
        }
        if g.is_discrete() && g.is_parameterized() {
            // phasic normalises a discrete vertex's weights to probabilities.
            let all: Vec<Id> = out.iter().map(|e| e.1).collect();
            let total = b.sum(&all);
            for e in &mut out {
                e.1 = b.div(e.1, total);
            }
        }
        for (to, r) in out {
            edges.push((v, to, r));
            rates[v as usize].push((to, r));
        }
    }
    let m = vars.len();
    let mut pivots: Vec<Id> = vec![0; m];
    let mut rows: Vec<Vec<(u32, Id)>> = vec![Vec::new(); m];
    let mut forward: Vec<(u32, u32, Id)> = Vec::new();
    for comp in &comps {
        if comp.len() == 1 {
            let v = comp[0] as usize;
            let i = var_of[v] as usize;
            let all: Vec<Id> = rates[v].iter().map(|e| e.1).collect();
            pivots[i] = b.sum(&all);
            rows[i] = rates[v]
                .iter()
                .filter(|e| var_of[e.0 as usize] != u32::MAX)
                .map(|&(w, r)| (var_of[w as usize], r))
                .collect();
            continue;
        }
        eliminate_component(
            &mut b,
            comp,
            &var_of,
            &rates,
            &mut pivots,
            &mut rows,
            &mut forward,
        );
    }
    let start = start_distribution(g, &var_of);
    let mut row_offsets = Vec::with_capacity(m + 1);
    row_offsets.push(0);
    let mut row_vars = Vec::new();
    let mut row_nodes = Vec::new();
    for row in &rows {
        for &(w, a) in row {
            row_vars.push(w);
            row_nodes.push(a);
        }
        row_offsets.push(row_vars.len());
    }
    let dag = b.finish();
    let rate_nodes = rate_nodes(&dag, &edges);
    Symbolic {
        param_length: g.param_length(),
        n_vertices: n,
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
        discrete: g.is_discrete(),
    }
}

/// Gaussian elimination inside one strongly connected component.
fn eliminate_component(
    b: &mut DagBuilder,
    comp: &[u32],
    var_of: &[u32],
    rates: &[Vec<(u32, Id)>],
    pivots: &mut [Id],
    rows: &mut [Vec<(u32, Id)>],
    forward: &mut Vec<(u32, u32, Id)>,
) {
    // Current rows of the component's unknowns, keyed by unknown; exits summed separately.
    let first = var_of[comp[0] as usize];
    let local = |i: u32| i >= first && i < first + comp.len() as u32;
    let mut row: BTreeMap<u32, BTreeMap<u32, Id>> = BTreeMap::new();
    let mut exit: BTreeMap<u32, Vec<Id>> = BTreeMap::new();
    let mut parents: BTreeMap<u32, BTreeSet<u32>> = BTreeMap::new();
    for &v in comp {
        let i = var_of[v as usize];
        let r = row.entry(i).or_default();
        let x = exit.entry(i).or_default();
        for &(w, a) in &rates[v as usize] {
            let j = var_of[w as usize];
            if j == u32::MAX {
                x.push(a);
            } else {
                r.insert(j, a);
                if local(j) {
                    parents.entry(j).or_default().insert(i);
                }
            }
        }
    }
    let mut exit: BTreeMap<u32, Id> = exit.into_iter().map(|(i, t)| (i, b.sum(&t))).collect();
    for k in 0..comp.len() as u32 {
        let v = first + k;
        let vrow = row.remove(&v).unwrap_or_default();
        let vexit = exit.remove(&v).expect("exit entry");
        let mut terms: Vec<Id> = vrow.values().copied().collect();
        terms.push(vexit);
        let d = b.sum(&terms);
        pivots[v as usize] = d;
        for w in vrow.keys() {
            if let Some(p) = parents.get_mut(w) {
                p.remove(&v);
            }
        }
        let ps = parents.remove(&v).unwrap_or_default();
        for u in ps {
            let urow = row.get_mut(&u).expect("parent row");
            let a_uv = urow.remove(&v).expect("parent edge");
            let f = b.div(a_uv, d);
            forward.push((u, v, f));
            for (&w, &a_vw) in &vrow {
                if w == u {
                    continue; // becomes part of u's pivot, which is a sum of its other rates
                }
                let add = b.mul(f, a_vw);
                let new = match urow.get(&w) {
                    Some(&old) => b.add(old, add),
                    None => {
                        if local(w) {
                            parents.entry(w).or_default().insert(u);
                        }
                        add
                    }
                };
                urow.insert(w, new);
            }
            let ue = exit.get_mut(&u).expect("parent exit");
            let add = b.mul(f, vexit);
            *ue = b.add(*ue, add);
        }
        rows[v as usize] = vrow.into_iter().collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::GraphBuilder;

    fn rel(a: f64, b: f64) -> f64 {
        ((a - b) / b).abs()
    }

    #[test]
    fn kingman_moments_match_formulas() {
        for n in 2..12 {
            let mut gb = GraphBuilder::new(1, 1);
            let (top, _) = gb.find_or_create(&[n]);
            gb.add_start_edge(top, 1.0);
            for k in (2..=n).rev() {
                let (a, _) = gb.find_or_create(&[k]);
                let (c, _) = gb.find_or_create(&[k - 1]);
                gb.add_edge(a, c, &[(k * (k - 1) / 2) as f64]);
            }
            let g = gb.build().unwrap();
            let s = eliminate(&g);
            let theta = 1.7;
            let m = s.moments(&[theta], 2).unwrap();
            let mean = 2.0 * (1.0 - 1.0 / n as f64) / theta;
            let var: f64 = (2..=n)
                .map(|k| (2.0 / ((k * (k - 1)) as f64 * theta)).powi(2))
                .sum();
            assert!(rel(m[0], mean) < 1e-12, "{n}: {} vs {mean}", m[0]);
            assert!(rel(m[1], var + mean * mean) < 1e-12);
        }
    }

    #[test]
    fn two_state_cycle_is_right() {
        // 1 -> 2 at rate 1, 2 -> 1 at rate 1, 2 -> absorbing at rate 1: E[T] from 1 is 4? Solve:
        // x1 = 1 + x2, 2 x2 = 1 + x1  =>  x2 = 2, x1 = 3.
        let mut gb = GraphBuilder::new(1, 0);
        for s in 1..=3 {
            gb.find_or_create(&[s]);
        }
        gb.add_start_edge(1, 1.0);
        gb.add_edge(1, 2, &[1.0]);
        gb.add_edge(2, 1, &[1.0]);
        gb.add_edge(2, 3, &[1.0]);
        let s = eliminate(&gb.build().unwrap());
        let m = s.moments(&[], 2).unwrap();
        assert!(rel(m[0], 3.0) < 1e-15, "{m:?}");
        // E[T^2] = 2 alpha U^2 1 with U = [[2,1],[1,1]]: U 1 = (3,2), U (3,2) = (8,5) -> 16.
        assert!(rel(m[1], 16.0) < 1e-15, "{m:?}");
    }

    #[test]
    fn negative_rate_and_trap_are_errors() {
        let mut gb = GraphBuilder::new(1, 2);
        for s in 1..=3 {
            gb.find_or_create(&[s]);
        }
        gb.add_start_edge(1, 1.0);
        gb.add_edge(1, 2, &[1.0, 0.0]);
        gb.add_edge(2, 1, &[1.0, 0.0]);
        gb.add_edge(2, 3, &[0.0, 1.0]);
        let s = eliminate(&gb.build().unwrap());
        assert!(s.moments(&[1.0, 2.0], 2).is_ok());
        assert!(matches!(
            s.moments(&[1.0, -2.0], 2),
            Err(EvalError::NegativeRate { from: 2, to: 3, .. })
        ));
        let e = s.moments(&[1.0, 0.0], 2).unwrap_err();
        assert!(matches!(e, EvalError::NonAbsorbing { .. }), "{e}");
        assert!(matches!(
            s.moments(&[1.0], 2),
            Err(EvalError::ThetaLength { .. })
        ));
        assert!(matches!(
            s.moments(&[1.0, f64::INFINITY], 2),
            Err(EvalError::ThetaNotFinite { index: 1, .. })
        ));
    }

    #[test]
    fn unreachable_at_theta_is_fine() {
        // 1 -> 3 (absorbing) at rate t0; 1 -> 2 at rate t1; 2 -> 3 at rate t1.
        // With t1 = 0 vertex 2 is unreachable and has a zero pivot, yet E[T] = 1/t0.
        let mut gb = GraphBuilder::new(1, 2);
        for s in 1..=3 {
            gb.find_or_create(&[s]);
        }
        gb.add_start_edge(1, 1.0);
        gb.add_edge(1, 3, &[1.0, 0.0]);
        gb.add_edge(1, 2, &[0.0, 1.0]);
        gb.add_edge(2, 3, &[0.0, 1.0]);
        let s = eliminate(&gb.build().unwrap());
        let m = s.moments(&[2.0, 0.0], 2).unwrap();
        assert!(rel(m[0], 0.5) < 1e-15 && rel(m[1], 0.5) < 1e-15, "{m:?}");
    }
}
