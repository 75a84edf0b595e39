//! Evaluating the symbolic form for a theta: moments, reward moments and covariances, expected
//! waiting and sojourn times, densities and probability mass functions, and the errors a theta
//! can give ([`EvalError`]). Each evaluation computes the DAG once, then runs triangular
//! sweeps over the fixed structure.

use super::density::{self, Chain, Density, TimeError, check_times};
use super::{Symbolic, Transform, dag};

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
    pub(super) fn unknown_rewards(&self, rewards: &[f64]) -> Result<Vec<f64>, EvalError> {
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
    pub(super) fn trapped_vertex(&self, val: &[f64]) -> Option<u32> {
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
