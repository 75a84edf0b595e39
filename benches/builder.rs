//! Builder benchmarks on the block-counting coalescent at 20, 30 and 40 samples (628, 5,605 and
//! 37,339 vertices): phasic-compatible hash, canonical hash, symbolic elimination, evaluation
//! for a new theta, packing a bundle, and what installing checks in a bundle.
//! `scripts/bench_vs_phasic.py` runs these and times phasic 0.32.1 on the same graphs in the
//! same run.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ptd::bundle;
use ptd::eliminate::eliminate;
use ptd::hash::{canonical_hash, phasic_hash};
use ptd::model::{ModelMeta, generate};
use std::hint::black_box;
use std::time::Duration;

fn sizes() -> Vec<usize> {
    match std::env::var("PTD_BENCH_SAMPLES") {
        Ok(s) => s
            .split(',')
            .map(|x| x.trim().parse().expect("sample sizes"))
            .collect(),
        Err(_) => vec![20, 30, 40],
    }
}

fn graph(n: usize) -> ptd::graph::Graph {
    let args: toml::Table = format!("samples = {n}").parse().unwrap();
    generate("coalescent/block-counting", &args).unwrap()
}

fn builder(c: &mut Criterion) {
    let mut group = c.benchmark_group("block-counting");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    group.sample_size(20);
    for n in sizes() {
        let g = graph(n);
        group.bench_with_input(BenchmarkId::new("phasic-hash", n), &g, |b, g| {
            b.iter(|| phasic_hash(black_box(g)))
        });
        group.bench_with_input(BenchmarkId::new("canonical-hash", n), &g, |b, g| {
            b.iter(|| canonical_hash(black_box(g)))
        });
        group.bench_with_input(BenchmarkId::new("eliminate", n), &g, |b, g| {
            b.iter(|| eliminate(black_box(g)))
        });
        let s = eliminate(&g);
        let mut theta = 0.5;
        group.bench_with_input(BenchmarkId::new("expectation-new-theta", n), &s, |b, s| {
            b.iter(|| {
                theta += 1e-3;
                s.moments(black_box(&[theta]), 1).unwrap()
            })
        });
        group.bench_with_input(BenchmarkId::new("moments2-new-theta", n), &s, |b, s| {
            b.iter(|| {
                theta += 1e-3;
                s.moments(black_box(&[theta]), 2).unwrap()
            })
        });
        let meta = ModelMeta {
            name: "bench/block-counting".into(),
            version: semver::Version::new(1, 0, 0),
            description: String::new(),
            license: "CC0-1.0".into(),
            parameters: vec!["theta".into()],
            authors: vec![],
            keywords: vec![],
            dependencies: Default::default(),
            variants: Default::default(),
        };
        group.bench_with_input(BenchmarkId::new("build-bundle", n), &g, |b, g| {
            b.iter(|| bundle::build(&meta, black_box(g)).pack())
        });
        // What installing costs per archive: hashes only, then everything it checks (graph
        // parsed and hashed, DAG parsed and checked against the graph at two thetas).
        let packed = bundle::build(&meta, &g).pack();
        group.bench_with_input(BenchmarkId::new("verify-bundle", n), &packed, |b, p| {
            b.iter(|| bundle::verify(black_box(p), "bench").unwrap())
        });
        group.bench_with_input(BenchmarkId::new("check-bundle", n), &packed, |b, p| {
            b.iter(|| bundle::check(black_box(p), "bench", 7).unwrap())
        });
        let thetas = ptd::eliminate::random_thetas(1, 2, 7);
        group.bench_with_input(BenchmarkId::new("dag-belongs-to-graph", n), &s, |b, s| {
            b.iter(|| s.check_graph(black_box(&g), &thetas, 7).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, builder);
criterion_main!(benches);
