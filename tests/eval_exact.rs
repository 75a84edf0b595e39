//! Everything `ptd eval` computes, against exact values that `scripts/eval-fixtures.py` computes
//! from the graph files with mpmath (60 digits, matrix exponentials and dense inverses): moments,
//! reward moments, covariances, zero atoms, sojourn times, and the densities and distribution
//! functions of `T` and of rewarded totals, on the shipped models and on random cyclic and stiff
//! graphs. Densities must meet the documented bound (1e-9 relative where the value exceeds 1e-8
//! of its maximum, 1e-12 absolute elsewhere) with both methods.

mod support;

use ptd::eliminate::{Method, Symbolic, eliminate};
use ptd::graph::GraphFile;
use serde_json::Value;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn cases(dir: &str) -> Vec<(String, Value)> {
    let dir = root().join(dir);
    let mut out: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            (p.file_stem().unwrap().to_string_lossy().into_owned(), v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn symbolic(case: &Value) -> Symbolic {
    let g = GraphFile::read(&root().join(case["graph"].as_str().unwrap())).unwrap();
    eliminate(&g)
}

fn rel(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        a.abs()
    } else {
        ((a - b) / b).abs()
    }
}

/// The documented density bound, for one curve.
fn within_bound(what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}");
    let max = want.iter().copied().fold(0.0, f64::max);
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let ok = if w > 1e-8 * max {
            rel(g, w) <= 1e-9
        } else {
            (g - w).abs() <= 1e-12
        };
        assert!(ok, "{what}[{i}]: {g:e} vs exact {w:e} (max {max:e})");
    }
}

#[test]
fn every_quantity_matches_the_exact_fixtures() {
    let all = cases("tests/fixtures/eval");
    let names: Vec<&str> = all.iter().map(|c| c.0.as_str()).collect();
    for family in ["kingman", "block-counting", "two-island", "random", "stiff"] {
        assert!(
            names.iter().any(|n| n.starts_with(family)),
            "no fixture for {family}: {names:?}"
        );
    }
    let mut densities = 0;
    for (name, case) in &all {
        let s = symbolic(case);
        let theta = floats(&case["theta"]);
        let k = case["k"].as_u64().unwrap() as usize;
        let times = floats(&case["times"]);
        let moments = s.moments(&theta, k).unwrap();
        for (j, (&g, &w)) in moments.iter().zip(&floats(&case["moments"])).enumerate() {
            assert!(rel(g, w) < 1e-11, "{name}: E[T^{}] {g} vs {w}", j + 1);
        }
        let sojourn = s.expected_sojourn_time(&theta).unwrap();
        let want = floats(&case["sojourn"]);
        let top = want.iter().copied().fold(0.0, f64::max);
        for (v, (&g, &w)) in sojourn.iter().zip(&want).enumerate() {
            assert!(
                (g - w).abs() <= 1e-12 * top,
                "{name}: sojourn[{v}] {g} vs {w}"
            );
        }
        // T's density with the method ptd picks, and with each method.
        let d = s.density(&theta, &times).unwrap();
        within_bound(&format!("{name} pdf"), &d.pdf, &floats(&case["pdf"]));
        within_bound(&format!("{name} cdf"), &d.cdf, &floats(&case["cdf"]));
        let chain = s.chain(&theta).unwrap();
        let (uniform, dense) = chain.costs(&times);
        for (method, cost) in [(Method::Uniformization, uniform), (Method::Squaring, dense)] {
            if cost > 1e9 {
                continue; // the other method's case
            }
            let d = chain.density_with(&times, method);
            within_bound(
                &format!("{name} pdf {method:?}"),
                &d.pdf,
                &floats(&case["pdf"]),
            );
            within_bound(
                &format!("{name} cdf {method:?}"),
                &d.cdf,
                &floats(&case["cdf"]),
            );
        }
        densities += 1;
        // Rewarded totals.
        let rewards = case["rewards"].as_array().unwrap();
        let vectors: Vec<Vec<f64>> = rewards.iter().map(|r| floats(&r["vector"])).collect();
        for (r, v) in rewards.iter().zip(&vectors) {
            let rname = format!("{name} {}", r["name"].as_str().unwrap());
            let m = s.reward_moments(&theta, v, k).unwrap();
            for (j, (&g, &w)) in m.iter().zip(&floats(&r["moments"])).enumerate() {
                assert!(
                    (g - w).abs() <= 1e-11 * w.abs().max(1e-300),
                    "{rname}: E[Y^{}] {g} vs {w}",
                    j + 1
                );
            }
            let zero = s.zero_pattern(v).unwrap();
            let t = s.transform(&zero);
            let (atom, d) = s.reward_distribution(&theta, v, &t, &times).unwrap();
            let want_atom = r["zero_atom"].as_f64().unwrap();
            assert!(
                (atom - want_atom).abs() <= 1e-13 + 1e-12 * want_atom,
                "{rname}: P(Y = 0) {atom} vs {want_atom}"
            );
            within_bound(&format!("{rname} pdf"), &d.pdf, &floats(&r["pdf"]));
            within_bound(&format!("{rname} cdf"), &d.cdf, &floats(&r["cdf"]));
        }
        let means = s.reward_means(&theta, &vectors).unwrap();
        for ((r, &g), v) in rewards.iter().zip(&means).zip(&vectors) {
            let w = floats(&r["moments"])[0];
            assert!(
                (g - w).abs() <= 1e-11 * w.abs().max(1e-300),
                "{name}: mean {g} vs {w} ({v:?})"
            );
        }
        let cov = s.reward_covariance(&theta, &vectors).unwrap();
        let want: Vec<Vec<f64>> = case["covariance"]
            .as_array()
            .unwrap()
            .iter()
            .map(floats)
            .collect();
        for a in 0..vectors.len() {
            for b in 0..vectors.len() {
                let scale = (want[a][a] * want[b][b]).sqrt().max(1e-300);
                assert!(
                    (cov[a][b] - want[a][b]).abs() <= 1e-10 * scale,
                    "{name}: cov[{a}][{b}] {} vs {}",
                    cov[a][b],
                    want[a][b]
                );
            }
        }
    }
    assert!(densities >= 10, "only {densities} cases");
}

/// The site frequency spectrum of the block-counting coalescent is `E[xi_i] = 2 / (i theta)`,
/// and its fixtures say so too (an analytic check of the fixtures themselves).
#[test]
fn the_fixtures_sfs_is_two_over_i() {
    let mut seen = 0;
    for (name, case) in cases("tests/fixtures/eval") {
        if !name.starts_with("block-counting") {
            continue;
        }
        let theta = floats(&case["theta"])[0];
        for r in case["rewards"].as_array().unwrap() {
            let Some(i) = r["name"].as_str().unwrap().strip_prefix("xi_") else {
                continue;
            };
            let i: f64 = i.parse().unwrap();
            let m = floats(&r["moments"])[0];
            assert!(rel(m, 2.0 / (i * theta)) < 1e-14, "{name} xi_{i}: {m}");
            seen += 1;
        }
    }
    assert!(seen >= 10, "{seen}");
}

/// `ptd eval --times --rewards --json` prints what the library computes, on a fixture's graph.
#[test]
fn the_command_line_prints_densities_and_zero_atoms() {
    let all = cases("tests/fixtures/eval");
    let (name, case) = all
        .iter()
        .find(|c| c.0.starts_with("two-island"))
        .expect("a two-island fixture");
    let user = support::User::new();
    let rewards = user.dir.path().join("r.json");
    let vectors: Vec<Value> = case["rewards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["vector"].clone())
        .collect();
    std::fs::write(&rewards, serde_json::to_vec(&vectors).unwrap()).unwrap();
    let times: Vec<String> = floats(&case["times"])
        .iter()
        .map(|t| format!("{t:?}"))
        .collect();
    let theta: Vec<String> = floats(&case["theta"])
        .iter()
        .map(|t| format!("{t:?}"))
        .collect();
    let graph = root().join(case["graph"].as_str().unwrap());
    let theta = theta.join(",");
    let run = |extra: &[&str]| {
        let mut args = vec!["eval", graph.to_str().unwrap(), "--theta", &theta];
        args.extend_from_slice(extra);
        user.run_env(&args, &[])
    };
    let joined = times.join(",");
    let full = [
        "--rewards",
        rewards.to_str().unwrap(),
        "--times",
        &joined,
        "--moments",
        "3",
        "--json",
    ];
    let out = run(&full);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    within_bound(
        &format!("{name} cli pdf"),
        &floats(&got["pdf"]),
        &floats(&case["pdf"]),
    );
    within_bound(
        &format!("{name} cli cdf"),
        &floats(&got["cdf"]),
        &floats(&case["cdf"]),
    );
    for (g, w) in got["rewards"]
        .as_array()
        .unwrap()
        .iter()
        .zip(case["rewards"].as_array().unwrap())
    {
        let (a, b) = (
            g["zero_atom"].as_f64().unwrap(),
            w["zero_atom"].as_f64().unwrap(),
        );
        assert!((a - b).abs() <= 1e-13 + 1e-12 * b, "{name}: {a} vs {b}");
        within_bound(
            &format!("{name} cli reward pdf"),
            &floats(&g["pdf"]),
            &floats(&w["pdf"]),
        );
    }
    // The transforms are now in tier 1; a second run reads them and prints the same bytes.
    let transforms = user.phasic_cache().join("symbolic/transforms");
    let stored = std::fs::read_dir(&transforms).unwrap().count();
    assert!(stored >= 1, "{}", transforms.display());
    let again = run(&full);
    assert_eq!(again.stdout, out.stdout);
    // A damaged transform is rebuilt, never used.
    for e in std::fs::read_dir(&transforms).unwrap().flatten() {
        let mut b = std::fs::read(e.path()).unwrap();
        let last = b.len() - 1;
        b[last] ^= 0xff;
        std::fs::write(e.path(), b).unwrap();
    }
    let third = run(&full);
    assert_eq!(third.stdout, out.stdout);
    // Bad input names what is wrong.
    for (extra, says) in [
        (vec!["--times", "1,-2"], "value 2"),
        (vec!["--times", "1,nan"], "value 2"),
        (vec!["--times", "x"], "not a number"),
    ] {
        let out = run(&extra);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{extra:?}: {err}");
    }
    let mut negative = vectors[0].clone();
    negative[1] = Value::from(-1.0);
    std::fs::write(&rewards, serde_json::to_vec(&vec![negative]).unwrap()).unwrap();
    let out = run(&["--rewards", rewards.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("reward[1] = -1 is negative"),
        "{err}"
    );
}

/// Where phasic 0.32.1 is exact (moments with rewards, variances, covariances), ptd gives its
/// numbers too (`tests/fixtures/eval/phasic/`, written by phasic itself).
#[test]
fn reward_moments_and_covariances_equal_phasics() {
    let all = cases("tests/fixtures/eval/phasic");
    assert!(all.len() >= 10, "{}", all.len());
    for (name, case) in all.iter().filter(|c| !c.0.starts_with("dph")) {
        let s = symbolic(case);
        let theta = floats(&case["theta"]);
        let rewards = case["rewards"].as_array().unwrap();
        let exact = cases("tests/fixtures/eval")
            .into_iter()
            .find(|c| &c.0 == name)
            .unwrap_or_else(|| panic!("no exact case {name}"))
            .1;
        let vectors: Vec<Vec<f64>> = exact["rewards"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| floats(&r["vector"]))
            .collect();
        assert_eq!(vectors.len(), rewards.len(), "{name}");
        let close = |a: f64, b: f64, scale: f64| (a - b).abs() <= 1e-10 * scale.max(1e-300);
        for (r, v) in rewards.iter().zip(&vectors) {
            let want = floats(&r["moments"]);
            let got = s.reward_moments(&theta, v, want.len()).unwrap();
            for (j, (&g, &w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    close(g, w, w.abs()),
                    "{name} {}: E[Y^{}] {g} vs phasic {w}",
                    r["name"],
                    j + 1
                );
            }
            let var = r["variance"].as_f64().unwrap();
            assert!(
                close(got[1] - got[0] * got[0], var, got[1]),
                "{name} {}: Var {var}",
                r["name"]
            );
        }
        let cov = s.reward_covariance(&theta, &vectors).unwrap();
        for (a, row) in case["covariance"].as_array().unwrap().iter().enumerate() {
            for (b, w) in floats(row).iter().enumerate() {
                let scale = (cov[a][a] * cov[b][b]).sqrt();
                assert!(
                    close(cov[a][b], *w, scale),
                    "{name}: cov[{a}][{b}] {} vs phasic {w}",
                    cov[a][b]
                );
            }
        }
        let m = s.moments(&theta, 3).unwrap();
        for (&g, w) in m.iter().zip(floats(&case["moments"])) {
            assert!(close(g, w, w), "{name}: {g} vs phasic {w}");
        }
    }
}

/// Discrete graphs: the pmf and distribution function of the number of steps, its raw moments,
/// and the means and variances of rewarded totals, against `tests/fixtures/eval/dph/`. The
/// graph files are phasic's layout, which has no discrete flag: ptd's `"discrete": true` marks
/// them.
#[test]
fn discrete_graphs_match_the_exact_fixtures() {
    let all = cases("tests/fixtures/eval/dph");
    assert!(all.len() >= 4, "{}", all.len());
    for (name, case) in &all {
        assert_eq!(case["discrete"], Value::Bool(true));
        let path = root().join(case["graph"].as_str().unwrap());
        let mut file: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let continuous = GraphFile::parse(&file.to_string(), name).unwrap();
        file["discrete"] = Value::Bool(true);
        let g = GraphFile::parse(&file.to_string(), name).unwrap();
        assert!(g.is_discrete());
        // The flag is hash bit 1, as phasic's was_dph; it survives a write and a read.
        assert_ne!(
            ptd::hash::phasic_hash(&g),
            ptd::hash::phasic_hash(&continuous)
        );
        let back = GraphFile::parse(
            std::str::from_utf8(&GraphFile::to_bytes(&g)).unwrap(),
            "written",
        )
        .unwrap();
        assert!(back.is_discrete());
        let s = eliminate(&g);
        let theta = floats(&case["theta"]);
        // The symbolic form keeps the flag through its file, and belongs to the graph.
        let read = Symbolic::from_bytes(&s.to_bytes(), "dag.json").unwrap();
        assert!(read.is_discrete());
        read.check_graph(&g, std::slice::from_ref(&theta), 7)
            .unwrap();
        assert!(
            eliminate(&continuous)
                .check_graph(&g, std::slice::from_ref(&theta), 7)
                .is_err()
        );
        let steps = floats(&case["steps"]);
        let d = s.pmf(&theta, &steps).unwrap();
        within_bound(&format!("{name} pmf"), &d.pdf, &floats(&case["pmf"]));
        within_bound(&format!("{name} cdf"), &d.cdf, &floats(&case["cdf"]));
        let k = case["k"].as_u64().unwrap() as usize;
        let m = s.moments(&theta, k).unwrap();
        for (j, (&g, &w)) in m.iter().zip(&floats(&case["moments"])).enumerate() {
            assert!(rel(g, w) < 1e-12, "{name}: E[K^{}] {g} vs {w}", j + 1);
        }
        let var = case["variance"].as_f64().unwrap();
        assert!(
            rel(m[1] - m[0] * m[0], var) < 1e-11,
            "{name}: Var K vs {var}"
        );
        let rewards = case["rewards"].as_array().unwrap();
        let vectors: Vec<Vec<f64>> = rewards.iter().map(|r| floats(&r["vector"])).collect();
        let cov = s.reward_covariance(&theta, &vectors).unwrap();
        for (i, (r, v)) in rewards.iter().zip(&vectors).enumerate() {
            let m = s.reward_moments(&theta, v, 2).unwrap();
            let (mean, second) = (
                r["mean"].as_f64().unwrap(),
                r["second_moment"].as_f64().unwrap(),
            );
            assert!(
                rel(m[0], mean) < 1e-12,
                "{name} {}: mean {} vs {mean}",
                r["name"],
                m[0]
            );
            assert!(
                rel(m[1], second) < 1e-11,
                "{name} {}: E[Y^2] {} vs {second}",
                r["name"],
                m[1]
            );
            let var = r["variance"].as_f64().unwrap();
            assert!(
                rel(cov[i][i], var) < 1e-10,
                "{name} {}: cov {} vs {var}",
                r["name"],
                cov[i][i]
            );
        }
        // Continuous-time densities are refused for a discrete graph; steps must be whole.
        assert!(s.density(&theta, &[1.0]).is_err());
        assert!(s.pmf(&theta, &[1.5]).is_err());
    }
}
