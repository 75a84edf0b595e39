//! Lifetimes of systems of components.

use super::{Args, Exploration, GeneratorError, explore};
use crate::graph::Graph;

pub(super) fn erlang(a: &Args, how: &Exploration<'_>) -> Result<Graph, GeneratorError> {
    let k = a.int("phases", None, 1, 1_000_000)?;
    explore(how, 1, 1, &[k], |s, out| {
        if s[0] >= 1 {
            out.push((vec![s[0] - 1], vec![1.0]));
        }
    })
}

/// A k-out-of-n system with repair: from `i` working components, a failure at rate
/// `i * failure`, then (for `i < n`) a repair at rate `(n - i) * repair`; the system has failed
/// (absorbs) at `k - 1` working components.
pub(super) fn k_out_of_n(a: &Args, how: &Exploration<'_>) -> Result<Graph, GeneratorError> {
    let n = a.int("n", None, 1, 1_000_000)?;
    let k = a.int("k", None, 1, i64::from(n))?;
    explore(how, 1, 2, &[n], |s, out| {
        let i = s[0];
        if i < k {
            return;
        }
        out.push((vec![i - 1], vec![f64::from(i), 0.0]));
        if i < n {
            out.push((vec![i + 1], vec![0.0, f64::from(n - i)]));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::super::{generate, reward_sets};
    use crate::eliminate::eliminate;
    use crate::graph::Graph;

    fn graph(k: usize, n: usize) -> Graph {
        generate(
            "reliability/k-out-of-n",
            &format!("k = {k}\nn = {n}").parse().unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn without_repair_the_lifetime_is_a_sum_of_exponentials() {
        // The i-th stage (i working) lasts Exp(i * failure): E = (1/failure) sum_{i=k}^n 1/i.
        for (k, n) in [(1, 1), (1, 4), (2, 3), (3, 3), (5, 12)] {
            let g = graph(k, n);
            assert_eq!(g.vertex_count(), n - k + 3);
            for f in [1.0, 0.2] {
                let want: f64 = (k..=n).map(|i| 1.0 / (i as f64 * f)).sum();
                let got = eliminate(&g).moments(&[f, 0.0], 1).unwrap()[0];
                assert!(
                    (got - want).abs() < 1e-12 * want,
                    "{k}/{n}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn with_repair_the_lifetime_is_the_first_passage_time() {
        // Birth-death chain with death rates mu_i = i f and birth rates l_i = (n - i) r. The
        // mean time m_i to first go from i down to i - 1 satisfies m_n = 1 / mu_n and
        // m_i = 1/mu_i + (l_i / mu_i) m_{i+1}; the lifetime from n is sum_{i=k}^n m_i. With
        // reward i while i work, w_i = i/mu_i + (l_i/mu_i) w_{i+1} likewise.
        for (k, n, f, r) in [
            (1, 2, 1.0, 1.0),
            (2, 3, 0.5, 3.0),
            (3, 7, 1.0, 10.0),
            (1, 5, 0.1, 0.7),
        ] {
            let mut m = vec![0.0; n + 2];
            let mut w = vec![0.0; n + 2];
            for i in (k..=n).rev() {
                let mu = i as f64 * f;
                let l = (n - i) as f64 * r;
                m[i] = 1.0 / mu + l / mu * m[i + 1];
                w[i] = i as f64 / mu + l / mu * w[i + 1];
            }
            let life: f64 = m[k..=n].iter().sum();
            let work: f64 = w[k..=n].iter().sum();
            let g = graph(k, n);
            let s = eliminate(&g);
            let got = s.moments(&[f, r], 1).unwrap()[0];
            assert!(
                (got - life).abs() < 1e-11 * life,
                "{k}/{n}: {got} vs {life}"
            );
            let sets = reward_sets("reliability/k-out-of-n", &g);
            let working = sets.get("working").unwrap().resolve(&g);
            let got = s.reward_means(&[f, r], &working.vectors).unwrap()[0];
            assert!(
                (got - work).abs() < 1e-11 * work,
                "{k}/{n}: {got} vs {work}"
            );
        }
    }

    #[test]
    fn k_is_at_most_n() {
        let e = generate("reliability/k-out-of-n", &"k = 4\nn = 3".parse().unwrap()).unwrap_err();
        assert!(e.to_string().contains("'k': 4 is outside 1..=3"), "{e}");
    }
}
