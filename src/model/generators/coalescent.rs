//! Coalescents with binary mergers: Kingman's lineage-count chain, the block-counting
//! coalescent, and structured coalescents of islands.

use super::{Args, GeneratorError, Transitions, arg_err, explore};
use crate::graph::Graph;

pub(super) fn kingman(a: &Args, how: &super::Exploration<'_>) -> Result<Graph, GeneratorError> {
    let n = a.int("samples", None, 2, 100_000)?;
    explore(how, 1, 1, &[n], |s, out| {
        let k = s[0] as f64;
        if s[0] >= 2 {
            out.push((vec![s[0] - 1], vec![k * (k - 1.0) / 2.0]));
        }
    })
}

pub(super) fn block_counting(
    a: &Args,
    how: &super::Exploration<'_>,
) -> Result<Graph, GeneratorError> {
    let n = a.int("samples", None, 2, 200)? as usize;
    let mut init = vec![0; n];
    init[0] = n as i32;
    explore(how, n, 1, &init, block_counting_transitions)
}

pub(super) fn two_island(a: &Args, how: &super::Exploration<'_>) -> Result<Graph, GeneratorError> {
    let n1 = a.int("samples1", None, 0, 10_000)?;
    let n2 = a.int("samples2", None, 0, 10_000)?;
    if n1 + n2 < 2 {
        return Err(arg_err(
            "samples1",
            "samples1 + samples2 must be at least 2",
        ));
    }
    explore(how, 2, 2, &[n1, n2], |s, out| {
        let (x, y) = (s[0], s[1]);
        if x + y < 2 {
            return;
        }
        let (xf, yf) = (x as f64, y as f64);
        if x >= 2 {
            out.push((vec![x - 1, y], vec![xf * (xf - 1.0) / 2.0, 0.0]));
        }
        if y >= 2 {
            out.push((vec![x, y - 1], vec![yf * (yf - 1.0) / 2.0, 0.0]));
        }
        if x >= 1 {
            out.push((vec![x - 1, y + 1], vec![0.0, xf]));
        }
        if y >= 1 {
            out.push((vec![x + 1, y - 1], vec![0.0, yf]));
        }
    })
}

/// Most islands `coalescent/islands` takes.
const MAX_ISLANDS: i64 = 64;
/// Most lineages in all islands together.
const MAX_ISLAND_LINEAGES: i64 = 10_000;

pub(super) fn islands(a: &Args, how: &super::Exploration<'_>) -> Result<Graph, GeneratorError> {
    let k = a.int("islands", None, 1, MAX_ISLANDS)?;
    let n = a.int("samples", None, 0, MAX_ISLAND_LINEAGES)?;
    let total = i64::from(k) * i64::from(n);
    if total < 2 {
        return Err(arg_err(
            "samples",
            format!("islands * samples is {total}; at least 2 lineages are needed"),
        ));
    }
    if total > MAX_ISLAND_LINEAGES {
        return Err(arg_err(
            "samples",
            format!("islands * samples is {total}; at most {MAX_ISLAND_LINEAGES} lineages in all"),
        ));
    }
    let init = vec![n; k as usize];
    explore(how, k as usize, 2, &init, island_transitions)
}

/// Transitions of the island model: coalescence within each island `i` at rate
/// `C(n_i, 2) * coalescence`, then, for each island `i` and each other island `j` (ascending),
/// a lineage moving from `i` to `j` at rate `n_i * migration`. Nothing happens once a single
/// lineage is left.
pub(super) fn island_transitions(s: &[i32], out: &mut Transitions) {
    if s.iter().sum::<i32>() < 2 {
        return;
    }
    for (i, &x) in s.iter().enumerate() {
        if x >= 2 {
            let xf = f64::from(x);
            let mut t = s.to_vec();
            t[i] -= 1;
            out.push((t, vec![xf * (xf - 1.0) / 2.0, 0.0]));
        }
    }
    for (i, &x) in s.iter().enumerate() {
        if x == 0 {
            continue;
        }
        for j in (0..s.len()).filter(|&j| j != i) {
            let mut t = s.to_vec();
            t[i] -= 1;
            t[j] += 1;
            out.push((t, vec![0.0, f64::from(x)]));
        }
    }
}

/// Transitions of the block-counting coalescent: any two lineages (of sizes i+1 and j+1)
/// merge at rate (number of such pairs) * theta.
fn block_counting_transitions(s: &[i32], out: &mut Transitions) {
    let n = s.len();
    if s.iter().sum::<i32>() < 2 {
        return;
    }
    for i in 0..n {
        if s[i] == 0 {
            continue;
        }
        for j in i..n {
            let pairs = if i == j {
                (s[i] as f64) * (s[i] as f64 - 1.0) / 2.0
            } else {
                (s[i] as f64) * (s[j] as f64)
            };
            if pairs <= 0.0 {
                continue;
            }
            let mut t = s.to_vec();
            t[i] -= 1;
            t[j] -= 1;
            t[i + j + 1] += 1;
            out.push((t, vec![pairs]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Exploration, generate};
    use super::*;
    use crate::eliminate::eliminate;

    fn args(s: &str) -> toml::Table {
        s.parse().unwrap()
    }

    #[test]
    fn two_islands_are_the_two_island_generator() {
        let a = generate("coalescent/islands", &args("islands = 2\nsamples = 3")).unwrap();
        let b = generate("coalescent/two-island", &args("samples1 = 3\nsamples2 = 3")).unwrap();
        assert_eq!(a.vertex_count(), b.vertex_count());
        assert_eq!(a.edge_count(), b.edge_count());
        for v in 0..a.vertex_count() {
            assert_eq!(a.state(v), b.state(v), "vertex {v}");
            let ea: Vec<_> = a.edges(v).map(|e| (e.to, e.coeffs.to_vec())).collect();
            let eb: Vec<_> = b.edges(v).map(|e| (e.to, e.coeffs.to_vec())).collect();
            assert_eq!(ea, eb, "edges of vertex {v}");
        }
        assert_eq!(a, b);
    }

    #[test]
    fn island_state_space_is_every_split_of_the_lineages() {
        // Three islands, one lineage each: every way to place m = 1..3 lineages in 3 islands,
        // C(m + 2, 2) states for each m, plus the start.
        let g = generate("coalescent/islands", &args("islands = 3\nsamples = 1")).unwrap();
        let states: usize = (1..=3).map(|m| (m + 2) * (m + 1) / 2).sum();
        assert_eq!(g.vertex_count(), states + 1);
        let one = generate("coalescent/islands", &args("islands = 1\nsamples = 5")).unwrap();
        let kingman = generate("coalescent/kingman", &args("samples = 5")).unwrap();
        assert_eq!(one.vertex_count(), kingman.vertex_count());
    }

    /// Two lineages: expected time to their common ancestor from the island model's graph.
    fn pair_time(k: usize, same: bool, c: f64, m: f64) -> f64 {
        let mut init = vec![0; k];
        if same {
            init[0] = 2;
        } else {
            init[0] = 1;
            init[k - 1] = 1;
        }
        let g = explore(&Exploration::default(), k, 2, &init, island_transitions).unwrap();
        eliminate(&g).moments(&[c, m], 1).unwrap()[0]
    }

    #[test]
    fn strobeck_and_two_lineages_in_different_islands() {
        // Two lineages, coalescence rate c per pair within an island, each lineage moving to
        // each of the k - 1 other islands at rate m. Same island (S) or different (D):
        //   E[T_S] = (1 + 2(k-1)m E[T_D]) / (c + 2(k-1)m),  E[T_D] = 1/(2m) + E[T_S]
        // (from D, either lineage moving into the other's island joins them, rate 2m; moves
        // elsewhere keep them apart). Solving: E[T_S] = k / c (Strobeck 1987, whatever m),
        // E[T_D] = k / c + 1 / (2m).
        for k in [1usize, 2, 3, 5] {
            for (c, m) in [(1.0, 0.5), (2.0, 0.01), (0.3, 4.0)] {
                let kf = k as f64;
                let s = pair_time(k, true, c, m);
                assert!(
                    (s - kf / c).abs() < 1e-12 * kf / c,
                    "k={k} c={c} m={m}: {s}"
                );
                if k >= 2 {
                    let d = pair_time(k, false, c, m);
                    let want = kf / c + 1.0 / (2.0 * m);
                    assert!((d - want).abs() < 1e-12 * want, "k={k}: {d} vs {want}");
                }
            }
        }
        // The generator itself: one lineage in each of two islands.
        let g = generate("coalescent/islands", &args("islands = 2\nsamples = 1")).unwrap();
        let t = eliminate(&g).moments(&[1.5, 0.25], 1).unwrap()[0];
        let want = 2.0 / 1.5 + 1.0 / 0.5;
        assert!((t - want).abs() < 1e-12 * want, "{t} vs {want}");
    }

    #[test]
    fn island_arguments_are_bounded() {
        let e = generate("coalescent/islands", &args("islands = 1\nsamples = 1")).unwrap_err();
        assert!(e.to_string().contains("at least 2 lineages"), "{e}");
        let e = generate("coalescent/islands", &args("islands = 0\nsamples = 3")).unwrap_err();
        assert!(
            e.to_string().contains("'islands': 0 is outside 1..=64"),
            "{e}"
        );
        let e = generate("coalescent/islands", &args("islands = 64\nsamples = 200")).unwrap_err();
        assert!(e.to_string().contains("at most 10000 lineages"), "{e}");
    }
}
