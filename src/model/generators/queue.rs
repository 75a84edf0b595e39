//! Busy periods of Markovian queues.

use super::{Args, Exploration, GeneratorError, explore};
use crate::graph::Graph;

pub(super) fn mm1k(a: &Args, how: &Exploration<'_>) -> Result<Graph, GeneratorError> {
    let cap = a.int("capacity", None, 1, 1_000_000)?;
    let init = a.int("initial", Some(1), 1, cap as i64)?;
    explore(how, 1, 2, &[init], |s, out| {
        let k = s[0];
        if k == 0 {
            return;
        }
        if k < cap {
            out.push((vec![k + 1], vec![1.0, 0.0]));
        }
        out.push((vec![k - 1], vec![0.0, 1.0]));
    })
}

/// Busy period of an M/M/c/K queue: an arrival at rate `arrival` while fewer than K are in
/// the system, then a departure at rate `min(n, c) * service`.
pub(super) fn mmc(a: &Args, how: &Exploration<'_>) -> Result<Graph, GeneratorError> {
    let c = a.int("servers", None, 1, 1_000_000)?;
    let cap = a.int("capacity", None, i64::from(c), 1_000_000)?;
    let init = a.int("initial", Some(1), 1, i64::from(cap))?;
    explore(how, 1, 2, &[init], |s, out| {
        let k = s[0];
        if k == 0 {
            return;
        }
        if k < cap {
            out.push((vec![k + 1], vec![1.0, 0.0]));
        }
        out.push((vec![k - 1], vec![0.0, f64::from(k.min(c))]));
    })
}

#[cfg(test)]
mod tests {
    use super::super::generate;
    use crate::eliminate::eliminate;
    use crate::graph::Graph;

    fn graph(name: &str, a: &str) -> Graph {
        generate(name, &a.parse().unwrap()).unwrap()
    }

    #[test]
    fn one_server_is_mm1k() {
        for (k, i) in [(1, 1), (5, 1), (7, 3)] {
            assert_eq!(
                graph(
                    "queue/mmc",
                    &format!("servers = 1\ncapacity = {k}\ninitial = {i}")
                ),
                graph("queue/mm1k", &format!("capacity = {k}\ninitial = {i}")),
            );
        }
    }

    #[test]
    fn busy_period_is_the_regenerative_formula() {
        // Stationary distribution of the M/M/c/K birth-death chain: p_n proportional to
        // prod_{j=1}^n lambda / (min(j, c) mu). A cycle is an idle period (mean 1/lambda) and a
        // busy period started by one customer, so p_0 = (1/lambda) / (1/lambda + E[B]):
        // E[B] = (1 - p_0) / (lambda p_0).
        for (c, k, lambda, mu) in [
            (1, 1, 1.0, 1.0),
            (2, 2, 1.0, 0.7),
            (2, 6, 3.0, 1.0),
            (3, 10, 2.5, 0.4),
            (5, 8, 10.0, 1.5),
        ] {
            let mut w = vec![1.0];
            for j in 1..=k {
                let last = w[j - 1];
                w.push(last * lambda / (j.min(c) as f64 * mu));
            }
            let p0 = 1.0 / w.iter().sum::<f64>();
            let want = (1.0 - p0) / (lambda * p0);
            let g = graph("queue/mmc", &format!("servers = {c}\ncapacity = {k}"));
            assert_eq!(g.vertex_count(), k + 2);
            let got = eliminate(&g).moments(&[lambda, mu], 1).unwrap()[0];
            assert!(
                (got - want).abs() < 1e-11 * want,
                "c={c} K={k}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn capacity_is_at_least_the_servers() {
        let e = generate("queue/mmc", &"servers = 3\ncapacity = 2".parse().unwrap()).unwrap_err();
        assert!(
            e.to_string().contains("'capacity': 2 is outside 3..="),
            "{e}"
        );
        let e = generate(
            "queue/mmc",
            &"servers = 2\ncapacity = 4\ninitial = 5".parse().unwrap(),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("'initial': 5 is outside 1..=4"),
            "{e}"
        );
    }
}
