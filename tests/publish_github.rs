//! Publishing to GitHub releases and installing through the assets' download URLs, against a
//! local stand-in for GitHub's API (GitHub itself cannot be reached from tests): token required,
//! 404/422 as GitHub answers them, a separate upload host, downloads redirected to storage.

mod support;

use support::github::GitHub;
use support::{User, json, kingman_moments, models, rel_err};

const TOKEN: &str = "ghp_publishertoken";

#[test]
fn publish_to_github_releases_then_install_from_the_assets() {
    let gh = GitHub::start("lab", "models", TOKEN);
    let publisher = User::new();
    let d = publisher.dir.path();
    let key = publisher.keygen(&d.join("lab"));
    let index = d.join("index");
    publisher.init_registry(&index, "lab", &[&gh.download_template()], &[], &key);
    let config = std::fs::read_to_string(index.join("config.json")).unwrap();
    assert!(config.contains("\"github-releases\""), "{config}");
    let api = gh.api_url();
    let publish = |dir: &std::path::Path, idx: &std::path::Path, token: Option<&str>| {
        let mut env = vec![("GITHUB_API_URL", api.as_str())];
        if let Some(t) = token {
            env.push(("GITHUB_TOKEN", t));
        }
        publisher.run_env(
            &[
                "publish",
                dir.to_str().unwrap(),
                "--registry",
                idx.to_str().unwrap(),
                "--key",
                key.to_str().unwrap(),
                "--json",
            ],
            &env,
        )
    };
    let kingman = models().join("coalescent/kingman/versions/1.2.1");

    // No token, or a wrong one: clear errors, nothing published.
    let out = publish(&kingman, &index, None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("GITHUB_TOKEN"));
    let out = publish(&kingman, &index, Some("ghp_wrong"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("401") && err.contains("GITHUB_TOKEN was refused"),
        "{err}"
    );
    assert!(gh.releases().is_empty());
    assert!(!index.join("coalescent/kingman").exists());

    // Published: one release per version, archive and signature as assets.
    let out = publish(&kingman, &index, Some(TOKEN));
    assert!(
        out.status.success(),
        "{}\n{:#?}",
        String::from_utf8_lossy(&out.stderr),
        gh.log()
    );
    assert_eq!(json(&out)["status"], "published");
    let out = publish(&models().join("queue/mm1k"), &index, Some(TOKEN));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let releases = gh.releases();
    assert_eq!(releases.len(), 2);
    assert_eq!(releases[0].0, "coalescent-kingman-v1.2.1");
    assert_eq!(
        releases[0].1,
        [
            "coalescent-kingman-1.2.1.ptd.tar.zst",
            "coalescent-kingman-1.2.1.ptd.tar.zst.minisig"
        ]
    );
    // Uploads went to the upload host named by the release, with the token.
    let log = gh.log();
    assert!(log.iter().any(|(h, m, _, a)| h == "uploads"
        && m == "POST"
        && a.as_deref() == Some(&format!("Bearer {TOKEN}"))));

    // The same content again changes nothing; other content under the same version is refused
    // by the index and, through another index, by the existing release asset.
    assert_eq!(
        json(&publish(&kingman, &index, Some(TOKEN)))["status"],
        "unchanged"
    );
    let other_index = d.join("other");
    publisher.init_registry(&other_index, "other", &[&gh.download_template()], &[], &key);
    let changed = d.join("kingman-changed");
    std::fs::create_dir_all(&changed).unwrap();
    std::fs::write(
        changed.join("model.toml"),
        std::fs::read_to_string(kingman.join("model.toml"))
            .unwrap()
            .replace("samples = 10", "samples = 12"),
    )
    .unwrap();
    let out = publish(&changed, &other_index, Some(TOKEN));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already exists with other bytes"), "{err}");
    let out = publish(&changed, &index, Some(TOKEN));
    assert!(!out.status.success());

    // A user installs through the assets' public download URLs (302 to storage), with no token.
    let user = User::new();
    let out = user.ok(&[
        "install",
        "coalescent/kingman@1.2",
        "--registry",
        index.to_str().unwrap(),
        "--json",
    ]);
    let item = json(&out)["installed"][0].clone();
    assert!(
        item["origin"]
            .as_str()
            .unwrap()
            .contains("/lab/models/releases/download/coalescent-kingman-v1.2.1/"),
        "{item}"
    );
    let m = user.installed_moments(&item, "2");
    let (m1, m2) = kingman_moments(10, 2.0);
    assert!(rel_err(m[0], m1) < 1e-10);
    assert!(rel_err(m[1], m2) < 1e-10);
    // The download host never saw a token.
    assert!(
        gh.log()
            .iter()
            .filter(|(h, ..)| h == "downloads")
            .all(|(.., a)| a.is_none())
    );

    // Private repository: the public URLs answer 404; with GITHUB_TOKEN the assets come through
    // the API (302 to storage, without the token).
    gh.set_private(true);
    let user = User::new();
    let reg = index.to_str().unwrap();
    let err = user.fails(&["install", "queue/mm1k", "--registry", reg]);
    assert!(err.contains("404"), "{err}");
    let out = user.run_env(
        &["install", "queue/mm1k", "--registry", reg, "--json"],
        &[
            ("GITHUB_TOKEN", "ghp_readertoken_ok"),
            ("GITHUB_API_URL", &api),
        ],
    );
    // The reader's token is checked like any other: a wrong one gets 401.
    assert!(!out.status.success());
    let out = user.run_env(
        &["install", "queue/mm1k", "--registry", reg, "--json"],
        &[("GITHUB_TOKEN", TOKEN), ("GITHUB_API_URL", &api)],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let item = json(&out)["installed"][0].clone();
    assert!(
        item["origin"]
            .as_str()
            .unwrap()
            .contains("/repos/lab/models/releases/assets/"),
        "{item}"
    );
    let log = gh.log();
    assert!(log.iter().any(|(h, m, p, a)| h == "api"
        && m == "GET"
        && p.contains("/releases/assets/")
        && a.as_deref() == Some(&format!("Bearer {TOKEN}"))));
    assert!(
        log.iter()
            .filter(|(h, ..)| h == "downloads")
            .all(|(.., a)| a.is_none()),
        "the token reached the storage host"
    );
    user.ok(&["verify"]);
}

#[test]
fn publishing_from_ci_opens_a_pull_request_on_the_index_repository() {
    let gh = GitHub::start("lab", "index", TOKEN);
    let publisher = User::new();
    let d = publisher.dir.path();
    let key = publisher.keygen(&d.join("lab"));
    // The index as committed on main, under registry-index/; archives on a shared filesystem.
    let seed = d.join("seed");
    let store = d.join("archives");
    publisher.init_registry(
        &seed,
        "lab",
        &[&format!("file://{}/{{file}}", store.display())],
        &[],
        &key,
    );
    let files: Vec<(String, Vec<u8>)> = support::walk(&seed)
        .into_iter()
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .map(|p| {
            let rel = p.strip_prefix(&seed).unwrap().display().to_string();
            (format!("registry-index/{rel}"), std::fs::read(&p).unwrap())
        })
        .collect();
    gh.seed("main", &files);
    let main_before = gh.branch("main").unwrap();

    let api = gh.api_url();
    let run = || {
        publisher.run_env(
            &[
                "publish",
                models()
                    .join("coalescent/kingman/versions/1.2.1")
                    .to_str()
                    .unwrap(),
                "--index-repo",
                "lab/index",
                "--key",
                key.to_str().unwrap(),
                "--json",
            ],
            &[("GITHUB_TOKEN", TOKEN), ("GITHUB_API_URL", &api)],
        )
    };
    let out = run();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = json(&out);
    assert_eq!(r["status"], "published");
    assert_eq!(r["pull_request"]["number"], 1);
    let pulls = gh.pulls();
    assert_eq!(pulls.len(), 1);
    assert_eq!(pulls[0].2, "ptd-publish/coalescent-kingman-v1.2.1");
    assert_eq!(pulls[0].3, "main");
    assert!(
        pulls[0]
            .4
            .contains(r["entry"]["content_hash"].as_str().unwrap())
    );
    // main is untouched; the branch has the new index line and a new signed snapshot.
    assert_eq!(gh.branch("main").unwrap(), main_before);
    let branch = gh.branch("ptd-publish/coalescent-kingman-v1.2.1").unwrap();
    assert!(branch.contains_key("registry-index/coalescent/kingman"));
    assert_ne!(
        branch["registry-index/snapshot.json"],
        main_before["registry-index/snapshot.json"]
    );
    // What the pull request proposes is a valid, installable index.
    let merged = d.join("merged");
    for (path, bytes) in &branch {
        let rel = path.strip_prefix("registry-index/").unwrap();
        let p = merged.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    let user = User::new();
    let out = user.ok(&[
        "install",
        "coalescent/kingman@1.2",
        "--registry",
        merged.to_str().unwrap(),
        "--json",
    ]);
    let item = json(&out)["installed"][0].clone();
    let (m1, _) = kingman_moments(10, 1.0);
    assert!(rel_err(user.installed_moments(&item, "1")[0], m1) < 1e-10);

    // Publishing the same version again while its pull request is open is refused clearly
    // (here naming the index by its GitHub URL).
    let out = publisher.run_env(
        &[
            "publish",
            models()
                .join("coalescent/kingman/versions/1.2.1")
                .to_str()
                .unwrap(),
            "--registry",
            "https://github.com/lab/index/tree/main/registry-index",
            "--key",
            key.to_str().unwrap(),
        ],
        &[("GITHUB_TOKEN", TOKEN), ("GITHUB_API_URL", &api)],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("already exists") && err.contains("pull request"),
        "{err}"
    );
}

/// The stand-in answers as GitHub documents: 401 without or with a wrong token, 422 for a tag or
/// an asset name that exists, 404 for what is not there, uploads only on the upload host.
#[test]
fn the_github_stand_in_answers_like_github() {
    let gh = GitHub::start("o", "r", TOKEN);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    rt.block_on(async {
        let api = gh.api_url();
        let create = |tok: Option<&str>| {
            let mut r = c
                .post(format!("{api}/repos/o/r/releases"))
                .json(&serde_json::json!({"tag_name": "t-v1"}));
            if let Some(t) = tok {
                r = r.bearer_auth(t);
            }
            r.send()
        };
        let r = create(None).await.unwrap();
        assert_eq!(r.status(), 401);
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["message"], "Requires authentication");
        assert_eq!(create(Some("nope")).await.unwrap().status(), 401);
        let r = create(Some(TOKEN)).await.unwrap();
        assert_eq!(r.status(), 201);
        let rel: serde_json::Value = r.json().await.unwrap();
        let r = create(Some(TOKEN)).await.unwrap();
        assert_eq!(r.status(), 422);
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["errors"][0]["code"], "already_exists");
        let upload = rel["upload_url"]
            .as_str()
            .unwrap()
            .replace("{?name,label}", "");
        assert!(upload.starts_with(&gh.uploads_url()));
        // The API host does not take uploads.
        let on_api = upload.replace(&gh.uploads_url(), &api);
        let r = c
            .post(format!("{on_api}?name=a.bin"))
            .bearer_auth(TOKEN)
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        for expect in [201, 422] {
            let r = c
                .post(format!("{upload}?name=a.bin"))
                .bearer_auth(TOKEN)
                .header("Content-Type", "application/octet-stream")
                .body("bytes")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), expect);
        }
        let r = c
            .get(format!("{api}/repos/o/r/releases/tags/missing"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        let r = c
            .get(format!(
                "{}/o/r/releases/download/t-v1/a.bin",
                gh.downloads_url()
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 302);
        // A private repository: its download URLs answer 404, with or without an API token;
        // the asset's API URL serves it (302 to storage) with the token only.
        gh.set_private(true);
        let browser = format!("{}/o/r/releases/download/t-v1/a.bin", gh.downloads_url());
        assert_eq!(c.get(&browser).send().await.unwrap().status(), 404);
        let r = c.get(&browser).bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(r.status(), 404);
        let list: serde_json::Value = c
            .get(format!("{api}/repos/o/r/releases/{}/assets", rel["id"]))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(list[0]["browser_download_url"], browser.as_str());
        let asset = list[0]["url"].as_str().unwrap();
        let get = |tok: Option<&str>| {
            let mut r = c.get(asset).header("Accept", "application/octet-stream");
            if let Some(t) = tok {
                r = r.bearer_auth(t);
            }
            r.send()
        };
        assert_eq!(get(None).await.unwrap().status(), 401);
        let r = get(Some(TOKEN)).await.unwrap();
        assert_eq!(r.status(), 302);
        let storage = r.headers()["location"].to_str().unwrap().to_string();
        let r = c.get(&storage).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.bytes().await.unwrap().as_ref(), b"bytes");
    });
}

/// A private repository's public download URLs answer 404: a publish run again after its assets
/// were uploaded (here: the index line was never written, as when a run stops after the upload)
/// finds them through the API with the token, accepts them as unchanged and completes.
#[test]
fn publishing_again_into_a_private_repository_finds_the_assets_through_the_api() {
    let gh = GitHub::start("lab", "private-models", TOKEN);
    gh.set_private(true);
    let publisher = User::new();
    let d = publisher.dir.path();
    let key = publisher.keygen(&d.join("lab"));
    let index = d.join("index");
    publisher.init_registry(&index, "lab", &[&gh.download_template()], &[], &key);
    let first: Vec<(std::path::PathBuf, Vec<u8>)> = support::walk(&index)
        .into_iter()
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    let api = gh.api_url();
    let publish = || {
        publisher.run_env(
            &[
                "publish",
                models()
                    .join("coalescent/kingman/versions/1.2.1")
                    .to_str()
                    .unwrap(),
                "--registry",
                index.to_str().unwrap(),
                "--key",
                key.to_str().unwrap(),
                "--json",
            ],
            &[("GITHUB_TOKEN", TOKEN), ("GITHUB_API_URL", &api)],
        )
    };
    let out = publish();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = json(&out);
    assert_eq!(r["status"], "published");
    assert!(
        r["files"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["action"] == "created")
    );

    // The index as before the run: its line was never written.
    std::fs::remove_dir_all(&index).unwrap();
    for (p, b) in &first {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b).unwrap();
    }
    let seen = gh.log().len();
    let out = publish();
    assert!(
        out.status.success(),
        "{}\n{:#?}",
        String::from_utf8_lossy(&out.stderr),
        gh.log()
    );
    let r = json(&out);
    assert_eq!(r["status"], "published");
    let files = r["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert!(files.iter().all(|f| f["action"] == "unchanged"), "{r}");
    let log = gh.log()[seen..].to_vec();
    let bearer = format!("Bearer {TOKEN}");
    assert!(
        log.iter().any(|(h, m, p, a)| h == "api"
            && m == "GET"
            && p.contains("/releases/assets/")
            && a.as_deref() == Some(bearer.as_str())),
        "{log:#?}"
    );
    assert!(
        log.iter()
            .filter(|(h, ..)| h == "downloads")
            .all(|(_, _, p, a)| a.is_none() && p.starts_with("/storage/")),
        "{log:#?}"
    );
    assert_eq!(gh.releases()[0].1.len(), 2);

    // What was published installs with a reader's token.
    let user = User::new();
    let out = user.run_env(
        &[
            "install",
            "coalescent/kingman",
            "--registry",
            index.to_str().unwrap(),
            "--json",
        ],
        &[("GITHUB_TOKEN", TOKEN), ("GITHUB_API_URL", &api)],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
