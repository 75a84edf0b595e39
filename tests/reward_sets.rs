//! Named reward sets: the generators' own (block-counting's `sfs`, two-island's `lineages`),
//! those a recipe declares, what a bundle keeps of them, `ptd eval --rewards NAME` and
//! `ptd info`; declarations that do not fit the graph; bundles without sets.

mod support;

use std::path::{Path, PathBuf};
use support::{HttpRegistry, User, json, rel_err};

/// A model directory in `dir` with this recipe body after `[model]`.
fn recipe(dir: &Path, name: &str, parameters: &str, body: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("model.toml"),
        format!(
            "[model]\nname = \"{name}\"\nversion = \"1.0.0\"\ndescription = \"test\"\nlicense = \"CC0-1.0\"\nparameters = {parameters}\n\n{body}"
        ),
    )
    .unwrap();
    dir.to_path_buf()
}

fn block_counting(dir: &Path, samples: u32) -> PathBuf {
    recipe(
        dir,
        "lab/sfs",
        "[\"theta\"]",
        &format!(
            "[generator]\nname = \"coalescent/block-counting\"\nargs = {{ samples = {samples} }}\n"
        ),
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Builds `input` into `out` and returns the archive's path.
fn build(user: &User, input: &Path, out: &Path) -> PathBuf {
    let o = user.ok(&["build", s(input), "-o", s(out), "-q"]);
    PathBuf::from(String::from_utf8(o.stdout).unwrap().trim())
}

/// Each rewarded total's name and moments, and their covariance matrix.
type Evaluated = (Vec<(String, Vec<f64>)>, Vec<Vec<f64>>);

/// `ptd eval ... --json`: each rewarded total's name and moments, and the covariance matrix.
fn eval_rewards(user: &User, args: &[&str]) -> Evaluated {
    let mut all = vec!["eval"];
    all.extend_from_slice(args);
    all.push("--json");
    let v = json(&user.ok(&all));
    let floats = |x: &serde_json::Value| -> Vec<f64> {
        x.as_array()
            .unwrap()
            .iter()
            .map(|y| y.as_f64().unwrap())
            .collect()
    };
    let rewards = v["rewards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                floats(&r["moments"]),
            )
        })
        .collect();
    let cov = v["covariance"]
        .as_array()
        .unwrap()
        .iter()
        .map(floats)
        .collect();
    (rewards, cov)
}

#[test]
fn block_counting_carries_the_sfs_and_evaluates_it_by_name() {
    let user = User::new();
    let dir = block_counting(&user.dir.path().join("bc"), 6);
    let a = build(&user, &dir, &user.dir.path().join("a"));
    let b = build(&user, &dir, &user.dir.path().join("b"));
    // Deterministic: the same recipe gives the same bytes.
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    let bundle = ptd::bundle::read(&a).unwrap();
    let files: Vec<&str> = bundle
        .manifest
        .files
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(files, ["meta.json", "graph.bin", "dag.bin", "rewards.json"]);
    assert_eq!(bundle.rewards.names(), ["sfs"]);
    let sfs = bundle.rewards.get("sfs").unwrap();
    assert_eq!(sfs.len(), 5);
    assert_eq!(sfs.labels, ["xi_1", "xi_2", "xi_3", "xi_4", "xi_5"]);
    assert_eq!(
        sfs.values,
        ptd::model::rewards::Values::Columns(vec![0, 1, 2, 3, 4])
    );
    // E[xi_i] = 2 / (i theta), from the bundle and from the model directory alike.
    for input in [&a, &dir] {
        for theta in [1.0, 2.5] {
            let t = theta.to_string();
            let (rewards, cov) =
                eval_rewards(&user, &[s(input), "--theta", &t, "--rewards", "sfs"]);
            assert_eq!(rewards.len(), 5);
            for (idx, (name, m)) in rewards.iter().enumerate() {
                let i = idx + 1;
                assert_eq!(name, &format!("xi_{i}"));
                let want = 2.0 / (i as f64 * theta);
                assert!(
                    rel_err(m[0], want) < 1e-12,
                    "E[xi_{i}] = {} vs {want}",
                    m[0]
                );
            }
            assert_eq!(cov.len(), 5);
        }
    }
    // The set is what a rewards file of the same columns gives.
    let g = bundle.graph;
    let file = user.dir.path().join("sfs.json");
    let vectors: Vec<Vec<f64>> = (0..5)
        .map(|c| {
            (0..g.vertex_count())
                .map(|v| f64::from(g.state(v)[c]))
                .collect()
        })
        .collect();
    std::fs::write(&file, serde_json::to_vec(&vectors).unwrap()).unwrap();
    let by_file = eval_rewards(&user, &[s(&a), "--theta", "1.5", "--rewards", s(&file)]);
    let by_name = eval_rewards(&user, &[s(&a), "--theta", "1.5", "--rewards", "sfs"]);
    assert_eq!(by_file.1, by_name.1);
    for ((_, x), (_, y)) in by_file.0.iter().zip(&by_name.0) {
        assert_eq!(x, y);
    }
    // A name that is neither a file nor a set lists the sets.
    let err = user.fails(&["eval", s(&a), "--theta", "1", "--rewards", "sfs2"]);
    assert!(
        err.contains(
            "'sfs2' is neither a rewards file nor a reward set of lab/sfs (its reward sets: sfs)"
        ),
        "{err}"
    );
}

/// Two islands' lineage counts add up to all lineages: their totals' moments and covariances
/// give the total branch length's, computed from a rewards file of the summed vector.
#[test]
fn the_two_island_lineages_add_up_to_the_total_branch_length() {
    let user = User::new();
    let dir = recipe(
        &user.dir.path().join("ti"),
        "lab/islands",
        "[\"coalescence\", \"migration\"]",
        "[generator]\nname = \"coalescent/two-island\"\nargs = { samples1 = 3, samples2 = 2 }\n",
    );
    let graph = user.dir.path().join("graph.json");
    user.ok(&["graph", "export", s(&dir), "-o", s(&graph)]);
    let g = ptd::graph::GraphFile::parse(&std::fs::read_to_string(&graph).unwrap(), "graph.json")
        .unwrap();
    let total: Vec<f64> = (0..g.vertex_count())
        .map(|v| f64::from(g.state(v)[0] + g.state(v)[1]))
        .collect();
    let file = user.dir.path().join("total.json");
    std::fs::write(&file, serde_json::to_vec(&total).unwrap()).unwrap();
    for theta in ["1,0.5", "0.3,4"] {
        let (sets, cov) = eval_rewards(
            &user,
            &[
                s(&dir),
                "--theta",
                theta,
                "--rewards",
                "lineages",
                "--moments",
                "2",
            ],
        );
        let names: Vec<&str> = sets.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["island1", "island2"]);
        let (l, var) = eval_rewards(
            &user,
            &[
                s(&dir),
                "--theta",
                theta,
                "--rewards",
                s(&file),
                "--moments",
                "2",
            ],
        );
        let el = l[0].1[0];
        let var_l = var[0][0];
        assert!(
            rel_err(sets[0].1[0] + sets[1].1[0], el) < 1e-12,
            "{sets:?} vs {el}"
        );
        let sum: f64 = cov.iter().flatten().sum();
        assert!(rel_err(sum, var_l) < 1e-12, "{sum} vs {var_l}");
        assert!(rel_err(l[0].1[1] - el * el, var_l) < 1e-12);
        // Neither island alone is the whole.
        assert!(sets[0].1[0] > 0.0 && sets[1].1[0] > 0.0 && sets[0].1[0] < el);
    }
}

#[test]
fn info_lists_the_sets_of_a_model_a_bundle_and_an_installed_version() {
    let user = User::new();
    let dir = block_counting(&user.dir.path().join("bc"), 4);
    let bundle = build(&user, &dir, &user.dir.path().join("out"));
    for input in [&dir, &bundle] {
        let out = user.ok(&["info", s(input)]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("sfs (3 vectors, state columns 0, 1, 2): xi_1, xi_2, xi_3"),
            "{text}"
        );
        let v = json(&user.ok(&["info", s(input), "--json"]));
        assert_eq!(v["name"], "lab/sfs");
        assert_eq!(v["reward_sets"][0]["name"], "sfs");
        assert_eq!(v["reward_sets"][0]["count"], 3);
        assert_eq!(
            v["reward_sets"][0]["labels"],
            serde_json::json!(["xi_1", "xi_2", "xi_3"])
        );
    }
    assert_eq!(
        json(&user.ok(&["info", s(&dir), "--json"]))["kind"],
        "recipe"
    );
    // A generator without sets, and a bare graph file, have none.
    let erlang = support::models().join("reliability/erlang");
    let v = json(&user.ok(&["info", s(&erlang), "--json"]));
    assert_eq!(v["reward_sets"], serde_json::json!([]));
    let text = String::from_utf8_lossy(&user.ok(&["info", s(&erlang)]).stdout).into_owned();
    assert!(text.contains("reward sets: none"), "{text}");

    // Published, installed, listed and evaluated by name.
    let reg = HttpRegistry::new();
    reg.publish(&dir);
    let url = reg.index_url();
    let v = json(&user.ok(&["info", "lab/sfs", "--registry", &url, "--json"]));
    assert!(v.get("reward_sets").is_none(), "not installed yet: {v}");
    user.ok(&["install", "lab/sfs", "--registry", &url]);
    let v = json(&user.ok(&["info", "lab/sfs", "--registry", &url, "--json"]));
    assert_eq!(v["reward_sets"][0]["name"], "sfs");
    assert_eq!(v["reward_sets"][0]["count"], 3);
    let out = user.ok(&["info", "lab/sfs", "--registry", &url]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("sfs (3 vectors"), "{text}");
    let (rewards, _) = eval_rewards(&user, &["lab/sfs", "--theta", "2", "--rewards", "sfs"]);
    for (idx, (_, m)) in rewards.iter().enumerate() {
        let want = 2.0 / ((idx + 1) as f64 * 2.0);
        assert!(rel_err(m[0], want) < 1e-12, "{} vs {want}", m[0]);
    }
    let v = json(&user.ok(&["verify", "--json"]));
    assert_eq!(v["problems"], serde_json::json!([]), "{v}");
    // An altered rewards.json in the store is noticed, and repaired from the archive.
    let dir = json(&user.ok(&["cache", "path", "lab/sfs", "--json"]))[0]["bundle"]
        .as_str()
        .unwrap()
        .to_string();
    let file = Path::new(&dir).join("rewards.json");
    let honest = std::fs::read(&file).unwrap();
    let altered = String::from_utf8(honest.clone())
        .unwrap()
        .replace("[0,1,2]", "[2,1,0]");
    assert_ne!(altered.as_bytes(), honest.as_slice());
    std::fs::write(&file, altered).unwrap();
    let err = user.fails(&["eval", "lab/sfs", "--theta", "1", "--rewards", "sfs"]);
    assert!(
        err.contains("rewards.json does not match its manifest entry"),
        "{err}"
    );
    let err = user.fails(&["info", "lab/sfs", "--registry", &url]);
    assert!(
        err.contains("rewards.json does not match its manifest entry"),
        "{err}"
    );
    let out = user
        .cmd(user.dir.path(), &["verify", "--json"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let v = json(&out);
    let problems = v["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{v}");
    assert_eq!(problems[0]["path"], file.display().to_string());
    user.ok(&["cache", "verify", "--repair"]);
    assert_eq!(std::fs::read(&file).unwrap(), honest);
    user.ok(&["eval", "lab/sfs", "--theta", "1", "--rewards", "sfs"]);
}

/// The embedded default registry was built before reward sets: its bundles have none, still
/// rebuild offline to their signed content hashes, and evaluate.
#[test]
fn bundles_without_sets_still_install_and_evaluate() {
    let user = User::new();
    let out = user.ok(&[
        "--offline",
        "install",
        "coalescent/kingman@=1.2.1",
        "--json",
    ]);
    let v = json(&out);
    assert_eq!(v["installed"][0]["action"], "rebuilt");
    let v = json(&user.ok(&["--offline", "info", "coalescent/kingman@=1.2.1", "--json"]));
    assert_eq!(v["selected"], "1.2.1");
    assert_eq!(v["reward_sets"], serde_json::json!([]));
    let err = user.fails(&[
        "eval",
        "coalescent/kingman@=1.2.1",
        "--theta",
        "1",
        "--rewards",
        "lineages",
    ]);
    assert!(err.contains("it has no named reward sets"), "{err}");
    // The same recipe built today carries Kingman's `lineages`; its total is the total branch
    // length, E[L] = sum_{k=2}^{n} k / C(k, 2) = 2 H_{n-1} at theta 1.
    let (rewards, _) = eval_rewards(
        &user,
        &[
            s(&support::models().join("coalescent/kingman")),
            "--theta",
            "1",
            "--rewards",
            "lineages",
        ],
    );
    let want: f64 = 2.0 * (1..10).map(|k| 1.0 / k as f64).sum::<f64>();
    assert_eq!(rewards[0].0, "lineages");
    assert!(
        rel_err(rewards[0].1[0], want) < 1e-12,
        "{rewards:?} vs {want}"
    );
}

/// A graph-file recipe with a set of columns and a set from a rewards file.
fn graph_recipe(user: &User, body: &str, rewards_json: Option<&str>) -> PathBuf {
    let dir = user.dir.path().join("gf");
    std::fs::create_dir_all(&dir).unwrap();
    user.ok(&[
        "graph",
        "export",
        s(&support::models().join("coalescent/two-island")),
        "-o",
        s(&dir.join("graph.json")),
    ]);
    if let Some(r) = rewards_json {
        std::fs::write(dir.join("rewards.json"), r).unwrap();
    }
    recipe(
        &dir,
        "lab/graph",
        "[\"coalescence\", \"migration\"]",
        &format!("[graph]\nfile = \"graph.json\"\n\n{body}"),
    )
}

fn vertex_count(dir: &Path) -> usize {
    let text = std::fs::read_to_string(dir.join("graph.json")).unwrap();
    ptd::graph::GraphFile::parse(&text, "graph.json")
        .unwrap()
        .vertex_count()
}

#[test]
fn a_graph_file_recipe_declares_sets_of_columns_and_from_a_file() {
    let user = User::new();
    let dir = graph_recipe(&user, "", None);
    let n = vertex_count(&dir);
    let custom: Vec<f64> = (0..n).map(|v| (v % 3) as f64 * 0.5).collect();
    let doubled: Vec<f64> = custom.iter().map(|x| 2.0 * x).collect();
    let file = serde_json::json!({"b": doubled, "a": custom}).to_string();
    let dir = graph_recipe(
        &user,
        "[rewards.islands]\ncolumns = [1, 0]\nlabels = [\"second\", \"first\"]\n\n[rewards.custom]\nfile = \"rewards.json\"\n\n[rewards.one]\ncolumns = [0]\n",
        Some(&file),
    );
    let v = json(&user.ok(&["info", s(&dir), "--json"]));
    let sets = v["reward_sets"].as_array().unwrap();
    let names: Vec<&str> = sets.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["custom", "islands", "one"], "name order");
    assert_eq!(sets[0]["labels"], serde_json::json!(["a", "b"]));
    assert!(sets[0].get("columns").is_none());
    assert_eq!(sets[1]["columns"], serde_json::json!([1, 0]));
    assert_eq!(sets[2]["labels"], serde_json::json!(["one"]));
    let bundle_path = build(&user, &dir, &user.dir.path().join("out"));
    let again = build(&user, &dir, &user.dir.path().join("again"));
    assert_eq!(
        std::fs::read(&bundle_path).unwrap(),
        std::fs::read(&again).unwrap()
    );
    let bundle = ptd::bundle::read(&bundle_path).unwrap();
    let r = bundle.rewards.get("custom").unwrap().resolve(&bundle.graph);
    assert_eq!(r.vectors[0], custom);
    // The declared file evaluates as the file itself does; the columns as the generator's.
    let file_path = dir.join("rewards.json");
    let by_set = eval_rewards(
        &user,
        &[s(&bundle_path), "--theta", "1,2", "--rewards", "custom"],
    );
    let by_file = eval_rewards(
        &user,
        &[s(&dir), "--theta", "1,2", "--rewards", s(&file_path)],
    );
    assert_eq!(by_set, by_file);
    let generated = support::models().join("coalescent/two-island");
    let (islands, _) = eval_rewards(
        &user,
        &[s(&bundle_path), "--theta", "1,2", "--rewards", "islands"],
    );
    let (lineages, _) = eval_rewards(
        &user,
        &[s(&generated), "--theta", "1,2", "--rewards", "lineages"],
    );
    assert_eq!(islands[0].0, "second");
    assert_eq!(islands[0].1, lineages[1].1);
    assert_eq!(islands[1].1, lineages[0].1);
}

#[test]
fn declarations_that_do_not_fit_are_named() {
    let user = User::new();
    let dir = graph_recipe(&user, "", None);
    let n = vertex_count(&dir);
    let ok_vector = serde_json::to_string(&vec![1.0; n]).unwrap();
    let mut negative = vec![1.0; n];
    negative[2] = -0.5;
    let negative = serde_json::to_string(&negative).unwrap();
    let short = serde_json::to_string(&vec![1.0; n - 1]).unwrap();
    let cases: Vec<(&str, Option<String>, Vec<String>)> = vec![
        (
            "[rewards.x]\ncolumns = [0, 2]\n",
            None,
            vec![
                "field 'rewards.x.columns'".into(),
                "column 2 is out of range: the graph's states have 2 entries".into(),
            ],
        ),
        (
            "[rewards.x]\ncolumns = [-1]\n",
            None,
            vec![
                "field 'rewards.x.columns'".into(),
                "-1 is not a state column".into(),
            ],
        ),
        (
            "[rewards.x]\ncolumns = []\n",
            None,
            vec!["field 'rewards.x.columns': lists no column".into()],
        ),
        (
            "[rewards.x]\nfile = \"rewards.json\"\n",
            Some(short),
            vec![
                "field 'rewards.x.file'".into(),
                format!(
                    "vector 'x': {} values, but the graph has {n} vertex ids",
                    n - 1
                ),
            ],
        ),
        (
            "[rewards.x]\nfile = \"rewards.json\"\n",
            Some(negative),
            vec![
                "field 'rewards.x.file'".into(),
                "[2] = -0.5: rewards must be finite and non-negative".into(),
            ],
        ),
        (
            "[rewards.x]\nfile = \"rewards.json\"\n",
            Some(format!("[{}1e999]", "1, ".repeat(n - 1))),
            vec!["field 'rewards.x.file'".into()],
        ),
        (
            "[rewards.x]\nfile = \"missing.json\"\n",
            None,
            vec![
                "field 'rewards.x.file'".into(),
                "missing.json: cannot read it".into(),
            ],
        ),
        ("[rewards.x]\ncolums = [0]\n", None, vec!["colums".into()]),
        (
            "[rewards.x]\ncolumns = [0]\nfile = \"rewards.json\"\n",
            Some(ok_vector.clone()),
            vec!["field 'rewards.x': give exactly one of columns".into()],
        ),
        (
            "[rewards.x]\ncolumns = [0, 1]\nlabels = [\"a\"]\n",
            None,
            vec!["field 'rewards.x.labels': 1 label(s) for 2 column(s)".into()],
        ),
        (
            "[rewards.x]\nfile = \"rewards.json\"\nlabels = [\"a\", \"b\"]\n",
            Some(ok_vector.clone()),
            vec!["field 'rewards.x.labels': 2 label(s) for the 1 vector(s)".into()],
        ),
        (
            "[rewards.x]\ncolumns = [0, 1]\nlabels = [\"a\", \"a\"]\n",
            None,
            vec!["field 'rewards.x.labels': label 'a' appears twice".into()],
        ),
        (
            "[rewards.\"1x\"]\ncolumns = [0]\n",
            None,
            vec!["field 'rewards.1x'".into(), "not a reward set name".into()],
        ),
    ];
    for (body, file, wants) in cases {
        let _ = std::fs::remove_file(dir.join("rewards.json"));
        let dir = graph_recipe(&user, body, file.as_deref());
        let err = user.fails(&["build", s(&dir), "-o", s(&user.dir.path().join("out"))]);
        let toml = dir.join("model.toml");
        assert!(
            err.starts_with(&format!("error: {}: ", toml.display())),
            "{body}: {err}"
        );
        for want in wants {
            assert!(err.contains(&want), "{body}: {err} lacks {want}");
        }
    }
    // A generator's own set name cannot be declared again.
    let bc = block_counting(&user.dir.path().join("bc"), 4);
    let text = std::fs::read_to_string(bc.join("model.toml")).unwrap();
    std::fs::write(
        bc.join("model.toml"),
        format!("{text}\n[rewards.sfs]\ncolumns = [0]\n"),
    )
    .unwrap();
    let err = user.fails(&["build", s(&bc)]);
    assert!(
        err.contains("field 'rewards.sfs': the generator 'coalescent/block-counting' provides a reward set of this name already"),
        "{err}"
    );
}

/// A bundle whose `rewards.json` does not fit its graph is refused, though its files match its
/// manifest.
#[test]
fn a_bundle_with_sets_that_do_not_fit_its_graph_is_refused() {
    use ptd::model::rewards::{RewardSet, RewardSets, Values};
    let input = ptd::input::Input::open(&support::models().join("coalescent/kingman")).unwrap();
    let g = input.graph().unwrap();
    let s = ptd::eliminate::eliminate(g);
    let check = |sets: RewardSets| {
        let b = ptd::bundle::build_with_rewards(input.meta(), g, &s, &sets);
        ptd::bundle::unpack(&b.pack(), "x.ptd.tar.zst").map(|b| b.rewards)
    };
    let fine = RewardSets {
        sets: vec![RewardSet::columns("k", &[("k".into(), 0)])],
    };
    assert_eq!(check(fine.clone()).unwrap(), fine);
    let e = check(RewardSets {
        sets: vec![RewardSet::columns("k", &[("k".into(), 1)])],
    })
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("x.ptd.tar.zst:rewards.json: reward set 'k': column 1 is out of range")
            && e.to_string().contains("do not fit the bundle's graph"),
        "{e}"
    );
    let e = check(RewardSets {
        sets: vec![RewardSet {
            name: "v".into(),
            labels: vec!["v".into()],
            values: Values::Vectors(vec![vec![1.0; 2]]),
        }],
    })
    .unwrap_err();
    assert!(e.to_string().contains("vector 'v': 2 values"), "{e}");
    // Without sets the bundle is what it always was: no rewards.json.
    let plain = ptd::bundle::build_with_rewards(input.meta(), g, &s, &RewardSets::default());
    assert_eq!(plain.pack(), ptd::bundle::build(input.meta(), g).pack());
    assert!(plain.payload("rewards.json").is_none());
}
