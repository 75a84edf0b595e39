//! Cache benchmarks on a store of 10,000 installed versions (database rows as installs write
//! them; tier-1 index rows): `ptd cache info` (the library call behind it) and finding an
//! installed model's DAG by name and by hash prefix (targets: 100 ms and 1 ms).

use criterion::{Criterion, criterion_group, criterion_main};
use ptd::install::Home;
use ptd::install::db::{Db, Installed, SymbolicIndex};
use std::hint::black_box;

fn home_with(n: usize) -> (tempfile::TempDir, Home, String) {
    let dir = tempfile::tempdir().unwrap();
    let home = Home {
        root: dir.path().join("ptd"),
        phasic_cache: dir.path().join("phasic"),
        jax_cache: dir.path().join("jax"),
        shared: None,
    };
    home.open_db().unwrap();
    std::fs::create_dir_all(home.symbolic()).unwrap();
    let db = Db::open(&home.db_path()).unwrap();
    let idx = SymbolicIndex::open(&home.symbolic().join("index.db")).unwrap();
    let mut some_hash = String::new();
    {
        for i in 0..n {
            let h = ptd::fs::sha256_hex(format!("entry {i}").as_bytes());
            let p = ptd::fs::sha256_hex(format!("graph {i}").as_bytes());
            if i == n / 2 {
                some_hash = p.clone();
            }
            let row = Installed {
                name: format!("bench/m{}", i / 10),
                version: semver::Version::new(1, (i % 10) as u64, 0),
                registry: "default".into(),
                archive_sha256: h.clone(),
                content_hash: h.clone(),
                phasic_hash: p.clone(),
                canonical_hash: p.clone(),
                size: 10_000,
                installed_at: "2026-11-24T12:00:00Z".into(),
                origin: "benchmark".into(),
                variants: Default::default(),
                built: false,
            };
            db.record(&row).unwrap();
            db.record_size(&h, 50_000).unwrap();
            db.touch(&row.use_key(), "2026-11-24T12:00:00Z").unwrap();
            idx.record(
                &p,
                &home.symbolic().join(format!("{p}.json")),
                "2026-11-24T12:00:00Z",
                40_000,
                100,
                200,
                "{}",
            )
            .unwrap();
        }
    }
    (dir, home, some_hash)
}

fn cache(c: &mut Criterion) {
    let (_dir, home, hash) = home_with(10_000);
    let mut g = c.benchmark_group("cache");
    g.sample_size(30);
    g.bench_function("info/10000-entries", |b| {
        b.iter(|| black_box(ptd::cache::info(&home).unwrap()))
    });
    g.bench_function("find/by-name", |b| {
        b.iter(|| {
            let f = ptd::cache::find(&home, "bench/m500").unwrap();
            assert_eq!(f.len(), 10);
            black_box(f)
        })
    });
    g.bench_function("find/by-hash", |b| {
        b.iter(|| {
            let f = ptd::cache::find(&home, &hash[..12]).unwrap();
            assert_eq!(f.len(), 1);
            black_box(f)
        })
    });
    g.finish();
}

criterion_group!(benches, cache);
criterion_main!(benches);
