//! Reward-transformed moments, covariances and expected waiting times from the symbolic form,
//! checked against analytic results for the coalescent: Kingman's total branch length and the
//! site frequency spectrum of the block-counting coalescent.

mod support;

use ptd::eliminate::eliminate;
use ptd::graph::Graph;
use ptd::model::generate;

fn graph(generator: &str, samples: usize) -> Graph {
    let args: toml::Table = format!("samples = {samples}").parse().unwrap();
    generate(generator, &args).unwrap()
}

fn rel(a: f64, b: f64) -> f64 {
    ((a - b) / b).abs()
}

/// One reward per vertex id: `f(state)`.
fn rewards(g: &Graph, f: impl Fn(&[i32]) -> f64) -> Vec<f64> {
    (0..g.vertex_count()).map(|v| f(g.state(v))).collect()
}

/// Kingman's coalescent of `n` lineages, pair rate theta: while `k` lineages remain, the time
/// is exponential with rate theta C(k, 2). The total branch length `L = sum k T_k`.
#[test]
fn total_branch_length_under_kingman() {
    let n = 12;
    let g = graph("coalescent/kingman", n);
    let s = eliminate(&g);
    let lineages = rewards(&g, |st| f64::from(st[0]));
    for theta in [0.3, 1.0, 2.5] {
        let rate = |k: usize| theta * (k * (k - 1)) as f64 / 2.0;
        let el: f64 = (2..=n).map(|k| k as f64 / rate(k)).sum();
        let var_l: f64 = (2..=n).map(|k| (k * k) as f64 / rate(k).powi(2)).sum();
        let m = s.reward_moments(&[theta], &lineages, 2).unwrap();
        assert!(rel(m[0], el) < 1e-13, "{} vs {el}", m[0]);
        assert!(
            rel(m[1], var_l + el * el) < 1e-13,
            "{} vs {}",
            m[1],
            var_l + el * el
        );
        // Cov(T, L) = sum k Var(T_k); Var(T) = sum Var(T_k).
        let ones = vec![1.0; g.vertex_count()];
        let cov = s
            .reward_covariance(&[theta], &[ones.clone(), lineages.clone()])
            .unwrap();
        let var_t: f64 = (2..=n).map(|k| 1.0 / rate(k).powi(2)).sum();
        let cov_tl: f64 = (2..=n).map(|k| k as f64 / rate(k).powi(2)).sum();
        assert!(rel(cov[0][0], var_t) < 1e-12, "{} vs {var_t}", cov[0][0]);
        assert!(rel(cov[1][1], var_l) < 1e-12, "{} vs {var_l}", cov[1][1]);
        assert!(rel(cov[0][1], cov_tl) < 1e-12, "{} vs {cov_tl}", cov[0][1]);
        assert_eq!(cov[0][1], cov[1][0]);
        // Rewards of 1 are the absorption time.
        let t = s.reward_moments(&[theta], &ones, 3).unwrap();
        assert_eq!(t, s.moments(&[theta], 3).unwrap());
        // From the vertex with k lineages, the expected time left is sum_{j=2}^k 1/rate(j).
        let w = s.expected_waiting_time(&[theta], &ones).unwrap();
        for (v, &wv) in w.iter().enumerate().skip(1) {
            let k = g.state(v)[0] as usize;
            let want: f64 = (2..=k).map(|j| 1.0 / rate(j)).sum();
            if k >= 2 {
                assert!(rel(wv, want) < 1e-13, "k = {k}: {wv} vs {want}");
            } else {
                assert_eq!(wv, 0.0);
            }
        }
        assert!(rel(w[0], t[0]) < 1e-15);
        // Each state with k >= 2 lineages is visited once, for 1/rate(k) on average.
        let sojourn = s.expected_sojourn_time(&[theta]).unwrap();
        for (v, &sv) in sojourn.iter().enumerate().skip(1) {
            let k = g.state(v)[0] as usize;
            let want = if k >= 2 { 1.0 / rate(k) } else { 0.0 };
            assert!((sv - want).abs() <= 1e-14 * want, "k = {k}: {sv} vs {want}");
        }
    }
}

/// The expected site frequency spectrum: E[xi_i] = 2 / (i theta) for i = 1..n-1, with the
/// reward of class i the number of lineages subtending i samples.
#[test]
fn the_site_frequency_spectrum_of_the_block_counting_coalescent() {
    let n = 10;
    let g = graph("coalescent/block-counting", n);
    let s = eliminate(&g);
    let classes: Vec<Vec<f64>> = (1..n)
        .map(|i| rewards(&g, |st| f64::from(st[i - 1])))
        .collect();
    for theta in [0.5, 1.0, 3.0] {
        for (idx, r) in classes.iter().enumerate() {
            let i = idx + 1;
            let m = s.reward_moments(&[theta], r, 2).unwrap();
            let want = 2.0 / (i as f64 * theta);
            assert!(rel(m[0], want) < 1e-12, "E[xi_{i}] = {} vs {want}", m[0]);
        }
        // The covariance matrix's diagonal is each class's variance from its own moments.
        let cov = s.reward_covariance(&[theta], &classes).unwrap();
        for (idx, r) in classes.iter().enumerate() {
            let m = s.reward_moments(&[theta], r, 2).unwrap();
            let var = m[1] - m[0] * m[0];
            assert!(
                rel(cov[idx][idx], var) < 1e-11,
                "{} vs {var}",
                cov[idx][idx]
            );
        }
        // The classes add up to the total branch length: sum of all covariances = Var(L).
        let total: Vec<f64> = (0..g.vertex_count())
            .map(|v| classes.iter().map(|r| r[v]).sum())
            .collect();
        let ml = s.reward_moments(&[theta], &total, 2).unwrap();
        let var_l = ml[1] - ml[0] * ml[0];
        let sum: f64 = cov.iter().flatten().sum();
        assert!(rel(sum, var_l) < 1e-11, "{sum} vs {var_l}");
        let rate = |k: usize| theta * (k * (k - 1)) as f64 / 2.0;
        let want: f64 = (2..=n).map(|k| (k * k) as f64 / rate(k).powi(2)).sum();
        assert!(rel(var_l, want) < 1e-11, "{var_l} vs {want}");
        // Sojourn times dotted with any reward vector give its expectation: alpha U r.
        let sojourn = s.expected_sojourn_time(&[theta]).unwrap();
        for r in classes.iter().chain([&total]) {
            let dot: f64 = sojourn.iter().zip(r).skip(1).map(|(a, b)| a * b).sum();
            let m = s.reward_moments(&[theta], r, 1).unwrap();
            assert!(rel(dot, m[0]) < 1e-12, "{dot} vs {}", m[0]);
        }
    }
}

#[test]
fn rewards_of_the_wrong_length_or_not_finite_are_named() {
    let g = graph("coalescent/kingman", 4);
    let s = eliminate(&g);
    let e = s.reward_moments(&[1.0], &[1.0; 3], 1).unwrap_err();
    assert!(e.to_string().contains("one per vertex id"), "{e}");
    let mut r = vec![1.0; g.vertex_count()];
    r[2] = f64::NAN;
    let e = s.reward_moments(&[1.0], &r, 1).unwrap_err();
    assert!(e.to_string().contains("reward[2]"), "{e}");
}

/// On a graph with cycles (migration between two islands), the transposed solve behind the
/// sojourn times and the solve behind reward expectations must agree: alpha U r two ways.
#[test]
fn sojourn_times_and_expectations_agree_on_a_cyclic_graph() {
    let args: toml::Table = "samples1 = 3\nsamples2 = 2".parse().unwrap();
    let g = generate("coalescent/two-island", &args).unwrap();
    let s = eliminate(&g);
    assert!(
        s.dag().len() > g.edge_count(),
        "elimination work was needed"
    );
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    for theta in [[1.0, 0.5], [0.2, 3.0], [5.0, 0.01]] {
        let sojourn = s.expected_sojourn_time(&theta).unwrap();
        assert!(sojourn.iter().all(|&x| x >= 0.0));
        for _ in 0..5 {
            let r: Vec<f64> = (0..g.vertex_count()).map(|_| next()).collect();
            let dot: f64 = sojourn.iter().zip(&r).skip(1).map(|(a, b)| a * b).sum();
            let m = s.reward_moments(&theta, &r, 1).unwrap();
            assert!(rel(dot, m[0]) < 1e-12, "{dot} vs {}", m[0]);
        }
        let ones = vec![1.0; g.vertex_count()];
        let t = s.moments(&theta, 1).unwrap();
        let total: f64 = sojourn.iter().sum();
        assert!(rel(total, t[0]) < 1e-12, "{total} vs {}", t[0]);
        let w = s.expected_waiting_time(&theta, &ones).unwrap();
        assert!(rel(w[0], t[0]) < 1e-14);
    }
}

/// `ptd eval --rewards FILE --sojourn --json` on a model directory: the same analytic values,
/// from the command line, with rewards written against the exported graph's vertex ids.
#[test]
fn eval_reports_reward_moments_covariance_and_sojourn_times() {
    let tmp = tempfile::tempdir().unwrap();
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/coalescent/kingman");
    let ptd = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ptd"))
            .args(args)
            .env("PTD_HOME", tmp.path().join("home"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let graph = tmp.path().join("g.json");
    ptd(&[
        "graph",
        "export",
        model.to_str().unwrap(),
        "-o",
        graph.to_str().unwrap(),
    ]);
    let g: serde_json::Value = serde_json::from_slice(&std::fs::read(&graph).unwrap()).unwrap();
    let lineages: Vec<f64> = g["states"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s[0].as_f64().unwrap())
        .collect();
    let n = lineages.iter().copied().fold(0.0, f64::max) as usize;
    let file = tmp.path().join("r.json");
    std::fs::write(
        &file,
        serde_json::to_vec(&serde_json::json!({ "lineages": lineages })).unwrap(),
    )
    .unwrap();
    let theta = 2.0;
    let out = ptd(&[
        "eval",
        model.to_str().unwrap(),
        "--theta",
        "2",
        "--rewards",
        file.to_str().unwrap(),
        "--sojourn",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let rate = |k: usize| theta * (k * (k - 1)) as f64 / 2.0;
    let el: f64 = (2..=n).map(|k| k as f64 / rate(k)).sum();
    let var_l: f64 = (2..=n).map(|k| (k * k) as f64 / rate(k).powi(2)).sum();
    assert_eq!(v["rewards"][0]["name"], "lineages");
    let m = v["rewards"][0]["moments"].as_array().unwrap();
    assert!(rel(m[0].as_f64().unwrap(), el) < 1e-13, "{v}");
    assert!(rel(m[1].as_f64().unwrap(), var_l + el * el) < 1e-13, "{v}");
    assert!(
        rel(v["covariance"][0][0].as_f64().unwrap(), var_l) < 1e-12,
        "{v}"
    );
    let sojourn: f64 = v["sojourn"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .sum();
    let et: f64 = (2..=n).map(|k| 1.0 / rate(k)).sum();
    assert!(rel(sojourn, et) < 1e-13, "{v}");
    assert!(rel(v["moments"][0].as_f64().unwrap(), et) < 1e-13, "{v}");
    // A reward file of the wrong length is named.
    std::fs::write(&file, b"[1, 2]").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ptd"))
        .args(["eval", model.to_str().unwrap(), "--theta", "2"])
        .arg("--rewards")
        .arg(&file)
        .env("PTD_HOME", tmp.path().join("home"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("rewards 'rewards'") && err.contains("one per vertex id"),
        "{err}"
    );
}

/// `ptd eval NAME[@REQ]` evaluates an installed model from its bundle directory, checking its
/// files against the manifest first.
#[test]
fn eval_takes_an_installed_model_by_name() {
    let reg = support::HttpRegistry::new();
    reg.publish(&support::models().join("coalescent/kingman"));
    let user = support::User::new();
    user.ok(&[
        "install",
        "coalescent/kingman",
        "--registry",
        &reg.index_url(),
    ]);
    let out = user.ok(&["eval", "coalescent/kingman@1.2", "--theta", "2", "--json"]);
    let v = support::json(&out);
    let (m1, m2) = support::kingman_moments(10, 2.0);
    assert!(rel(v["moments"][0].as_f64().unwrap(), m1) < 1e-13, "{v}");
    assert!(rel(v["moments"][1].as_f64().unwrap(), m2) < 1e-13, "{v}");
    let err = user.fails(&["eval", "coalescent/nothing", "--theta", "2"]);
    assert!(
        err.contains("neither a file nor an installed model"),
        "{err}"
    );
    // A bundle file changed after install is refused, not evaluated: the DAG, read by every
    // evaluation, and the graph, read when a reward set is resolved over its states.
    let found = support::json(&user.ok(&["cache", "path", "coalescent/kingman", "--json"]));
    let bundle = std::path::Path::new(found[0]["bundle"].as_str().unwrap()).to_path_buf();
    let graph = bundle.join("graph.bin");
    let mut bytes = std::fs::read(&graph).unwrap();
    bytes.push(0);
    std::fs::write(&graph, bytes).unwrap();
    user.ok(&["eval", "coalescent/kingman", "--theta", "2"]);
    let err = user.fails(&[
        "eval",
        "coalescent/kingman",
        "--theta",
        "2",
        "--rewards",
        "lineages",
    ]);
    assert!(
        err.contains("graph.bin does not match its manifest entry"),
        "{err}"
    );
    let dag = bundle.join("dag.bin");
    let mut bytes = std::fs::read(&dag).unwrap();
    bytes[20] ^= 1;
    std::fs::write(&dag, bytes).unwrap();
    let err = user.fails(&["eval", "coalescent/kingman", "--theta", "2"]);
    assert!(
        err.contains("dag.bin does not match its manifest entry"),
        "{err}"
    );
}
