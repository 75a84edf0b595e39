//! Installing from a registry served by a real HTTP server on 127.0.0.1: resolution, the lock,
//! verification failures, yanked versions, offline use, mirrors, tokens and concurrency.

mod support;

use support::http_server::{Fault, FileServer};
use support::{HttpRegistry, User, json, kingman_moments, models, rel_err, walk};

#[test]
fn install_lock_and_reinstall_from_the_lock() {
    let reg = HttpRegistry::new();
    reg.publish_standard();
    let user = User::new();
    let project = user.dir.path().join("study");
    user.ok(&["init", project.to_str().unwrap(), "--name", "study"]);
    let url = reg.index_url();
    user.ok_in(
        &project,
        &["add", "coalescent/kingman@1.2", "--registry", &url],
    );
    let lock1 = std::fs::read_to_string(project.join("ptd.lock")).unwrap();
    assert!(lock1.contains("version = \"1.2.1\""), "{lock1}");
    assert!(lock1.contains(&format!("registry = \"{url}\"")), "{lock1}");
    let sha = lib_sha(&reg, "coalescent/kingman", "1.2.1");
    assert!(lock1.contains(&sha), "the lock pins the archive SHA-256");

    let out = user.ok_in(&project, &["install", "--json"]);
    let items = json(&out)["installed"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["action"], "downloaded");
    assert_eq!(items[0]["version"], "1.2.1");
    let archive = HttpRegistry::archive_path("coalescent/kingman", "1.2.1");
    assert_eq!(reg.server.hits(&archive), 1);
    // The installed DAG gives Kingman's moments.
    let m = user.installed_moments(&items[0], "0.7");
    let (m1, m2) = kingman_moments(10, 0.7);
    assert!(
        rel_err(m[0], m1) < 1e-10 && rel_err(m[1], m2) < 1e-10,
        "{m:?}"
    );
    // Tier 1: phasic's cache holds the DAG under the phasic hash.
    let phasic = items[0]["phasic_hash"].as_str().unwrap();
    assert!(
        user.phasic_cache()
            .join("symbolic")
            .join(format!("{phasic}.dag"))
            .is_file()
    );
    assert!(
        user.phasic_cache()
            .join("symbolic")
            .join(format!("{phasic}.meta"))
            .is_file()
    );
    assert!(user.phasic_cache().join("symbolic/index.db").is_file());

    // Installing again changes nothing and fetches nothing.
    reg.server.reset_log();
    let out = user.ok_in(&project, &["install", "--locked", "--json"]);
    assert_eq!(json(&out)["installed"][0]["action"], "installed");
    assert!(reg.server.log().is_empty(), "{:?}", reg.server.log());

    // A newer version appears: the lock keeps 1.2.1 until `ptd update`.
    let newer = user.dir.path().join("kingman-1.2.2");
    std::fs::create_dir_all(&newer).unwrap();
    let recipe =
        std::fs::read_to_string(models().join("coalescent/kingman/versions/1.2.1/model.toml"))
            .unwrap()
            .replace("version = \"1.2.1\"", "version = \"1.2.2\"");
    std::fs::write(newer.join("model.toml"), recipe).unwrap();
    reg.publish(&newer);

    // A fresh machine reinstalls exactly the locked bytes.
    std::fs::remove_dir_all(user.home()).unwrap();
    std::fs::remove_dir_all(user.phasic_cache()).unwrap();
    let out = user.ok_in(&project, &["install", "--locked", "--json"]);
    let again = json(&out)["installed"][0].clone();
    assert_eq!(again["version"], "1.2.1");
    assert_eq!(again["archive_sha256"], items[0]["archive_sha256"]);
    assert_eq!(
        std::fs::read_to_string(project.join("ptd.lock")).unwrap(),
        lock1
    );
    assert_eq!(
        reg.server.hits(&archive),
        1,
        "downloaded once more since the log was reset"
    );

    user.ok_in(&project, &["update"]);
    let lock2 = std::fs::read_to_string(project.join("ptd.lock")).unwrap();
    assert!(lock2.contains("version = \"1.2.2\""), "{lock2}");

    // Editing ptd.toml makes the lock stale: --locked refuses, lock fixes it.
    let toml = std::fs::read_to_string(project.join("ptd.toml")).unwrap();
    std::fs::write(project.join("ptd.toml"), toml.replace("^1.2", "=1.2.0")).unwrap();
    let err = user.fails_in(&project, &["install", "--locked"]);
    assert!(
        err.contains("--locked") && err.contains("1.2.2 -> 1.2.0"),
        "{err}"
    );
    user.ok_in(&project, &["lock"]);
    assert!(
        std::fs::read_to_string(project.join("ptd.lock"))
            .unwrap()
            .contains("version = \"1.2.0\"")
    );

    // ptd verify re-hashes everything and finds it intact.
    let out = user.ok(&["verify", "--json"]);
    assert_eq!(json(&out)["problems"].as_array().unwrap().len(), 0);
    // ... and notices a damaged file.
    let sym = user
        .phasic_cache()
        .join("symbolic")
        .join(format!("{phasic}.dag"));
    let mut bytes = std::fs::read(&sym).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&sym, bytes).unwrap();
    let out = user
        .cmd(user.dir.path(), &["verify", "--json"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    // The cached DAG is a hard link to the bundle's copy: both are reported.
    let problems = json(&out)["problems"].as_array().unwrap().clone();
    assert!(
        problems
            .iter()
            .any(|p| p["path"] == sym.display().to_string()),
        "{problems:?}"
    );

    user.ok_in(&project, &["remove", "coalescent/kingman"]);
    let lock3 = std::fs::read_to_string(project.join("ptd.lock")).unwrap();
    assert!(!lock3.contains("kingman"), "{lock3}");
}

/// The SHA-256 of an archive as published.
fn lib_sha(reg: &HttpRegistry, name: &str, version: &str) -> String {
    let bytes = std::fs::read(reg.archive_file(name, version)).unwrap();
    ptd::fs::sha256_hex(&bytes)
}

fn assert_nothing_installed(user: &User) {
    assert!(user.installed().is_empty());
    let files = user.cached_files();
    assert!(files.is_empty(), "cache not empty: {files:?}");
}

#[test]
fn tampered_archive_is_rejected_and_nothing_installed() {
    let reg = HttpRegistry::new();
    reg.publish_standard();
    let user = User::new();
    let path = reg.archive_file("coalescent/kingman", "1.2.1");
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    let url = reg.index_url();
    let err = user.fails(&["install", "coalescent/kingman@1.2", "--registry", &url]);
    assert!(
        err.contains("SHA-256") && err.contains("nothing was installed"),
        "{err}"
    );
    assert_nothing_installed(&user);
    assert!(walk(&user.home().join("tmp")).is_empty());

    // Changing the index line to match the tampered archive breaks the signed snapshot.
    let idx = reg.index_dir().join("coalescent/kingman");
    let text = std::fs::read_to_string(&idx).unwrap();
    let good = lib_sha_of(&reg, "coalescent/kingman", "1.2.1", &text);
    std::fs::write(&idx, text.replace(&good, &ptd::fs::sha256_hex(&bytes))).unwrap();
    let err = user.fails(&["install", "coalescent/kingman@1.2", "--registry", &url]);
    assert!(err.contains("does not match the signed snapshot"), "{err}");
    assert_nothing_installed(&user);
}

/// The SHA-256 the index records for a version.
fn lib_sha_of(_reg: &HttpRegistry, name: &str, version: &str, index_text: &str) -> String {
    for line in index_text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["name"] == name && v["version"] == version {
            return v["sha256"].as_str().unwrap().to_string();
        }
    }
    panic!("{name} {version} not in the index");
}

#[test]
fn signatures_by_other_keys_or_for_other_bundles_are_rejected() {
    let reg = HttpRegistry::new();
    reg.publish_standard();
    let user = User::new();
    let url = reg.index_url();
    let archive = reg.archive_file("coalescent/kingman", "1.2.1");
    let sig = format!("{}.minisig", archive.display());
    let original = std::fs::read_to_string(&sig).unwrap();

    // A valid signature of the same bytes by a key the registry does not list.
    let other = reg
        .publisher
        .keygen(&reg.publisher.dir.path().join("intruder"));
    reg.publisher.ok(&[
        "sign",
        archive.to_str().unwrap(),
        "--key",
        other.to_str().unwrap(),
    ]);
    let err = user.fails(&["install", "coalescent/kingman@1.2", "--registry", &url]);
    assert!(err.contains("made by key"), "{err}");
    assert_nothing_installed(&user);

    // A valid signature by the registry's key, whose signed comment names another bundle.
    reg.publisher.ok(&[
        "sign",
        archive.to_str().unwrap(),
        "--key",
        reg.key.to_str().unwrap(),
        "--trusted-comment",
        "ptd-bundle name=coalescent/kingman version=1.2.0 content_hash=0000",
    ]);
    let err = user.fails(&["install", "coalescent/kingman@1.2", "--registry", &url]);
    assert!(err.contains("a signature of another file"), "{err}");
    assert_nothing_installed(&user);

    // A signature with a flipped bit.
    let mut lines: Vec<String> = original.lines().map(str::to_string).collect();
    let mut b = lines[1].clone().into_bytes();
    b[20] = if b[20] == b'A' { b'B' } else { b'A' };
    lines[1] = String::from_utf8(b).unwrap();
    std::fs::write(&sig, lines.join("\n") + "\n").unwrap();
    let err = user.fails(&["install", "coalescent/kingman@1.2", "--registry", &url]);
    assert!(err.to_lowercase().contains("signature"), "{err}");
    assert_nothing_installed(&user);

    // No signature at all.
    std::fs::remove_file(&sig).unwrap();
    let err = user.fails(&["install", "coalescent/kingman@1.2", "--registry", &url]);
    assert!(err.contains("no signature"), "{err}");
    assert_nothing_installed(&user);

    // Restored, it installs.
    std::fs::write(&sig, original).unwrap();
    user.ok(&["install", "coalescent/kingman@1.2", "--registry", &url]);
    assert_eq!(user.installed().len(), 1);
}

#[test]
fn truncated_downloads_are_rejected_then_resumed() {
    let reg = HttpRegistry::new();
    reg.publish_standard();
    let user = User::new();
    let url = reg.index_url();
    let path = HttpRegistry::archive_path("coalescent/kingman", "1.2.1");
    reg.server.set_fault(
        &path,
        Fault::Truncate {
            at: 100,
            times: 100,
        },
    );
    let err = user.fails(&["install", "coalescent/kingman@1.2", "--registry", &url]);
    assert!(err.contains("gave up after"), "{err}");
    assert_nothing_installed(&user);

    // Cut once: the next attempt asks for the rest with Range and the install succeeds.
    reg.server.clear_faults();
    reg.server.reset_log();
    reg.server
        .set_fault(&path, Fault::Truncate { at: 100, times: 1 });
    user.ok(&["install", "coalescent/kingman@1.2", "--registry", &url]);
    let ranges: Vec<String> = reg
        .server
        .log()
        .iter()
        .filter(|r| r.path == path)
        .filter_map(|r| r.header("range").map(str::to_string))
        .collect();
    assert!(ranges.iter().any(|r| r.starts_with("bytes=")), "{ranges:?}");
    assert_eq!(user.installed().len(), 1);
    user.ok(&["verify"]);
}

#[test]
fn server_errors_are_retried_and_mirrors_tried_in_order() {
    // The first location refuses connections (nothing listens there); the second works.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = dead.local_addr().unwrap().port();
    drop(dead);
    let reg = HttpRegistry::with_locations(&[
        &format!("http://127.0.0.1:{dead_port}/artifacts/{{file}}"),
        "{server}/artifacts/{file}",
    ]);
    reg.publish_standard();
    let user = User::new();
    let path = HttpRegistry::archive_path("reliability/erlang", "1.0.0");
    reg.server.set_fault(
        &path,
        Fault::Status {
            status: 503,
            times: 2,
        },
    );
    let out = user.ok(&[
        "install",
        "reliability/erlang",
        "--registry",
        &reg.index_url(),
        "--json",
    ]);
    let item = &json(&out)["installed"][0];
    assert_eq!(item["action"], "downloaded");
    assert!(item["origin"].as_str().unwrap().contains(&reg.server.url()));
    assert_eq!(reg.server.requests(&path), 3, "two 503s, then 200");

    // A 404 everywhere is a clear error naming what was tried.
    let gone = HttpRegistry::archive_path("coalescent/kingman", "1.0.0");
    std::fs::remove_file(reg.root.path().join(gone.trim_start_matches('/'))).unwrap();
    let err = user.fails(&[
        "install",
        "coalescent/kingman@=1.0.0",
        "--registry",
        &reg.index_url(),
    ]);
    assert!(err.contains("HTTP 404"), "{err}");
}

#[test]
fn yanked_versions_are_skipped_unless_locked() {
    let reg = HttpRegistry::new();
    reg.publish_standard();
    let user = User::new();
    let url = reg.index_url();
    // 1.1.0 is yanked: ~1.1 finds nothing, and says why.
    reg.yank("coalescent/kingman@1.1.0", false);
    let err = user.fails(&["install", "coalescent/kingman@~1.1", "--registry", &url]);
    assert!(err.contains("yanked"), "{err}");

    // A project locks 1.2.1; then 1.2.1 is yanked.
    let project = user.dir.path().join("p");
    user.ok(&["init", project.to_str().unwrap()]);
    user.ok_in(
        &project,
        &["add", "coalescent/kingman@1.2", "--registry", &url],
    );
    reg.yank("coalescent/kingman@1.2.1", false);
    // New resolutions skip it ...
    let out = user.ok(&[
        "install",
        "coalescent/kingman@1.2",
        "--registry",
        &url,
        "--json",
    ]);
    assert_eq!(json(&out)["installed"][0]["version"], "1.2.0");
    // ... but the project keeps its locked version.
    let out = user.ok_in(&project, &["install", "--locked", "--json"]);
    assert_eq!(json(&out)["installed"][0]["version"], "1.2.1");
    // `ptd info` shows the flag.
    let out = user.ok(&["info", "coalescent/kingman", "--registry", &url, "--json"]);
    let info = json(&out);
    let yanked: Vec<&str> = info["versions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["yanked"] == true)
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(yanked, ["1.1.0", "1.2.1"]);
    assert_eq!(info["selected"], "1.2.0");
    // Undoing the yank makes it the newest again.
    reg.yank("coalescent/kingman@1.2.1", true);
    let out = user.ok(&[
        "info",
        "coalescent/kingman@1.2",
        "--registry",
        &url,
        "--json",
    ]);
    assert_eq!(json(&out)["selected"], "1.2.1");
}

#[test]
fn offline_uses_only_the_cache_and_index_requests_are_conditional() {
    let reg = HttpRegistry::new();
    reg.publish_standard();
    let user = User::new();
    let url = reg.index_url();
    user.ok(&["install", "coalescent/kingman@1.2", "--registry", &url]);
    // Online again: index files are revalidated with If-None-Match and answered 304.
    reg.server.reset_log();
    user.ok(&["install", "coalescent/kingman@1.2", "--registry", &url]);
    let log = reg.server.log();
    assert!(
        log.iter()
            .any(|r| r.path == "/index/coalescent/kingman" && r.status == 304),
        "{log:?}"
    );
    assert!(log.iter().all(|r| !r.path.starts_with("/artifacts")));
    // Only the files needed were fetched: erlang's index file was never asked for.
    assert_eq!(reg.server.requests("/index/reliability/erlang"), 0);

    // Offline, with the server gone: installed things still install, others fail clearly.
    let HttpRegistry { server, root, .. } = reg;
    drop(server);
    let _keep = root;
    user.ok(&[
        "--offline",
        "install",
        "coalescent/kingman@1.2",
        "--registry",
        &url,
    ]);
    let err = user.fails(&[
        "--offline",
        "install",
        "coalescent/kingman@=1.0.0",
        "--registry",
        &url,
    ]);
    assert!(err.contains("--offline"), "{err}");
    let err = user.fails(&[
        "--offline",
        "install",
        "reliability/erlang",
        "--registry",
        &url,
    ]);
    assert!(err.contains("--offline"), "{err}");
}

#[test]
fn tokens_go_only_to_the_registry_hosts() {
    // The index needs a token; archives redirect to another server, which must not see it.
    let reg = HttpRegistry::new();
    reg.publish_standard();
    let elsewhere_root = tempfile::tempdir().unwrap();
    let elsewhere = FileServer::start(elsewhere_root.path());
    let path = HttpRegistry::archive_path("reliability/erlang", "1.0.0");
    for suffix in ["", ".minisig"] {
        let src = reg
            .root
            .path()
            .join(format!("{}{suffix}", path.trim_start_matches('/')));
        let dst = elsewhere_root
            .path()
            .join(format!("{}{suffix}", path.trim_start_matches('/')));
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(src, dst).unwrap();
        reg.server.set_fault(
            &format!("{path}{suffix}"),
            Fault::Redirect(format!("{}{path}{suffix}", elsewhere.url())),
        );
    }
    for f in [
        "config.json",
        "snapshot.json",
        "snapshot.json.minisig",
        "reliability/erlang",
    ] {
        reg.server.set_fault(
            &format!("/index/{f}"),
            Fault::RequireBearer("s3cret".into()),
        );
    }
    let user = User::new();
    std::fs::create_dir_all(user.home()).unwrap();
    std::fs::write(
        user.home().join("config.toml"),
        format!(
            "[registries.lab]\nindex = \"{}\"\ntoken-env = \"LAB_TOKEN\"\n",
            reg.index_url()
        ),
    )
    .unwrap();
    let err = user.fails(&["install", "reliability/erlang", "--registry", "lab"]);
    assert!(err.contains("401"), "{err}");
    let out = user.run_env(
        &["install", "reliability/erlang", "--registry", "lab"],
        &[("LAB_TOKEN", "s3cret")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent: Vec<_> = reg
        .server
        .log()
        .into_iter()
        .filter(|r| r.path.starts_with("/index/"))
        .filter_map(|r| r.header("authorization").map(str::to_string))
        .collect();
    assert!(sent.iter().any(|h| h == "Bearer s3cret"), "{sent:?}");
    let log = elsewhere.log();
    assert!(elsewhere.hits(&path) == 1, "{log:?}");
    assert!(
        log.iter().all(|r| r.header("authorization").is_none()),
        "the token leaked to another host: {log:?}"
    );
    assert_eq!(user.installed()[0]["registry"], "lab");
}

/// Eight `ptd install` processes at once; returns how many reported a download, after checking
/// that all succeeded and left one consistent, verified cache.
fn eight_at_once(locks: bool) -> (usize, HttpRegistry) {
    let reg = HttpRegistry::new();
    reg.publish_standard();
    // Slow the archives down so that the processes overlap.
    for (n, v) in [
        ("coalescent/kingman", "1.2.1"),
        ("reliability/erlang", "1.0.0"),
    ] {
        reg.server
            .set_fault(&HttpRegistry::archive_path(n, v), Fault::Throttle(4_000));
    }
    let user = User::new();
    let url = reg.index_url();
    let children: Vec<_> = (0..8)
        .map(|_| {
            let mut c = user.cmd(
                user.dir.path(),
                &[
                    "install",
                    "coalescent/kingman@1.2",
                    "reliability/erlang",
                    "--registry",
                    &url,
                    "--json",
                ],
            );
            if !locks {
                c.env("PTD_NO_FILE_LOCKS", "1");
            }
            c.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut downloaded = 0;
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for i in json(&out)["installed"].as_array().unwrap() {
            if i["action"] == "downloaded" {
                downloaded += 1;
            }
        }
    }
    let installed = user.installed();
    assert_eq!(installed.len(), 2, "{installed:?}");
    user.ok(&["verify"]);
    assert!(walk(&user.home().join("tmp")).is_empty());
    (downloaded, reg)
}

#[test]
fn eight_processes_install_at_once() {
    let (downloaded, reg) = eight_at_once(true);
    assert_eq!(
        downloaded, 2,
        "each archive is downloaded by exactly one process"
    );
    for (n, v) in [
        ("coalescent/kingman", "1.2.1"),
        ("reliability/erlang", "1.0.0"),
    ] {
        assert_eq!(reg.server.hits(&HttpRegistry::archive_path(n, v)), 1);
    }
}

/// As on a filesystem whose locks do not work: processes may repeat each other's downloads, but
/// every one succeeds and the cache stays whole and verified.
#[test]
fn eight_processes_without_file_locks_keep_the_cache_consistent() {
    let (downloaded, _reg) = eight_at_once(false);
    assert!((2..=16).contains(&downloaded), "{downloaded}");
}

#[test]
fn search_and_info_read_the_registry() {
    let reg = HttpRegistry::new();
    reg.publish_standard();
    let user = User::new();
    let url = reg.index_url();
    let out = user.ok(&["search", "coalescent", "--registry", &url, "--json"]);
    let hits = json(&out);
    let names: Vec<&str> = hits
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["coalescent/kingman"]);
    assert_eq!(hits[0]["version"], "1.2.1");
    let out = user.ok(&["search", "erlang", "--json"]);
    assert_eq!(json(&out)[0]["name"], "reliability/erlang");
    let err = user.fails(&["info", "coalescent/nope", "--registry", &url]);
    assert!(err.contains("no model 'coalescent/nope'"), "{err}");
    let err = user.fails(&["install", "coalescent/kingman@2", "--registry", &url]);
    assert!(
        err.contains("no version of coalescent/kingman matches ^2"),
        "{err}"
    );
    let err = user.fails(&["install", "coalescent/kingman@1.x.y"]);
    assert!(err.contains("not a version requirement"), "{err}");
    let err = user.fails(&["install", "a/b", "--registry", "nowhere"]);
    assert!(err.contains("registry 'nowhere'"), "{err}");
}

#[test]
fn a_registry_cannot_be_rolled_back() {
    let reg = HttpRegistry::new();
    reg.publish_standard();
    let user = User::new();
    let url = reg.index_url();
    let index = reg.index_dir();
    let saved: Vec<(std::path::PathBuf, Vec<u8>)> = walk(&index)
        .into_iter()
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    reg.yank("coalescent/kingman@1.2.1", false);
    user.ok(&["info", "coalescent/kingman", "--registry", &url]);
    // A mirror serves the older (validly signed) index again.
    for (p, b) in &saved {
        std::fs::write(p, b).unwrap();
    }
    let err = user.fails(&["info", "coalescent/kingman", "--registry", &url]);
    assert!(err.contains("rolled-back"), "{err}");
}

#[test]
fn jax_cache_entries_for_this_platform_go_to_tier_two() {
    let reg = HttpRegistry::new();
    let model = models().join("reliability/erlang");
    let built = json(&reg.publisher.ok(&[
        "build",
        model.to_str().unwrap(),
        "-o",
        reg.publisher.dir.path().to_str().unwrap(),
        "--json",
    ]));
    let content_hash = built["content_hash"].as_str().unwrap().to_string();
    // Platform archives as `ptd build --jax` writes them, for two tags.
    let archive = |tag: &str, content_hash: &str, files: &[(&str, &[u8])]| {
        let meta = ptd::jax::archive::JaxMeta {
            format: ptd::jax::archive::FORMAT.into(),
            format_version: ptd::jax::archive::FORMAT_VERSION,
            name: "reliability/erlang".into(),
            version: semver::Version::new(1, 0, 0),
            content_hash: content_hash.into(),
            tag: tag.into(),
            jax: ptd::jax::JaxEnv {
                jax: "0.10.2".into(),
                jaxlib: "0.10.2".into(),
                backend: "cpu".into(),
                platform_version: "cpu".into(),
            },
            batches: vec![1],
            moments: 2,
            files: Vec::new(),
        };
        let files: Vec<(String, Vec<u8>)> = files
            .iter()
            .map(|(n, b)| (n.to_string(), b.to_vec()))
            .collect();
        let path = reg.publisher.dir.path().join(format!("{tag}.jax.tar.zst"));
        std::fs::write(&path, ptd::jax::archive::pack(meta, &files).unwrap()).unwrap();
        path.display().to_string()
    };
    let linux = archive(
        "test-linux",
        &content_hash,
        &[
            ("jit_moments-8f1e2a-cache", b"compiled executable bytes"),
            ("jit_moments-9b3c4d-cache", b"another batch size"),
        ],
    );
    let mac = archive(
        "test-mac",
        &content_hash,
        &[("jit_moments-77aa-cache", b"other platform")],
    );
    let (index_dir, store) = (reg.index_dir(), reg.artifacts());
    let publish = |extra: &[&str]| {
        let mut args = vec![
            "publish",
            model.to_str().unwrap(),
            "--registry",
            index_dir.to_str().unwrap(),
            "--store",
            store.to_str().unwrap(),
            "--key",
            reg.key.to_str().unwrap(),
            "--json",
        ];
        args.extend_from_slice(extra);
        reg.publisher.run_env(&args, &[])
    };
    // An archive compiled from other content is refused, and nothing is published.
    let stale = archive("test-stale", &"ab".repeat(32), &[("jit_x-cache", b"x")]);
    let out = publish(&["--jax-archive", &stale]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not from this bundle"), "{err}");
    assert!(walk(&reg.artifacts()).is_empty());
    // The bundle with the Linux archive; the Mac one is added to the same version later.
    let out = publish(&["--jax-archive", &linux]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        json(&out)["entry"]["artifacts"].as_array().unwrap().len(),
        1
    );
    let out = publish(&["--jax-archive", &mac, "--jax-archive", &linux]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(&out);
    assert_eq!(report["status"], "published");
    let tags: Vec<&str> = report["entry"]["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["platform"].as_str().unwrap())
        .collect();
    assert_eq!(tags, ["test-linux", "test-mac"]);
    assert_eq!(
        report["files"].as_array().unwrap().len(),
        2,
        "only the Mac archive and its signature"
    );
    assert_eq!(
        json(&publish(&["--jax-archive", &mac]))["status"],
        "unchanged"
    );
    let url = reg.index_url();
    let platform_file = "/artifacts/reliability-erlang-1.0.0.test-linux.jax.tar.zst";

    // Another platform gets the bundle, no JAX files, and a note that says why.
    let user = User::new();
    let out = user.run_env(
        &[
            "install",
            "reliability/erlang",
            "--registry",
            &url,
            "--json",
        ],
        &[("PTD_JAX_TAG", "test-windows")],
    );
    assert!(out.status.success());
    let item = &json(&out)["installed"][0];
    assert_eq!(item["jax_files"], 0);
    let note = item["jax_note"].as_str().unwrap();
    assert!(
        note.contains("test-windows") && note.contains("test-linux, test-mac"),
        "{note}"
    );
    assert!(walk(&user.jax_cache()).is_empty());

    // Without a Python to ask, the same: tier 1 only, with the reason.
    let user = User::new();
    let out = user.run_env(
        &[
            "install",
            "reliability/erlang",
            "--registry",
            &url,
            "--json",
        ],
        &[("PTD_PYTHON", "/nonexistent/python3")],
    );
    assert!(out.status.success());
    let note = json(&out)["installed"][0]["jax_note"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        note.contains("/nonexistent/python3") && note.contains("PTD_PYTHON"),
        "{note}"
    );
    assert!(!user.installed().is_empty());

    // A tampered platform archive: nothing is installed.
    let path = reg.root.path().join(platform_file.trim_start_matches('/'));
    let good = std::fs::read(&path).unwrap();
    let mut bad = good.clone();
    let n = bad.len();
    bad[n - 3] ^= 1;
    std::fs::write(&path, &bad).unwrap();
    let user = User::new();
    let out = user.run_env(
        &["install", "reliability/erlang", "--registry", &url],
        &[("PTD_JAX_TAG", "test-linux")],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("SHA-256"));
    assert!(user.installed().is_empty());
    assert!(walk(&user.jax_cache()).is_empty());
    assert!(walk(&user.phasic_cache()).is_empty());
    assert!(walk(&user.home().join("bundles")).is_empty());

    // Intact, the entries for this tag land in the JAX cache, byte for byte.
    std::fs::write(&path, &good).unwrap();
    let out = user.run_env(
        &[
            "install",
            "reliability/erlang",
            "--registry",
            &url,
            "--json",
        ],
        &[("PTD_JAX_TAG", "test-linux")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json(&out)["installed"][0]["jax_files"], 2);
    assert!(json(&out)["installed"][0].get("jax_note").is_none());
    assert_eq!(
        std::fs::read(user.jax_cache().join("jit_moments-8f1e2a-cache")).unwrap(),
        b"compiled executable bytes"
    );
    assert!(!user.jax_cache().join("jit_moments-77aa-cache").exists());
    assert!(!user.jax_cache().join("jax.json").exists());
}

#[test]
fn a_directory_registry_with_file_locations_and_a_reset_connection() {
    // Index in a directory, archives behind file:// (a lab's shared filesystem).
    let reg = HttpRegistry::with_locations(&["file://{root}/artifacts/{file}"]);
    reg.publish_standard();
    let user = User::new();
    let dir = reg.index_dir();
    let out = user.ok(&[
        "install",
        "coalescent/kingman@~1.2.0",
        "--registry",
        &format!("file://{}", dir.display()),
        "--json",
    ]);
    let item = &json(&out)["installed"][0];
    assert_eq!(item["version"], "1.2.1");
    assert!(
        item["origin"]
            .as_str()
            .unwrap()
            .starts_with("downloaded from file://")
    );
    let m = user.installed_moments(item, "1.5");
    let (m1, m2) = kingman_moments(10, 1.5);
    assert!(rel_err(m[0], m1) < 1e-10 && rel_err(m[1], m2) < 1e-10);
    // The same registry named by its plain path is the same registry (canonical label).
    let out = user.ok(&[
        "install",
        "coalescent/kingman@~1.2.0",
        "--registry",
        dir.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(json(&out)["installed"][0]["action"], "installed");

    // Over HTTP, a connection reset mid-request is retried.
    let web = HttpRegistry::new();
    web.publish_standard();
    let path = HttpRegistry::archive_path("reliability/erlang", "1.0.0");
    web.server.set_fault(&path, Fault::Reset { times: 1 });
    user.ok(&[
        "install",
        "reliability/erlang",
        "--registry",
        &web.index_url(),
    ]);
    assert_eq!(web.server.requests(&path), 2);
}

#[test]
fn http_proxy_from_the_environment_is_used() {
    let reg = HttpRegistry::new();
    reg.publish_standard();
    // The proxy is another server holding the same files; the registry's own server is gone.
    let index_url = reg.index_url();
    let HttpRegistry { server, root, .. } = reg;
    drop(server);
    let proxy = FileServer::start(root.path());
    let user = User::new();
    let out = user.run_env(
        &["install", "reliability/erlang", "--registry", &index_url],
        &[
            ("HTTP_PROXY", &proxy.url()),
            ("NO_PROXY", "example.invalid"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = proxy.log();
    assert!(
        log.iter()
            .any(|r| r.target.starts_with("http://127.0.0.1:")),
        "requests did not go through the proxy: {log:?}"
    );
    // NO_PROXY naming the host bypasses the proxy (and then the dead server fails).
    let user = User::new();
    let out = user.run_env(
        &["install", "reliability/erlang", "--registry", &index_url],
        &[("HTTP_PROXY", &proxy.url()), ("NO_PROXY", "127.0.0.1")],
    );
    assert!(!out.status.success());
}

#[test]
fn a_stalled_download_says_which_timeout_expired_and_how_to_raise_it() {
    let reg = HttpRegistry::new();
    reg.publish(&models().join("reliability/erlang"));
    let path = HttpRegistry::archive_path("reliability/erlang", "1.0.0");
    let env = [
        ("PTD_HTTP_ATTEMPTS", "2"),
        ("PTD_HTTP_TIMEOUT_MS", "300"),
        ("PTD_HTTP_BACKOFF_MS", "5"),
    ];
    for fault in [
        // No answer at all.
        Fault::Delay(std::time::Duration::from_millis(1_500)),
        // Headers and a few bytes, then nothing.
        Fault::Stall {
            at: 10,
            pause: std::time::Duration::from_millis(1_500),
            times: 10,
        },
    ] {
        reg.server.set_fault(&path, fault.clone());
        let user = User::new();
        let out = user.run_env(
            &[
                "install",
                "reliability/erlang",
                "--registry",
                &reg.index_url(),
            ],
            &env,
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{fault:?}");
        assert!(
            err.contains("timed out")
                && err.contains("0.3 s")
                && err.contains("PTD_HTTP_TIMEOUT_MS"),
            "{fault:?}: {err}"
        );
        assert_nothing_installed(&user);
        reg.server.clear_faults();
    }
}

#[test]
fn a_full_disk_while_copying_names_the_file_being_written() {
    // Archives behind file:// (a shared filesystem).
    let reg = HttpRegistry::with_locations(&["file://{root}/artifacts/{file}"]);
    reg.publish(&models().join("reliability/erlang"));
    let sha = lib_sha(&reg, "reliability/erlang", "1.0.0");
    let user = User::new();
    // The partial download is written on a full device.
    let tmp = user.home().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let part = tmp.join(format!("{sha}.part"));
    std::os::unix::fs::symlink("/dev/full", &part).unwrap();
    let err = user.fails(&[
        "install",
        "reliability/erlang",
        "--registry",
        reg.index_dir().to_str().unwrap(),
    ]);
    let source = reg.archive_file("reliability/erlang", "1.0.0");
    assert!(
        err.contains(part.to_str().unwrap()) && err.contains("No space left on device"),
        "{err}"
    );
    assert!(!err.contains(&format!("{}:", source.display())), "{err}");
    assert_nothing_installed(&user);
}

#[test]
fn an_oversized_archive_signature_is_refused_before_it_is_read() {
    let web = HttpRegistry::new();
    web.publish(&models().join("reliability/erlang"));
    let local = HttpRegistry::with_locations(&["file://{root}/artifacts/{file}"]);
    local.publish(&models().join("reliability/erlang"));
    for (reg, index, sig_name) in [
        (
            &web,
            web.index_url(),
            format!(
                "{}{}.minisig",
                web.server.url(),
                HttpRegistry::archive_path("reliability/erlang", "1.0.0")
            ),
        ),
        (
            &local,
            local.index_dir().display().to_string(),
            format!(
                "{}.minisig",
                local.archive_file("reliability/erlang", "1.0.0").display()
            ),
        ),
    ] {
        let sig = reg.archive_file("reliability/erlang", "1.0.0");
        let sig = sig.with_file_name(format!(
            "{}.minisig",
            sig.file_name().unwrap().to_str().unwrap()
        ));
        let mut padded = std::fs::read(&sig).unwrap();
        padded.resize(100 << 10, b'\n');
        std::fs::write(&sig, padded).unwrap();
        let user = User::new();
        let err = user.fails(&["install", "reliability/erlang", "--registry", &index]);
        assert!(
            err.contains(&sig_name)
                && err.contains("65536")
                && err.contains("PTD_INDEX_MAX_SIGNATURE_BYTES"),
            "{err}"
        );
        assert_nothing_installed(&user);
    }
}

fn retry_after(status: u16, value: &str) -> Fault {
    Fault::StatusWith {
        status,
        headers: vec![("Retry-After".into(), value.into())],
        times: 1,
    }
}

#[test]
fn retry_after_is_waited_for_and_capped() {
    let reg = HttpRegistry::new();
    reg.publish(&models().join("reliability/erlang"));
    let path = HttpRegistry::archive_path("reliability/erlang", "1.0.0");
    let install = |user: &User, env: &[(&str, &str)]| {
        user.run_env(
            &[
                "install",
                "reliability/erlang",
                "--registry",
                &reg.index_url(),
                "--json",
            ],
            env,
        )
    };

    // 429 with Retry-After in seconds on the archive: waited for, then downloaded.
    reg.server.set_fault(&path, retry_after(429, "1"));
    let user = User::new();
    let started = std::time::Instant::now();
    let out = install(&user, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(json(&out)["installed"][0]["action"], "downloaded");
    assert_eq!(reg.server.requests(&path), 2, "a 429, then 200");

    // 503 with Retry-After as an HTTP date on an index file: waited for too.
    let snapshot = "/index/snapshot.json";
    let when = support::http_server::http_date(
        std::time::SystemTime::now() + std::time::Duration::from_secs(3),
    );
    reg.server.set_fault(snapshot, retry_after(503, &when));
    let user = User::new();
    let started = std::time::Instant::now();
    let out = install(&user, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The date has whole seconds: at least 2 s of the 3 remain.
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // Asked to wait an hour: a clear error at once, without a second request.
    reg.server.reset_log();
    reg.server.set_fault(&path, retry_after(429, "3600"));
    let user = User::new();
    let out = install(&user, &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the server asked to wait 3600 s (Retry-After)"),
        "{err}"
    );
    assert!(err.contains("PTD_HTTP_MAX_RETRY_AFTER_MS=60000"), "{err}");
    assert_eq!(reg.server.requests(&path), 1);
    // The limit is PTD_HTTP_MAX_RETRY_AFTER_MS: lowered to 1 s, a 2 s wait is refused.
    reg.server.set_fault(&path, retry_after(429, "2"));
    let out = install(&user, &[("PTD_HTTP_MAX_RETRY_AFTER_MS", "1000")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the server asked to wait 2 s (Retry-After)"),
        "{err}"
    );
}
