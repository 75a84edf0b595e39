//! Does a symbolic form belong to a graph? A check independent of the elimination that made it.
//!
//! A DAG read from a bundle is only trusted for the graph it is filed under once it computes that
//! graph's quantities. The check does not redo the elimination; it asks the graph itself:
//!
//! * structure: the parameters, the vertex count, the unknowns (the reachable transient
//!   vertices, each once), the rate edges (the graph's live edges out of the unknowns) and the
//!   initial distribution (the graph's normalised start weights) must be the graph's;
//! * values, at thetas the caller draws at random (so a forger cannot aim at them): every rate
//!   node must equal the edge's rate `coefficients . theta`, and for a random right-hand side `r`
//!   the DAG's solve `x` must satisfy the graph's equations `lambda_v x_v - sum_w rate_vw x_w =
//!   r_v` for every unknown, to a small multiple of the rounding error of the terms.
//!
//! `(-S)` is nonsingular for an absorbing chain, so a solve that satisfies the equations for a
//! random `r` is `U r`: every moment, reward and density computed from the DAG is the graph's.
//! The forms the elimination writes are rational in theta, so agreeing at random thetas means
//! agreeing everywhere but on a set a forger cannot aim at.

use super::Symbolic;
use crate::graph::Graph;

/// Largest accepted residual, relative to the magnitude of the terms of each equation.
/// Elimination in the form used here is componentwise backward stable, so an honest DAG's
/// residuals are a few units of rounding (about 1e-16) times the vertex's degree.
const RESIDUAL: f64 = 1e-9;
/// Largest accepted relative difference between a rate node and the graph's rate.
const RATE: f64 = 1e-12;

/// Why a symbolic form does not belong to a graph, or could not be checked with these thetas.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum CheckError {
    /// The form computes something other than the graph's quantities.
    #[error("{0}")]
    Mismatch(String),
    /// The theta gave the graph a negative rate or no absorption: the check needs another.
    #[error("theta {0:?} cannot be evaluated on this graph")]
    Unusable(Vec<f64>),
}

/// A small deterministic generator (splitmix64), for right-hand sides drawn from a seed.
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Log-uniform in [lo, hi].
    pub fn log_uniform(&mut self, lo: f64, hi: f64) -> f64 {
        (lo.ln() + self.unit() * (hi.ln() - lo.ln())).exp()
    }
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * a.abs().max(b.abs()) || a == b
}

impl Symbolic {
    /// Checks that this symbolic form belongs to `g` (see the module documentation), at the
    /// given thetas and with right-hand sides drawn from `seed`.
    pub fn check_graph(&self, g: &Graph, thetas: &[Vec<f64>], seed: u64) -> Result<(), CheckError> {
        let bad = |m: String| Err(CheckError::Mismatch(m));
        if self.param_length != g.param_length() {
            return bad(format!(
                "the DAG has {} parameters, the graph {}",
                self.param_length,
                g.param_length()
            ));
        }
        if self.discrete != g.is_discrete() {
            return bad(format!(
                "the DAG is {}, the graph {}",
                if self.discrete {
                    "discrete"
                } else {
                    "continuous"
                },
                if g.is_discrete() {
                    "discrete"
                } else {
                    "continuous"
                }
            ));
        }
        let n = g.vertex_count();
        if self.n_vertices != n {
            return bad(format!(
                "the DAG is for {} vertices, the graph has {n}",
                self.n_vertices
            ));
        }
        // Unknowns: exactly the reachable transient vertices, each once.
        let reach = g.reachable();
        let transient = |v: usize| v != 0 && reach[v] && !g.is_absorbing(v);
        let mut var_of = vec![u32::MAX; n];
        for (i, &v) in self.vars.iter().enumerate() {
            let v = v as usize;
            if !transient(v) {
                return bad(format!(
                    "unknown {i} is vertex {v}, which is not a reachable transient vertex of the graph"
                ));
            }
            if var_of[v] != u32::MAX {
                return bad(format!("vertex {v} is an unknown twice"));
            }
            var_of[v] = i as u32;
        }
        let want = (0..n).filter(|&v| transient(v)).count();
        if self.vars.len() != want {
            return bad(format!(
                "the DAG has {} unknowns, the graph {want} reachable transient vertices",
                self.vars.len()
            ));
        }
        // Rate edges: the graph's live edges out of every unknown, in the graph's order. Each
        // is kept (its unknown, its target's unknown or u32::MAX, its coefficients) for the
        // checks of values.
        let mut live: Vec<(u32, u32, &[f64])> = Vec::with_capacity(self.edges.len());
        for (i, &v) in self.vars.iter().enumerate() {
            for e in g.edges(v as usize) {
                if !super::live(e.coeffs) {
                    continue;
                }
                match self.edges.get(live.len()) {
                    Some(&(f, t, _)) if f == v && t as usize == e.to => {
                        live.push((i as u32, var_of[e.to], e.coeffs));
                    }
                    _ => {
                        return bad(format!(
                            "the DAG's edge list differs from the graph's at edge {v} -> {}",
                            e.to
                        ));
                    }
                }
            }
        }
        if live.len() != self.edges.len() {
            return bad(format!(
                "the DAG lists {} rate edges, the graph {}",
                self.edges.len(),
                live.len()
            ));
        }
        // Initial distribution: the graph's normalised start weights on unknowns.
        let start = super::start_distribution(g, &var_of);
        let same_start = start.len() == self.start.len()
            && start
                .iter()
                .zip(&self.start)
                .all(|(a, b)| a.0 == b.0 && close(a.1, b.1, RATE));
        if !same_start {
            return bad("the DAG's initial distribution is not the graph's".into());
        }
        let mut rng = SplitMix(seed);
        // Two thetas at a time share one pass over the DAG.
        for pair in thetas.chunks(2) {
            let usable =
                |t: &[f64]| t.len() == self.param_length && t.iter().all(|x| x.is_finite());
            if let Some(bad_theta) = pair.iter().find(|t| !usable(t)) {
                return Err(CheckError::Unusable(bad_theta.clone()));
            }
            let values = match pair {
                [a, b] => self.dag.evaluate_each([a, b]).map(|v| v.values),
                [a] => [self.dag.evaluate(a).values, Vec::new()],
                _ => unreachable!("chunks of two"),
            };
            for (theta, vals) in pair.iter().zip(&values) {
                self.check_at(g, theta, &live, vals, &mut rng)?;
            }
        }
        Ok(())
    }

    /// Checks the values at `theta` (`vals`, the DAG's nodes there): the rate nodes against the
    /// `live` edges' rates, and the solve against the graph's equations.
    fn check_at(
        &self,
        g: &Graph,
        theta: &[f64],
        live: &[(u32, u32, &[f64])],
        vals: &[f64],
        rng: &mut SplitMix,
    ) -> Result<(), CheckError> {
        let unusable = || CheckError::Unusable(theta.to_vec());
        let raw_rate = |coeffs: &[f64]| -> f64 {
            if g.is_parameterized() {
                coeffs.iter().zip(theta).map(|(c, t)| c * t).sum()
            } else {
                coeffs[0]
            }
        };
        let m = self.vars.len();
        // A parameterized discrete graph's weights are normalised per vertex.
        let scale: Vec<f64> = if g.is_discrete() && g.is_parameterized() {
            self.vars
                .iter()
                .map(|&v| {
                    let t: f64 = g.edges(v as usize).map(|e| raw_rate(e.coeffs)).sum();
                    if t > 0.0 { 1.0 / t } else { 0.0 }
                })
                .collect()
        } else {
            vec![1.0; m]
        };
        // Rates: every rate node equals the graph's rate; the equations' diagonal and terms.
        let mut lambda = vec![0.0; m];
        let mut rates = Vec::with_capacity(live.len());
        for (&(i, to, coeffs), &(v, t, node)) in live.iter().zip(&self.edges) {
            let rate = raw_rate(coeffs) * scale[i as usize];
            if rate < 0.0 || !rate.is_finite() {
                return Err(unusable());
            }
            let node = vals[node as usize];
            if !close(node, rate, RATE) {
                return Err(CheckError::Mismatch(format!(
                    "at theta {theta:?} the DAG gives edge {v} -> {t} the rate {node}, the graph {rate}"
                )));
            }
            lambda[i as usize] += rate;
            rates.push((i, to, rate));
        }
        if lambda.iter().any(|&l| l <= 0.0) {
            return Err(unusable());
        }
        let r: Vec<f64> = (0..m).map(|_| 1.0 + rng.unit()).collect();
        let mut x = vec![0.0; m];
        self.solve(vals, &r, &mut x);
        // lhs_i = lambda_i x_i - sum_w rate_iw x_w, and the size of its terms.
        let mut lhs: Vec<f64> = lambda.iter().zip(&x).map(|(l, x)| l * x).collect();
        let mut size: Vec<f64> = lhs.iter().zip(&r).map(|(l, r)| l.abs() + r.abs()).collect();
        for &(i, to, rate) in &rates {
            if to != u32::MAX {
                let t = rate * x[to as usize];
                lhs[i as usize] -= t;
                size[i as usize] += t.abs();
            }
        }
        for (i, &v) in self.vars.iter().enumerate() {
            let residual = (lhs[i] - r[i]).abs();
            if residual.is_nan() || residual > RESIDUAL * size[i] {
                return Err(CheckError::Mismatch(format!(
                    "at theta {theta:?} the DAG's solution does not satisfy the graph's equation at vertex {v} (residual {residual:e} against terms of size {:e})",
                    size[i]
                )));
            }
        }
        Ok(())
    }
}

/// Thetas for [`Symbolic::check_graph`]: `count` draws, each parameter log-uniform in
/// [0.05, 20], from `seed`.
pub fn random_thetas(param_length: usize, count: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = SplitMix(seed ^ 0x5eed_7e7a);
    (0..count)
        .map(|_| {
            (0..param_length)
                .map(|_| rng.log_uniform(0.05, 20.0))
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eliminate::{Node, eliminate};
    use crate::graph::GraphBuilder;

    /// Two vertices in a cycle with exits, the way back at rate `back * theta[1]`: a graph
    /// that needs elimination.
    fn cyclic_with(back: f64) -> Graph {
        let mut b = GraphBuilder::new(1, 2);
        let (a, _) = b.find_or_create(&[1]);
        let (c, _) = b.find_or_create(&[2]);
        let (z, _) = b.find_or_create(&[3]);
        b.add_start_edge(a, 1.0);
        b.add_edge(a, c, &[1.0, 0.0]);
        b.add_edge(c, a, &[0.0, back]);
        b.add_edge(a, z, &[0.5, 0.0]);
        b.add_edge(c, z, &[0.0, 1.0]);
        b.build().unwrap()
    }

    fn cyclic() -> Graph {
        cyclic_with(2.0)
    }

    fn other() -> Graph {
        cyclic_with(3.0)
    }

    #[test]
    fn the_elimination_of_a_graph_belongs_to_it_and_not_to_another() {
        let g = cyclic();
        let s = eliminate(&g);
        let thetas = random_thetas(2, 2, 7);
        s.check_graph(&g, &thetas, 1).unwrap();
        let err = s.check_graph(&other(), &thetas, 1).unwrap_err();
        assert!(matches!(err, CheckError::Mismatch(_)), "{err}");
    }

    #[test]
    fn a_changed_constant_or_node_is_found() {
        let g = cyclic();
        let thetas = random_thetas(2, 2, 11);
        let s = eliminate(&g);
        for i in 0..s.dag.nodes.len() {
            let mut t = s.clone();
            t.dag.nodes[i] = match t.dag.nodes[i] {
                Node::Const(x) => Node::Const(x * (1.0 + 1e-6)),
                Node::Param(p) => Node::Const(p as f64 + 0.75),
                Node::Add(a, b) => Node::Sub(a, b),
                Node::Sub(a, b) => Node::Add(a, b),
                Node::Mul(a, b) => Node::Div(a, b),
                Node::Div(a, b) => Node::Mul(a, b),
                Node::Sum { start, len } if len > 1 => Node::Sum {
                    start,
                    len: len - 1,
                },
                Node::Dot { start, len } if len > 1 => Node::Dot {
                    start,
                    len: len - 1,
                },
                _ => continue,
            };
            // A node nothing reads may change freely; every node read must be caught.
            if t.moments(&thetas[0], 1) != s.moments(&thetas[0], 1)
                || t.edges.iter().any(|e| e.2 as usize == i)
            {
                assert!(t.check_graph(&g, &thetas, 3).is_err(), "node {i}");
            }
        }
    }

    #[test]
    fn a_theta_with_negative_rates_is_unusable_not_a_mismatch() {
        let g = cyclic();
        let s = eliminate(&g);
        let err = s.check_graph(&g, &[vec![-1.0, 1.0]], 1).unwrap_err();
        assert!(matches!(err, CheckError::Unusable(_)), "{err}");
    }
}
