//! The reward transform: the chain of a rewarded total `Y = integral of r(X_t) dt`.
//!
//! With `Z` the transient states whose reward is 0 and `P` the others, `Y` is the absorption
//! time of the chain on `P` with
//!
//! ```text
//! alpha* = alpha_P + alpha_Z (-S_ZZ)^-1 S_ZP
//! S*     = D(r_P)^-1 [S_PP + S_PZ (-S_ZZ)^-1 S_ZP]      (self-transitions dropped)
//! s*     = D(r_P)^-1 [s_P  + S_PZ (-S_ZZ)^-1 s_Z]
//! P(Y = 0) = atom + alpha_Z (-S_ZZ)^-1 s_Z
//! ```
//!
//! The bracketed rates depend on which states have zero reward, not on the reward values, so
//! they are built once per zero pattern as an expression DAG, the [`Transform`], whose inputs are
//! the symbolic form's edge rates and start probabilities. Each theta then evaluates the symbolic
//! form's DAG, this DAG, and divides by the rewards. The zero states are eliminated by rerouting
//! every parent `u` of `z` to `z`'s targets `w` with `a_uw += a_uz a_zw / d_z` (`d_z` the sum of
//! `z`'s remaining out-rates, exits included, so nothing cancels); a route back to `u` is a
//! self-transition, which neither moves the chain nor accrues reward, and is dropped.

//!
//! Its file format is in `file`.

mod file;

use super::dag::{Dag, DagBuilder, Id, Node};
use super::density::Chain;
use super::{EvalError, Symbolic, dag};
use std::collections::{BTreeMap, BTreeSet};

/// Marks a rate into absorption in a transformed row.
const EXIT: u32 = u32::MAX;

/// The symbolic reward transform for one zero pattern.
#[derive(Clone, Debug, PartialEq)]
pub struct Transform {
    /// Per unknown of the symbolic form: has zero reward.
    pub(crate) zero: Vec<bool>,
    /// Inputs: `Param(i)` is the symbolic form's edge `i`'s rate for `i < edges`, then
    /// `Param(edges + j)` its start probability `j`.
    pub(crate) dag: Dag,
    /// Unknown index (in the symbolic form) of each kept state, ascending.
    pub(crate) kept: Vec<u32>,
    /// Rows of the kept states: (kept position or `EXIT`, rate node), in target order.
    pub(crate) offsets: Vec<usize>,
    pub(crate) targets: Vec<u32>,
    pub(crate) nodes: Vec<Id>,
    /// Initial mass: (kept position or `EXIT`, node).
    pub(crate) start: Vec<(u32, Id)>,
}

impl Symbolic {
    /// The zero pattern of per-vertex-id rewards: one flag per unknown.
    pub fn zero_pattern(&self, rewards: &[f64]) -> Result<Vec<bool>, EvalError> {
        Ok(self
            .unknown_rewards(rewards)?
            .iter()
            .map(|&r| r == 0.0)
            .collect())
    }

    /// Builds the reward transform for a zero pattern (one flag per unknown).
    pub fn transform(&self, zero: &[bool]) -> Transform {
        assert_eq!(zero.len(), self.vars.len(), "one flag per unknown");
        let m = self.vars.len();
        let mut var_of = vec![u32::MAX; self.n_vertices];
        for (i, &v) in self.vars.iter().enumerate() {
            var_of[v as usize] = i as u32;
        }
        let mut b = DagBuilder::new();
        let start_row = m as u32; // the start's row sits after the unknowns'
        let mut rows: Vec<BTreeMap<u32, Id>> = vec![BTreeMap::new(); m + 1];
        let add = |b: &mut DagBuilder, row: &mut BTreeMap<u32, Id>, to: u32, x: Id| {
            let new = match row.get(&to) {
                Some(&old) => b.add(old, x),
                None => x,
            };
            row.insert(to, new);
        };
        for (i, &(from, to, _)) in self.edges.iter().enumerate() {
            let u = var_of[from as usize];
            let w = var_of[to as usize];
            let w = if w == u32::MAX { EXIT } else { w };
            if w == u {
                continue;
            }
            let p = b.param(i as u32);
            add(&mut b, &mut rows[u as usize], w, p);
        }
        let e = self.edges.len() as u32;
        for (j, &(i, _)) in self.start.iter().enumerate() {
            let p = b.param(e + j as u32);
            add(&mut b, &mut rows[m], i, p);
        }
        // Parents of each zero state, the start included.
        let mut parents: Vec<BTreeSet<u32>> = vec![BTreeSet::new(); m];
        for (u, row) in rows.iter().enumerate() {
            for &w in row.keys() {
                if w != EXIT && zero[w as usize] {
                    parents[w as usize].insert(u as u32);
                }
            }
        }
        for z in elimination_order(&rows, zero) {
            let out = std::mem::take(&mut rows[z as usize]);
            for &w in out.keys() {
                if w != EXIT && zero[w as usize] {
                    parents[w as usize].remove(&z);
                }
            }
            let terms: Vec<Id> = out.values().copied().collect();
            let d = if terms.is_empty() {
                b.constant(0.0)
            } else {
                b.sum(&terms)
            };
            for u in std::mem::take(&mut parents[z as usize]) {
                let a_uz = rows[u as usize].remove(&z).expect("parent edge");
                let f = b.div(a_uz, d);
                for (&w, &a_zw) in &out {
                    if w == u {
                        continue;
                    }
                    let x = b.mul(f, a_zw);
                    add(&mut b, &mut rows[u as usize], w, x);
                    if w != EXIT && zero[w as usize] {
                        parents[w as usize].insert(u);
                    }
                }
            }
        }
        let kept: Vec<u32> = (0..m as u32).filter(|&i| !zero[i as usize]).collect();
        let mut pos = vec![u32::MAX; m];
        for (p, &i) in kept.iter().enumerate() {
            pos[i as usize] = p as u32;
        }
        let relabel = |w: u32| if w == EXIT { EXIT } else { pos[w as usize] };
        let mut offsets = vec![0];
        let mut targets = Vec::new();
        let mut nodes = Vec::new();
        for &i in &kept {
            let mut row: Vec<(u32, Id)> = rows[i as usize]
                .iter()
                .map(|(&w, &x)| (relabel(w), x))
                .collect();
            row.sort_unstable();
            for (w, x) in row {
                targets.push(w);
                nodes.push(x);
            }
            offsets.push(targets.len());
        }
        let mut start: Vec<(u32, Id)> = rows[start_row as usize]
            .iter()
            .map(|(&w, &x)| (relabel(w), x))
            .collect();
        start.sort_unstable();
        Transform {
            zero: zero.to_vec(),
            dag: b.finish(),
            kept,
            offsets,
            targets,
            nodes,
            start,
        }
    }

    /// The transformed chain of `Y` for one theta's node values, or `None` when every reward
    /// is zero (then `Y = 0`). `rewards` are per unknown.
    pub(crate) fn rewarded_chain(
        &self,
        theta: &[f64],
        vals: &dag::Values,
        t: &Transform,
        rewards: &[f64],
    ) -> Result<Chain, EvalError> {
        let mut inputs: Vec<f64> = self
            .edges
            .iter()
            .map(|e| vals.values[e.2 as usize])
            .collect();
        inputs.extend(self.start.iter().map(|s| s.1));
        let tv = t.dag.evaluate(&inputs);
        if (tv.zero_division || vals.zero_division)
            && let Some(vertex) = self.trapped_vertex(&vals.values)
        {
            return Err(EvalError::NonAbsorbing {
                theta: theta.to_vec(),
                vertex,
            });
        }
        let v = &tv.values;
        let n = t.kept.len();
        let mut chain = Chain {
            alpha: vec![0.0; n],
            atom: self.start_atom(),
            offsets: vec![0],
            cols: Vec::new(),
            rates: Vec::new(),
            exit: vec![0.0; n],
        };
        for &(w, x) in &t.start {
            if w == EXIT {
                chain.atom += v[x as usize];
            } else {
                chain.alpha[w as usize] = v[x as usize];
            }
        }
        for (p, &i) in t.kept.iter().enumerate() {
            let r = rewards[i as usize];
            for k in t.offsets[p]..t.offsets[p + 1] {
                let rate = v[t.nodes[k] as usize] / r;
                if t.targets[k] == EXIT {
                    chain.exit[p] += rate;
                } else if rate != 0.0 {
                    chain.cols.push(t.targets[k]);
                    chain.rates.push(rate);
                }
            }
            chain.offsets.push(chain.cols.len());
        }
        if n == 0 {
            // No rewarded state: Y = 0 surely.
            chain.atom = 1.0;
        }
        Ok(chain)
    }

    /// The initial mass that starts absorbed: 1 minus the start distribution's total.
    pub(crate) fn start_atom(&self) -> f64 {
        (1.0 - self.start.iter().map(|s| s.1).sum::<f64>()).max(0.0)
    }

    /// The chain of `T` for one theta's node values.
    pub(crate) fn time_chain(&self, vals: &dag::Values) -> Chain {
        let m = self.vars.len();
        let mut var_of = vec![u32::MAX; self.n_vertices];
        for (i, &v) in self.vars.iter().enumerate() {
            var_of[v as usize] = i as u32;
        }
        let mut rows: Vec<Vec<(u32, f64)>> = vec![Vec::new(); m];
        let mut exit = vec![0.0; m];
        for &(from, to, r) in &self.edges {
            let u = var_of[from as usize] as usize;
            let rate = vals.values[r as usize];
            match var_of[to as usize] {
                u32::MAX => exit[u] += rate,
                w if w as usize == u => {}
                w => {
                    if rate != 0.0 {
                        rows[u].push((w, rate))
                    }
                }
            }
        }
        let mut alpha = vec![0.0; m];
        for &(i, p) in &self.start {
            alpha[i as usize] += p;
        }
        let mut chain = Chain {
            alpha,
            atom: self.start_atom(),
            offsets: vec![0],
            cols: Vec::new(),
            rates: Vec::new(),
            exit,
        };
        for row in rows {
            for (w, a) in row {
                chain.cols.push(w);
                chain.rates.push(a);
            }
            chain.offsets.push(chain.cols.len());
        }
        chain
    }
}

/// The zero states in elimination order: strongly connected components of the zero states'
/// subgraph in topological order (sources first), each in index order.
fn elimination_order(rows: &[BTreeMap<u32, Id>], zero: &[bool]) -> Vec<u32> {
    let m = zero.len();
    let succ: Vec<Vec<u32>> = (0..m)
        .map(|u| {
            if !zero[u] {
                return Vec::new();
            }
            rows[u]
                .keys()
                .copied()
                .filter(|&w| w != EXIT && zero[w as usize])
                .collect()
        })
        .collect();
    super::tarjan(&succ, |u| zero[u])
        .into_iter()
        .flatten()
        .collect()
}

impl Transform {
    /// Number of kept (rewarded) states.
    pub fn kept(&self) -> usize {
        self.kept.len()
    }

    /// Number of DAG nodes.
    pub fn len(&self) -> usize {
        self.dag.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dag.is_empty()
    }

    /// Whether every node's operands precede it and every index is in range for `s`, so
    /// evaluation cannot fail: the check for a transform read back from a cache.
    pub(crate) fn fits(&self, s: &Symbolic) -> bool {
        let nn = self.dag.nodes.len() as u32;
        let inputs = (s.edges.len() + s.start.len()) as u32;
        let n = self.kept.len() as u32;
        let node_ok = self.dag.nodes.iter().enumerate().all(|(i, node)| {
            let i = i as u32;
            let ops: &[Id] = match node {
                Node::Const(x) => return x.is_finite(),
                Node::Param(p) => return *p < inputs,
                Node::Add(a, b) | Node::Sub(a, b) | Node::Mul(a, b) | Node::Div(a, b) => {
                    return *a < i && *b < i;
                }
                Node::Sum { start, len } => self
                    .dag
                    .args
                    .get(*start as usize..*start as usize + *len as usize)
                    .unwrap_or(&[u32::MAX]),
                Node::Dot { start, len } => self
                    .dag
                    .args
                    .get(*start as usize..*start as usize + 2 * *len as usize)
                    .unwrap_or(&[u32::MAX]),
            };
            ops.iter().all(|&a| a < i)
        });
        let target_ok = |w: u32| w == EXIT || w < n;
        node_ok
            && self.zero.len() == s.vars.len()
            && self.kept.len() == self.zero.iter().filter(|z| !**z).count()
            && self.kept.iter().enumerate().all(|(p, &i)| {
                (i as usize) < self.zero.len()
                    && !self.zero[i as usize]
                    && (p == 0 || self.kept[p - 1] < i)
            })
            && self.offsets.len() == self.kept.len() + 1
            && self.offsets.first() == Some(&0)
            && self.offsets.windows(2).all(|w| w[0] <= w[1])
            && self.offsets.last() == Some(&self.targets.len())
            && self.targets.len() == self.nodes.len()
            && self.targets.iter().all(|&w| target_ok(w))
            && self.nodes.iter().all(|&x| x < nn)
            && self.start.iter().all(|&(w, x)| target_ok(w) && x < nn)
    }
}

#[cfg(test)]
mod tests {
    use crate::eliminate::eliminate;
    use crate::graph::GraphBuilder;

    /// start -> 1 (0.6), start -> 2 (0.4); 1 -> 2 at 1; 2 -> 3 at 2; 2 -> 4 (absorbing) at 3;
    /// 3 -> 4 at 5. Rewards 2, 0, 1 on vertices 1, 2, 3.
    fn model() -> crate::eliminate::Symbolic {
        let mut gb = GraphBuilder::new(1, 1);
        for s in 1..=4 {
            gb.find_or_create(&[s]);
        }
        gb.add_start_edge(1, 0.6);
        gb.add_start_edge(2, 0.4);
        gb.add_edge(1, 2, &[1.0]);
        gb.add_edge(2, 3, &[2.0]);
        gb.add_edge(2, 4, &[3.0]);
        gb.add_edge(3, 4, &[5.0]);
        eliminate(&gb.build().unwrap())
    }

    #[test]
    fn eliminating_a_zero_reward_state_gives_the_closed_form() {
        let s = model();
        let rewards = [0.0, 2.0, 0.0, 1.0, 7.0];
        let zero = s.zero_pattern(&rewards).unwrap();
        let t = s.transform(&zero);
        assert_eq!(t.kept(), 2);
        let times = [0.0, 0.1, 1.0, 3.0, 20.0];
        let (atom, d) = s.reward_distribution(&[1.0], &rewards, &t, &times).unwrap();
        // Y = 0 when the chain starts in 2 and leaves it straight to absorption.
        assert!((atom - 0.4 * 3.0 / 5.0).abs() < 1e-15, "{atom}");
        // The rewarded chain: 1 (time doubled: rate 1/2) -> 3 with probability 2/5; 3 at 5;
        // alpha* = (0.6, 0.4 * 2/5).
        let hypo = |a: f64, b: f64, y: f64| a * b / (b - a) * ((-a * y).exp() - (-b * y).exp());
        for (i, &y) in times.iter().enumerate() {
            let pdf = 0.6 * 0.6 * 0.5 * (-0.5 * y).exp()
                + 0.6 * 0.4 * hypo(0.5, 5.0, y)
                + 0.16 * 5.0 * (-5.0 * y).exp();
            assert!(
                ((d.pdf[i] - pdf) / pdf).abs() < 1e-13,
                "y={y}: {} vs {pdf}",
                d.pdf[i]
            );
        }
        assert!((d.cdf[0] - atom).abs() < 1e-15);
        assert!((d.cdf[4] - 1.0).abs() < 1e-4);
        // A pattern that does not match the rewards is refused.
        let other = s.transform(&vec![false; zero.len()]);
        assert!(
            s.reward_distribution(&[1.0], &rewards, &other, &times)
                .is_err()
        );
        // All rewards zero: Y = 0 surely.
        let none = [0.0; 5];
        let tz = s.transform(&s.zero_pattern(&none).unwrap());
        let (atom, d) = s.reward_distribution(&[1.0], &none, &tz, &[1.0]).unwrap();
        assert_eq!((atom, d.pdf[0], d.cdf[0]), (1.0, 0.0, 1.0));
    }

    #[test]
    fn a_stored_transform_reads_back_only_intact_and_for_its_pattern() {
        let s = model();
        let zero = s.zero_pattern(&[0.0, 2.0, 0.0, 1.0, 0.0]).unwrap();
        let t = s.transform(&zero);
        let bytes = t.to_bytes();
        assert_eq!(
            super::Transform::from_bytes(&bytes, &s, &zero),
            Some(t.clone())
        );
        for i in [0, 9, 20, bytes.len() - 1] {
            let mut bad = bytes.clone();
            bad[i] ^= 1;
            assert_eq!(
                super::Transform::from_bytes(&bad, &s, &zero),
                None,
                "byte {i}"
            );
        }
        assert_eq!(
            super::Transform::from_bytes(&bytes[..bytes.len() - 3], &s, &zero),
            None
        );
        let other = vec![false; zero.len()];
        assert_eq!(super::Transform::from_bytes(&bytes, &s, &other), None);
        assert_ne!(s.transform_key(&zero), s.transform_key(&other));
    }
}
