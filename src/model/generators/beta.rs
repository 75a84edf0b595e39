//! The Beta(2 - alpha, alpha)-coalescent, a multiple-merger coalescent, on the block-counting
//! state space: `state[i]` is the number of lineages subtending `i + 1` of the `n` samples.

use super::{Args, Exploration, GeneratorError, Transitions, arg_err, explore};
use crate::graph::Graph;
use std::collections::HashMap;

/// Most samples: the state space has one state per integer partition of `samples`, and a
/// state's mergers are every sub-multiset of its lineages.
const MAX_SAMPLES: i64 = 100;

pub(super) fn build(a: &Args, how: &Exploration<'_>) -> Result<Graph, GeneratorError> {
    let n = a.int("samples", None, 2, MAX_SAMPLES)? as usize;
    let alpha = a.float("alpha", None)?;
    if !(1.0..2.0).contains(&alpha) {
        return Err(arg_err(
            "alpha",
            format!("{alpha} is outside [1, 2) (1 <= alpha < 2)"),
        ));
    }
    let rates = Lambda::new(n, alpha);
    let mut init = vec![0; n];
    init[0] = n as i32;
    explore(how, n, 1, &init, |s, out| transitions(s, &rates, out))
}

/// `lambda_{b,k}`, the rate at which one given set of `k` of `b` lineages merges:
/// `B(k - alpha, b - k + alpha) / B(2 - alpha, alpha)`.
pub(super) struct Lambda {
    /// `rates[b][k]`, for `2 <= k <= b <= n`.
    rates: Vec<Vec<f64>>,
}

impl Lambda {
    pub(super) fn new(n: usize, alpha: f64) -> Lambda {
        let norm = ln_beta(2.0 - alpha, alpha);
        let rates = (0..=n)
            .map(|b| {
                (0..=b)
                    .map(|k| {
                        if k < 2 {
                            0.0
                        } else {
                            let (b, k) = (b as f64, k as f64);
                            (ln_beta(k - alpha, b - k + alpha) - norm).exp()
                        }
                    })
                    .collect()
            })
            .collect();
        Lambda { rates }
    }

    pub(super) fn get(&self, b: usize, k: usize) -> f64 {
        self.rates[b][k]
    }
}

/// `ln B(x, y)` for `x, y > 0`.
fn ln_beta(x: f64, y: f64) -> f64 {
    ln_gamma(x) + ln_gamma(y) - ln_gamma(x + y)
}

/// `ln Gamma(x)` for `x > 0`: Lanczos' approximation (g = 7, nine terms, relative error about
/// 1e-15), with the reflection formula below 1/2.
pub(super) fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    for (i, &c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    let t = x + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// `C(n, k)` as a float.
fn binomial(n: i32, k: i32) -> f64 {
    (0..k).fold(1.0, |acc, i| acc * f64::from(n - i) / f64::from(i + 1))
}

/// Every merger of `k >= 2` of the `b` lineages: a multiset taking `k_i` lineages of size
/// `i + 1`, at rate `lambda_{b,k} * prod_i C(s_i, k_i)` (times theta), to one lineage of size
/// `sum_i k_i (i + 1)`. Multisets are taken in odometer order over the occupied size classes,
/// the smallest class turning fastest; mergers to the same state are one edge, at the sum of
/// their rates, where the first of them is.
fn transitions(s: &[i32], lambda: &Lambda, out: &mut Transitions) {
    let b: i32 = s.iter().sum();
    if b < 2 {
        return;
    }
    let classes: Vec<usize> = (0..s.len()).filter(|&i| s[i] > 0).collect();
    let mut pick = vec![0i32; classes.len()];
    let mut seen: HashMap<Vec<i32>, usize> = HashMap::new();
    loop {
        let k: i32 = pick.iter().sum();
        if k >= 2 {
            let mut t = s.to_vec();
            let mut size = 0usize;
            let mut ways = 1.0;
            for (&c, &p) in classes.iter().zip(&pick) {
                t[c] -= p;
                size += p as usize * (c + 1);
                ways *= binomial(s[c], p);
            }
            t[size - 1] += 1;
            let rate = ways * lambda.get(b as usize, k as usize);
            match seen.get(&t) {
                Some(&i) => out[i].1[0] += rate,
                None => {
                    seen.insert(t.clone(), out.len());
                    out.push((t, vec![rate]));
                }
            }
        }
        let mut j = 0;
        loop {
            if j == pick.len() {
                return;
            }
            pick[j] += 1;
            if pick[j] <= s[classes[j]] {
                break;
            }
            pick[j] = 0;
            j += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{generate, reward_sets};
    use super::*;
    use crate::eliminate::eliminate;

    fn graph(n: usize, alpha: &str) -> Graph {
        generate(
            "coalescent/beta",
            &format!("samples = {n}\nalpha = {alpha}").parse().unwrap(),
        )
        .unwrap()
    }

    fn factorial(m: usize) -> f64 {
        (1..=m).map(|i| i as f64).product()
    }

    fn choose(n: usize, k: usize) -> f64 {
        factorial(n) / (factorial(k) * factorial(n - k))
    }

    /// Bolthausen-Sznitman: lambda_{b,k} = (k-2)! (b-k)! / (b-1)!.
    fn lambda_bs(b: usize, k: usize) -> f64 {
        factorial(k - 2) * factorial(b - k) / factorial(b - 1)
    }

    /// alpha = 3/2 with Gamma(m + 1/2) = (2m)! sqrt(pi) / (4^m m!) and B(1/2, 3/2) = pi / 2:
    /// lambda_{b,k} = 2 g(k-2) g(b-k+1) / (b-1)!, g(m) = (2m)! / (4^m m!).
    fn lambda_15(b: usize, k: usize) -> f64 {
        let g = |m: usize| factorial(2 * m) / (4f64.powi(m as i32) * factorial(m));
        2.0 * g(k - 2) * g(b - k + 1) / factorial(b - 1)
    }

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1e-300)
    }

    #[test]
    fn ln_gamma_is_accurate() {
        for m in 1..30 {
            let want = factorial(m - 1).ln();
            assert!(
                (ln_gamma(m as f64) - want).abs() < 1e-13 * want.abs().max(1.0),
                "{m}"
            );
        }
        let sqrt_pi = std::f64::consts::PI.sqrt();
        assert!((ln_gamma(0.5) - sqrt_pi.ln()).abs() < 1e-15);
        assert!((ln_gamma(1e-7) - (1e7f64.ln() - 0.577_215_664_9e-7)).abs() < 1e-12);
        let l = Lambda::new(10, 1.0);
        for b in 2..=10 {
            for k in 2..=b {
                assert!(close(l.get(b, k), lambda_bs(b, k), 1e-13), "{b} {k}");
            }
        }
        let l = Lambda::new(10, 1.5);
        for b in 2..=10 {
            for k in 2..=b {
                assert!(close(l.get(b, k), lambda_15(b, k), 1e-13), "{b} {k}");
            }
        }
    }

    #[test]
    fn bolthausen_sznitman_leaves_b_lineages_at_rate_b_minus_1() {
        // sum_k C(b, k) (k-2)! (b-k)! / (b-1)! = b sum_k 1 / (k (k-1)) = b - 1.
        let g = graph(7, "1");
        for v in 1..g.vertex_count() {
            let b: i32 = g.state(v).iter().sum();
            let total: f64 = g.edges(v).map(|e| e.coeffs[0]).sum();
            let want = f64::from(b - 1);
            assert!(
                close(total, want, 1e-12) || (b == 1 && total == 0.0),
                "{v}: {total}"
            );
        }
    }

    /// E[T_MRCA] of the lineage-count chain: from b lineages, k of them merge (b -> b-k+1) at
    /// rate C(b, k) lambda_{b,k}.
    fn tmrca(n: usize, lambda: &dyn Fn(usize, usize) -> f64) -> f64 {
        let mut t = vec![0.0; n + 1];
        for b in 2..=n {
            let rates: Vec<f64> = (2..=b).map(|k| choose(b, k) * lambda(b, k)).collect();
            let q: f64 = rates.iter().sum();
            t[b] = (1.0 + (2..=b).map(|k| rates[k - 2] * t[b - k + 1]).sum::<f64>()) / q;
        }
        t[n]
    }

    #[test]
    fn expected_tmrca_is_that_of_the_lineage_count_chain() {
        for n in [2, 3, 5, 8] {
            for (alpha, lambda) in [("1", &lambda_bs as &dyn Fn(_, _) -> _), ("1.5", &lambda_15)] {
                let want = tmrca(n, lambda);
                let s = eliminate(&graph(n, alpha));
                for theta in [1.0, 2.5] {
                    let got = s.moments(&[theta], 1).unwrap()[0];
                    assert!(
                        close(got, want / theta, 1e-11),
                        "n={n} alpha={alpha}: {got}"
                    );
                }
            }
        }
    }

    fn sfs(g: &Graph, theta: f64) -> Vec<f64> {
        let r = reward_sets("coalescent/beta", g)
            .get("sfs")
            .unwrap()
            .resolve(g);
        eliminate(g).reward_means(&[theta], &r.vectors).unwrap()
    }

    #[test]
    fn expected_sfs_of_four_samples_under_bolthausen_sznitman() {
        // By hand, rate 1: from 4 lineages (rate 3, mean 1/3) to {1,1,2} w.p. 2/3, {1,3} w.p.
        // 2/9 and the MRCA w.p. 1/9; from {1,1,2} (rate 2, mean 1/2) to {2,2} w.p. 1/4, {1,3}
        // w.p. 1/2, the MRCA w.p. 1/4; {2,2} and {1,3} last 1 on average. So
        // E[xi_1] = 4/3 + 2/3 (1 + 1/2) + 2/9 = 23/9, E[xi_2] = 2/3 (1/2 + 2/4) = 2/3,
        // E[xi_3] = 2/3 * 1/2 + 2/9 = 5/9.
        let g = graph(4, "1.0");
        for theta in [1.0, 3.0] {
            let got = sfs(&g, theta);
            let want = [23.0 / 9.0, 2.0 / 3.0, 5.0 / 9.0];
            for (x, w) in got.iter().zip(want) {
                assert!(close(*x, w / theta, 1e-12), "{got:?}");
            }
        }
    }

    /// Expected SFS from labelled blocks: every subset of >= 2 of the b blocks merges at rate
    /// lambda_{b,|S|}; first-step analysis over sorted block sizes.
    fn sfs_by_subsets(n: usize, lambda: &dyn Fn(usize, usize) -> f64) -> Vec<f64> {
        fn go(
            blocks: Vec<usize>,
            n: usize,
            lambda: &dyn Fn(usize, usize) -> f64,
            memo: &mut HashMap<Vec<usize>, Vec<f64>>,
        ) -> Vec<f64> {
            if blocks.len() < 2 {
                return vec![0.0; n - 1];
            }
            if let Some(v) = memo.get(&blocks) {
                return v.clone();
            }
            let b = blocks.len();
            let mut q = 0.0;
            let mut next = Vec::new();
            for mask in 0u32..(1 << b) {
                let k = mask.count_ones() as usize;
                if k < 2 {
                    continue;
                }
                let rate = lambda(b, k);
                q += rate;
                let mut merged = 0;
                let mut rest = Vec::new();
                for (i, &x) in blocks.iter().enumerate() {
                    if mask & (1 << i) != 0 {
                        merged += x;
                    } else {
                        rest.push(x);
                    }
                }
                rest.push(merged);
                rest.sort_unstable();
                next.push((rate, rest));
            }
            let mut e = vec![0.0; n - 1];
            for &x in &blocks {
                e[x - 1] += 1.0 / q;
            }
            for (rate, to) in next {
                let f = go(to, n, lambda, memo);
                for (a, y) in e.iter_mut().zip(f) {
                    *a += rate / q * y;
                }
            }
            memo.insert(blocks, e.clone());
            e
        }
        go(vec![1; n], n, lambda, &mut HashMap::new())
    }

    #[test]
    fn expected_sfs_equals_a_recursion_over_labelled_blocks() {
        for n in [3, 5, 6] {
            for (alpha, lambda) in [("1", &lambda_bs as &dyn Fn(_, _) -> _), ("1.5", &lambda_15)] {
                let want = sfs_by_subsets(n, lambda);
                let got = sfs(&graph(n, alpha), 1.0);
                assert_eq!(got.len(), n - 1);
                for (x, w) in got.iter().zip(&want) {
                    assert!(
                        close(*x, *w, 1e-11),
                        "n={n} alpha={alpha}: {got:?} vs {want:?}"
                    );
                }
            }
        }
        // The hand-derived case agrees with the recursion too.
        let w = sfs_by_subsets(4, &lambda_bs);
        assert!(close(w[0], 23.0 / 9.0, 1e-14) && close(w[2], 5.0 / 9.0, 1e-14));
    }

    #[test]
    fn alpha_near_two_is_kingman() {
        // Beta(2 - alpha, alpha) tends to the point mass at 0 as alpha -> 2: pairs merge at
        // rate 1 and larger mergers vanish (O(2 - alpha)), so E[xi_i] -> 2 / (i theta).
        let n = 6;
        let g = graph(n, "1.9999999");
        let theta = 2.0;
        let got = sfs(&g, theta);
        for (i, x) in got.iter().enumerate() {
            let want = 2.0 / ((i + 1) as f64 * theta);
            assert!(close(*x, want, 1e-5), "{got:?}");
        }
        // ... and the same graph shape as the block-counting coalescent's.
        let k = generate(
            "coalescent/block-counting",
            &format!("samples = {n}").parse().unwrap(),
        )
        .unwrap();
        assert_eq!(g.vertex_count(), k.vertex_count());
        // Far from 2 the spectrum is not Kingman's: more singletons (Bolthausen-Sznitman).
        let bs = sfs(&graph(n, "1"), theta);
        assert!(bs[0] > 1.2 * 2.0 / theta, "{bs:?}");
    }

    #[test]
    fn alpha_is_a_float_variant_of_a_family() {
        use crate::model::{Recipe, Requested, VariantValue};
        let text = r#"
[model]
name = "coalescent/beta"
version = "1.0.0"
description = "Beta-coalescent"
license = "CC0-1.0"
parameters = ["theta"]

[variants]
alpha = { default = 1.5, min = 1.0, max = 1.99 }

[generator]
name = "coalescent/beta"
args = { samples = 4 }
"#;
        let r = Recipe::parse(text, std::path::Path::new("m/model.toml")).unwrap();
        assert_eq!(r.graph().unwrap(), graph(4, "1.5"));
        let mut request = Requested::new();
        request.insert("alpha".into(), VariantValue::Int(1));
        let one = r.with_variants(&request).unwrap();
        assert_eq!(one.graph().unwrap(), graph(4, "1"));
        assert_ne!(graph(4, "1"), graph(4, "1.5"));
    }

    #[test]
    fn alpha_is_checked() {
        let e = |a: &str| {
            generate(
                "coalescent/beta",
                &format!("samples = 4\nalpha = {a}").parse().unwrap(),
            )
            .unwrap_err()
            .to_string()
        };
        assert!(
            e("2").contains("'alpha': 2 is outside [1, 2)"),
            "{}",
            e("2")
        );
        assert!(e("0.5").contains("outside [1, 2)"));
        assert!(
            e("'x'").contains("'alpha': must be a number, found string"),
            "{}",
            e("'x'")
        );
        let missing = generate("coalescent/beta", &"samples = 4".parse().unwrap()).unwrap_err();
        assert!(
            missing.to_string().contains("'alpha': is required"),
            "{missing}"
        );
        assert_eq!(graph(4, "1"), graph(4, "1.0"));
    }
}
