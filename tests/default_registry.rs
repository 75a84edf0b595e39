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
    let mut versions = 0;
    for name in &names {
        for e in rt.block_on(reg.entries(name)).unwrap() {
            versions += 1;
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
            let r = Recipe::read(&path).unwrap();
            assert_eq!((&r.meta.name, &r.meta.version), (&e.name, &e.version));
            let built = ptd::bundle::build(&r.meta, &r.graph().unwrap());
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
    assert_eq!(versions, recipes, "one index line per recipe");
    let kingman = rt.block_on(reg.entries("coalescent/kingman")).unwrap();
    let listed: Vec<String> = kingman.iter().map(|e| e.version.to_string()).collect();
    assert_eq!(listed, ["1.0.0", "1.1.0", "1.2.0", "1.2.1"]);
    assert!(kingman.iter().any(|e| e.yanked));
}

#[test]
fn the_embedded_config_names_its_key_and_a_release_location() {
    let f = EMBEDDED_INDEX.get_file("config.json").unwrap();
    let c = RegistryConfig::parse(f.contents(), "config.json").unwrap();
    assert_eq!(c.name, "default");
    assert_eq!(c.trusted_keys().unwrap().len(), 1);
    assert_eq!(c.artifacts[0].kind(), "github-releases");
}

#[test]
fn offline_install_from_the_embedded_registry() {
    let user = User::new();
    let out = user.ok(&["--offline", "install", "coalescent/kingman@1.2", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let item = &v["installed"][0];
    assert_eq!(item["version"], "1.2.1");
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
