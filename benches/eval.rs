//! Evaluation benchmarks on the block-counting coalescent at 20 and 30 samples (628 and 5,605
//! vertices), each for a new theta per iteration:
//!
//! * `sfs-means`: the whole expected site frequency spectrum, `E[xi_i]` for `i = 1..n-1` with
//!   reward `r_v = state_v[i-1]`, from one sojourn solve (`Symbolic::reward_means`);
//! * `sfs-reward-moments`: the same `n-1` values from one `reward_moments(k = 1)` call each;
//! * `pdf-100-times`: density and distribution function of `T` at `t_j = 0.05 j`,
//!   `j = 1..100` (`Symbolic::density`);
//! * `sfs-distributions`: density and distribution function of every SFS total at the same
//!   times (`Symbolic::reward_distribution`, transforms built once beforehand); only up to 20
//!   samples (about 9 s per iteration at 30), or up to `PTD_BENCH_DIST_SAMPLES`.
//!
//! `scripts/bench_eval_vs_phasic.py` runs these and times phasic 0.32.1 on the same graphs in
//! the same run.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ptd::eliminate::eliminate;
use ptd::model::generate;
use std::hint::black_box;
use std::time::Duration;

fn sizes() -> Vec<usize> {
    match std::env::var("PTD_BENCH_SAMPLES") {
        Ok(s) => s
            .split(',')
            .map(|x| x.trim().parse().expect("sample sizes"))
            .collect(),
        Err(_) => vec![20, 30],
    }
}

fn graph(n: usize) -> ptd::graph::Graph {
    let args: toml::Table = format!("samples = {n}").parse().unwrap();
    generate("coalescent/block-counting", &args).unwrap()
}

/// The SFS reward vectors, one value per vertex id: `r_v = state_v[i-1]` for `i = 1..n-1`.
fn sfs_rewards(g: &ptd::graph::Graph, n: usize) -> Vec<Vec<f64>> {
    (1..n)
        .map(|i| {
            (0..g.vertex_count())
                .map(|v| g.state(v).get(i - 1).map_or(0.0, |&x| x as f64))
                .collect()
        })
        .collect()
}

/// The largest sample size for `sfs-distributions`.
fn dist_limit() -> usize {
    std::env::var("PTD_BENCH_DIST_SAMPLES").map_or(20, |s| s.trim().parse().expect("a sample size"))
}

/// The times `0.05 j` for `j = 1..=100`.
fn times() -> Vec<f64> {
    (1..=100).map(|j| 0.05 * j as f64).collect()
}

fn eval(c: &mut Criterion) {
    let mut group = c.benchmark_group("eval");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(2));
    group.sample_size(10);
    let times = times();
    for n in sizes() {
        let g = graph(n);
        let s = eliminate(&g);
        let rewards = sfs_rewards(&g, n);
        // Sanity: E[xi_i] = 2 / (i theta).
        let means = s.reward_means(&[1.0], &rewards).unwrap();
        for (i, m) in means.iter().enumerate() {
            let exact = 2.0 / (i + 1) as f64;
            assert!((m - exact).abs() <= 1e-12 * exact, "E[xi_{}] = {m}", i + 1);
        }
        let mut theta = 1.0;
        group.bench_with_input(BenchmarkId::new("sfs-means", n), &s, |b, s| {
            b.iter(|| {
                theta += 1e-6;
                s.reward_means(black_box(&[theta]), &rewards).unwrap()
            })
        });
        group.bench_with_input(BenchmarkId::new("sfs-reward-moments", n), &s, |b, s| {
            b.iter(|| {
                theta += 1e-6;
                rewards
                    .iter()
                    .map(|r| s.reward_moments(black_box(&[theta]), r, 1).unwrap()[0])
                    .collect::<Vec<f64>>()
            })
        });
        group.bench_with_input(BenchmarkId::new("pdf-100-times", n), &s, |b, s| {
            b.iter(|| {
                theta += 1e-6;
                s.density(black_box(&[theta]), &times).unwrap()
            })
        });
        if n > dist_limit() {
            continue;
        }
        let transforms: Vec<_> = rewards
            .iter()
            .map(|r| s.transform(&s.zero_pattern(r).unwrap()))
            .collect();
        group.bench_with_input(BenchmarkId::new("sfs-distributions", n), &s, |b, s| {
            b.iter(|| {
                theta += 1e-6;
                rewards
                    .iter()
                    .zip(&transforms)
                    .map(|(r, tr)| {
                        s.reward_distribution(black_box(&[theta]), r, tr, &times)
                            .unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, eval);
criterion_main!(benches);
