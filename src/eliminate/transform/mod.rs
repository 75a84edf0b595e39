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

/// Magic of a transform file (a derived cache file, `docs/evaluation.md`).
const MAGIC: &[u8; 8] = b"PTDXFRM\0";
const VERSION: u32 = 1;

impl Symbolic {
    /// The key of a zero pattern's transform for this symbolic form: SHA-256 of everything the
    /// transform depends on (the edges' endpoints in order, the unknowns, the start's unknowns
    /// and the pattern), so a cached transform is found again only for an identical structure.
    pub fn transform_key(&self, zero: &[bool]) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(MAGIC);
        h.update(VERSION.to_le_bytes());
        h.update((self.n_vertices as u64).to_le_bytes());
        h.update((self.edges.len() as u64).to_le_bytes());
        for &(f, t, _) in &self.edges {
            h.update(f.to_le_bytes());
            h.update(t.to_le_bytes());
        }
        h.update((self.vars.len() as u64).to_le_bytes());
        for &v in &self.vars {
            h.update(v.to_le_bytes());
        }
        h.update((self.start.len() as u64).to_le_bytes());
        for &(i, _) in &self.start {
            h.update(i.to_le_bytes());
        }
        for &z in zero {
            h.update([z as u8]);
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl Transform {
    /// The file's bytes: magic, version, a SHA-256 of the body, then the body of
    /// little-endian `u32` counts and items (`f64` constants as their bits).
    pub fn to_bytes(&self) -> Vec<u8> {
        use sha2::{Digest, Sha256};
        let mut body: Vec<u8> = Vec::new();
        let u = |body: &mut Vec<u8>, x: u32| body.extend_from_slice(&x.to_le_bytes());
        u(&mut body, self.zero.len() as u32);
        body.extend(self.zero.iter().map(|&z| z as u8));
        u(&mut body, self.dag.nodes.len() as u32);
        for node in &self.dag.nodes {
            match *node {
                Node::Const(x) => {
                    body.push(0);
                    body.extend_from_slice(&x.to_bits().to_le_bytes());
                }
                Node::Param(p) => {
                    body.push(1);
                    u(&mut body, p);
                }
                Node::Add(a, b) | Node::Sub(a, b) | Node::Mul(a, b) | Node::Div(a, b) => {
                    body.push(match node {
                        Node::Add(..) => 2,
                        Node::Sub(..) => 3,
                        Node::Mul(..) => 4,
                        _ => 5,
                    });
                    u(&mut body, a);
                    u(&mut body, b);
                }
                Node::Sum { start, len } | Node::Dot { start, len } => {
                    body.push(if matches!(node, Node::Sum { .. }) {
                        6
                    } else {
                        7
                    });
                    u(&mut body, start);
                    u(&mut body, len);
                }
            }
        }
        let lists: [&[u32]; 4] = [&self.dag.args, &self.kept, &self.targets, &self.nodes];
        for l in lists {
            u(&mut body, l.len() as u32);
            for &x in l {
                u(&mut body, x);
            }
        }
        u(&mut body, self.offsets.len() as u32);
        for &x in &self.offsets {
            u(&mut body, x as u32);
        }
        u(&mut body, self.start.len() as u32);
        for &(w, x) in &self.start {
            u(&mut body, w);
            u(&mut body, x);
        }
        let mut out = Vec::with_capacity(body.len() + 44);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&Sha256::digest(&body));
        out.extend_from_slice(&body);
        out
    }

    /// Reads a transform file back for `s` and the zero pattern `zero`: `None` unless it is
    /// intact (magic, version, checksum) and fits them, so a damaged file is rebuilt, never
    /// used.
    pub fn from_bytes(bytes: &[u8], s: &Symbolic, zero: &[bool]) -> Option<Transform> {
        use sha2::{Digest, Sha256};
        if bytes.len() < 44 || &bytes[..8] != MAGIC || bytes[8..12] != VERSION.to_le_bytes() {
            return None;
        }
        let body = &bytes[44..];
        if Sha256::digest(body)[..] != bytes[12..44] {
            return None;
        }
        let mut at = 0usize;
        let mut take = |n: usize| -> Option<&[u8]> {
            let s = body.get(at..at.checked_add(n)?)?;
            at += n;
            Some(s)
        };
        fn word(b: &[u8]) -> u32 {
            u32::from_le_bytes(b.try_into().expect("4 bytes"))
        }
        let nz = word(take(4)?) as usize;
        let zero_read: Vec<bool> = take(nz)?.iter().map(|&b| b != 0).collect();
        let nn = word(take(4)?) as usize;
        let mut dag = Dag::default();
        for _ in 0..nn.min(body.len()) {
            let code = take(1)?[0];
            let node = match code {
                0 => Node::Const(f64::from_bits(u64::from_le_bytes(
                    take(8)?.try_into().ok()?,
                ))),
                1 => Node::Param(word(take(4)?)),
                2..=5 => {
                    let (a, b) = (word(take(4)?), word(take(4)?));
                    match code {
                        2 => Node::Add(a, b),
                        3 => Node::Sub(a, b),
                        4 => Node::Mul(a, b),
                        _ => Node::Div(a, b),
                    }
                }
                6 | 7 => {
                    let (start, len) = (word(take(4)?), word(take(4)?));
                    if code == 6 {
                        Node::Sum { start, len }
                    } else {
                        Node::Dot { start, len }
                    }
                }
                _ => return None,
            };
            dag.nodes.push(node);
        }
        if dag.nodes.len() != nn {
            return None;
        }
        let mut list = || -> Option<Vec<u32>> {
            let n = word(take(4)?) as usize;
            let b = take(n.checked_mul(4)?)?;
            Some(b.chunks_exact(4).map(word).collect())
        };
        dag.args = list()?;
        let kept = list()?;
        let targets = list()?;
        let nodes = list()?;
        let offsets: Vec<usize> = list()?.into_iter().map(|x| x as usize).collect();
        let start: Vec<(u32, Id)> = list_pairs(&mut take)?;
        if at != body.len() || zero_read != zero {
            return None;
        }
        let t = Transform {
            zero: zero_read,
            dag,
            kept,
            offsets,
            targets,
            nodes,
            start,
        };
        t.fits(s).then_some(t)
    }
}

fn list_pairs<'a>(take: &mut impl FnMut(usize) -> Option<&'a [u8]>) -> Option<Vec<(u32, u32)>> {
    let word = |b: &[u8]| u32::from_le_bytes(b.try_into().expect("4 bytes"));
    let n = word(take(4)?) as usize;
    let b = take(n.checked_mul(8)?)?;
    Some(
        b.chunks_exact(8)
            .map(|c| (word(&c[..4]), word(&c[4..])))
            .collect(),
    )
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
