//! The default registry compiled into ptd: its index is valid and signed, every version it lists
//! rebuilds from its recipe to the recorded content hash, and `ptd install` works with no network.

mod support;

use ptd::index::registry::{KeyTrust, Registry};
use ptd::index::source::{EMBEDDED_INDEX, EMBEDDED_MODELS};
use ptd::index::{IndexSource, RegistryConfig};
use ptd::model::Recipe;
use support::{User, kingman_moments, rel_err};

fn open_embedded() -> Registry {
    let state = tempfile::tempdir().unwrap();
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(Registry::open(
            IndexSource::Embedded,
            KeyTrust::Builtin,
            state.path(),
            std::time::SystemTime::now(),
        ))
        .unwrap()
}

#[test]
fn every_listed_version_rebuilds_to_its_content_hash() {
    let reg = open_embedded();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let names = reg.model_names();
    // Every model under models/ is listed.
    let mut recipes = 0;
    for f in support::walk(&support::models()) {
        if f.file_name().unwrap() == "model.toml" {
            recipes += 1;
            let r = Recipe::read(&f).unwrap();
            assert!(
                names.contains(&r.meta.name),
                "{} is not in the index",
                r.meta.name
            );
        }
    }
    let mut versions = std::collections::BTreeSet::new();
    for name in &names {
        for e in rt.block_on(reg.entries(name)).unwrap() {
            versions.insert((e.name.clone(), e.version.clone()));
            let recipe = e
                .recipe
                .as_deref()
                .expect("the default registry records recipes");
            let text = EMBEDDED_MODELS
                .get_file(recipe)
                .and_then(|f| f.contents_utf8())
                .unwrap();
            // The compiled-in recipe is the one in the repository.
            let path = support::models().join(recipe);
            assert_eq!(text, std::fs::read_to_string(&path).unwrap());
            // A family's line is one member: the recipe with the line's values.
            let r = Recipe::read(&path)
                .unwrap()
                .with_variants(&e.variants.0)
                .unwrap();
            assert_eq!((&r.meta.name, &r.meta.version), (&e.name, &e.version));
            assert_eq!(r.meta.variants, e.variants);
            assert_eq!(
                e.family.as_ref().map(|f| &f.variants),
                (!r.variants.is_empty()).then_some(&r.variants),
                "{name} {}: the line declares the recipe's variants",
                e.version
            );
            let graph = r.graph().unwrap();
            let rewards = r.reward_sets(&graph).unwrap();
            let symbolic = ptd::eliminate::eliminate(&graph);
            // As installing rebuilds it: the format the line's bundle was published in (format
            // 3 before the binary layouts; without reward sets before models carried them).
            let built =
                ptd::bundle::build_matching(&r.meta, &graph, &symbolic, &rewards, &e.content_hash);
            assert_eq!(
                built.manifest.content_hash, e.content_hash,
                "{name} {}",
                e.version
            );
            assert_eq!(built.manifest.hashes.phasic, e.phasic_hash);
            let bytes = built.pack();
            assert_eq!(
                ptd::fs::sha256_hex(&bytes),
                e.sha256,
                "{name} {}: archive",
                e.version
            );
            assert_eq!(bytes.len() as u64, e.size);
        }
    }
    assert_eq!(versions.len(), recipes, "one version per recipe");
    let kingman = rt.block_on(reg.entries("coalescent/kingman")).unwrap();
    let mut listed: Vec<String> = kingman.iter().map(|e| e.version.to_string()).collect();
    listed.dedup();
    assert_eq!(listed, ["1.0.0", "1.1.0", "1.2.0", "1.2.1", "1.3.0"]);
    assert!(kingman.iter().any(|e| e.yanked));
    // The block-counting family has its prebuilt members, 30 samples among them.
    let bc = rt
        .block_on(reg.entries("coalescent/block-counting"))
        .unwrap();
    let members: Vec<String> = bc
        .iter()
        .filter(|e| e.version.to_string() == "1.1.0")
        .map(|e| e.variants.to_string())
        .collect();
    assert!(members.contains(&"samples=30".to_string()), "{members:?}");
    assert!(members.contains(&"samples=10".to_string()), "{members:?}");
}

#[test]
fn the_embedded_config_names_its_key_and_a_release_location() {
    let f = EMBEDDED_INDEX.get_file("config.json").unwrap();
    let c = RegistryConfig::parse(f.contents(), "config.json").unwrap();
    assert_eq!(c.name, "default");
    assert_eq!(c.trusted_keys().unwrap().len(), 1);
    assert_eq!(c.artifacts[0].kind(), "github-releases");
}

/// ptd reads its built-in index without checking the snapshot's signature on every start: it is
/// checked here, against the built-in key, and the snapshot must say what the files are.
#[test]
fn the_embedded_snapshot_is_signed_by_the_embedded_key() {
    let f = EMBEDDED_INDEX.get_file("config.json").unwrap();
    let c = RegistryConfig::parse(f.contents(), "config.json").unwrap();
    let snap = EMBEDDED_INDEX.get_file("snapshot.json").unwrap().contents();
    let sig = EMBEDDED_INDEX.get_file("snapshot.json.minisig").unwrap();
    let sig = std::str::from_utf8(sig.contents()).unwrap();
    let keys = c.trusted_keys().unwrap();
    let verified = ptd::index::Snapshot::verify(snap, sig, &keys, &c.name).unwrap();
    assert_eq!(
        verified,
        ptd::index::Snapshot::parse(snap, &c.name).unwrap()
    );
    let mut forged = snap.to_vec();
    let at = forged.len() / 2;
    forged[at] ^= 1;
    assert!(ptd::index::Snapshot::verify(&forged, sig, &keys, &c.name).is_err());
    verified.check_file("config.json", f.contents()).unwrap();
}

#[test]
fn offline_install_from_the_embedded_registry() {
    let user = User::new();
    let out = user.ok(&["--offline", "install", "coalescent/kingman@1.2", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let item = &v["installed"][0];
    assert_eq!(item["version"], "1.3.0");
    assert_eq!(item["variants"]["samples"], 10, "the default member");
    assert_eq!(item["action"], "rebuilt");
    assert!(
        item["origin"]
            .as_str()
            .unwrap()
            .contains("content hash matches the signed index"),
        "{item}"
    );
    // The status line says so too.
    let user2 = User::new();
    let out = user2.ok(&["--offline", "install", "coalescent/kingman@1.2"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rebuilt from the recipe"), "{err}");

    // The cached DAG evaluates to Kingman's moments for 10 lineages.
    let m = user.installed_moments(item, "2.5");
    let (m1, m2) = kingman_moments(10, 2.5);
    assert!(rel_err(m[0], m1) < 1e-10);
    assert!(rel_err(m[1], m2) < 1e-10);

    // The yanked 1.1.0 is not chosen by a range, and an exact request explains why.
    let err = user.fails(&["--offline", "install", "coalescent/kingman@~1.1"]);
    assert!(err.contains("yanked"), "{err}");
    // Older versions are rebuilt from their own recipes.
    let out = user.ok(&[
        "--offline",
        "install",
        "coalescent/kingman@=1.0.0",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["installed"][0]["version"], "1.0.0");
    user.ok(&["verify"]);
    assert_eq!(user.installed().len(), 2);
}

/// Expected site frequency spectrum of the standard coalescent with pairwise coalescence rate
/// theta: E[xi_i] = 2 / (i theta) (Fu 1995), for i = 1 .. n-1.
fn sfs_expected(n: usize, theta: f64) -> Vec<f64> {
    (1..n).map(|i| 2.0 / (i as f64 * theta)).collect()
}

fn eval_json(user: &User, words: &[&str], extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["eval"];
    args.extend_from_slice(words);
    args.extend_from_slice(&["--theta", "1.5", "--json"]);
    args.extend_from_slice(extra);
    serde_json::from_slice(&user.ok(&args).stdout).unwrap()
}

/// E[T_MRCA] of n lineages with pairwise coalescence rate theta: 2 (1 - 1/n) / theta.
fn tmrca_expected(n: usize, theta: f64) -> f64 {
    2.0 * (1.0 - 1.0 / n as f64) / theta
}

/// The expected SFS of an installed member, from `ptd eval --rewards sfs`.
fn sfs_of(user: &User, words: &[&str]) -> Vec<f64> {
    let v = eval_json(user, words, &["--rewards", "sfs"]);
    v["rewards"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| r["moments"][0].as_f64().unwrap())
                .collect()
        })
        .unwrap_or_else(|| panic!("{v}"))
}

#[test]
fn any_member_of_a_family_installs_offline_prebuilt_or_built_locally() {
    let user = User::new();
    // Prebuilt: the signed record of samples=30, rebuilt from the embedded recipe.
    let out = user.ok(&[
        "--offline",
        "install",
        "coalescent/block-counting@1",
        "samples=30",
        "coalescent/kingman@1.2",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = v["installed"].as_array().unwrap();
    let bc = items
        .iter()
        .find(|i| i["name"] == "coalescent/block-counting")
        .unwrap();
    assert_eq!(bc["variants"]["samples"], 30);
    assert_eq!(bc["action"], "rebuilt", "{bc}");
    assert!(bc.get("built").is_none(), "{bc}");
    let t = eval_json(&user, &["coalescent/block-counting@1", "samples=30"], &[]);
    assert!(
        rel_err(t["moments"][0].as_f64().unwrap(), tmrca_expected(30, 1.5)) < 1e-9,
        "{t}"
    );
    // A small prebuilt member's site frequency spectrum, against Fu's formula.
    user.ok(&[
        "--offline",
        "install",
        "coalescent/block-counting@1",
        "samples=6",
    ]);
    let sfs = sfs_of(&user, &["coalescent/block-counting@1", "samples=6"]);
    assert_eq!(sfs.len(), 5);
    for (a, b) in sfs.iter().zip(&sfs_expected(6, 1.5)) {
        assert!(rel_err(*a, *b) < 1e-9, "{a} {b}");
    }
    // Not prebuilt: --no-build refuses, and leaves nothing installed.
    let err = user.fails(&[
        "--offline",
        "install",
        "coalescent/block-counting@1",
        "samples=37",
        "--no-build",
    ]);
    assert!(err.contains("--no-build refuses to build it"), "{err}");
    assert!(err.contains("samples=37"), "{err}");
    assert_eq!(user.installed().len(), 3);
    // Without it, the member is built here from the recipe and recorded as built locally.
    let out = user.ok(&[
        "--offline",
        "install",
        "coalescent/block-counting@1",
        "samples=37",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let item = &v["installed"][0];
    assert_eq!(item["action"], "built", "{item}");
    assert_eq!(item["built"], true);
    assert!(
        item["origin"]
            .as_str()
            .unwrap()
            .contains("built locally from the recipe models/coalescent/block-counting/model.toml"),
        "{item}"
    );
    let list = user.ok(&["list", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let built: Vec<&serde_json::Value> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["built"] == true)
        .collect();
    assert_eq!(built.len(), 1, "{rows}");
    assert_eq!(built[0]["variants"]["samples"], 37);
    let text = String::from_utf8(user.ok(&["list"]).stdout).unwrap();
    assert!(
        text.contains("coalescent/block-counting 1.1.0 samples=37")
            && text.contains("(built locally)"),
        "{text}"
    );
    let t = eval_json(&user, &["coalescent/block-counting", "samples=37"], &[]);
    assert!(
        rel_err(t["moments"][0].as_f64().unwrap(), tmrca_expected(37, 1.5)) < 1e-9,
        "{t}"
    );
    // Installed again: found, not rebuilt.
    let out = user.ok(&[
        "--offline",
        "install",
        "coalescent/block-counting@1",
        "samples=37",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["installed"][0]["action"], "installed");
    // Two members of one version are installed: naming the family alone is ambiguous where
    // one model is meant, and the error lists the members.
    let err = user.fails(&["which", "coalescent/block-counting@1"]);
    assert!(
        err.contains("samples=30")
            && err.contains("samples=37")
            && err.contains("add the variant settings"),
        "{err}"
    );
    // Installing does not derive the JAX evaluator; `ptd which` does, on first use.
    let which = user.ok(&["which", "coalescent/block-counting@1", "samples=37"]);
    let module = String::from_utf8_lossy(&which.stdout).trim().to_string();
    assert!(module.ends_with("evaluator.py"), "{module}");
    // Of the two members installed, only the one asked for has an evaluator.
    let dir = std::path::Path::new(&module).parent().unwrap();
    let derived: Vec<_> = std::fs::read_dir(dir.parent().unwrap())
        .unwrap()
        .map(|d| d.unwrap().path())
        .filter(|d| d.join("evaluator.py").exists() || d.join("evaluator.bin").exists())
        .collect();
    assert_eq!(derived, vec![dir.to_path_buf()]);
    assert_eq!(
        std::fs::read_to_string(&module).unwrap(),
        ptd::jax::emit::MODULE
    );
    let path = user.ok(&[
        "cache",
        "path",
        "coalescent/block-counting",
        "samples=30",
        "--json",
    ]);
    let found: serde_json::Value = serde_json::from_slice(&path.stdout).unwrap();
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found[0]["variants"]["samples"], 30);
    // Values out of range, unknown variants, and settings for a model that takes none.
    let err = user.fails(&[
        "--offline",
        "install",
        "coalescent/block-counting@1",
        "samples=1",
    ]);
    assert!(
        err.contains("'samples': 1 is not allowed; allowed: integers 2..=200"),
        "{err}"
    );
    let err = user.fails(&[
        "--offline",
        "install",
        "coalescent/block-counting@1",
        "sample=3",
    ]);
    assert!(
        err.contains("'sample': not a variant of this model"),
        "{err}"
    );
    let err = user.fails(&["--offline", "install", "queue/mm1k", "samples=3"]);
    assert!(err.contains("takes no variants"), "{err}");
    user.ok(&["verify"]);
}

#[test]
fn a_project_pins_a_member_built_locally_and_a_second_machine_reproduces_it() {
    let user = User::new();
    let p = user.dir.path().join("study");
    user.ok(&["init", p.to_str().unwrap()]);
    user.ok_in(
        &p,
        &[
            "--offline",
            "add",
            "coalescent/block-counting@1",
            "samples=33",
        ],
    );
    let manifest = std::fs::read_to_string(p.join("ptd.toml")).unwrap();
    assert!(
        manifest.contains("\"coalescent/block-counting\" = { version = \"^1\", samples = 33 }"),
        "{manifest}"
    );
    let lock = std::fs::read_to_string(p.join("ptd.lock")).unwrap();
    assert!(
        lock.contains("built = true") && lock.contains("samples = 33"),
        "{lock}"
    );
    let locked: ptd::project::Lockfile = ptd::project::Lockfile::parse(&lock, "ptd.lock").unwrap();
    let m = &locked.models[0];
    // A second machine builds it from the same recipe and gets the same bytes.
    let other = User::new();
    let q = other.dir.path().join("study");
    std::fs::create_dir_all(&q).unwrap();
    std::fs::copy(p.join("ptd.toml"), q.join("ptd.toml")).unwrap();
    std::fs::copy(p.join("ptd.lock"), q.join("ptd.lock")).unwrap();
    let out = other.ok_in(&q, &["--offline", "install", "--locked", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let item = &v["installed"][0];
    assert_eq!(item["action"], "built");
    assert_eq!(item["content_hash"], m.content_hash.as_str());
    assert_eq!(item["archive_sha256"], m.sha256.as_str());
    // A lock whose pin the build cannot reproduce is refused, and nothing is installed.
    let third = User::new();
    let r = third.dir.path().join("study");
    std::fs::create_dir_all(&r).unwrap();
    std::fs::copy(p.join("ptd.toml"), r.join("ptd.toml")).unwrap();
    let forged = lock.replace(&m.content_hash, &"0".repeat(64));
    std::fs::write(r.join("ptd.lock"), forged).unwrap();
    let err = third.fails_in(&r, &["--offline", "install", "--locked"]);
    assert!(
        err.contains("but ptd.lock pins") && err.contains("nothing was installed"),
        "{err}"
    );
    assert!(third.installed().is_empty());
    // Changing the member in ptd.toml re-locks it.
    let text = manifest.replace("samples = 33", "samples = 34");
    std::fs::write(p.join("ptd.toml"), text).unwrap();
    user.ok_in(&p, &["--offline", "install"]);
    let lock = std::fs::read_to_string(p.join("ptd.lock")).unwrap();
    assert!(
        lock.contains("samples = 34") && !lock.contains("samples = 33"),
        "{lock}"
    );
}

#[test]
fn a_project_on_the_default_registry_locks_and_installs_offline() {
    let user = User::new();
    let p = user.dir.path().join("study");
    user.ok(&["init", p.to_str().unwrap()]);
    user.ok_in(&p, &["--offline", "add", "coalescent/kingman@1.2"]);
    user.ok_in(&p, &["--offline", "add", "queue/mm1k"]);
    let lock = std::fs::read_to_string(p.join("ptd.lock")).unwrap();
    assert!(lock.contains("registry = \"default\""), "{lock}");
    let out = user.ok_in(&p, &["--offline", "install", "--locked", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["installed"].as_array().unwrap().len(), 2);
    let again = user.ok_in(&p, &["--offline", "install", "--locked", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert!(
        v["installed"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["action"] == "installed")
    );
}
