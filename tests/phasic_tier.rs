//! phasic users get ptd's models: `ptd build --with-phasic` has the real phasic 0.32.1 (from
//! PyPI, in the test environment) write its own elimination artifact for a model's graph; ptd
//! publishes it signed, installs it into an empty `$PHASIC_CACHE_DIR` under the name phasic
//! computes, and a fresh phasic process loads it instead of eliminating again. The proof is the
//! file's use, seen by strace: phasic opens the installed artifact read-only and writes nothing
//! in its artifact directory; with an empty cache the same run writes a new one. The moments
//! equal `ptd eval`'s to 1e-10.

mod support;

use support::python::{python, repo};

use std::path::Path;
use std::process::Command;
use support::{HttpRegistry, User, json as out_json, models};

/// What a fresh phasic process did: its moments, and the strace lines about phasic's
/// artifact directory.
struct Run {
    moments: Vec<f64>,
    trace: Vec<String>,
}

fn phasic_run(cache: &Path, graph: &Path, theta: &str, dir: &Path) -> Run {
    let trace = dir.join(format!("trace-{}.txt", std::process::id()));
    let out = Command::new("strace")
        .args([
            "-f",
            "-e",
            "trace=openat,rename,renameat,renameat2,unlink",
            "-o",
        ])
        .arg(&trace)
        .arg(python())
        .arg(repo().join("tests/python/phasic_moments.py"))
        .arg(graph)
        .arg(theta)
        .arg("2")
        .env("PHASIC_CACHE_DIR", cache)
        .env("PHASIC_REWARD_COMPUTE_CACHE", "1")
        .output()
        .unwrap_or_else(|e| panic!("strace: {e} (scripts/test-all.sh installs it)"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let lines = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .filter(|l| l.contains("parameterized_reward_compute"))
        .map(String::from)
        .collect();
    Run {
        moments: v["moments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect(),
        trace: lines,
    }
}

/// `ptd build MODEL -o OUT --with-phasic` as `user`, with the test Python: the bundle's and the
/// phasic archive's paths.
fn build_with_phasic(user: &User, model: &Path, out: &Path) -> (String, String) {
    let py = python();
    let run = user.run_env(
        &[
            "build",
            model.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--with-phasic",
        ],
        &[("PTD_PYTHON", py.to_str().unwrap())],
    );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let printed: Vec<String> = String::from_utf8_lossy(&run.stdout)
        .lines()
        .map(String::from)
        .collect();
    (printed[0].clone(), printed[1].clone())
}

#[test]
fn phasic_loads_the_artifact_ptd_installed_instead_of_eliminating() {
    let reg = HttpRegistry::new();
    let model = models().join("coalescent/two-island");
    let out_dir = reg.publisher.dir.path().join("out");
    let py = python();
    let env = [("PTD_PYTHON", py.to_str().unwrap())];
    let (bundle, archive) = build_with_phasic(&reg.publisher, &model, &out_dir);
    let (bundle, archive) = (&bundle, &archive);
    assert!(
        archive.ends_with(".phasic-pcg3.phasic.tar.zst"),
        "{archive}"
    );
    let (meta, files) = ptd::phasic::read(&std::fs::read(archive).unwrap(), archive).unwrap();
    assert_eq!(meta.phasic_version, "0.32.1");
    assert_eq!(files.len(), 1);
    // The same artifact bytes when built again: phasic's output is deterministic.
    let (_, again) = build_with_phasic(
        &reg.publisher,
        &model,
        &reg.publisher.dir.path().join("again"),
    );
    let (_, files2) = ptd::phasic::read(&std::fs::read(&again).unwrap(), &again).unwrap();
    assert_eq!(files, files2);

    reg.publisher.ok(&[
        "publish",
        bundle,
        "--registry",
        reg.index_dir().to_str().unwrap(),
        "--store",
        reg.artifacts().to_str().unwrap(),
        "--key",
        reg.key.to_str().unwrap(),
        "--phasic-archive",
        archive,
    ]);

    // Installed into an empty PHASIC_CACHE_DIR, under the name phasic computes.
    let user = User::new();
    let out = user.run_env(
        &[
            "install",
            "coalescent/two-island",
            "--registry",
            &reg.index_url(),
            "--json",
        ],
        &env,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let item = out_json(&out)["installed"][0].clone();
    assert_eq!(item["phasic_files"], 1, "{item}");
    let phasic_hash = item["phasic_hash"].as_str().unwrap();
    let installed = user
        .phasic_cache()
        .join("parameterized_reward_compute")
        .join(format!("{phasic_hash}.bin"));
    assert_eq!(std::fs::read(&installed).unwrap(), files[0].1);
    let mtime = std::fs::metadata(&installed).unwrap().modified().unwrap();

    // A fresh phasic process opens it read-only and writes nothing there.
    let graph = user.dir.path().join("graph.json");
    user.ok(&[
        "graph",
        "export",
        model.to_str().unwrap(),
        "-o",
        graph.to_str().unwrap(),
    ]);
    let theta = "1.3,0.45";
    let warm = phasic_run(&user.phasic_cache(), &graph, theta, user.dir.path());
    let path = installed.to_str().unwrap();
    assert!(
        warm.trace
            .iter()
            .any(|l| l.contains(path) && l.contains("O_RDONLY") && !l.contains("= -1")),
        "{:#?}",
        warm.trace
    );
    assert!(
        !warm
            .trace
            .iter()
            .any(|l| l.contains("O_WRONLY") || l.contains("rename") || l.contains("unlink")),
        "phasic wrote: {:#?}",
        warm.trace
    );
    assert_eq!(
        std::fs::metadata(&installed).unwrap().modified().unwrap(),
        mtime
    );

    // With an empty cache the same run eliminates and writes its own: the check can fail.
    let empty = user.dir.path().join("empty-phasic-cache");
    let cold = phasic_run(&empty, &graph, theta, user.dir.path());
    assert!(
        cold.trace
            .iter()
            .any(|l| l.contains("O_WRONLY") && l.contains(phasic_hash)),
        "{:#?}",
        cold.trace
    );

    // phasic's moments from the installed artifact are ptd's, to 1e-10.
    let want = out_json(&user.ok(&[
        "eval",
        model.to_str().unwrap(),
        "--theta",
        theta,
        "--json",
    ]))["moments"]
        .clone();
    for (k, got) in warm.moments.iter().enumerate() {
        let w = want[k].as_f64().unwrap();
        assert!(
            (got - w).abs() <= 1e-10 * w.abs(),
            "E[T^{}]: {got} vs {w}",
            k + 1
        );
    }
    assert_eq!(warm.moments, cold.moments);

    // Without phasic in the user's Python: the DAG alone, and a note that says why.
    let user = User::new();
    let out = user.run_env(
        &[
            "install",
            "coalescent/two-island",
            "--registry",
            &reg.index_url(),
            "--json",
        ],
        &[("PTD_PYTHON", "/nonexistent/python3")],
    );
    assert!(out.status.success());
    let item = out_json(&out)["installed"][0].clone();
    assert_eq!(item["phasic_files"], 0);
    assert!(
        item["jax_note"]
            .as_str()
            .unwrap()
            .contains("phasic elimination artifacts"),
        "{item}"
    );
    assert!(
        !user
            .phasic_cache()
            .join("parameterized_reward_compute")
            .exists()
    );
}

#[test]
fn a_phasic_traces_registry_moves_over_in_one_command() {
    // A phasic-traces registry as pull_cache reads it, served over HTTP: the artifact written
    // by the real phasic for the two-island model, one retracted entry, one with a wrong hash.
    let reg = HttpRegistry::new();
    let model = models().join("coalescent/two-island");
    let (_, archive) = build_with_phasic(
        &reg.publisher,
        &model,
        &reg.publisher.dir.path().join("out"),
    );
    let (meta, files) = ptd::phasic::read(&std::fs::read(&archive).unwrap(), &archive).unwrap();
    let bin = &files[0].1;
    let hash = &meta.phasic_hash;
    let traces = reg.root.path().join("traces");
    std::fs::create_dir_all(traces.join("artifacts")).unwrap();
    std::fs::write(traces.join(format!("artifacts/{hash}.bin")), bin).unwrap();
    let sha = ptd::fs::sha256_hex(bin);
    let artifact = |sha: &str| {
        serde_json::json!({"parent": {"cid_or_path": format!("artifacts/{hash}.bin"),
                                      "sha256": sha, "size_bytes": bin.len()}, "scc": []})
    };
    let registry = serde_json::json!({
        "version": "2.0", "format": "ptd_pcg",
        "computes": {
            "two_island_2x1": {"graph_hash": hash, "format_revision": 3,
                "artifacts": artifact(&sha),
                "metadata": {"description": "Two islands, 2+1 samples", "domain": "population-genetics",
                             "tags": ["coalescent", "islands"], "license": "MIT", "author": "lab"}},
            "Old Model": {"graph_hash": hash, "format_revision": 3, "retracted": true,
                "artifacts": artifact(&sha), "metadata": {"description": "superseded"}},
            "broken": {"graph_hash": hash, "format_revision": 3,
                "artifacts": artifact(&"0".repeat(64)), "metadata": {}}
        }
    });
    std::fs::write(traces.join("registry.json"), registry.to_string()).unwrap();
    let url = format!("{}/traces/registry.json", reg.server.url());
    let import = || {
        reg.publisher.run_env(
            &[
                "import",
                "phasic-traces",
                &url,
                "--registry",
                reg.index_dir().to_str().unwrap(),
                "--store",
                reg.artifacts().to_str().unwrap(),
                "--key",
                reg.key.to_str().unwrap(),
                "--json",
            ],
            &[],
        )
    };
    let out = import();
    assert_eq!(out.status.code(), Some(1), "one entry is skipped");
    let report = out_json(&out);
    let action = |id: &str| -> String {
        report["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["id"] == id)
            .map(|e| format!("{} {}", e["version"], e["action"]))
            .unwrap()
    };
    assert_eq!(action("two_island_2x1"), "\"1.0.0\" \"published\"");
    assert_eq!(
        action("Old Model"),
        "\"1.0.0\" \"published (yanked: retracted)\""
    );
    assert!(action("broken").contains("skipped") && action("broken").contains("SHA-256"));
    // Again: nothing new.
    let again = out_json(&import());
    assert!(
        again["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "unchanged")
    );
    let info = out_json(&reg.publisher.ok(&[
        "info",
        "phasic-traces/two_island_2x1",
        "--registry",
        &reg.index_url(),
        "--json",
    ]));
    assert!(info.to_string().contains("Two islands"), "{info}");

    // A user installs it: phasic's artifact lands where phasic looks, and phasic uses it.
    let user = User::new();
    let out = user.run_env(
        &[
            "install",
            "phasic-traces/two_island_2x1",
            "--registry",
            &reg.index_url(),
            "--json",
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out_json(&out)["installed"][0]["phasic_files"], 1);
    let placed = user
        .phasic_cache()
        .join("parameterized_reward_compute")
        .join(format!("{hash}.bin"));
    assert_eq!(&std::fs::read(&placed).unwrap(), bin);
    let graph = user.dir.path().join("graph.json");
    user.ok(&[
        "graph",
        "export",
        model.to_str().unwrap(),
        "-o",
        graph.to_str().unwrap(),
    ]);
    let run = phasic_run(&user.phasic_cache(), &graph, "0.8,1.9", user.dir.path());
    assert!(
        run.trace
            .iter()
            .any(|l| l.contains(placed.to_str().unwrap())
                && l.contains("O_RDONLY")
                && !l.contains("= -1"))
            && !run.trace.iter().any(|l| l.contains("O_WRONLY")),
        "{:#?}",
        run.trace
    );
    let want = out_json(&user.ok(&[
        "eval",
        model.to_str().unwrap(),
        "--theta",
        "0.8,1.9",
        "--json",
    ]))["moments"]
        .clone();
    for (k, got) in run.moments.iter().enumerate() {
        let w = want[k].as_f64().unwrap();
        assert!(
            (got - w).abs() <= 1e-10 * w.abs(),
            "E[T^{}]: {got} vs {w}",
            k + 1
        );
    }
    // The retracted entry is yanked: not installed without a lock that pins it.
    let err = user.fails(&[
        "install",
        "phasic-traces/old-model",
        "--registry",
        &reg.index_url(),
    ]);
    assert!(err.contains("yanked"), "{err}");
}
