//! The `ptd` binary end to end: hash, eval, graph export and build, and their error messages.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ptd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ptd"))
        .args(args)
        .output()
        .expect("run ptd")
}

fn ok(args: &[&str]) -> String {
    let out = ptd(args);
    assert!(
        out.status.success(),
        "ptd {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fails(args: &[&str]) -> String {
    let out = ptd(args);
    assert!(!out.status.success(), "ptd {args:?} should fail");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn repo(rel: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(rel)
        .display()
        .to_string()
}

fn write_recipe(dir: &Path, generator: &str, args: &str, params: &[&str]) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let params: Vec<String> = params.iter().map(|p| format!("\"{p}\"")).collect();
    std::fs::write(
        dir.join("model.toml"),
        format!(
            "[model]\nname = \"test/model\"\nversion = \"0.1.0\"\ndescription = \"t\"\nlicense = \"MIT\"\nparameters = [{}]\n\n[generator]\nname = \"{generator}\"\nargs = {{ {args} }}\n",
            params.join(", ")
        ),
    )
    .unwrap();
    dir.display().to_string()
}

fn moments(out: &str) -> Vec<f64> {
    let v: Value = serde_json::from_str(out).unwrap();
    v["moments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    ((a - b) / b).abs() <= tol
}

#[test]
fn kingman_moments_match_the_analytic_formulas() {
    let tmp = tempfile::tempdir().unwrap();
    for n in [2, 3, 7, 20, 60] {
        let dir = write_recipe(
            &tmp.path().join(format!("k{n}")),
            "coalescent/kingman",
            &format!("samples = {n}"),
            &["theta"],
        );
        for theta in [1.0, 0.25, 3.5] {
            let m = moments(&ok(&[
                "eval",
                &dir,
                "--theta",
                &theta.to_string(),
                "--json",
            ]));
            assert_eq!(m.len(), 2);
            let mean = 2.0 * (1.0 - 1.0 / n as f64) / theta;
            let var: f64 = (2..=n)
                .map(|k| (2.0 / ((k * (k - 1)) as f64 * theta)).powi(2))
                .sum();
            assert!(close(m[0], mean, 1e-10), "n={n}: {} vs {mean}", m[0]);
            assert!(close(m[1] - m[0] * m[0], var, 1e-10), "n={n}");
        }
    }
}

#[test]
fn erlang_moments_are_exact() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = write_recipe(tmp.path(), "reliability/erlang", "phases = 7", &["rate"]);
    let m = moments(&ok(&[
        "eval",
        &dir,
        "--theta",
        "2.5",
        "--moments",
        "4",
        "--json",
    ]));
    // E[T^j] = k (k+1) ... (k+j-1) / rate^j
    let mut want = 1.0;
    for (j, got) in m.iter().enumerate() {
        want *= (7 + j) as f64 / 2.5;
        assert!(
            close(*got, want, 1e-12),
            "moment {}: {got} vs {want}",
            j + 1
        );
    }
}

#[test]
fn hash_json_has_both_hashes() {
    let out = ok(&[
        "hash",
        &repo("tests/fixtures/phasic/kingman-3.graph.json"),
        "--json",
    ]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["phasic"],
        "ba3496f47d6d1e212ae665323a9a6b7abacbef460beadee0022106054a543429"
    );
    assert_eq!(v["canonical"].as_str().unwrap().len(), 64);
    assert_eq!(v.as_object().unwrap().len(), 2);
}

#[test]
fn export_then_hash_and_eval_agree_with_the_model() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ti.json");
    let model = repo("models/coalescent/two-island");
    ok(&["graph", "export", &model, "-o", out.to_str().unwrap()]);
    let a = ok(&["hash", &model, "--json"]);
    let b = ok(&["hash", out.to_str().unwrap(), "--json"]);
    assert_eq!(a, b);
    let ma = ok(&["eval", &model, "--theta", "1.0,0.5", "--json"]);
    let mb = ok(&[
        "eval",
        out.to_str().unwrap(),
        "--theta",
        "1.0,0.5",
        "--json",
    ]);
    assert_eq!(ma, mb);
    // Standard output gives the same bytes as -o.
    assert_eq!(
        ok(&["graph", "export", &model]).as_bytes(),
        std::fs::read(&out).unwrap()
    );
}

#[test]
fn build_is_byte_identical_and_evaluates_like_the_model() {
    let tmp = tempfile::tempdir().unwrap();
    let model = repo("models/coalescent/block-counting");
    let d1 = tmp.path().join("a");
    let d2 = tmp.path().join("b");
    let p1 = ok(&["build", &model, "-o", d1.to_str().unwrap()]);
    let p2 = ok(&["build", &model, "-o", d2.to_str().unwrap()]);
    let (p1, p2) = (p1.trim(), p2.trim());
    assert!(
        p1.ends_with("coalescent-block-counting-1.1.0_samples-10.ptd.tar.zst"),
        "{p1}"
    );
    let (b1, b2) = (std::fs::read(p1).unwrap(), std::fs::read(p2).unwrap());
    assert_eq!(b1, b2, "two builds differ");
    let direct = moments(&ok(&[
        "eval",
        &model,
        "--theta",
        "0.8",
        "--moments",
        "3",
        "--json",
    ]));
    let bundled = moments(&ok(&[
        "eval",
        p1,
        "--theta",
        "0.8",
        "--moments",
        "3",
        "--json",
    ]));
    assert_eq!(direct, bundled);
    assert_eq!(ok(&["hash", &model, "--json"]), ok(&["hash", p1, "--json"]));
    // The manifest of --json names the hashes and the content hash.
    let m: Value = serde_json::from_str(&ok(&[
        "build",
        &model,
        "-o",
        d1.to_str().unwrap(),
        "--json",
    ]))
    .unwrap();
    assert_eq!(m["name"], "coalescent/block-counting");
    assert_eq!(m["content_hash"].as_str().unwrap().len(), 64);
    let files: Vec<&str> = m["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        files,
        ["meta.json", "graph.bin", "dag.bin", "rewards.json"],
        "the generator's reward sets are kept"
    );
}

#[test]
fn a_bundles_binary_graph_is_an_input() {
    let tmp = tempfile::tempdir().unwrap();
    let model = repo("models/coalescent/two-island");
    let bundle = ok(&["build", &model, "-o", tmp.path().to_str().unwrap()]);
    let packed = std::fs::read(bundle.trim()).unwrap();
    let tar = zstd::decode_all(packed.as_slice()).unwrap();
    let mut graph_bin = None;
    for e in tar::Archive::new(tar.as_slice()).entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().file_name().unwrap() == "graph.bin" {
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            graph_bin = Some(data);
        }
    }
    let graph_bin = graph_bin.expect("the bundle holds graph.bin");
    assert!(graph_bin.starts_with(b"PTDGRAPH"));
    let bin = tmp.path().join("graph.bin");
    std::fs::write(&bin, &graph_bin).unwrap();
    let json = tmp.path().join("graph.json");
    ok(&["graph", "export", &model, "-o", json.to_str().unwrap()]);
    let (bin, json) = (bin.to_str().unwrap(), json.to_str().unwrap());
    assert_eq!(ok(&["hash", bin]), ok(&["hash", json]));
    assert_eq!(
        ok(&["hash", bin, "--json"]),
        ok(&["hash", &model, "--json"])
    );
    assert_eq!(
        ok(&["graph", "export", bin]),
        ok(&["graph", "export", json])
    );
    let theta = ["--theta", "1.0,0.5", "--json"];
    assert_eq!(
        ok(&[&["eval", bin][..], &theta].concat()),
        ok(&[&["eval", json][..], &theta].concat())
    );
    // A truncated binary graph is refused, naming the file.
    let cut = tmp.path().join("cut.bin");
    std::fs::write(&cut, &graph_bin[..graph_bin.len() - 9]).unwrap();
    let err = fails(&["hash", cut.to_str().unwrap()]);
    assert!(err.contains("cut.bin"), "{err}");
}

#[test]
fn a_damaged_bundle_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let p = ok(&[
        "build",
        &repo("models/reliability/erlang"),
        "-o",
        tmp.path().to_str().unwrap(),
    ]);
    let mut bytes = std::fs::read(p.trim()).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    let bad = tmp.path().join("bad.ptd.tar.zst");
    std::fs::write(&bad, &bytes).unwrap();
    let err = fails(&["eval", bad.to_str().unwrap(), "--theta", "1"]);
    assert!(err.contains("bad.ptd.tar.zst"), "{err}");
}

#[test]
fn bad_theta_gets_a_clear_error() {
    let model = repo("models/coalescent/two-island");
    let e = fails(&["eval", &model, "--theta", "1.0,-0.5"]);
    assert!(e.contains("negative rate") && e.contains("-0.5"), "{e}");
    let e = fails(&["eval", &model, "--theta", "1.0,0"]);
    assert!(e.contains("non-absorbing"), "{e}");
    let e = fails(&["eval", &model, "--theta", "1.0"]);
    assert!(e.contains("theta has 1 values but the model has 2"), "{e}");
    let e = fails(&["eval", &model, "--theta", "1.0,abc"]);
    assert!(e.contains("value 2 ('abc') is not a number"), "{e}");
    let e = fails(&["eval", &model]);
    assert!(e.contains("--theta is required"), "{e}");
    let e = fails(&["eval", &model, "--theta", "1,nan"]);
    assert!(e.contains("theta[1] = NaN is not a finite number"), "{e}");
}

#[test]
fn bad_graph_files_name_the_key_and_row() {
    let tmp = tempfile::tempdir().unwrap();
    let src = std::fs::read_to_string(repo("tests/fixtures/phasic/kingman-3.graph.json")).unwrap();
    let cases = [
        (
            "\"param_edges\": [[1.0, 2.0, 3.0]",
            "\"param_edges\": [[1.0, 9.0, 3.0]",
            "param_edges[0]",
            "out of range",
        ),
        (
            "\"param_edges\": [[1.0, 2.0, 3.0]",
            "\"param_edges\": [[1.0, 2.0, 3.0, 1.0]",
            "param_edges[0]",
            "coefficients",
        ),
        (
            "[[0], [3], [2], [1]]",
            "[[0], [3], [3], [1]]",
            "states[2]",
            "same state",
        ),
        (
            "\"param_edges\": [[1.0, 2.0, 3.0]",
            "\"param_edges\": [[1.0, 2.0, NaN]",
            "line 1",
            "NaN",
        ),
        (
            "\"start_edges\": [[1.0, 1.0]]",
            "\"start_edges\": [[1.0, -1.0]]",
            "start_edges[0]",
            "negative",
        ),
    ];
    for (from, to, place, what) in cases {
        assert!(src.contains(from), "fixture changed: {from}");
        let f = tmp.path().join("bad.json");
        std::fs::write(&f, src.replace(from, to)).unwrap();
        let e = fails(&["hash", f.to_str().unwrap()]);
        assert!(
            e.contains("bad.json") && e.contains(place) && e.contains(what),
            "{e}"
        );
    }
    // A file claiming four billion vertices is refused before anything is sized by the claim.
    let f = tmp.path().join("huge.json");
    assert!(src.contains("\"n_vertices\": 4"), "fixture changed");
    std::fs::write(
        &f,
        src.replace("\"n_vertices\": 4", "\"n_vertices\": 4000000000"),
    )
    .unwrap();
    let e = fails(&["hash", f.to_str().unwrap()]);
    assert!(
        e.contains("huge.json") && e.contains("n_vertices is 4000000000"),
        "{e}"
    );
    // No absorbing vertex reachable: 3 -> 2 -> 3.
    let f = tmp.path().join("trap.json");
    std::fs::write(&f, src.replace("[2.0, 3.0, 1.0]", "[2.0, 1.0, 1.0]")).unwrap();
    let e = fails(&["eval", f.to_str().unwrap(), "--theta", "1"]);
    assert!(e.contains("cannot reach an absorbing vertex"), "{e}");
}

#[test]
fn bad_recipes_name_the_file_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = write_recipe(tmp.path(), "coalescent/kingman", "samples = 1", &["theta"]);
    let e = fails(&["hash", &dir]);
    assert!(e.contains("model.toml") && e.contains("'samples'"), "{e}");
    std::fs::write(tmp.path().join("model.toml"), "[model]\nname = 3\n").unwrap();
    let e = fails(&["hash", &dir]);
    assert!(e.contains("model.toml") && e.contains("line 2"), "{e}");
    let e = fails(&["hash", &tmp.path().join("missing").display().to_string()]);
    assert!(e.contains("missing"), "{e}");
}

#[test]
fn every_model_in_the_repo_builds_and_evaluates() {
    let models = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models");
    let mut n = 0;
    for ns in std::fs::read_dir(&models).unwrap() {
        for m in std::fs::read_dir(ns.unwrap().path()).unwrap() {
            let dir = m.unwrap().path();
            let toml: toml::Table = std::fs::read_to_string(dir.join("model.toml"))
                .unwrap()
                .parse()
                .unwrap();
            let p = toml["model"]["parameters"].as_array().unwrap().len();
            let theta = vec!["0.7"; p].join(",");
            let v = moments(&ok(&[
                "eval",
                dir.to_str().unwrap(),
                "--theta",
                &theta,
                "--json",
            ]));
            assert!(
                v.iter().all(|x| x.is_finite() && *x > 0.0),
                "{dir:?}: {v:?}"
            );
            n += 1;
        }
    }
    assert!(n >= 6, "{n} models");
}

/// Runs `ptd` with `home` as `$PTD_HOME`, the given limits in the environment and at most 3 GB
/// of address space, so that an exploration without bounds ends in a failed allocation instead
/// of exhausting the machine.
fn ptd_bounded(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg("ulimit -v 3000000 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_ptd"))
        .args(args)
        .env("PTD_HOME", home)
        .env_remove("PTD_MAX_VERTICES")
        .env_remove("PTD_MAX_EDGES")
        .env_remove("PTD_MAX_MEMORY");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run ptd")
}

fn refused(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "should fail: {err}");
    assert!(
        !err.contains("panicked") && !err.contains("memory allocation"),
        "{err}"
    );
    err
}

#[test]
fn a_state_space_past_the_limits_stops_with_its_size_and_how_to_raise_the_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    // Within the documented range of arguments, but far too many states (partitions of 200).
    let big = write_recipe(
        &tmp.path().join("sfs"),
        "coalescent/block-counting",
        "samples = 200",
        &["theta"],
    );
    let model = format!("{big}/model.toml");
    let err = refused(&ptd_bounded(
        &home,
        &["eval", &big, "--theta", "1"],
        &[("PTD_MAX_VERTICES", "20000")],
    ));
    assert!(
        err.contains(&model)
            && err.contains("limit of 20000 vertices")
            && err.contains(" edges, about ")
            && err.contains("PTD_MAX_VERTICES")
            && err.contains("max-vertices"),
        "{err}"
    );
    // How large it got: past the limit by at most one state's transitions.
    let at: usize = err
        .split("(at ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no vertex count in: {err}"));
    assert!(at > 20000 && at < 20000 + 200 * 200, "{err}");

    // From config.toml; the other commands that explore stop the same way.
    std::fs::write(home.join("config.toml"), "[build]\nmax-vertices = 3000\n").unwrap();
    for args in [
        vec!["hash", big.as_str()],
        vec!["graph", "export", big.as_str()],
        vec!["build", big.as_str(), "-o", tmp.path().to_str().unwrap()],
    ] {
        let err = refused(&ptd_bounded(&home, &args, &[]));
        assert!(err.contains("limit of 3000 vertices"), "{args:?}: {err}");
    }
    assert!(
        !std::fs::read_dir(tmp.path()).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".tar.zst")),
        "a bundle was written"
    );
    // The environment wins over the file; memory and edges are bounded too.
    let err = refused(&ptd_bounded(
        &home,
        &["eval", &big, "--theta", "1"],
        &[
            ("PTD_MAX_VERTICES", "100000000"),
            ("PTD_MAX_MEMORY", "32MiB"),
        ],
    ));
    assert!(err.contains("limit of 32.0 MiB of memory"), "{err}");
    let err = refused(&ptd_bounded(
        &home,
        &["eval", &big, "--theta", "1"],
        &[("PTD_MAX_EDGES", "1000")],
    ));
    assert!(err.contains("limit of 1000 edges"), "{err}");
    // A bad value is named.
    let err = refused(&ptd_bounded(
        &home,
        &["eval", &big, "--theta", "1"],
        &[("PTD_MAX_VERTICES", "lots")],
    ));
    assert!(err.contains("PTD_MAX_VERTICES='lots'"), "{err}");
    std::fs::write(home.join("config.toml"), "[build]\nmax-memory = \"much\"\n").unwrap();
    let err = refused(&ptd_bounded(&home, &["hash", &big], &[]));
    assert!(
        err.contains("max-memory") && err.contains("'much'"),
        "{err}"
    );

    // A model within the limits evaluates as before.
    std::fs::write(home.join("config.toml"), "[build]\nmax-vertices = 100\n").unwrap();
    let small = write_recipe(
        &tmp.path().join("sfs10"),
        "coalescent/block-counting",
        "samples = 10",
        &["theta"],
    );
    let out = ptd_bounded(&home, &["eval", &small, "--theta", "1", "--json"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
