//! `ptd cache`: info, least-recently-used eviction that spares what lockfiles pin, and verify
//! with repair, on real directories and the real SQLite database.

mod support;

use support::{User, age_tree, json, walk};

fn install(user: &User, spec: &str) -> serde_json::Value {
    json(&user.ok(&["--offline", "install", spec, "--json"]))["installed"][0].clone()
}

#[test]
fn info_counts_entries_bytes_hits_and_misses() {
    let user = User::new();
    let k = install(&user, "coalescent/kingman@1.2");
    install(&user, "queue/mm1k");
    install(&user, "coalescent/kingman@1.2");
    let info = json(&user.ok(&["cache", "info", "--json"]));
    assert_eq!(info["store"]["entries"], 2);
    assert_eq!(info["store"]["misses"], 2);
    assert_eq!(info["store"]["hits"], 1);
    let on_disk: u64 = walk(&user.home().join("archives"))
        .iter()
        .chain(walk(&user.home().join("bundles")).iter())
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert_eq!(info["store"]["bytes"], on_disk);
    assert_eq!(info["symbolic"]["entries"], 2);
    let dag = user
        .phasic_cache()
        .join("symbolic")
        .join(format!("{}.json", k["phasic_hash"].as_str().unwrap()));
    assert!(info["symbolic"]["bytes"].as_u64().unwrap() >= std::fs::metadata(dag).unwrap().len());
    assert_eq!(info["jax"]["entries"], 0);
    assert!(
        info["store"]["oldest_use"].as_str().unwrap()
            <= info["store"]["newest_use"].as_str().unwrap()
    );
}

#[test]
fn gc_evicts_least_recently_used_and_spares_locked_versions() {
    let user = User::new();
    // A project pins kingman; mm1k and erlang are installed outside it.
    let p = user.dir.path().join("study");
    user.ok(&["init", p.to_str().unwrap()]);
    user.ok_in(&p, &["--offline", "add", "coalescent/kingman@1.2"]);
    user.ok_in(&p, &["--offline", "install"]);
    let mm1k = install(&user, "queue/mm1k");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    install(&user, "reliability/erlang");

    // Nothing to do without limits (and none configured).
    let err = user.fails(&["cache", "gc"]);
    assert!(err.contains("--max-size"), "{err}");

    // A dry run lists, removes nothing.
    let before = walk(&user.home().join("bundles")).len();
    let r = json(&user.ok(&["cache", "gc", "--max-size", "0", "--dry-run", "--json"]));
    assert_eq!(r["evicted"].as_array().unwrap().len(), 2);
    assert_eq!(walk(&user.home().join("bundles")).len(), before);

    // Least recently used first: mm1k goes before erlang when one eviction is enough.
    let sizes: std::collections::BTreeMap<String, u64> = r["evicted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["bytes"].as_u64().unwrap(),
            )
        })
        .collect();
    let total = r["bytes_before"].as_u64().unwrap();
    let limit = total - sizes["queue/mm1k"];
    let r = json(&user.ok(&["cache", "gc", "--max-size", &limit.to_string(), "--json"]));
    let names: Vec<&str> = r["evicted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["queue/mm1k"]);
    assert!(r["bytes_after"].as_u64().unwrap() <= limit);
    // Its files are gone from the store and from tier 1; the database agrees.
    let content = mm1k["content_hash"].as_str().unwrap();
    assert!(!user.home().join("bundles").join(content).exists());
    assert!(
        !user
            .home()
            .join("archives")
            .join(format!(
                "{}.ptd.tar.zst",
                mm1k["archive_sha256"].as_str().unwrap()
            ))
            .exists()
    );
    assert!(
        !user
            .phasic_cache()
            .join("symbolic")
            .join(format!("{}.json", mm1k["phasic_hash"].as_str().unwrap()))
            .exists()
    );
    let names: Vec<String> = user
        .installed()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["coalescent/kingman", "reliability/erlang"]);
    user.ok(&["verify"]);

    // Everything older than now: erlang goes, the locked kingman stays.
    let r = json(&user.ok(&["cache", "gc", "--max-age", "0s", "--json"]));
    assert_eq!(r["evicted"][0]["name"], "reliability/erlang");
    assert_eq!(r["kept_pinned"].as_array().unwrap().len(), 1);
    // The project still installs from the cache, with nothing to fetch.
    let out = json(&user.ok_in(&p, &["--offline", "install", "--locked", "--json"]));
    assert_eq!(out["installed"][0]["action"], "installed");
    // Defaults from config.toml; --force evicts pinned versions too.
    std::fs::write(
        user.home().join("config.toml"),
        "[cache]\nmax-size = \"0B\"\n",
    )
    .unwrap();
    let r = json(&user.ok(&["cache", "gc", "--json"]));
    assert!(r["evicted"].as_array().unwrap().is_empty());
    let r = json(&user.ok(&["cache", "gc", "--force", "--json"]));
    assert_eq!(r["evicted"][0]["name"], "coalescent/kingman");
    assert!(user.installed().is_empty());
    assert!(walk(&user.home().join("bundles")).is_empty());
    assert!(walk(&user.home().join("archives")).is_empty());
    // The project reinstalls (rebuilt from the embedded recipe).
    let out = json(&user.ok_in(&p, &["--offline", "install", "--locked", "--json"]));
    assert_eq!(out["installed"][0]["action"], "rebuilt");
}

#[test]
fn verify_repair_reinstalls_a_corrupted_entry() {
    let user = User::new();
    let k = install(&user, "coalescent/kingman@1.2");
    install(&user, "queue/mm1k");
    let content = k["content_hash"].as_str().unwrap();
    let graph = user.home().join("bundles").join(content).join("graph.json");
    let mut bytes = std::fs::read(&graph).unwrap();
    bytes[5] ^= 0x20;
    std::fs::write(&graph, &bytes).unwrap();
    let out = user
        .cmd(user.dir.path(), &["cache", "verify", "--json"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let r = json(&out);
    assert_eq!(r["problems"].as_array().unwrap().len(), 1);
    assert_eq!(r["problems"][0]["name"], "coalescent/kingman");
    let out = user
        .cmd(
            user.dir.path(),
            &["--offline", "cache", "verify", "--repair", "--json"],
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = json(&out);
    assert_eq!(
        r["repaired"][0],
        "coalescent/kingman 1.3.0 samples=10 [default]"
    );
    assert!(r["problems"].as_array().unwrap().is_empty());
    assert_ne!(std::fs::read(&graph).unwrap(), bytes);
    assert_eq!(user.installed().len(), 2);
}

#[test]
fn path_finds_an_installed_dag_by_name_or_hash() {
    let user = User::new();
    let k = install(&user, "coalescent/kingman@1.2");
    install(&user, "coalescent/kingman@=1.0.0");
    let dag = |q: &str| String::from_utf8(user.ok(&["cache", "path", q]).stdout).unwrap();
    let phasic = k["phasic_hash"].as_str().unwrap();
    let first = dag("coalescent/kingman");
    assert_eq!(first.lines().count(), 2);
    assert!(
        first
            .lines()
            .next()
            .unwrap()
            .ends_with(&format!("{phasic}.json")),
        "newest first"
    );
    assert_eq!(dag("coalescent/kingman@1.2").lines().count(), 1);
    assert!(dag(&phasic[..12]).contains(phasic));
    assert!(dag(&k["content_hash"].as_str().unwrap()[..10]).contains(phasic));
    assert!(std::path::Path::new(first.lines().next().unwrap()).is_file());
    let err = user.fails(&["cache", "path", "queue/mm1k"]);
    assert!(err.contains("nothing installed matches"), "{err}");
}

#[test]
fn export_and_import_move_verified_models_between_machines() {
    let online = User::new();
    let k = install(&online, "coalescent/kingman@1.2");
    install(&online, "queue/mm1k");
    install(&online, "reliability/erlang");
    let d = online.dir.path();
    let secret = online.keygen(&d.join("lab"));
    let file = d.join("models.ptd-export");
    let out = json(&online.ok(&[
        "cache",
        "export",
        file.to_str().unwrap(),
        "coalescent/kingman",
        "queue/mm1k",
        "--key",
        secret.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(out["entries"].as_array().unwrap().len(), 2);
    let pubkey = d.join("lab.pub");

    // Another key is not trusted; nothing lands.
    let air = User::new();
    let other = air
        .keygen(&air.dir.path().join("other"))
        .with_extension("pub");
    let err = air.fails(&[
        "cache",
        "import",
        file.to_str().unwrap(),
        "--trust",
        other.to_str().unwrap(),
    ]);
    assert!(err.contains("key"), "{err}");
    assert!(air.installed().is_empty());
    // A damaged export: nothing lands.
    let good = std::fs::read(&file).unwrap();
    let mut bad = good.clone();
    let n = bad.len();
    bad[n / 3] ^= 1;
    std::fs::write(&file, &bad).unwrap();
    let err = air.fails(&[
        "cache",
        "import",
        file.to_str().unwrap(),
        "--trust",
        pubkey.to_str().unwrap(),
    ]);
    assert!(err.to_lowercase().contains("signature"), "{err}");
    assert!(air.installed().is_empty());
    assert!(walk(&air.home().join("bundles")).is_empty());

    // Intact: both versions installed, verified, usable offline, same bytes as the source.
    std::fs::write(&file, &good).unwrap();
    let out = json(&air.ok(&[
        "cache",
        "import",
        file.to_str().unwrap(),
        "--trust",
        pubkey.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(out["imported"].as_array().unwrap().len(), 2);
    air.ok(&["verify"]);
    let dag = String::from_utf8(air.ok(&["cache", "path", "coalescent/kingman"]).stdout).unwrap();
    assert!(dag.contains(k["phasic_hash"].as_str().unwrap()));
    let p = air.dir.path().join("p");
    air.ok(&["init", p.to_str().unwrap()]);
    air.ok_in(&p, &["--offline", "add", "coalescent/kingman@1.2"]);
    let r = json(&air.ok_in(&p, &["--offline", "install", "--json"]));
    assert_eq!(r["installed"][0]["action"], "installed");
}

#[test]
fn a_shared_layer_is_used_before_downloading_and_sync_copies_what_is_missing() {
    // The cluster's shared ptd home, filled once.
    let shared = User::new();
    let k = install(&shared, "coalescent/kingman@1.2");
    install(&shared, "queue/mm1k");

    // A user whose config names it as the second layer gets verified copies, no rebuild.
    let user = User::new();
    std::fs::create_dir_all(user.home()).unwrap();
    std::fs::write(
        user.home().join("config.toml"),
        format!("[cache]\nshared = \"{}\"\n", shared.home().display()),
    )
    .unwrap();
    let got = install(&user, "coalescent/kingman@1.2");
    assert_eq!(got["action"], "shared");
    assert_eq!(got["archive_sha256"], k["archive_sha256"]);
    user.ok(&["verify"]);
    // A damaged copy in the shared layer is not used: the version is rebuilt instead.
    let sha = shared
        .installed()
        .into_iter()
        .find(|i| i["name"] == "queue/mm1k")
        .unwrap()["archive_sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let p = shared
        .home()
        .join("archives")
        .join(format!("{sha}.ptd.tar.zst"));
    let good = std::fs::read(&p).unwrap();
    let mut bad = good.clone();
    bad[40] ^= 1;
    std::fs::write(&p, &bad).unwrap();
    assert_eq!(install(&user, "queue/mm1k")["action"], "rebuilt");
    std::fs::write(&p, &good).unwrap();

    // sync copies only what is missing, verified.
    let other = User::new();
    install(&other, "queue/mm1k");
    let r = json(&other.ok(&["cache", "sync", shared.home().to_str().unwrap(), "--json"]));
    assert_eq!(r["copied"].as_array().unwrap().len(), 1);
    assert_eq!(r["copied"][0]["name"], "coalescent/kingman");
    assert_eq!(r["present"], 1);
    other.ok(&["verify"]);
    let r = json(&other.ok(&["cache", "sync", shared.home().to_str().unwrap(), "--json"]));
    assert!(r["copied"].as_array().unwrap().is_empty());
    // A damaged archive in the source is refused and not installed.
    let third = User::new();
    std::fs::write(&p, &bad).unwrap();
    let out = third
        .cmd(
            third.dir.path(),
            &["cache", "sync", shared.home().to_str().unwrap(), "--json"],
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    let r = json(&out);
    assert_eq!(r["failed"].as_array().unwrap().len(), 1);
    let names: Vec<String> = third
        .installed()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["coalescent/kingman"]);
    third.ok(&["verify"]);
}

#[test]
fn the_jax_tier_is_listed_and_vacuumed_by_last_use() {
    let user = User::new();
    let jax = user.jax_cache();
    std::fs::create_dir_all(&jax).unwrap();
    std::fs::write(jax.join("jit_old-1"), vec![0u8; 300]).unwrap();
    std::fs::write(jax.join("jit_new-2"), vec![0u8; 500]).unwrap();
    // Age one entry by two days.
    let two_days_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 86400);
    std::fs::File::options()
        .write(true)
        .open(jax.join("jit_old-1"))
        .unwrap()
        .set_times(
            std::fs::FileTimes::new()
                .set_accessed(two_days_ago)
                .set_modified(two_days_ago),
        )
        .unwrap();
    let list = json(&user.ok(&["cache", "jax", "--json"]));
    assert_eq!(list[0]["name"], "jit_old-1", "least recently used first");
    assert_eq!(list[0]["bytes"], 300);
    let info = json(&user.ok(&["cache", "info", "--json"]));
    assert_eq!(info["jax"]["entries"], 2);
    assert_eq!(info["jax"]["bytes"], 800);
    let r = json(&user.ok(&["cache", "jax", "--vacuum", "1day", "--dry-run", "--json"]));
    assert_eq!(r.as_array().unwrap().len(), 1);
    assert!(jax.join("jit_old-1").exists());
    user.ok(&["cache", "jax", "--vacuum", "1day"]);
    assert!(!jax.join("jit_old-1").exists() && jax.join("jit_new-2").exists());
    user.ok(&["cache", "jax", "--clear"]);
    assert!(walk(&jax).is_empty());
}

#[test]
fn install_gc_and_sync_at_once_leave_a_consistent_cache() {
    let source = User::new();
    install(&source, "coalescent/kingman@1.2");
    install(&source, "reliability/erlang");
    let user = User::new();
    install(&user, "queue/mm1k");
    let src = source.home().display().to_string();
    let mut children = Vec::new();
    for _ in 0..3 {
        for args in [
            vec![
                "--offline",
                "install",
                "coalescent/kingman@1.2",
                "queue/mm1k",
            ],
            vec!["--offline", "install", "reliability/erlang"],
            vec!["cache", "gc", "--max-size", "0"],
            vec!["cache", "sync", src.as_str()],
        ] {
            children.push(
                user.cmd(user.dir.path(), &args)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap(),
            );
        }
    }
    for c in children {
        let out = c.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
    }
    // Whatever survived is complete: every row's files verify, and no temporary files remain.
    user.ok(&["verify"]);
    for i in user.installed() {
        let content = i["content_hash"].as_str().unwrap();
        assert!(
            user.home()
                .join("bundles")
                .join(content)
                .join("manifest.json")
                .is_file()
        );
    }
    assert!(
        walk(&user.home().join("tmp")).is_empty(),
        "{:?}",
        walk(&user.home().join("tmp"))
    );
    // And it can be brought back to full.
    install(&user, "coalescent/kingman@1.2");
    install(&user, "queue/mm1k");
    install(&user, "reliability/erlang");
    user.ok(&["verify"]);
    assert_eq!(user.installed().len(), 3);
}

#[test]
fn gc_measures_the_store_from_the_database_and_walks_only_unrecorded_bundles() {
    let user = User::new();
    let k = install(&user, "coalescent/kingman@1.2");
    let m = install(&user, "queue/mm1k");
    let bundle = |i: &serde_json::Value| {
        user.home()
            .join("bundles")
            .join(i["content_hash"].as_str().unwrap())
    };
    let archive_bytes = |i: &serde_json::Value| {
        std::fs::metadata(user.home().join("archives").join(format!(
            "{}.ptd.tar.zst",
            i["archive_sha256"].as_str().unwrap()
        )))
        .unwrap()
        .len()
    };
    let on_disk = |dir: &std::path::Path| -> u64 {
        walk(dir)
            .iter()
            .map(|p| std::fs::metadata(p).unwrap().len())
            .sum()
    };
    let dry_run = || {
        let r = json(&user.ok(&["cache", "gc", "--max-size", "0", "--dry-run", "--json"]));
        let bytes: std::collections::BTreeMap<String, u64> = r["evicted"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["name"].as_str().unwrap().to_string(),
                    e["bytes"].as_u64().unwrap(),
                )
            })
            .collect();
        (r["bytes_before"].as_u64().unwrap(), bytes)
    };
    // Recorded sizes agree with the disk.
    let (before, bytes) = dry_run();
    let k_bytes = archive_bytes(&k) + on_disk(&bundle(&k));
    let m_bytes = archive_bytes(&m) + on_disk(&bundle(&m));
    assert_eq!(bytes["coalescent/kingman"], k_bytes);
    assert_eq!(bytes["queue/mm1k"], m_bytes);
    assert_eq!(before, k_bytes + m_bytes);

    // gc reads the bundle sizes the database records (here altered), not the disk ...
    let db = rusqlite::Connection::open(user.home().join("ptd.db")).unwrap();
    db.execute(
        "UPDATE sizes SET bundle_bytes = 7000000 WHERE content_hash = ?1",
        [k["content_hash"].as_str().unwrap()],
    )
    .unwrap();
    // ... and measures on disk only a bundle without a recorded size.
    db.execute(
        "DELETE FROM sizes WHERE content_hash = ?1",
        [m["content_hash"].as_str().unwrap()],
    )
    .unwrap();
    drop(db);
    let (before, bytes) = dry_run();
    assert_eq!(bytes["coalescent/kingman"], archive_bytes(&k) + 7_000_000);
    assert_eq!(bytes["queue/mm1k"], m_bytes);
    assert_eq!(before, archive_bytes(&k) + 7_000_000 + m_bytes);

    // Evicting by those figures: kingman (least recently used) alone brings the store under
    // the limit.
    let r = json(&user.ok(&[
        "cache",
        "gc",
        "--max-size",
        &(m_bytes + 10).to_string(),
        "--json",
    ]));
    let names: Vec<&str> = r["evicted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["coalescent/kingman"]);
    assert_eq!(r["bytes_after"].as_u64().unwrap(), m_bytes);
    assert!(!bundle(&k).exists());
    user.ok(&["verify"]);
}

#[test]
fn gc_counts_a_bundle_shared_by_two_versions_once() {
    // The same content recorded under two registries: one archive, one bundle.
    let user = User::new();
    let k = install(&user, "coalescent/kingman@1.2");
    let db = rusqlite::Connection::open(user.home().join("ptd.db")).unwrap();
    db.execute(
        "INSERT INTO installed SELECT name, version, 'mirror', archive_sha256, content_hash,
         phasic_hash, canonical_hash, size, installed_at, origin, variant, built FROM installed",
        [],
    )
    .unwrap();
    drop(db);
    let r = json(&user.ok(&["cache", "gc", "--max-size", "0", "--json"]));
    let freed: Vec<u64> = r["evicted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["bytes"].as_u64().unwrap())
        .collect();
    let bundle = user
        .home()
        .join("bundles")
        .join(k["content_hash"].as_str().unwrap());
    assert_eq!(freed.len(), 2);
    assert_eq!(
        freed[0], 0,
        "the first eviction frees nothing the other still uses"
    );
    assert_eq!(freed[1], r["bytes_before"].as_u64().unwrap());
    assert_eq!(r["bytes_after"], 0);
    assert!(!bundle.exists());
    assert!(user.installed().is_empty());
}

/// Writes `bytes` bytes to `path` and sets its modification time `days` days back.
fn aged_file(path: &std::path::Path, bytes: usize, days: f64) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, vec![b'x'; bytes]).unwrap();
    set_age(path, days);
}

fn set_age(path: &std::path::Path, days: f64) {
    let t = std::time::SystemTime::now() - std::time::Duration::from_secs_f64(days * 86400.0);
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_times(std::fs::FileTimes::new().set_accessed(t).set_modified(t))
        .unwrap();
}

fn paths(r: &serde_json::Value) -> Vec<String> {
    r["unowned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            std::path::Path::new(f["path"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

#[test]
fn gc_evicts_tier1_files_no_installed_version_owns_least_recently_modified_first() {
    let user = User::new();
    let k = install(&user, "coalescent/kingman@1.2");
    let sym = user.phasic_cache().join("symbolic");
    let owned = sym.join(format!("{}.json", k["phasic_hash"].as_str().unwrap()));
    // The installed version's DAG, old on disk: only the normal eviction path may remove it.
    set_age(&owned, 30.0);
    // Elimination results phasic wrote itself, one with a .meta and an index.db row.
    aged_file(&sym.join("aaaa1111.json"), 3000, 5.0);
    aged_file(&sym.join("aaaa1111.meta"), 100, 5.0);
    aged_file(&sym.join("bbbb2222.json"), 2000, 3.0);
    aged_file(&sym.join("cccc3333.json"), 1000, 0.0);
    let index = rusqlite::Connection::open(sym.join("index.db")).unwrap();
    index
        .execute(
            "INSERT INTO cache_entries (hash_key, file_path, created_at, accessed_at, size_bytes)
             VALUES ('aaaa1111', ?1, '2020-01-01T00:00:00Z', '2020-01-01T00:00:00Z', 3000)",
            [sym.join("aaaa1111.json").to_str().unwrap()],
        )
        .unwrap();
    let rows = |index: &rusqlite::Connection| -> i64 {
        index
            .query_row(
                "SELECT COUNT(*) FROM cache_entries WHERE hash_key = 'aaaa1111'",
                [],
                |r| r.get(0),
            )
            .unwrap()
    };
    let store = json(&user.ok(&["cache", "info", "--json"]))["store"]["bytes"]
        .as_u64()
        .unwrap();

    // A dry run by age lists the two old unowned files, oldest first, and removes nothing.
    let r = json(&user.ok(&["cache", "gc", "--max-age", "2days", "--dry-run", "--json"]));
    assert_eq!(paths(&r), ["aaaa1111.json", "bbbb2222.json"]);
    assert_eq!(r["unowned"][0]["bytes"], 3100);
    assert_eq!(r["unowned_freed"], 5100);
    assert!(r["evicted"].as_array().unwrap().is_empty());
    assert_eq!(r["bytes_before"].as_u64().unwrap(), store + 6100);
    assert!(sym.join("aaaa1111.json").exists() && sym.join("bbbb2222.json").exists());

    // By size: the least recently modified file goes first, and that is enough.
    let limit = store + 6100 - 3100;
    let r = json(&user.ok(&["cache", "gc", "--max-size", &limit.to_string(), "--json"]));
    assert_eq!(paths(&r), ["aaaa1111.json"]);
    assert!(r["evicted"].as_array().unwrap().is_empty());
    assert_eq!(r["bytes_after"].as_u64().unwrap(), limit);
    assert!(!sym.join("aaaa1111.json").exists() && !sym.join("aaaa1111.meta").exists());
    assert_eq!(rows(&index), 0);
    assert!(sym.join("bbbb2222.json").exists());

    // By age: the other old file; the fresh one and the installed version's DAG stay.
    let r = json(&user.ok(&["cache", "gc", "--max-age", "2days", "--json"]));
    assert_eq!(paths(&r), ["bbbb2222.json"]);
    assert!(!sym.join("bbbb2222.json").exists());
    assert!(sym.join("cccc3333.json").exists() && owned.exists());
    user.ok(&["verify"]);

    // Down to nothing: the version goes through the normal eviction path (its DAG with it); a
    // file modified moments ago may belong to an install in progress and is kept.
    let r = json(&user.ok(&["cache", "gc", "--max-size", "0", "--json"]));
    assert_eq!(r["evicted"][0]["name"], "coalescent/kingman");
    assert!(paths(&r).is_empty());
    assert!(!owned.exists());
    assert!(sym.join("cccc3333.json").exists());
    assert_eq!(r["bytes_after"], 1000);

    // Without any ptd install, phasic's files are still bounded.
    let phasic_only = User::new();
    let sym = phasic_only.phasic_cache().join("symbolic");
    aged_file(&sym.join("dddd4444.json"), 500, 4.0);
    aged_file(&sym.join("eeee5555.json"), 500, 1.0);
    let r = json(&phasic_only.ok(&["cache", "gc", "--max-age", "2days", "--json"]));
    assert_eq!(paths(&r), ["dddd4444.json"]);
    assert!(!sym.join("dddd4444.json").exists() && sym.join("eeee5555.json").exists());
}

/// The file names listed under `key` of a JSON report.
fn listed(r: &serde_json::Value, key: &str) -> std::collections::BTreeSet<String> {
    r[key]
        .as_array()
        .unwrap_or_else(|| panic!("no '{key}' in {r}"))
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect()
}

/// Temporaries as interrupted installs leave them (a killed extraction, partial downloads, a
/// DAG copy that failed on a full disk, atomic writes cut short), some stale, some still in
/// use. Returns (stale paths, their bytes, paths in use).
fn make_temporaries(
    user: &User,
    tag: &str,
) -> (Vec<std::path::PathBuf>, u64, Vec<std::path::PathBuf>) {
    let tmp = user.home().join("tmp");
    let sym = user.phasic_cache().join("symbolic");
    let mut stale = Vec::new();
    // A killed extraction.
    let extract = tmp.join(format!("extract-{tag}Ab12"));
    aged_file(&extract.join("graph.json"), 4000, 0.0);
    aged_file(&extract.join("dag.json"), 3000, 0.0);
    age_tree(&extract, 1.0);
    stale.push(extract);
    // A partial download whose archive lock nobody holds, and one of a process that is gone.
    let part = tmp.join(format!("{}.part", tag.repeat(64 / tag.len())));
    aged_file(&part, 2000, 1.0);
    stale.push(part);
    let dead = tmp.join(format!("{}.999999999.part", "e".repeat(64)));
    aged_file(&dead, 500, 1.0);
    stale.push(dead);
    // A DAG being copied into tier 1 when the disk filled up.
    let link = sym.join(format!(".link-{tag}Xy9z"));
    aged_file(&link, 700, 1.0);
    stale.push(link);
    // Atomic writes cut short in the store and the registry state.
    let t1 = user.home().join("archives").join(format!(".tmp{tag}Qw1z"));
    aged_file(&t1, 300, 1.0);
    stale.push(t1);
    let t2 = user
        .home()
        .join("registries")
        .join("default")
        .join(format!(".tmp{tag}Er2z"));
    aged_file(&t2, 200, 1.0);
    stale.push(t2);
    let bytes = 4000 + 3000 + 2000 + 500 + 700 + 300 + 200;
    // In use: written moments ago.
    let fresh = sym.join(format!(".link-{tag}Fr3z"));
    aged_file(&fresh, 100, 0.0);
    let fresh_tmp = tmp.join(format!("extract-{tag}Fr4"));
    aged_file(&fresh_tmp.join("graph.json"), 100, 0.0);
    (stale, bytes, vec![fresh, fresh_tmp])
}

#[test]
fn stale_temporaries_are_counted_and_removed_by_gc_and_verify_repair_but_not_those_in_use() {
    let user = User::new();
    let k = install(&user, "coalescent/kingman@1.2");
    let tmp = user.home().join("tmp");
    let sym = user.phasic_cache().join("symbolic");
    let (stale, bytes, mut in_use) = make_temporaries(&user, "ab");

    // A partial download whose archive lock a live process holds.
    let sha = "c".repeat(64);
    let held = tmp.join(format!("{sha}.part"));
    aged_file(&held, 900, 1.0);
    std::fs::create_dir_all(user.home().join("locks")).unwrap();
    let lock =
        std::fs::File::create(user.home().join("locks").join(format!("{sha}.lock"))).unwrap();
    lock.lock().unwrap();
    in_use.push(held.clone());
    // A live process's own partial download: this test's.
    let own = tmp.join(format!("{}.{}.part", "d".repeat(64), std::process::id()));
    aged_file(&own, 800, 1.0);
    in_use.push(own);
    // A DAG hard-linked into tier 1 moments ago keeps the old modification time of the file it
    // links to; the link itself is new.
    let dag = user
        .home()
        .join("bundles")
        .join(k["content_hash"].as_str().unwrap())
        .join("dag.json");
    set_age(&dag, 2.0);
    let linked = sym.join(".link-abHl05");
    std::fs::hard_link(&dag, &linked).unwrap();
    in_use.push(linked);
    let want: std::collections::BTreeSet<String> =
        stale.iter().map(|p| p.display().to_string()).collect();

    // Counted by `cache info`.
    let info = json(&user.ok(&["cache", "info", "--json"]));
    assert_eq!(info["leftovers"]["entries"], stale.len(), "{info}");
    assert_eq!(info["leftovers"]["bytes"], bytes, "{info}");
    let text = String::from_utf8(user.ok(&["cache", "info"]).stdout).unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("leftovers") && l.contains(&format!("{} entries", stale.len()))),
        "{text}"
    );

    // Reported by `cache verify`, which removes nothing and finds nothing damaged.
    let v = json(&user.ok(&["cache", "verify", "--json"]));
    assert_eq!(listed(&v, "leftovers"), want);
    assert!(v["problems"].as_array().unwrap().is_empty(), "{v}");
    let out = user.ok(&["cache", "verify"]);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains(&stale[0].display().to_string()), "{err}");

    // Listed by a dry-run gc, removed by gc.
    let r = json(&user.ok(&["cache", "gc", "--max-age", "100days", "--dry-run", "--json"]));
    assert_eq!(listed(&r, "leftovers"), want);
    assert!(stale.iter().all(|p| p.exists()));
    let r = json(&user.ok(&["cache", "gc", "--max-age", "100days", "--json"]));
    assert_eq!(listed(&r, "leftovers"), want);
    assert_eq!(r["leftovers_freed"], bytes);
    for p in &stale {
        assert!(!p.exists(), "{} was kept", p.display());
    }
    for p in &in_use {
        assert!(p.exists(), "{} is in use but was removed", p.display());
    }
    assert!(r["evicted"].as_array().unwrap().is_empty());
    user.ok(&["verify"]);
    let info = json(&user.ok(&["cache", "info", "--json"]));
    assert_eq!(info["leftovers"]["entries"], 0, "{info}");

    // Once its lock is released, the held partial download is stale too.
    drop(lock);
    let (stale, _, _) = make_temporaries(&user, "cd");
    let v = json(&user.ok(&["cache", "verify", "--repair", "--json"]));
    let mut want: std::collections::BTreeSet<String> =
        stale.iter().map(|p| p.display().to_string()).collect();
    want.insert(held.display().to_string());
    assert_eq!(listed(&v, "leftovers"), want);
    assert!(v["problems"].as_array().unwrap().is_empty(), "{v}");
    for p in stale.iter().chain([&held]) {
        assert!(!p.exists(), "{} was kept", p.display());
    }
    assert!(
        v["repaired"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x.as_str().unwrap().contains(&held.display().to_string())),
        "{v}"
    );
    assert_eq!(user.installed().len(), 1);
    user.ok(&["verify"]);
}
