//! Publishing into an S3-compatible bucket and installing from it, against a real S3 server
//! started on 127.0.0.1: s3s-fs, which checks request signatures. `scripts/test-all.sh`
//! installs it into `.tools/`; without it this test fails rather than skips.

mod support;

use support::http_server::{Fault, FileServer};
use support::s3::{KEY_ID, SECRET, start_s3};
use support::{User, json, kingman_moments, models, rel_err};

fn creds(secret: &str) -> [(&'static str, &str); 3] {
    [
        ("AWS_ACCESS_KEY_ID", KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", secret),
        ("AWS_REGION", "us-east-1"),
    ]
}

#[test]
fn publish_to_s3_then_install_from_the_bucket() {
    let s3 = start_s3();
    let endpoint = format!("http://127.0.0.1:{}", s3.port);
    let publisher = User::new();
    let d = publisher.dir.path();
    let key = publisher.keygen(&d.join("lab"));
    let index = d.join("index");
    publisher.init_registry(
        &index,
        "lab",
        &["s3://models/archives/{file}"],
        &["--s3-endpoint", &endpoint],
        &key,
    );
    let kingman = models().join("coalescent/kingman/versions/1.2.1");
    let publish = |args: &[&str], secret: &str| {
        let mut a = vec![
            "publish",
            "--registry",
            index.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
            "--json",
        ];
        a.extend_from_slice(args);
        publisher.run_env(&a, &creds(secret))
    };

    // --dry-run uploads nothing and leaves the index alone.
    let before = std::fs::read(index.join("snapshot.json")).unwrap();
    let out = publish(&[kingman.to_str().unwrap(), "--dry-run"], SECRET);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = json(&out);
    assert_eq!(r["status"], "dry-run");
    assert_eq!(r["files"][0]["action"], "would upload");
    assert!(
        r["files"][0]["to"]
            .as_str()
            .unwrap()
            .starts_with("s3://models/archives/coalescent-kingman-1.2.1.ptd.tar.zst")
    );
    assert_eq!(std::fs::read(index.join("snapshot.json")).unwrap(), before);

    // Bad credentials: a clear error, nothing in the index.
    let out = publish(&[kingman.to_str().unwrap()], "wrong-secret");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("credentials were refused"), "{err}");
    assert!(!index.join("coalescent/kingman").exists());

    // Publish, archive and signature land in the bucket; the index line follows.
    let out = publish(&[kingman.to_str().unwrap()], SECRET);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = json(&out);
    assert_eq!(r["status"], "published");
    let actions: Vec<&str> = r["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["created", "created"]);
    // The same content again is a no-op.
    let out = publish(&[kingman.to_str().unwrap()], SECRET);
    assert_eq!(json(&out)["status"], "unchanged");
    // A large archive goes up in parts.
    let out = publisher.run_env(
        &[
            "publish",
            models().join("reliability/erlang").to_str().unwrap(),
            "--registry",
            index.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
        &[
            creds(SECRET)[0],
            creds(SECRET)[1],
            creds(SECRET)[2],
            ("PTD_S3_MULTIPART_BYTES", "1"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Another index pointing at the same bucket cannot overwrite the stored archive with other
    // bytes under the same name.
    let other_index = d.join("other-index");
    publisher.init_registry(
        &other_index,
        "other",
        &["s3://models/archives/{file}"],
        &["--s3-endpoint", &endpoint],
        &key,
    );
    let changed = d.join("kingman-changed");
    std::fs::create_dir_all(&changed).unwrap();
    let text = std::fs::read_to_string(kingman.join("model.toml"))
        .unwrap()
        .replace("samples = 10", "samples = 11");
    std::fs::write(changed.join("model.toml"), text).unwrap();
    let out = publisher.run_env(
        &[
            "publish",
            changed.to_str().unwrap(),
            "--registry",
            other_index.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
        &creds(SECRET),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already exists with other bytes"), "{err}");
    assert!(!other_index.join("coalescent/kingman").exists());
    // And the same registry refuses it before uploading anything.
    let out = publish(&[changed.to_str().unwrap()], SECRET);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already published with other content"));

    // A user installs from the bucket into a clean cache.
    let user = User::new();
    let reg = index.to_str().unwrap();
    let out = user.run_env(
        &[
            "install",
            "coalescent/kingman@1.2",
            "reliability/erlang",
            "--registry",
            reg,
            "--json",
        ],
        &creds(SECRET),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let items = json(&out)["installed"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    let k = items
        .iter()
        .find(|i| i["name"] == "coalescent/kingman")
        .unwrap();
    assert!(
        k["origin"]
            .as_str()
            .unwrap()
            .starts_with("downloaded from s3://models/archives/"),
        "{k}"
    );
    let m = user.installed_moments(k, "0.3");
    let (m1, m2) = kingman_moments(10, 0.3);
    assert!(rel_err(m[0], m1) < 1e-10);
    assert!(rel_err(m[1], m2) < 1e-10);
    user.ok(&["verify"]);
    // Without credentials (and no instance metadata service) ptd says what it tried.
    let user = User::new();
    let metadata = format!("http://127.0.0.1:{}", dead_port());
    let out = user.run_env(
        &["install", "reliability/erlang", "--registry", reg],
        &[("AWS_METADATA_ENDPOINT", metadata.as_str())],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("could not get AWS credentials"), "{err}");
    assert!(user.installed().is_empty());
    // Credentials from an AWS profile in ~/.aws work like the environment's.
    let aws = user.dir.path().join(".aws");
    std::fs::create_dir_all(&aws).unwrap();
    std::fs::write(
        aws.join("credentials"),
        format!("[default]\naws_access_key_id = nobody\naws_secret_access_key = x\n\n[lab]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n"),
    )
    .unwrap();
    std::fs::write(aws.join("config"), "[profile lab]\nregion = us-east-1\n").unwrap();
    let out = user.run_env(
        &["install", "reliability/erlang", "--registry", reg],
        &[("AWS_PROFILE", "lab")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(user.installed().len(), 1);
}

/// A port on 127.0.0.1 that nothing listens on: an instance metadata endpoint that is not there.
fn dead_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A registry in `publisher`'s directory whose archives are in the bucket at `endpoint`, with
/// reliability/erlang published into it (with static keys); its index directory.
fn erlang_in_a_bucket(publisher: &User, endpoint: &str) -> std::path::PathBuf {
    let d = publisher.dir.path();
    let key = publisher.keygen(&d.join("lab"));
    let index = d.join("index");
    publisher.init_registry(
        &index,
        "lab",
        &["s3://models/archives/{file}"],
        &["--s3-endpoint", endpoint],
        &key,
    );
    let out = publisher.run_env(
        &[
            "publish",
            models().join("reliability/erlang").to_str().unwrap(),
            "--registry",
            index.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
        &creds(SECRET),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    index
}

#[test]
fn container_credentials_sign_requests() {
    let s3 = start_s3();
    let publisher = User::new();
    let index = erlang_in_a_bucket(&publisher, &s3.endpoint());
    let reg = index.to_str().unwrap();

    // A container credential endpoint (as ECS and EKS Pod Identity provide) on 127.0.0.1:
    // temporary credentials in the documented JSON, for the token in the token file only.
    let creds_dir = tempfile::tempdir().unwrap();
    std::fs::write(
        creds_dir.path().join("creds"),
        format!(
            r#"{{"AccessKeyId":"{KEY_ID}","SecretAccessKey":"{SECRET}","Token":"session-token","Expiration":"2099-01-01T00:00:00Z"}}"#
        ),
    )
    .unwrap();
    let server = FileServer::start(creds_dir.path());
    server.set_fault("/creds", Fault::RequireBearer("pod-token".into()));
    let token_file = creds_dir.path().join("token");
    std::fs::write(&token_file, "Bearer pod-token").unwrap();
    let full_uri = format!("{}/creds", server.url());
    let metadata = format!("http://127.0.0.1:{}", dead_port());
    let user = User::new();
    let out = user.run_env(
        &["install", "reliability/erlang", "--registry", reg],
        &[
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", full_uri.as_str()),
            (
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                token_file.to_str().unwrap(),
            ),
            ("AWS_METADATA_ENDPOINT", metadata.as_str()),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(user.installed().len(), 1);
    assert!(server.hits("/creds") >= 1, "{:?}", server.log());

    // The same endpoint handing out a wrong secret: the requests are signed with it, and refused.
    std::fs::write(
        creds_dir.path().join("creds"),
        format!(
            r#"{{"AccessKeyId":"{KEY_ID}","SecretAccessKey":"wrong","Token":"session-token","Expiration":"2099-01-01T00:00:00Z"}}"#
        ),
    )
    .unwrap();
    let other = User::new();
    let out = other.run_env(
        &["install", "reliability/erlang", "--registry", reg],
        &[
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", full_uri.as_str()),
            (
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                token_file.to_str().unwrap(),
            ),
            ("AWS_METADATA_ENDPOINT", metadata.as_str()),
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("credentials were refused"), "{err}");
}

#[test]
fn without_any_credentials_the_error_says_what_was_tried() {
    let s3 = start_s3();
    let publisher = User::new();
    let index = erlang_in_a_bucket(&publisher, &s3.endpoint());
    let metadata = format!("http://127.0.0.1:{}", dead_port());
    let user = User::new();
    let out = user.run_env(
        &[
            "install",
            "reliability/erlang",
            "--registry",
            index.to_str().unwrap(),
        ],
        &[("AWS_METADATA_ENDPOINT", metadata.as_str())],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("could not get AWS credentials from the instance metadata service"),
        "{err}"
    );
    assert!(err.contains("AWS_SKIP_SIGNATURE"), "{err}");
    // A profile that gets its credentials in a way ptd does not follow: said so, with a way out.
    let aws = user.dir.path().join(".aws");
    std::fs::create_dir_all(&aws).unwrap();
    std::fs::write(
        aws.join("config"),
        "[profile lab]\ncredential_process = /bin/false\nregion = us-east-1\n",
    )
    .unwrap();
    let out = user.run_env(
        &[
            "install",
            "reliability/erlang",
            "--registry",
            index.to_str().unwrap(),
        ],
        &[
            ("AWS_PROFILE", "lab"),
            ("AWS_METADATA_ENDPOINT", metadata.as_str()),
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`credential_process`, which ptd does not support"),
        "{err}"
    );
    assert!(
        err.contains("aws configure export-credentials --profile lab"),
        "{err}"
    );
    std::fs::remove_dir_all(&aws).unwrap();
    // Asking for unsigned requests explicitly sends them so; this bucket is private.
    let out = user.run_env(
        &[
            "install",
            "reliability/erlang",
            "--registry",
            index.to_str().unwrap(),
        ],
        &[("AWS_SKIP_SIGNATURE", "true")],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refused"), "{err}");
    assert!(user.installed().is_empty());
}
