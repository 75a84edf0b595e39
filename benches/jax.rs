//! First-call latency of an installed model's JAX evaluator in a fresh Python process, with and
//! without the JAX tier:
//!
//! * `first-call/installed-entries`: the bundle and its platform archive (`ptd build --jax
//!   --batch 64`) are published to a directory registry and installed with `ptd install`; the
//!   call `moments_jit(theta)` for theta of shape (64, 2) loads the installed entries.
//! * `first-call/compile`: the same call with an empty JAX cache: XLA compiles.
//!
//! Each sample is one new Python process; the time is the first call's wall time measured
//! inside it (tests/python/jax_first_call.py), so interpreter start-up and imports are left out.
//! Every sample also checks, through JAX's log, that the call hit (or missed) the cache.

#[path = "../tests/support/python.rs"]
mod python;

use criterion::{Criterion, criterion_group, criterion_main};
use python::{python, repo};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const PTD: &str = env!("CARGO_BIN_EXE_ptd");
const MODEL: &str = "coalescent/two-island";

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn ptd(&self, args: &[&str]) -> String {
        let d = self.dir.path();
        let out = Command::new(PTD)
            .args(args)
            .env("PTD_HOME", d.join("home"))
            .env("PHASIC_CACHE_DIR", d.join("phasic"))
            .env("JAX_COMPILATION_CACHE_DIR", d.join("jax"))
            .env("PTD_PYTHON", python())
            .env_remove("PTD_JAX_TAG")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ptd {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

/// Builds with --jax, publishes to a directory registry and installs into an empty JAX cache;
/// returns the installed evaluator module.
fn install(env: &Env) -> String {
    let d = env.dir.path();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let built = env.ptd(&[
        "build",
        &s(&repo().join("models").join(MODEL)),
        "-o",
        &s(&d.join("out")),
        "--jax",
        "--batch",
        "64",
    ]);
    let lines: Vec<&str> = built.lines().collect();
    env.ptd(&["keygen", "-o", &s(&d.join("k")), "--unencrypted"]);
    let key = s(&d.join("k.key"));
    let index = s(&d.join("index"));
    let store = format!("file://{}", d.join("store").display());
    env.ptd(&[
        "registry",
        "init",
        &index,
        "--name",
        "bench",
        "--artifacts",
        &format!("{store}/{{file}}"),
        "--key",
        &key,
    ]);
    env.ptd(&[
        "publish",
        lines[0],
        "--registry",
        &index,
        "--key",
        &key,
        "--jax-archive",
        lines[1],
    ]);
    env.ptd(&["install", MODEL, "--registry", &index]);
    env.ptd(&["which", MODEL]).trim().to_string()
}

/// One fresh process: the first call's seconds, after checking the cache outcome.
fn first_call(module: &str, cache: &Path, expect_hit: bool) -> Duration {
    let theta: Vec<[f64; 2]> = (0..64)
        .map(|i| [0.5 + 0.05 * i as f64, 1.5 - 0.01 * i as f64])
        .collect();
    let out = Command::new(python())
        .arg(repo().join("tests/python/jax_first_call.py"))
        .arg(module)
        .arg(cache)
        .arg(serde_json::to_string(&theta).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["hit"], expect_hit, "{v}");
    Duration::from_secs_f64(v["first_call_seconds"].as_f64().unwrap())
}

fn first_call_bench(c: &mut Criterion) {
    let env = Env {
        dir: tempfile::tempdir().unwrap(),
    };
    let module = install(&env);
    let installed = env.dir.path().join("jax");
    let mut g = c.benchmark_group("first-call");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.bench_function("installed-entries", |b| {
        b.iter_custom(|n| (0..n).map(|_| first_call(&module, &installed, true)).sum())
    });
    g.bench_function("compile", |b| {
        b.iter_custom(|n| {
            (0..n)
                .map(|_| {
                    let empty = tempfile::tempdir().unwrap();
                    first_call(&module, empty.path(), false)
                })
                .sum()
        })
    });
    g.finish();
}

criterion_group!(benches, first_call_bench);
criterion_main!(benches);
