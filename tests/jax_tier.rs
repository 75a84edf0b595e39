//! The JAX tier against the real JAX (CPU jax and jaxlib from PyPI, in the test environment that
//! scripts/test-all.sh makes): the generated evaluator equals `ptd eval`, is formatted, and a
//! platform archive built with `ptd build --jax`, published and installed makes the first call
//! in a fresh Python process a persistent-cache hit, as JAX's own log reports it.

mod support;

use support::python::{python, repo};

use ptd::bundle;
use ptd::eliminate::eliminate;
use ptd::graph::GraphFile;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use support::{HttpRegistry, User, json as out_json, models};

fn run_python(args: &[&str]) -> Value {
    let out = Command::new(python()).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "python {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn rel(a: f64, b: f64) -> f64 {
    if a == b {
        0.0
    } else {
        (a - b).abs() / b.abs().max(f64::MIN_POSITIVE)
    }
}

/// Writes the evaluator ptd installs for `built` (its module and the DAG's tables) into `dir`;
/// returns the module's path.
fn write_evaluator(
    built: &bundle::Built,
    graph: &ptd::graph::Graph,
    symbolic: &ptd::eliminate::Symbolic,
    dir: &Path,
) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    for (name, bytes) in ptd::install::evaluator_files(&built.manifest, graph, symbolic) {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    dir.join(ptd::jax::EVALUATOR)
}

/// One module to evaluate: (label, module, thetas, ptd's moments, phasic's moments if known).
type Case = (String, PathBuf, Vec<Vec<f64>>, Vec<Vec<f64>>, Vec<Vec<f64>>);

#[test]
fn evaluator_equals_ptd_eval_on_every_model_and_phasic_fixture() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cases: Vec<Case> = Vec::new();
    let k = 4;
    let fixtures = repo().join("tests/fixtures/phasic");
    let index: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures.join("index.json")).unwrap())
            .unwrap();
    for g in index["graphs"].as_array().unwrap() {
        let file = g["file"].as_str().unwrap();
        let graph = GraphFile::read(&fixtures.join(file)).unwrap();
        let input = ptd::input::Input::open(&fixtures.join(file)).unwrap();
        let built = bundle::build(input.meta(), &graph);
        let symbolic = eliminate(&graph);
        let module = write_evaluator(
            &built,
            &graph,
            &symbolic,
            &tmp.path().join(g["name"].as_str().unwrap()),
        );
        let mut thetas = Vec::new();
        let mut phasic = Vec::new();
        for e in g["evaluations"].as_array().unwrap() {
            let theta: Vec<f64> = e["theta"]
                .as_array()
                .map(|t| t.iter().map(|x| x.as_f64().unwrap()).collect())
                .unwrap_or_default();
            thetas.push(theta);
            phasic.push(
                e["moments"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap())
                    .collect(),
            );
        }
        let ours = thetas
            .iter()
            .map(|t| symbolic.moments(t, k).unwrap())
            .collect();
        cases.push((file.to_string(), module, thetas, ours, phasic));
    }
    for dir in walk_models() {
        let input = ptd::input::Input::open(&dir).unwrap();
        let built = bundle::build(input.meta(), input.graph().unwrap());
        let again = bundle::build(input.meta(), input.graph().unwrap());
        let symbolic = input.symbolic();
        assert_eq!(
            ptd::install::evaluator_files(&built.manifest, input.graph().unwrap(), &symbolic),
            ptd::install::evaluator_files(&again.manifest, input.graph().unwrap(), &symbolic),
            "deterministic"
        );
        let module = write_evaluator(
            &built,
            input.graph().unwrap(),
            &symbolic,
            &tmp.path()
                .join(built.manifest.name.replace(['/', '-'], "_")),
        );
        let p = symbolic.param_length();
        let thetas: Vec<Vec<f64>> = (0..5)
            .map(|i| {
                (0..p)
                    .map(|j| 0.4 + 0.37 * i as f64 + 0.91 * j as f64)
                    .collect()
            })
            .collect();
        let ours = thetas
            .iter()
            .map(|t| symbolic.moments(t, k).unwrap())
            .collect();
        cases.push((
            built.manifest.name.clone(),
            module,
            thetas,
            ours,
            Vec::new(),
        ));
    }
    // Formatted: ruff (the test environment's) finds nothing to change.
    let ruff = python().with_file_name("ruff");
    let mut fmt = Command::new(&ruff);
    fmt.args(["format", "--check", "--diff"]);
    fmt.arg(repo().join("src/jax/evaluator.py"));
    let out = fmt
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (scripts/test-all.sh installs it)", ruff.display()));
    assert!(
        out.status.success(),
        "ruff format would change the evaluator module:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let jobs: Vec<Value> = cases
        .iter()
        .map(|c| json!({"module": c.1, "theta": c.2, "k": k}))
        .collect();
    let jobs_file = tmp.path().join("jobs.json");
    std::fs::write(&jobs_file, serde_json::to_vec(&jobs).unwrap()).unwrap();
    let script = repo().join("tests/python/jax_evaluate.py");
    let got = run_python(&[script.to_str().unwrap(), jobs_file.to_str().unwrap()]);
    let mut worst = (0.0f64, String::new());
    let mut worst_phasic = 0.0f64;
    let mut compared = 0;
    for (c, values) in cases.iter().zip(got.as_array().unwrap()) {
        for (row, (ours, phasic)) in
            c.3.iter()
                .zip(c.4.iter().map(Some).chain(std::iter::repeat(None)))
                .enumerate()
        {
            for j in 0..k {
                let v = values[row][j].as_f64().unwrap();
                let r = rel(v, ours[j]);
                if r > worst.0 {
                    worst = (r, format!("{} theta {:?} E[T^{}]", c.0, c.2[row], j + 1));
                }
                compared += 1;
                if let Some(p) = phasic {
                    worst_phasic = worst_phasic.max(rel(v, p[j]));
                }
            }
        }
    }
    assert!(compared > 300, "{compared} values compared");
    assert!(
        worst.0 <= 1e-12,
        "worst relative difference {:e} at {}",
        worst.0,
        worst.1
    );
    assert!(worst_phasic <= 1e-10, "against phasic: {worst_phasic:e}");
    eprintln!(
        "{compared} moments compared: worst {:e} against ptd eval, {worst_phasic:e} against phasic",
        worst.0
    );
}

fn walk_models() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = support::walk(&models())
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "model.toml"))
        .filter(|p| !p.components().any(|c| c.as_os_str() == "versions"))
        .map(|p| p.parent().unwrap().to_path_buf())
        .collect();
    out.sort();
    assert!(out.len() >= 6);
    out
}

/// The user's environment for the real JAX: their Python and an empty JAX cache.
fn with_python(user: &User, args: &[&str]) -> std::process::Output {
    let py = python();
    user.run_env(args, &[("PTD_PYTHON", py.to_str().unwrap())])
}

fn first_call(module: &str, cache: &Path, theta: &Value) -> Value {
    let script = repo().join("tests/python/jax_first_call.py");
    run_python(&[
        script.to_str().unwrap(),
        module,
        cache.to_str().unwrap(),
        &theta.to_string(),
    ])
}

#[test]
fn an_installed_jax_archive_makes_the_first_call_a_cache_hit() {
    let reg = HttpRegistry::new();
    let model = models().join("coalescent/two-island");
    let out_dir = reg.publisher.dir.path().join("out");
    // Build with --jax: the bundle, then a platform archive for this machine's tag.
    let out = with_python(
        &reg.publisher,
        &[
            "build",
            model.to_str().unwrap(),
            "-o",
            out_dir.to_str().unwrap(),
            "--jax",
            "--batch",
            "1,8",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(printed.len(), 2, "{printed:?}");
    let (bundle_path, jax_path) = (&printed[0], &printed[1]);
    assert!(jax_path.ends_with(".jax.tar.zst"));
    let (meta, files) =
        ptd::jax::archive::read(&std::fs::read(jax_path).unwrap(), jax_path).unwrap();
    assert_eq!(meta.batches, [1, 8]);
    assert!(
        meta.tag.contains("-cpu-jax") && meta.tag.contains("jaxlib"),
        "{}",
        meta.tag
    );
    assert_eq!(files.len(), 2, "one entry per batch size: {:?}", meta.files);
    assert!(files.iter().all(|f| f.0.starts_with("jit_moments-")));

    reg.publisher.ok(&[
        "publish",
        bundle_path,
        "--registry",
        reg.index_dir().to_str().unwrap(),
        "--store",
        reg.artifacts().to_str().unwrap(),
        "--key",
        reg.key.to_str().unwrap(),
        "--jax-archive",
        jax_path,
    ]);

    // A user installs into an empty JAX cache; ptd asks their Python for its JAX once. The
    // Python is a wrapper that counts how often it runs.
    let user = User::new();
    let counter = user.dir.path().join("python-runs");
    let wrapper = user.dir.path().join("python3");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho run >> '{}'\nexec '{}' \"$@\"\n",
            counter.display(),
            python().display()
        ),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let runs = || {
        std::fs::read_to_string(&counter)
            .unwrap_or_default()
            .lines()
            .count()
    };
    let install = || {
        user.run_env(
            &[
                "install",
                "coalescent/two-island",
                "--registry",
                &reg.index_url(),
                "--json",
            ],
            &[("PTD_PYTHON", wrapper.to_str().unwrap())],
        )
    };
    let out = install();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let item = out_json(&out)["installed"][0].clone();
    assert_eq!(item["jax_files"], 2, "{item}");
    assert!(item.get("jax_note").is_none(), "{item}");
    let cached = std::fs::read_dir(user.home().join("python"))
        .unwrap()
        .count();
    assert_eq!(cached, 1, "the Python's answer is cached");
    assert_eq!(runs(), 1);
    let again = install();
    assert!(again.status.success());
    assert_eq!(out_json(&again)["installed"][0]["jax_files"], 2);
    assert_eq!(runs(), 1, "asked once, then answered from the cache");

    // In a fresh Python process, the first call of the installed evaluator hits the cache.
    let which = user.ok(&["which", "coalescent/two-island"]);
    let module = String::from_utf8_lossy(&which.stdout).trim().to_string();
    assert!(module.ends_with("evaluator.py"), "{module}");
    let thetas: Vec<Vec<f64>> = (0..8)
        .map(|i| vec![0.5 + 0.25 * i as f64, 1.7 - 0.15 * i as f64])
        .collect();
    let theta = json!(thetas);
    let hit = first_call(&module, &user.jax_cache(), &theta);
    assert_eq!(hit["hit"], true, "{hit}");
    assert_eq!(hit["miss"], false, "{hit}");
    // The same call with an empty cache misses: the check can fail.
    let empty = user.dir.path().join("empty-jax-cache");
    let miss = first_call(&module, &empty, &theta);
    assert_eq!(miss["hit"], false, "{miss}");
    assert_eq!(miss["miss"], true, "{miss}");

    // The values are `ptd eval`'s, to 1e-12.
    for (i, t) in thetas.iter().enumerate() {
        let theta = format!("{:?},{:?}", t[0], t[1]);
        let out = user.ok(&["eval", model.to_str().unwrap(), "--theta", &theta, "--json"]);
        let want = out_json(&out)["moments"].clone();
        for j in 0..2 {
            let got = hit["moments"][i][j].as_f64().unwrap();
            let want = want[j].as_f64().unwrap();
            assert!(
                rel(got, want) <= 1e-12,
                "theta {t:?} E[T^{}]: {got} vs {want}",
                j + 1
            );
        }
    }
}

#[test]
fn prewarm_compiles_an_installed_model_into_the_users_jax_cache() {
    let reg = HttpRegistry::new();
    reg.publish(&models().join("queue/mm1k"));
    let user = User::new();
    let out = with_python(
        &user,
        &["install", "queue/mm1k", "--registry", &reg.index_url()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let which = user.ok(&["which", "queue/mm1k"]);
    let module = String::from_utf8_lossy(&which.stdout).trim().to_string();
    let theta = json!([[1.0, 2.0], [0.5, 1.5], [2.0, 0.7]]);
    let before = first_call(&module, &user.dir.path().join("scratch"), &theta);
    assert_eq!(before["miss"], true);

    let out = with_python(
        &user,
        &[
            "cache",
            "prewarm",
            "queue/mm1k",
            "--batch",
            "3,16",
            "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = out_json(&out);
    assert_eq!(report["compiled"].as_array().unwrap().len(), 2);
    assert_eq!(report["new_entries"], 2, "{report}");
    let listed = out_json(&user.ok(&["cache", "jax", "--json"]));
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");

    let after = first_call(&module, &user.jax_cache(), &theta);
    assert_eq!(after["hit"], true, "{after}");
    assert_eq!(after["moments"], before["moments"]);

    // Nothing installed by that name: a clear error.
    let err = user.fails(&["cache", "prewarm", "lab/nothing"]);
    assert!(
        err.contains("nothing installed matches 'lab/nothing'"),
        "{err}"
    );
    let err = user.fails(&["cache", "prewarm", "queue/mm1k", "--batch", "0"]);
    assert!(err.contains("--batch"), "{err}");
}
