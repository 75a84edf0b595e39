//! The two-locus coalescent with recombination (the ancestral recombination graph of two
//! loci).
//!
//! A lineage carries ancestral material at both loci, at locus 1 only, or at locus 2 only. The
//! state is `[a, b, c]`: the lineages carrying unresolved material at both loci, at locus 1
//! only and at locus 2 only, where a locus's material is resolved once the locus has found its
//! most recent common ancestor (a single lineage carries it). So while both loci are unresolved
//! `a + b >= 2` and `a + c >= 2`; once locus 1 is resolved the state is `[0, 0, c']` with `c'`
//! the lineages carrying locus 2 (and `[0, b', 0]` once locus 2 is); `[0, 0, 0]` absorbs.

use super::{Args, Exploration, GeneratorError, Transitions, explore};
use crate::graph::Graph;
use crate::model::rewards::{RewardSet, Values};

/// Most samples: the state space grows as `samples^3`.
const MAX_SAMPLES: i64 = 200;

pub(super) fn build(a: &Args, how: &Exploration<'_>) -> Result<Graph, GeneratorError> {
    let n = a.int("samples", None, 2, MAX_SAMPLES)?;
    explore(how, 3, 2, &[n, 0, 0], transitions)
}

/// The state with resolved material dropped: a locus with at most one lineage carrying it is
/// resolved.
fn canonical(a: i32, b: i32, c: i32) -> Vec<i32> {
    let done1 = a + b <= 1;
    let done2 = a + c <= 1;
    match (done1, done2) {
        (true, true) => vec![0, 0, 0],
        (true, false) => vec![0, 0, a + c],
        (false, true) => vec![0, a + b, 0],
        (false, false) => vec![a, b, c],
    }
}

/// Coalescence of any two lineages at rate `coalescence`, in the order both+both, both+1,
/// both+2, 1+1, 2+2, 1+2, then recombination of a lineage carrying both loci at rate
/// `recombination` (into a locus-1 and a locus-2 lineage). Transitions to the same state are
/// one edge, at the sum of their rates, where the first of them is.
fn transitions(s: &[i32], out: &mut Transitions) {
    let (a, b, c) = (s[0], s[1], s[2]);
    if a + b + c == 0 {
        return;
    }
    let pairs = |x: i32| f64::from(x) * f64::from(x - 1) / 2.0;
    let (af, bf, cf) = (f64::from(a), f64::from(b), f64::from(c));
    let moves = [
        (pairs(a), (a - 1, b, c), 0),
        (af * bf, (a, b - 1, c), 0),
        (af * cf, (a, b, c - 1), 0),
        (pairs(b), (a, b - 1, c), 0),
        (pairs(c), (a, b, c - 1), 0),
        (bf * cf, (a + 1, b - 1, c - 1), 0),
        (af, (a - 1, b + 1, c + 1), 1),
    ];
    for (rate, (x, y, z), param) in moves {
        if rate <= 0.0 {
            continue;
        }
        let to = canonical(x, y, z);
        match out.iter_mut().find(|(t, _)| *t == to) {
            Some((_, coeffs)) => coeffs[param] += rate,
            None => {
                let mut coeffs = vec![0.0, 0.0];
                coeffs[param] = rate;
                out.push((to, coeffs));
            }
        }
    }
}

/// `heights`: `t1` (`t2`) is 1 while locus 1 (2) has more than one ancestral lineage, so its
/// total is the tree height (TMRCA) at that locus.
pub(super) fn heights(graph: &Graph) -> RewardSet {
    let vector = |locus: usize| -> Vec<f64> {
        (0..graph.vertex_count())
            .map(|v| {
                let s = graph.state(v);
                if s[0] + s[locus] >= 2 { 1.0 } else { 0.0 }
            })
            .collect()
    };
    RewardSet {
        name: "heights".into(),
        labels: vec!["t1".into(), "t2".into()],
        values: Values::Vectors(vec![vector(1), vector(2)]),
    }
}

#[cfg(test)]
mod tests {
    use super::super::generate;
    use super::*;
    use crate::eliminate::eliminate;

    fn graph(n: i32) -> Graph {
        generate(
            "coalescent/two-locus",
            &format!("samples = {n}").parse().unwrap(),
        )
        .unwrap()
    }

    fn rewards(g: &Graph) -> Vec<Vec<f64>> {
        match heights(g).values {
            Values::Vectors(v) => v,
            Values::Columns(_) => unreachable!(),
        }
    }

    #[test]
    fn two_samples_have_the_classic_state_space() {
        // Both loci in two lineages each: {AA}, {A, B, C}, {B, B, C, C}; then one locus
        // resolved ([0, 0, 2] or [0, 2, 0]); then absorption.
        let g = graph(2);
        let states: Vec<&[i32]> = (1..g.vertex_count()).map(|v| g.state(v)).collect();
        assert_eq!(states.len(), 6, "{states:?}");
        for s in [
            [2, 0, 0],
            [1, 1, 1],
            [0, 2, 2],
            [0, 0, 2],
            [0, 2, 0],
            [0, 0, 0],
        ] {
            assert!(states.contains(&&s[..]), "{s:?} in {states:?}");
        }
        assert!(g.is_absorbing(states.iter().position(|s| s == &[0, 0, 0]).unwrap() + 1));
        // Every [a, b, c] with x = a + b and y = a + c in 2..=n and 0 <= a <= min(x, y) is
        // reached, then [0, 0, y] and [0, x, 0] for 2..=n, and [0, 0, 0].
        for n in 2..7 {
            let unresolved: i32 = (2..=n)
                .flat_map(|x| (2..=n).map(move |y| x.min(y) + 1))
                .sum();
            let want = unresolved + 2 * (n - 1) + 1;
            assert_eq!(graph(n).vertex_count() as i32, want + 1, "n={n}");
        }
    }

    #[test]
    fn covariance_of_the_two_tree_heights_is_hudsons() {
        // Time in units where a pair coalesces at rate 1 (2N generations), rho = 4 N r: each
        // lineage carrying both loci recombines at rate rho / 2, so recombination = rho / 2.
        // Then for two samples E[T1] = E[T2] = 1, Var(T) = 1 and
        // Cov(T1, T2) = (rho + 18) / (rho^2 + 13 rho + 18) (Hudson 1983; Kaplan and Hudson).
        let g = graph(2);
        let s = eliminate(&g);
        let r = rewards(&g);
        for rho in [0.0, 0.1, 1.0, 2.5, 10.0, 100.0] {
            let theta = [1.0, rho / 2.0];
            let means = s.reward_means(&theta, &r).unwrap();
            assert!((means[0] - 1.0).abs() < 1e-12 && (means[1] - 1.0).abs() < 1e-12);
            let cov = s.reward_covariance(&theta, &r).unwrap();
            let want = (rho + 18.0) / (rho * rho + 13.0 * rho + 18.0);
            assert!(
                (cov[0][1] - want).abs() < 1e-12,
                "rho={rho}: {} vs {want}",
                cov[0][1]
            );
            assert!((cov[0][0] - 1.0).abs() < 1e-12 && (cov[1][1] - 1.0).abs() < 1e-12);
        }
        // A coalescence rate of 2 halves the times: the covariance scales by 1/4 at the same
        // ratio of recombination to coalescence.
        let rho = 3.0;
        let cov = s.reward_covariance(&[2.0, rho], &r).unwrap();
        let want = (rho + 18.0) / (rho * rho + 13.0 * rho + 18.0) / 4.0;
        assert!((cov[0][1] - want).abs() < 1e-12, "{} vs {want}", cov[0][1]);
    }

    #[test]
    fn each_locus_alone_is_kingmans_tree() {
        // Each locus's genealogy is Kingman's coalescent whatever the recombination rate:
        // E[T_MRCA] = 2 (1 - 1/n) and Var(T_MRCA) = sum_{k=2}^n (2 / (k (k-1)))^2 at rate 1 per
        // pair.
        for n in [3, 4, 6] {
            let g = graph(n);
            let s = eliminate(&g);
            let r = rewards(&g);
            let nf = f64::from(n);
            let mean = 2.0 * (1.0 - 1.0 / nf);
            let var: f64 = (2..=n)
                .map(|k| (2.0 / f64::from(k * (k - 1))).powi(2))
                .sum();
            for rho in [0.0, 0.7, 5.0] {
                let theta = [1.0, rho / 2.0];
                let means = s.reward_means(&theta, &r).unwrap();
                let cov = s.reward_covariance(&theta, &r).unwrap();
                for l in 0..2 {
                    assert!(
                        (means[l] - mean).abs() < 1e-12,
                        "n={n} rho={rho}: {means:?}"
                    );
                    assert!((cov[l][l] - var).abs() < 1e-12, "n={n} rho={rho}: {cov:?}");
                }
            }
        }
        // Without recombination both loci share one tree.
        let g = graph(4);
        let cov = eliminate(&g)
            .reward_covariance(&[1.0, 0.0], &rewards(&g))
            .unwrap();
        assert!((cov[0][1] - cov[0][0]).abs() < 1e-12, "{cov:?}");
    }

    #[test]
    fn samples_are_bounded() {
        let e = generate("coalescent/two-locus", &"samples = 1".parse().unwrap()).unwrap_err();
        assert!(
            e.to_string().contains("'samples': 1 is outside 2..=200"),
            "{e}"
        );
    }
}
