//! A registry on a shared filesystem: `ptd registry init` (with a new, encrypted key), publish,
//! then install, lock and verify from it; yank and undo; a changed bundle under a published
//! version refused.

mod support;

use support::{User, json, models};

#[test]
fn a_directory_registry_from_init_to_install() {
    let publisher = User::new();
    let shared = tempfile::tempdir().unwrap();
    let index = shared.path().join("index");
    let store = shared.path().join("archives");
    let password = [("PTD_SIGNING_KEY_PASSWORD", "a long pass phrase")];
    let init = [
        "registry",
        "init",
        index.to_str().unwrap(),
        "--name",
        "lab",
        "--artifacts",
        &format!("file://{}/{{file}}", store.display()),
    ];
    // Without a password and without --unencrypted, no key is made.
    let err = publisher.fails(&init);
    assert!(err.contains("PTD_SIGNING_KEY_PASSWORD"), "{err}");
    assert!(!index.join("config.json").exists());
    let out = publisher.run_env(&init, &password);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The secret key is encrypted and kept under $PTD_HOME, never in the index.
    let keys = support::walk(&publisher.home().join("keys"));
    let secret = keys
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "key"))
        .unwrap()
        .clone();
    assert!(
        std::fs::read_to_string(&secret)
            .unwrap()
            .starts_with("untrusted comment: minisign encrypted secret key")
    );
    assert!(
        support::walk(&index)
            .iter()
            .all(|p| p.extension().is_none_or(|e| e != "key"))
    );
    let readme = std::fs::read_to_string(index.join("README.md")).unwrap();
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(index.join("config.json")).unwrap()).unwrap();
    assert!(readme.contains(config["keys"][0]["public_key"].as_str().unwrap()));

    let publish = |dir: &std::path::Path| {
        publisher.run_env(
            &[
                "publish",
                dir.to_str().unwrap(),
                "--registry",
                index.to_str().unwrap(),
                "--key",
                secret.to_str().unwrap(),
                "--json",
            ],
            &password,
        )
    };
    let out = publish(&models().join("coalescent/kingman/versions/1.2.1"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json(&out)["status"], "published");
    // The publisher can name the registry as configured in $PTD_HOME/config.toml.
    std::fs::write(
        publisher.home().join("config.toml"),
        format!("[registries.lab]\nindex = \"{}\"\n", index.display()),
    )
    .unwrap();
    let out = publisher.run_env(
        &[
            "publish",
            models().join("queue/mm1k").to_str().unwrap(),
            "--registry",
            "lab",
            "--key",
            secret.to_str().unwrap(),
            "--json",
        ],
        &password,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json(&out)["status"], "published");
    // A changed bundle under a published version is refused; the index does not change.
    let before = std::fs::read(index.join("snapshot.json")).unwrap();
    let changed = publisher.dir.path().join("mm1k");
    std::fs::create_dir_all(&changed).unwrap();
    std::fs::write(
        changed.join("model.toml"),
        std::fs::read_to_string(models().join("queue/mm1k/model.toml"))
            .unwrap()
            .replace("capacity = 20", "capacity = 21"),
    )
    .unwrap();
    let out = publish(&changed);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("already published with other content"),
        "{err}"
    );
    assert_eq!(std::fs::read(index.join("snapshot.json")).unwrap(), before);

    // A user on the shared filesystem pins the key and installs, locks and verifies.
    let user = User::new();
    std::fs::create_dir_all(user.home()).unwrap();
    std::fs::write(
        user.home().join("config.toml"),
        format!(
            "[registries.lab]\nindex = \"{}\"\nkeys = [\"{}\"]\n",
            index.display(),
            config["keys"][0]["public_key"].as_str().unwrap()
        ),
    )
    .unwrap();
    let project = user.dir.path().join("p");
    user.ok(&["init", project.to_str().unwrap()]);
    user.ok_in(&project, &["add", "queue/mm1k", "--registry", "lab"]);
    user.ok_in(
        &project,
        &["add", "coalescent/kingman@1", "--registry", "lab"],
    );
    let out = user.ok_in(&project, &["install", "--locked", "--json"]);
    assert_eq!(json(&out)["installed"].as_array().unwrap().len(), 2);
    user.ok(&["verify"]);
    let lock = std::fs::read_to_string(project.join("ptd.lock")).unwrap();
    assert!(lock.contains("registry = \"lab\""), "{lock}");

    // Yank, then undo: new resolutions see it gone, then back.
    // As in CI: the key's text itself in PTD_SIGNING_KEY, its password beside it.
    let key_text = std::fs::read_to_string(&secret).unwrap();
    let yank = |undo: bool| {
        let mut a = vec![
            "yank",
            "queue/mm1k@1.0.0",
            "--registry",
            index.to_str().unwrap(),
        ];
        if undo {
            a.push("--undo");
        }
        let out = publisher.run_env(&a, &[password[0], ("PTD_SIGNING_KEY", &key_text)]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    yank(false);
    let err = user.fails(&["install", "queue/mm1k", "--registry", "lab"]);
    assert!(err.contains("yanked"), "{err}");
    // The locked project still installs it.
    user.ok_in(&project, &["install", "--locked"]);
    yank(true);
    user.ok(&["install", "queue/mm1k", "--registry", "lab"]);

    // A key that is not the pinned one is refused, even if the index now lists it.
    let other = publisher.keygen(&publisher.dir.path().join("other"));
    let mut cfg = config.clone();
    let pk = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    let pk_line = pk.lines().nth(1).unwrap().trim().to_string();
    let id = support::key_id(&other.with_extension("pub"));
    cfg["keys"] = serde_json::json!([{ "id": id, "public_key": pk_line }]);
    std::fs::write(
        index.join("config.json"),
        serde_json::to_vec_pretty(&cfg).unwrap(),
    )
    .unwrap();
    publisher.ok(&[
        "registry",
        "resign",
        index.to_str().unwrap(),
        "--key",
        other.with_extension("key").to_str().unwrap(),
    ]);
    let err = user.fails(&["info", "queue/mm1k", "--registry", "lab"]);
    assert!(
        err.contains(&id) || err.to_lowercase().contains("key"),
        "{err}"
    );
}

#[test]
fn every_command_that_takes_a_model_name_validates_it() {
    let reg = support::HttpRegistry::new();
    reg.publish(&models().join("reliability/erlang"));
    let index = reg.index_dir();
    // A file outside the index that looks like an index file for '../outside/victim'.
    let outside = reg.root.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let victim = outside.join("victim");
    let line = std::fs::read_to_string(index.join("reliability/erlang"))
        .unwrap()
        .replace("reliability/erlang", "../outside/victim");
    std::fs::write(&victim, &line).unwrap();
    let bad = "../outside/victim";
    let form = "is not of the form namespace/name";

    let err = reg.publisher.fails(&[
        "yank",
        &format!("{bad}@1.0.0"),
        "--registry",
        index.to_str().unwrap(),
        "--key",
        reg.key.to_str().unwrap(),
    ]);
    assert!(err.contains(form) && err.contains(bad), "{err}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), line);

    let user = User::new();
    user.ok(&[
        "install",
        "reliability/erlang",
        "--registry",
        index.to_str().unwrap(),
    ]);
    let project = user.dir.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    user.ok_in(&project, &["init"]);
    let export = user.dir.path().join("export.tar.zst");
    let key = reg.key.to_str().unwrap();
    let commands: Vec<Vec<&str>> = vec![
        vec!["info", bad, "--registry", index.to_str().unwrap()],
        vec!["install", bad, "--registry", index.to_str().unwrap()],
        vec!["add", bad, "--registry", index.to_str().unwrap()],
        vec!["remove", bad],
        vec!["which", bad],
        vec!["cache", "path", bad],
        vec!["cache", "prewarm", bad],
        vec![
            "cache",
            "export",
            export.to_str().unwrap(),
            bad,
            "--key",
            key,
        ],
    ];
    for args in &commands {
        let err = user.fails_in(&project, args);
        assert!(
            err.contains(form) && err.contains(bad),
            "ptd {args:?}: {err}"
        );
    }
    assert!(!export.exists());
}

/// Runs `ptd` as `user` under umask 022, expecting success.
fn under_umask_022(user: &User, args: &[&str]) {
    let ptd = user.cmd(user.dir.path(), args);
    let mut sh = std::process::Command::new("sh");
    sh.arg("-c")
        .arg("umask 022 && exec \"$0\" \"$@\"")
        .arg(support::PTD)
        .args(args)
        .current_dir(user.dir.path());
    for (k, v) in ptd.get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    let out = sh.output().unwrap();
    assert!(
        out.status.success(),
        "ptd {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn mode(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn published_and_installed_files_follow_the_umask_and_secret_keys_stay_private() {
    let publisher = User::new();
    let shared = tempfile::tempdir().unwrap();
    let index = shared.path().join("index");
    let store = shared.path().join("archives");
    let base = publisher.dir.path().join("lab");
    under_umask_022(
        &publisher,
        &["keygen", "-o", base.to_str().unwrap(), "--unencrypted"],
    );
    let key = base.with_extension("key");
    under_umask_022(
        &publisher,
        &[
            "registry",
            "init",
            index.to_str().unwrap(),
            "--name",
            "lab",
            "--artifacts",
            &format!("file://{}/{{file}}", store.display()),
            "--key",
            key.to_str().unwrap(),
        ],
    );
    under_umask_022(
        &publisher,
        &[
            "publish",
            models().join("reliability/erlang").to_str().unwrap(),
            "--registry",
            index.to_str().unwrap(),
            "--store",
            store.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
    );
    let user = User::new();
    under_umask_022(
        &user,
        &[
            "install",
            "reliability/erlang",
            "--registry",
            index.to_str().unwrap(),
        ],
    );
    let mut checked = Vec::new();
    for root in [
        index.clone(),
        store.clone(),
        user.home().join("archives"),
        user.home().join("bundles"),
        user.phasic_cache().join("symbolic"),
    ] {
        let files = support::walk(&root);
        assert!(!files.is_empty(), "nothing under {}", root.display());
        for f in files {
            let m = mode(&f);
            assert_eq!(m & 0o044, 0o044, "{} has mode {m:o}", f.display());
            let mut d = f.parent().unwrap();
            while d.starts_with(&root) {
                let m = mode(d);
                assert_eq!(m & 0o055, 0o055, "{} has mode {m:o}", d.display());
                d = d.parent().unwrap();
            }
            checked.push(f);
        }
    }
    assert!(checked.iter().any(|f| f.ends_with("reliability/erlang")));
    assert!(checked.iter().any(|f| f.ends_with("README.md")));
    assert_eq!(mode(&key) & 0o077, 0, "the secret key is {:o}", mode(&key));
    assert_eq!(mode(&base.with_extension("pub")) & 0o044, 0o044);
}

/// A `--store` the registry does not list becomes one of its artifact locations (config.json
/// changed and re-signed), so that what was published there can be installed; a store it lists
/// already adds nothing.
#[test]
fn publishing_into_a_store_the_registry_does_not_list_records_it() {
    let publisher = User::new();
    let shared = tempfile::tempdir().unwrap();
    let index = shared.path().join("index");
    let key = publisher.keygen(&publisher.dir.path().join("lab"));
    publisher.ok(&[
        "registry",
        "init",
        index.to_str().unwrap(),
        "--name",
        "lab",
        "--key",
        key.to_str().unwrap(),
    ]);
    let artifacts = || {
        let config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(index.join("config.json")).unwrap()).unwrap();
        config["artifacts"].as_array().unwrap().clone()
    };
    let before = artifacts();
    // Relative to the publisher's working directory: the location recorded is absolute.
    let publish = |model: &str| {
        publisher.ok(&[
            "publish",
            models().join(model).to_str().unwrap(),
            "--registry",
            index.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
            "--store",
            "elsewhere",
            "--json",
        ])
    };
    let r = json(&publish("coalescent/kingman/versions/1.2.1"));
    assert_eq!(r["status"], "published");
    let store = publisher
        .dir
        .path()
        .join("elsewhere")
        .canonicalize()
        .unwrap();

    let user = User::new();
    let out = user.ok(&[
        "install",
        "coalescent/kingman",
        "--registry",
        index.to_str().unwrap(),
        "--json",
    ]);
    let item = json(&out)["installed"][0].clone();
    assert!(
        item["origin"]
            .as_str()
            .unwrap()
            .contains(&store.display().to_string()),
        "{item}"
    );
    let (m1, _) = support::kingman_moments(10, 1.0);
    assert!(support::rel_err(user.installed_moments(&item, "1")[0], m1) < 1e-10);

    let url = format!("file://{}/{{file}}", store.display());
    assert_eq!(r["location_added"]["url"], url.as_str(), "{r}");
    assert_eq!(r["location_added"]["kind"], "file", "{r}");
    let after = artifacts();
    assert_eq!(after.len(), before.len() + 1, "{after:?}");
    assert_eq!(after.last().unwrap()["url"], url.as_str());
    // The same store again: already listed, nothing added.
    let r = json(&publish("queue/mm1k"));
    assert_eq!(r["status"], "published");
    assert!(r.get("location_added").is_none(), "{r}");
    assert_eq!(artifacts(), after);
    user.ok(&[
        "install",
        "queue/mm1k",
        "--registry",
        index.to_str().unwrap(),
    ]);

    // A store that a listed location serves (here over HTTP) is not added.
    let reg = support::HttpRegistry::new();
    let config = reg.index_dir().join("config.json");
    let before = std::fs::read_to_string(&config).unwrap();
    reg.publish(&models().join("reliability/erlang"));
    assert_eq!(std::fs::read_to_string(&config).unwrap(), before);
}

/// `ptd registry init DIR` with no flags: the name is the directory's, the archives go beside
/// it, and the new key is found again by its id when publishing and yanking without --key; the
/// README written into the registry lists its artifact locations, and its commands work as
/// written there.
#[test]
fn a_registry_made_without_flags_is_published_to_and_installed_from_as_its_readme_says() {
    let publisher = User::new();
    let shared = tempfile::tempdir().unwrap();
    let index = shared.path().join("lab");
    let password = [("PTD_SIGNING_KEY_PASSWORD", "a long pass phrase")];
    let run = |args: &[&str]| {
        let out = publisher.run_env(args, &password);
        assert!(
            out.status.success(),
            "ptd {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };
    run(&["registry", "init", index.to_str().unwrap()]);
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(index.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["name"], "lab");
    let archives = shared.path().canonicalize().unwrap().join("lab-archives");
    assert!(archives.is_dir());
    let url = format!("file://{}/{{file}}", archives.display());
    assert_eq!(config["artifacts"][0]["url"], url.as_str(), "{config}");
    assert_eq!(config["artifacts"].as_array().unwrap().len(), 1);
    let readme = std::fs::read_to_string(index.join("README.md")).unwrap();
    assert!(readme.contains(&format!("- `{url}` (file)")), "{readme}");

    // The commands of the README's publishing section, as written there.
    let block = |lang: &str| -> String {
        let start = readme.find(&format!("```{lang}\n")).unwrap() + lang.len() + 4;
        let len = readme[start..].find("```").unwrap();
        readme[start..start + len].to_string()
    };
    let commands = block("sh");
    let publish = commands
        .lines()
        .find(|l| l.starts_with("ptd publish "))
        .unwrap()
        .replace(
            "<model dir>",
            models()
                .join("coalescent/kingman/versions/1.2.1")
                .to_str()
                .unwrap(),
        );
    let args: Vec<&str> = publish.split_whitespace().skip(1).collect();
    assert!(!args.contains(&"--key"), "{publish}");
    let out = run(&[&args[..], &["--json"]].concat());
    assert_eq!(json(&out)["status"], "published");
    assert!(
        archives
            .join("coalescent-kingman-1.2.1.ptd.tar.zst")
            .exists()
    );

    // Another publisher, whose $PTD_HOME lacks the key, is told where ptd looked.
    let other = User::new();
    let out = other.run_env(&args, &password);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let id = config["keys"][0]["id"].as_str().unwrap();
    assert!(
        err.contains(id) && err.contains(&other.home().join("keys").display().to_string()),
        "{err}"
    );

    // A user adds the registry to config.toml as the README says, and installs.
    let user = User::new();
    std::fs::create_dir_all(user.home()).unwrap();
    std::fs::write(user.home().join("config.toml"), block("toml")).unwrap();
    let out = user.ok(&[
        "install",
        "--registry",
        "lab",
        "coalescent/kingman@1",
        "--json",
    ]);
    let item = json(&out)["installed"][0].clone();
    let (m1, _) = support::kingman_moments(10, 1.0);
    assert!(support::rel_err(user.installed_moments(&item, "1")[0], m1) < 1e-10);

    // Yank as written there, without --key.
    let yank = commands
        .lines()
        .find(|l| l.starts_with("ptd yank "))
        .unwrap()
        .replace("NAMESPACE/MODEL@VERSION", "coalescent/kingman@1.2.1");
    let args: Vec<&str> = yank.split_whitespace().skip(1).collect();
    run(&args);
    let err = user.fails(&["install", "--registry", "lab", "coalescent/kingman"]);
    assert!(err.contains("yanked"), "{err}");
}
