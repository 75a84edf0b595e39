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

mod check;
pub mod dag;
pub mod density;
mod format;
mod transform;

use crate::graph::Graph;
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

/// Why a theta cannot be evaluated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    #[error("theta has {got} values but the model has {expected} parameter(s)")]
    ThetaLength { got: usize, expected: usize },
    #[error("theta[{index}] = {value} is not a finite number")]
    ThetaNotFinite { index: usize, value: f64 },
    #[error(
        "theta {theta:?} gives edge {from} -> {to} the negative rate {rate}; rates must be >= 0"
    )]
    NegativeRate {
        theta: Vec<f64>,
        from: u32,
        to: u32,
        rate: f64,
    },
    #[error(
        "theta {theta:?} makes the chain non-absorbing: from vertex {vertex}, reachable from the start, no absorbing vertex can be reached through edges with a positive rate (its moments are infinite)"
    )]
    NonAbsorbing { theta: Vec<f64>, vertex: u32 },
    #[error("rewards have {got} values but the graph has {expected} vertices (one per vertex id)")]
    RewardLength { got: usize, expected: usize },
    #[error("reward[{index}] = {value} is not a finite number")]
    RewardNotFinite { index: usize, value: f64 },
    #[error("reward[{index}] = {value} is negative; rewards must be >= 0")]
    RewardNegative { index: usize, value: f64 },
    #[error(
        "this reward transform was built for another zero pattern (rewards that are 0 at other vertices)"
    )]
    TransformPattern,
    #[error(transparent)]
    Time(#[from] TimeError),
    #[error(
        "theta {theta:?} gives vertex {vertex} step probabilities summing to {total}, more than 1"
    )]
    NotStochastic {
        theta: Vec<f64>,
        vertex: u32,
        total: f64,
    },
    #[error("the graph is discrete: ask for its probability mass function at step counts")]
    Discrete,
    #[error("moment {k} is not finite ({value}) for theta {theta:?}")]
    NotFinite {
        theta: Vec<f64>,
        k: usize,
        value: f64,
    },
}

impl Symbolic {
    pub fn param_length(&self) -> usize {
        self.param_length
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

    /// Checks theta, evaluates the DAG, and returns the node values.
    fn values(&self, theta: &[f64]) -> Result<dag::Values, EvalError> {
        if theta.len() != self.param_length {
            return Err(EvalError::ThetaLength {
                got: theta.len(),
                expected: self.param_length,
            });
        }
        if let Some((index, &value)) = theta.iter().enumerate().find(|(_, x)| !x.is_finite()) {
            return Err(EvalError::ThetaNotFinite { index, value });
        }
        let vals = self.dag.evaluate(theta);
        for &r in &self.rate_nodes {
            let rate = vals.values[r as usize];
            if rate < 0.0 || rate.is_nan() {
                let &(from, to, _) = self
                    .edges
                    .iter()
                    .find(|e| e.2 == r)
                    .expect("every rate node belongs to an edge");
                return Err(EvalError::NegativeRate {
                    theta: theta.to_vec(),
                    from,
                    to,
                    rate,
                });
            }
        }
        Ok(vals)
    }

    /// Solves `(-T) x = r` for the unknowns, given node values. Returns whether a zero pivot
    /// was met.
    pub(crate) fn solve(&self, val: &[f64], r: &[f64], x: &mut [f64]) -> bool {
        let mut c = r.to_vec();
        for &(u, v, f) in &self.forward {
            c[u as usize] += val[f as usize] * c[v as usize];
        }
        let mut zero = false;
        for i in (0..self.vars.len()).rev() {
            let mut s = c[i];
            for k in self.row_offsets[i]..self.row_offsets[i + 1] {
                s += val[self.row_nodes[k] as usize] * x[self.row_vars[k] as usize];
            }
            let d = val[self.pivots[i] as usize];
            x[i] = if d == 0.0 {
                zero = true;
                0.0
            } else {
                s / d
            };
        }
        zero
    }

    /// The first `k` raw moments `E[T], E[T^2], ..., E[T^k]` of the absorption time.
    pub fn moments(&self, theta: &[f64], k: usize) -> Result<Vec<f64>, EvalError> {
        let vals = self.values(theta)?;
        let ones = vec![1.0; self.vars.len()];
        self.series(theta, &vals, &ones, k)
    }

    /// The first `k` raw moments `E[Y], ..., E[Y^k]` of the rewarded total
    /// `Y = integral of r(X_t) dt`: `E[Y^j] = j! alpha (U D(r))^j 1`. `rewards` has one value
    /// per vertex id (phasic's convention); those of the start vertex and of absorbing vertices
    /// are ignored. Rewards of 1 give [`Symbolic::moments`].
    pub fn reward_moments(
        &self,
        theta: &[f64],
        rewards: &[f64],
        k: usize,
    ) -> Result<Vec<f64>, EvalError> {
        let r = self.unknown_rewards(rewards)?;
        let vals = self.values(theta)?;
        self.series(theta, &vals, &r, k)
    }

    /// The covariance matrix of the rewarded totals `Y_f` of several reward vectors (each one
    /// value per vertex id): `Cov(Y_f, Y_g) = alpha U (D(r_f) U r_g + D(r_g) U r_f) - E[Y_f]
    /// E[Y_g]`. Row-major, `F x F`.
    pub fn reward_covariance(
        &self,
        theta: &[f64],
        rewards: &[Vec<f64>],
    ) -> Result<Vec<Vec<f64>>, EvalError> {
        let rs = rewards
            .iter()
            .map(|r| self.unknown_rewards(r))
            .collect::<Result<Vec<_>, _>>()?;
        let vals = self.values(theta)?;
        let m = self.vars.len();
        let mut zero = vals.zero_division;
        // w_f = U r_f and E[Y_f] = alpha w_f.
        let mut ws = Vec::with_capacity(rs.len());
        for r in &rs {
            let mut w = vec![0.0; m];
            zero |= self.solve(&vals.values, r, &mut w);
            ws.push(w);
        }
        let means: Vec<f64> = ws.iter().map(|w| self.start_dot(w)).collect();
        let f = rs.len();
        let mut cov = vec![vec![0.0; f]; f];
        let mut x = vec![0.0; m];
        for a in 0..f {
            for b in a..f {
                // A discrete chain's step counts its own reward once: `E[Y_a Y_b]` solves
                // with `r_a w_b + r_b w_a - r_a r_b`.
                let own = if self.discrete { 1.0 } else { 0.0 };
                let rhs: Vec<f64> = (0..m)
                    .map(|i| rs[a][i] * ws[b][i] + rs[b][i] * ws[a][i] - own * rs[a][i] * rs[b][i])
                    .collect();
                zero |= self.solve(&vals.values, &rhs, &mut x);
                let c = self.start_dot(&x) - means[a] * means[b];
                cov[a][b] = c;
                cov[b][a] = c;
            }
        }
        let flat: Vec<f64> = cov.iter().flatten().copied().collect();
        self.finish(theta, &vals, zero, &flat)?;
        Ok(cov)
    }

    /// `U r` per vertex id: the expected reward accumulated until absorption from each vertex
    /// (phasic's `expected_waiting_time`); 0 at absorbing and unreachable vertices, and at the
    /// start vertex the expectation over the initial distribution.
    pub fn expected_waiting_time(
        &self,
        theta: &[f64],
        rewards: &[f64],
    ) -> Result<Vec<f64>, EvalError> {
        let r = self.unknown_rewards(rewards)?;
        let vals = self.values(theta)?;
        let mut x = vec![0.0; self.vars.len()];
        let zero = vals.zero_division | self.solve(&vals.values, &r, &mut x);
        self.finish(theta, &vals, zero, &x)?;
        let mut out = vec![0.0; self.n_vertices];
        for (i, &v) in self.vars.iter().enumerate() {
            out[v as usize] = x[i];
        }
        if let Some(s) = out.first_mut() {
            *s = self.start_dot(&x);
        }
        Ok(out)
    }

    /// `alpha U` per vertex id: the expected total time spent in each vertex before absorption
    /// (phasic's `expected_sojourn_time`); 0 at the start, absorbing and unreachable vertices.
    /// One transposed solve: `alpha^T U = alpha^T B^-1 F`, where `F` is the forward sweep and
    /// `B` the triangular back-substitution.
    pub fn expected_sojourn_time(&self, theta: &[f64]) -> Result<Vec<f64>, EvalError> {
        let vals = self.values(theta)?;
        let val = &vals.values;
        let m = self.vars.len();
        // B^T y = alpha: B[i][i] = pivot i, B[i][w] = -value(a) for (w, a) in row i (w > i).
        let mut y = vec![0.0; m];
        for &(i, p) in &self.start {
            y[i as usize] += p;
        }
        let mut zero = vals.zero_division;
        for i in 0..m {
            let d = val[self.pivots[i] as usize];
            if d == 0.0 {
                zero = true;
                y[i] = 0.0;
                continue;
            }
            y[i] /= d;
            let yi = y[i];
            for k in self.row_offsets[i]..self.row_offsets[i + 1] {
                y[self.row_vars[k] as usize] += val[self.row_nodes[k] as usize] * yi;
            }
        }
        // z^T = y^T F: the forward sweep's updates c[u] += f c[v], transposed, in reverse.
        for &(u, v, f) in self.forward.iter().rev() {
            y[v as usize] += val[f as usize] * y[u as usize];
        }
        self.finish(theta, &vals, zero, &y)?;
        let mut out = vec![0.0; self.n_vertices];
        for (i, &v) in self.vars.iter().enumerate() {
            out[v as usize] = y[i];
        }
        Ok(out)
    }

    /// `E[Y_f]` for many reward vectors at once (each one value per vertex id): the sojourn
    /// vector `alpha U` from one transposed solve, dotted with each vector. The same values as
    /// [`Symbolic::reward_moments`] with `k = 1`, for the cost of one solve in all.
    pub fn reward_means(&self, theta: &[f64], rewards: &[Vec<f64>]) -> Result<Vec<f64>, EvalError> {
        for r in rewards {
            self.unknown_rewards(r)?;
        }
        let sojourn = self.expected_sojourn_time(theta)?;
        Ok(rewards
            .iter()
            .map(|r| {
                self.vars
                    .iter()
                    .map(|&v| sojourn[v as usize] * r[v as usize])
                    .sum()
            })
            .collect())
    }

    /// Rewards per unknown, from one value per vertex id.
    fn unknown_rewards(&self, rewards: &[f64]) -> Result<Vec<f64>, EvalError> {
        if rewards.len() != self.n_vertices {
            return Err(EvalError::RewardLength {
                got: rewards.len(),
                expected: self.n_vertices,
            });
        }
        if let Some((index, &value)) = rewards.iter().enumerate().find(|(_, x)| !x.is_finite()) {
            return Err(EvalError::RewardNotFinite { index, value });
        }
        if let Some((index, &value)) = rewards.iter().enumerate().find(|(_, x)| **x < 0.0) {
            return Err(EvalError::RewardNegative { index, value });
        }
        Ok(self.vars.iter().map(|&v| rewards[v as usize]).collect())
    }

    /// Density and distribution function of the absorption time `T` at `times`
    /// ([`density`](density/index.html) describes the methods and their accuracy).
    pub fn density(&self, theta: &[f64], times: &[f64]) -> Result<Density, EvalError> {
        if self.discrete {
            return Err(EvalError::Discrete);
        }
        check_times(times)?;
        let vals = self.values(theta)?;
        self.absorbing(theta, &vals)?;
        Ok(self.time_chain(&vals).density(times)?)
    }

    /// A discrete graph's probability mass function and distribution function of the number of
    /// steps `K` at whole step counts (`Density::pdf` holds the pmf).
    pub fn pmf(&self, theta: &[f64], steps: &[f64]) -> Result<Density, EvalError> {
        density::check_steps(steps)?;
        let vals = self.values(theta)?;
        self.absorbing(theta, &vals)?;
        let chain = self.time_chain(&vals);
        let (u, total) = chain.max_total();
        if total > 1.0 + 1e-12 {
            return Err(EvalError::NotStochastic {
                theta: theta.to_vec(),
                vertex: self.vars[u],
                total,
            });
        }
        Ok(chain.pmf(steps)?)
    }

    /// The chain of `T` at theta, for [`Chain::density_with`] (a chosen method).
    pub fn chain(&self, theta: &[f64]) -> Result<Chain, EvalError> {
        let vals = self.values(theta)?;
        self.absorbing(theta, &vals)?;
        Ok(self.time_chain(&vals))
    }

    /// The distribution of a rewarded total `Y` (rewards per vertex id): its atom `P(Y = 0)`
    /// and, at `times`, the density of its continuous part and its distribution function
    /// (atom included). `transform` must be [`Symbolic::transform`] of the rewards'
    /// [`Symbolic::zero_pattern`].
    pub fn reward_distribution(
        &self,
        theta: &[f64],
        rewards: &[f64],
        transform: &Transform,
        times: &[f64],
    ) -> Result<(f64, Density), EvalError> {
        if self.discrete && !times.is_empty() {
            return Err(EvalError::Discrete);
        }
        check_times(times)?;
        let r = self.unknown_rewards(rewards)?;
        if r.iter()
            .zip(&transform.zero)
            .any(|(&x, &z)| (x == 0.0) != z)
        {
            return Err(EvalError::TransformPattern);
        }
        let vals = self.values(theta)?;
        self.absorbing(theta, &vals)?;
        let chain = self.rewarded_chain(theta, &vals, transform, &r)?;
        Ok((chain.atom, chain.density(times)?))
    }

    /// An error if this theta traps the chain (some reachable vertex cannot reach absorption).
    fn absorbing(&self, theta: &[f64], vals: &dag::Values) -> Result<(), EvalError> {
        match self.trapped_vertex(&vals.values) {
            Some(vertex) => Err(EvalError::NonAbsorbing {
                theta: theta.to_vec(),
                vertex,
            }),
            None => Ok(()),
        }
    }

    /// `alpha . x` over the unknowns.
    fn start_dot(&self, x: &[f64]) -> f64 {
        self.start.iter().map(|&(i, p)| p * x[i as usize]).sum()
    }

    /// `j! alpha (U D(r))^j 1` for `j = 1..=k`.
    fn series(
        &self,
        theta: &[f64],
        vals: &dag::Values,
        r: &[f64],
        k: usize,
    ) -> Result<Vec<f64>, EvalError> {
        if self.discrete {
            return self.discrete_series(theta, vals, r, k);
        }
        let m = self.vars.len();
        let mut rhs = r.to_vec();
        let mut x = vec![0.0; m];
        let mut zero = vals.zero_division;
        let mut out = Vec::with_capacity(k);
        let mut factorial = 1.0;
        for j in 1..=k {
            zero |= self.solve(&vals.values, &rhs, &mut x);
            factorial *= j as f64;
            out.push(factorial * self.start_dot(&x));
            for i in 0..m {
                rhs[i] = r[i] * x[i];
            }
        }
        self.finish(theta, vals, zero, &out)?;
        Ok(out)
    }

    /// Raw moments `E[Y^j]` of `Y = sum of r(X_n)` over the steps `n < K` of a discrete chain,
    /// `j = 1..=k` (`r = 1` gives `E[K^j]`): with `m_j = E_v[Y^j]` per unknown and
    /// `Y = r_v + Y'` after one step, `(I - P) m_j = b_j` where
    /// `b_j = r^j + sum_{i=1}^{j-1} C(j, i) r^{j-i} o (m_i - b_i)` (as `P m_i = m_i - b_i`);
    /// `E[Y^j] = alpha m_j`. Every `b_j` is a sum of nonnegative terms.
    fn discrete_series(
        &self,
        theta: &[f64],
        vals: &dag::Values,
        r: &[f64],
        k: usize,
    ) -> Result<Vec<f64>, EvalError> {
        let m = self.vars.len();
        let mut zero = vals.zero_division;
        let mut ms: Vec<Vec<f64>> = Vec::with_capacity(k);
        let mut bs: Vec<Vec<f64>> = Vec::with_capacity(k);
        let mut out = Vec::with_capacity(k);
        for j in 1..=k {
            let mut b: Vec<f64> = r.iter().map(|x| x.powi(j as i32)).collect();
            let mut binom = 1.0;
            for i in 1..j {
                binom = binom * (j - i + 1) as f64 / i as f64; // C(j, i)
                for v in 0..m {
                    b[v] += binom * r[v].powi((j - i) as i32) * (ms[i - 1][v] - bs[i - 1][v]);
                }
            }
            let mut x = vec![0.0; m];
            zero |= self.solve(&vals.values, &b, &mut x);
            out.push(self.start_dot(&x));
            ms.push(x);
            bs.push(b);
        }
        self.finish(theta, vals, zero, &out)?;
        Ok(out)
    }

    /// The checks after a solve: a zero pivot is an error only when a vertex is trapped, and
    /// every result must be finite.
    fn finish(
        &self,
        theta: &[f64],
        vals: &dag::Values,
        zero: bool,
        out: &[f64],
    ) -> Result<(), EvalError> {
        if zero && let Some(vertex) = self.trapped_vertex(&vals.values) {
            return Err(EvalError::NonAbsorbing {
                theta: theta.to_vec(),
                vertex,
            });
        }
        // With no trapped vertex, a zero pivot belongs to a vertex that this theta makes
        // unreachable; its unknown is multiplied by zero rates only, so the values stand.
        if let Some((i, &value)) = out.iter().enumerate().find(|(_, x)| !x.is_finite()) {
            return Err(EvalError::NotFinite {
                theta: theta.to_vec(),
                k: i + 1,
                value,
            });
        }
        Ok(())
    }

    /// A vertex reachable from the start (over positive rates) from which no absorbing vertex
    /// can be reached over positive rates, if there is one.
    fn trapped_vertex(&self, val: &[f64]) -> Option<u32> {
        let n = self.n_vertices;
        let mut out: Vec<Vec<u32>> = vec![Vec::new(); n];
        let mut rev: Vec<Vec<u32>> = vec![Vec::new(); n];
        let mut has_edges = vec![false; n];
        for &(f, t, r) in &self.edges {
            has_edges[f as usize] = true;
            if val[r as usize] > 0.0 {
                out[f as usize].push(t);
                rev[t as usize].push(f);
            }
        }
        let mut seen = vec![false; n];
        let mut stack: Vec<u32> = Vec::new();
        for &(i, p) in &self.start {
            let v = self.vars[i as usize];
            if p > 0.0 && !seen[v as usize] {
                seen[v as usize] = true;
                stack.push(v);
            }
        }
        while let Some(v) = stack.pop() {
            for &w in &out[v as usize] {
                if !seen[w as usize] {
                    seen[w as usize] = true;
                    stack.push(w);
                }
            }
        }
        let mut ok = vec![false; n];
        let mut stack: Vec<u32> = (0..n as u32).filter(|&v| !has_edges[v as usize]).collect();
        for &v in &stack {
            ok[v as usize] = true;
        }
        while let Some(v) = stack.pop() {
            for &u in &rev[v as usize] {
                if !ok[u as usize] {
                    ok[u as usize] = true;
                    stack.push(u);
                }
            }
        }
        (0..n as u32).find(|&v| seen[v as usize] && !ok[v as usize])
    }
}

/// Strongly connected components of the graph restricted to `alive` vertices, in topological
/// order (sources first). Iterative Tarjan; edges are visited in target order.
fn components(g: &Graph, alive: &[bool], live: impl Fn(&[f64]) -> bool) -> Vec<Vec<u32>> {
    let n = g.vertex_count();
    let succ: Vec<Vec<u32>> = (0..n)
        .map(|v| {
            if !alive[v] {
                return Vec::new();
            }
            g.edges(v)
                .filter(|e| alive[e.to] && live(e.coeffs))
                .map(|e| e.to as u32)
                .collect()
        })
        .collect();
    tarjan(&succ, |v| alive[v])
}

/// Strongly connected components of the `alive` vertices of a successor list (whose targets
/// are alive), in topological order (sources first), each sorted.
fn tarjan(succ: &[Vec<u32>], alive: impl Fn(usize) -> bool) -> Vec<Vec<u32>> {
    let n = succ.len();
    const NONE: u32 = u32::MAX;
    let mut index = vec![NONE; n];
    let mut low = vec![0u32; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<u32> = Vec::new();
    let mut comps: Vec<Vec<u32>> = Vec::new();
    let mut next = 0u32;
    let mut call: Vec<(u32, usize)> = Vec::new();
    for root in 0..n as u32 {
        if !alive(root as usize) || index[root as usize] != NONE {
            continue;
        }
        call.push((root, 0));
        index[root as usize] = next;
        low[root as usize] = next;
        next += 1;
        stack.push(root);
        on_stack[root as usize] = true;
        while let Some(&mut (v, ref mut k)) = call.last_mut() {
            let vs = &succ[v as usize];
            if *k < vs.len() {
                let w = vs[*k];
                *k += 1;
                if index[w as usize] == NONE {
                    index[w as usize] = next;
                    low[w as usize] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w as usize] = true;
                    call.push((w, 0));
                } else if on_stack[w as usize] {
                    low[v as usize] = low[v as usize].min(index[w as usize]);
                }
            } else {
                call.pop();
                if let Some(&(p, _)) = call.last() {
                    low[p as usize] = low[p as usize].min(low[v as usize]);
                }
                if low[v as usize] == index[v as usize] {
                    let mut comp = Vec::new();
                    loop {
                        let w = stack.pop().expect("tarjan stack");
                        on_stack[w as usize] = false;
                        comp.push(w);
                        if w == v {
                            break;
                        }
                    }
                    comp.sort_unstable();
                    comps.push(comp);
                }
            }
        }
    }
    comps.reverse();
    comps
}

/// The distinct non-constant rate nodes, in edge order: the rates to check for each theta.
fn rate_nodes(dag: &Dag, edges: &[(u32, u32, Id)]) -> Vec<Id> {
    let mut seen = rustc_hash::FxHashSet::default();
    edges
        .iter()
        .map(|e| e.2)
        .filter(|&r| !matches!(dag.nodes[r as usize], Node::Const(_)) && seen.insert(r))
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
