//! Registry and install benchmarks:
//!
//! * `resolve/10000-versions`: open a signed directory registry (verify the snapshot, read and
//!   check the index file) and resolve `^1` among 10,000 versions; `resolve/100x100-deps`: 100
//!   models of 100 versions each, every model depending on the next; `resolve/embedded-families`:
//!   open the index built into ptd and resolve `coalescent/kingman@1.2` and
//!   `coalescent/block-counting@1 samples=30` (a prebuilt member among the family's lines).
//! * `install/warm-locked`: `ptd install` in a project whose lock is satisfied and whose models
//!   are installed (the whole process, as a user runs it).
//! * `install/20-bundles` against `curl/20-files`: 20 bundles (block-counting coalescent, 21 to
//!   40 samples) served by a local HTTP server, installed into an empty cache by one `ptd
//!   install`, and the same files fetched by one `curl --parallel`, alternately in the same run.
//!   The ratio of medians is printed at the end.

#[path = "../tests/support/http_server.rs"]
mod http_server;
#[path = "../tests/support/synthetic.rs"]
mod synthetic;

use criterion::{Criterion, criterion_group, criterion_main};
use ptd::index::IndexSource;
use ptd::index::registry::{KeyTrust, Registry};
use ptd::resolve::{Requirement, resolve};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const PTD: &str = env!("CARGO_BIN_EXE_ptd");

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn resolve_bench(c: &mut Criterion) {
    let s = synthetic::signer();
    let one = tempfile::tempdir().unwrap();
    let entries: Vec<_> = (0..10_000)
        .map(|i| {
            synthetic::entry(
                "bench/many",
                &format!("{}.{}.{}", i / 1000, (i / 10) % 100, i % 10),
                &[],
                &s,
            )
        })
        .collect();
    synthetic::registry(&one.path().join("index"), &entries, &s);
    let chain = tempfile::tempdir().unwrap();
    let mut entries = Vec::new();
    for m in 0..100 {
        for v in 0..100 {
            let deps: Vec<(String, String)> = if m < 99 {
                vec![(format!("bench/m{}", m + 1), "^1".to_string())]
            } else {
                vec![]
            };
            let deps: Vec<(&str, &str)> =
                deps.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            entries.push(synthetic::entry(
                &format!("bench/m{m}"),
                &format!("1.{v}.0"),
                &deps,
                &s,
            ));
        }
    }
    synthetic::registry(&chain.path().join("index"), &entries, &s);
    let rt = rt();
    let mut g = c.benchmark_group("resolve");
    g.sample_size(30);
    for (label, dir, root) in [
        ("10000-versions", one.path(), "bench/many@^1"),
        ("100x100-deps", chain.path(), "bench/m0@1"),
    ] {
        let state = tempfile::tempdir().unwrap();
        let req = vec![Requirement::parse(root).unwrap()];
        g.bench_function(label, |b| {
            b.iter(|| {
                rt.block_on(async {
                    let reg = Registry::open(
                        IndexSource::dir(dir.join("index")),
                        KeyTrust::FirstUse,
                        state.path(),
                        std::time::SystemTime::now(),
                    )
                    .await
                    .unwrap();
                    resolve(&reg, &req, &Default::default()).await.unwrap()
                })
            })
        });
    }
    // The index built into ptd: its families' prebuilt members are lines of it.
    let state = tempfile::tempdir().unwrap();
    let req = Requirement::parse_words(&[
        "coalescent/kingman@1.2",
        "coalescent/block-counting@1",
        "samples=30",
    ])
    .unwrap();
    g.bench_function("embedded-families", |b| {
        b.iter(|| {
            rt.block_on(async {
                let reg = Registry::open(
                    IndexSource::Embedded,
                    KeyTrust::Builtin,
                    state.path(),
                    std::time::SystemTime::now(),
                )
                .await
                .unwrap();
                resolve(&reg, &req, &Default::default()).await.unwrap()
            })
        })
    });
    g.finish();
}

/// Environment for a `ptd` process confined to `home`.
fn ptd(home: &Path, cwd: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(PTD);
    c.args(args)
        .current_dir(cwd)
        .env("HOME", home)
        .env("PTD_HOME", home.join("ptd"))
        .env("PHASIC_CACHE_DIR", home.join("phasic"))
        .env("JAX_COMPILATION_CACHE_DIR", home.join("jax"))
        .env("PTD_SIGNING_KEY", home.join("key.key"));
    c
}

fn run(mut c: Command) {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn warm_install(c: &mut Criterion) {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let project = h.join("study");
    run(ptd(h, h, &["init", project.to_str().unwrap()]));
    for m in ["coalescent/kingman@1.2", "queue/mm1k", "reliability/erlang"] {
        run(ptd(h, &project, &["--offline", "add", m]));
    }
    run(ptd(h, &project, &["--offline", "install", "--locked"]));
    let mut g = c.benchmark_group("install");
    g.sample_size(50);
    g.bench_function("warm-locked", |b| {
        b.iter(|| {
            run(ptd(
                h,
                &project,
                &["--offline", "install", "--locked", "-q"],
            ))
        })
    });
    g.finish();
}

/// A registry of 20 block-counting bundles served over HTTP.
struct Twenty {
    _root: tempfile::TempDir,
    server: http_server::FileServer,
    urls: Vec<String>,
    bytes: u64,
}

fn twenty() -> Twenty {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    run(ptd(
        r,
        r,
        &[
            "keygen",
            "-o",
            r.join("key").to_str().unwrap(),
            "--unencrypted",
        ],
    ));
    let server = http_server::FileServer::start(r);
    let index = r.join("index");
    run(ptd(
        r,
        r,
        &[
            "registry",
            "init",
            index.to_str().unwrap(),
            "--name",
            "bench",
            "--artifacts",
            &format!("{}/artifacts/{{file}}", server.url()),
        ],
    ));
    let mut urls = Vec::new();
    let mut bytes = 0;
    for n in 21..=40 {
        let m = r.join(format!("models/bench/bc{n}"));
        std::fs::create_dir_all(&m).unwrap();
        std::fs::write(
            m.join("model.toml"),
            format!(
                "[model]\nname = \"bench/bc{n}\"\nversion = \"1.0.0\"\ndescription = \"block counting, {n} samples\"\nlicense = \"CC0-1.0\"\nparameters = [\"theta\"]\n[generator]\nname = \"coalescent/block-counting\"\nargs = {{ samples = {n} }}\n"
            ),
        )
        .unwrap();
        run(ptd(
            r,
            r,
            &[
                "publish",
                m.to_str().unwrap(),
                "--registry",
                index.to_str().unwrap(),
                "--store",
                r.join("artifacts").to_str().unwrap(),
            ],
        ));
        let file = format!("bench-bc{n}-1.0.0.ptd.tar.zst");
        bytes += std::fs::metadata(r.join("artifacts").join(&file))
            .unwrap()
            .len();
        urls.push(format!("{}/artifacts/{file}", server.url()));
    }
    Twenty {
        _root: root,
        server,
        urls,
        bytes,
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn transfer(c: &mut Criterion) {
    let t = twenty();
    let specs: Vec<String> = (21..=40).map(|n| format!("bench/bc{n}")).collect();
    let index = format!("{}/index", t.server.url());
    let scratch = tempfile::tempdir().unwrap();
    let install_once = |i: usize| -> Duration {
        let home: PathBuf = scratch.path().join(format!("ptd-{i}"));
        std::fs::create_dir_all(&home).unwrap();
        let mut args = vec!["install", "-q", "--registry", index.as_str()];
        args.extend(specs.iter().map(String::as_str));
        let cmd = ptd(&home, &home, &args);
        let start = Instant::now();
        run(cmd);
        let d = start.elapsed();
        std::fs::remove_dir_all(&home).unwrap();
        d
    };
    let curl_once = |i: usize| -> Duration {
        let dir = scratch.path().join(format!("curl-{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut cmd = Command::new("curl");
        cmd.current_dir(&dir)
            .args(["--silent", "--fail", "--parallel", "--parallel-max", "20"]);
        for u in &t.urls {
            cmd.arg("-O").arg(u);
        }
        let start = Instant::now();
        let out = cmd.output().expect("curl is needed for this benchmark");
        let d = start.elapsed();
        assert!(out.status.success());
        std::fs::remove_dir_all(&dir).unwrap();
        d
    };
    let mut g = c.benchmark_group("transfer");
    g.sample_size(10);
    let mut i = 0;
    g.bench_function("install/20-bundles", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    i += 1;
                    install_once(i)
                })
                .sum()
        })
    });
    g.bench_function("curl/20-files", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    i += 1;
                    curl_once(i)
                })
                .sum()
        })
    });
    g.finish();
    // Alternate the two, in the same run, for the ratio (not when `cargo test` runs the
    // benchmarks once as a check).
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let (mut p, mut q) = (Vec::new(), Vec::new());
    for k in 0..15 {
        p.push(install_once(10_000 + k));
        q.push(curl_once(10_000 + k));
    }
    let (mp, mq) = (median(p), median(q));
    println!(
        "\n20 bundles, {:.1} MB: ptd install {:.1} ms, curl {:.1} ms: ratio {:.2}x ({:.0} MB/s vs {:.0} MB/s)\n",
        t.bytes as f64 / 1e6,
        mp.as_secs_f64() * 1e3,
        mq.as_secs_f64() * 1e3,
        mp.as_secs_f64() / mq.as_secs_f64(),
        t.bytes as f64 / 1e6 / mp.as_secs_f64(),
        t.bytes as f64 / 1e6 / mq.as_secs_f64(),
    );
}

criterion_group!(benches, resolve_bench, warm_install, transfer);
criterion_main!(benches);
