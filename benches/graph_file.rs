//! Reading and writing graph files, on the block-counting coalescent at 45 samples
//! (`PTD_BENCH_SAMPLES=50` for the 204,227-vertex graph; several sizes separated by commas):
//! writing the file, parsing and validating it, and what `ptd hash` does with a graph file
//! (parse, validate and both content hashes).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ptd::graph::GraphFile;
use ptd::hash::GraphHashes;
use ptd::model::generate;
use std::hint::black_box;
use std::time::Duration;

fn sizes() -> Vec<usize> {
    match std::env::var("PTD_BENCH_SAMPLES") {
        Ok(s) => s
            .split(',')
            .map(|x| x.trim().parse().expect("sample sizes"))
            .collect(),
        Err(_) => vec![45],
    }
}

fn graph_file(c: &mut Criterion) {
    let mut group = c.benchmark_group("graph-file");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    group.sample_size(10);
    for n in sizes() {
        let args: toml::Table = format!("samples = {n}").parse().unwrap();
        let g = generate("coalescent/block-counting", &args).unwrap();
        let bytes = GraphFile::to_bytes(&g);
        let text = String::from_utf8(bytes).unwrap();
        eprintln!("{n} samples: {g}, graph file of {} bytes", text.len());
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::new("to-bytes", n), &g, |b, g| {
            b.iter(|| GraphFile::to_bytes(black_box(g)))
        });
        group.bench_with_input(BenchmarkId::new("parse", n), &text, |b, text| {
            b.iter(|| GraphFile::parse(black_box(text), "graph.json").unwrap())
        });
        group.bench_with_input(BenchmarkId::new("parse-and-hash", n), &text, |b, text| {
            b.iter(|| {
                let g = GraphFile::parse(black_box(text), "graph.json").unwrap();
                GraphHashes::of(&g)
            })
        });
        group.bench_with_input(BenchmarkId::new("hashes", n), &g, |b, g| {
            b.iter(|| GraphHashes::of(black_box(g)))
        });
    }
    group.finish();
}

criterion_group!(benches, graph_file);
criterion_main!(benches);
