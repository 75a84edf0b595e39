//! A shared cache layer in an S3 bucket, against a real S3 server on 127.0.0.1 (s3s-fs):
//! `[cache] shared = "s3://bucket/prefix"` is consulted after the local store and before the
//! registry, verified, and a damaged object is ignored; `ptd cache sync s3://...` copies what is
//! missing, each version verified.

mod support;

use support::http_server::Fault;
use support::s3::{KEY_ID, SECRET, start_s3};
use support::{HttpRegistry, User, json, models};

fn creds() -> [(&'static str, &'static str); 3] {
    [
        ("AWS_ACCESS_KEY_ID", KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
        ("AWS_REGION", "us-east-1"),
    ]
}

#[test]
fn an_s3_shared_layer_is_used_verified_and_synced_from() {
    let s3 = start_s3();
    let reg = HttpRegistry::new();
    reg.publish_standard();
    reg.publish(&models().join("queue/mm1k"));
    let url = reg.index_url();

    // A cluster's ptd home, copied into the bucket the way `aws s3 sync` would: ptd.db and
    // archives/ under the prefix.
    let cluster = User::new();
    cluster.ok(&[
        "install",
        "coalescent/kingman@1.2",
        "queue/mm1k",
        "--registry",
        &url,
    ]);
    let layer = s3.dir.path().join("lab-cache").join("cluster");
    std::fs::create_dir_all(layer.join("archives")).unwrap();
    std::fs::copy(cluster.home().join("ptd.db"), layer.join("ptd.db")).unwrap();
    for f in support::walk(&cluster.home().join("archives")) {
        std::fs::copy(&f, layer.join("archives").join(f.file_name().unwrap())).unwrap();
    }
    let config = format!(
        "[cache]\nshared = \"s3://lab-cache/cluster\"\nshared-endpoint = \"{}\"\n",
        s3.endpoint()
    );

    // A user with that layer: the archive comes from the bucket, not the registry's server.
    let user = User::new();
    std::fs::create_dir_all(user.home()).unwrap();
    std::fs::write(user.home().join("config.toml"), &config).unwrap();
    let info = json(&user.ok(&["cache", "info", "--json"]));
    assert!(
        info.to_string().contains("s3://lab-cache/cluster"),
        "{info}"
    );
    reg.server.reset_log();
    let out = user.run_env(
        &[
            "install",
            "coalescent/kingman@1.2",
            "--registry",
            &url,
            "--json",
        ],
        &creds(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let item = json(&out)["installed"][0].clone();
    assert_eq!(item["action"], "shared", "{item}");
    assert!(
        item["origin"]
            .as_str()
            .unwrap()
            .contains("s3://lab-cache/cluster")
    );
    let archive_requests = reg
        .server
        .log()
        .iter()
        .filter(|r| r.path.starts_with("/artifacts/"))
        .count();
    assert_eq!(archive_requests, 0, "nothing downloaded from the registry");
    let m = user.installed_moments(&item, "1.0");
    let (want, _) = support::kingman_moments(10, 1.0);
    assert!(support::rel_err(m[0], want) < 1e-10);

    // A damaged object in the bucket is not used: the registry's copy is downloaded instead.
    let mm1k_sha = cluster
        .installed()
        .into_iter()
        .find(|i| i["name"] == "queue/mm1k")
        .unwrap()["archive_sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let object = layer
        .join("archives")
        .join(format!("{mm1k_sha}.ptd.tar.zst"));
    let mut bytes = std::fs::read(&object).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    std::fs::write(&object, &bytes).unwrap();
    let out = user.run_env(
        &["install", "queue/mm1k", "--registry", &url, "--json"],
        &creds(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json(&out)["installed"][0]["action"], "downloaded");
    let (checked, problems) = {
        let v = json(&user.run_env(&["cache", "verify", "--json"], &[]));
        (v["checked"].as_u64().unwrap(), v["problems"].clone())
    };
    assert_eq!(checked, 2);
    assert_eq!(problems.as_array().unwrap().len(), 0, "{problems}");

    // `ptd cache sync s3://...`: another user copies what the layer has and they lack, each
    // verified; the damaged archive is reported and nothing of it installed.
    let other = User::new();
    std::fs::create_dir_all(other.home()).unwrap();
    std::fs::write(other.home().join("config.toml"), &config).unwrap();
    reg.server
        .set_fault("/index/snapshot.json", Fault::Reset { times: 1000 });
    let out = other.run_env(
        &["cache", "sync", "s3://lab-cache/cluster", "--json"],
        &creds(),
    );
    let report = json(&out);
    assert_eq!(report["copied"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(report["copied"][0]["name"], "coalescent/kingman");
    let failed = report["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{report}");
    assert!(failed[0][0].as_str().unwrap().contains("queue/mm1k"));
    let listed = other.installed();
    assert_eq!(listed.len(), 1);
    // A layer without a ptd.db is refused clearly.
    let err = String::from_utf8_lossy(
        &other
            .run_env(&["cache", "sync", "s3://lab-cache/nothing-here"], &creds())
            .stderr,
    )
    .to_string();
    assert!(err.contains("not a ptd home (no ptd.db)"), "{err}");
}

#[test]
fn an_s3_layer_that_does_not_answer_is_passed_over() {
    let reg = HttpRegistry::new();
    reg.publish(&models().join("reliability/erlang"));
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let user = User::new();
    std::fs::create_dir_all(user.home()).unwrap();
    std::fs::write(
        user.home().join("config.toml"),
        format!(
            "[cache]\nshared = \"s3://lab-cache/cluster\"\nshared-endpoint = \"http://127.0.0.1:{port}\"\n"
        ),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let out = user.run_env(
        &[
            "install",
            "reliability/erlang",
            "--registry",
            &reg.index_url(),
            "--json",
        ],
        &creds(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json(&out)["installed"][0]["action"], "downloaded");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}
