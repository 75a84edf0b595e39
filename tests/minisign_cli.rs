//! Keys and signatures made by `ptd keygen` / `ptd sign` work with the real `minisign` tool, and
//! keys made by `minisign -G` work with ptd. `scripts/test-all.sh` installs minisign (Debian's
//! package); without it these tests fail rather than skip.

mod support;

use std::process::Command;
use support::User;

fn minisign() -> Command {
    let probe = Command::new("minisign").arg("-v").output();
    assert!(
        probe.is_ok_and(|o| o.status.success()),
        "the minisign tool is missing: run scripts/test-all.sh, or apt-get install minisign"
    );
    Command::new("minisign")
}

#[test]
fn ptd_signatures_verify_with_minisign() {
    let user = User::new();
    let d = user.dir.path();
    let base = d.join("k");
    user.keygen(&base);
    // A bundle, signed with the trusted comment ptd checks.
    let out = user.ok(&[
        "build",
        support::models()
            .join("reliability/erlang")
            .to_str()
            .unwrap(),
        "-o",
        d.to_str().unwrap(),
    ]);
    let archive = String::from_utf8(out.stdout).unwrap().trim().to_string();
    user.ok(&[
        "sign",
        &archive,
        "--key",
        base.with_extension("key").to_str().unwrap(),
    ]);
    let v = minisign()
        .args(["-V", "-p"])
        .arg(base.with_extension("pub"))
        .args(["-m", &archive])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&v.stdout);
    assert!(
        v.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&v.stderr)
    );
    assert!(
        text.contains(
            "Trusted comment: ptd-bundle name=reliability/erlang version=1.0.0 content_hash="
        ),
        "{text}"
    );
    // Tampering is noticed by minisign too.
    let mut bytes = std::fs::read(&archive).unwrap();
    bytes[7] ^= 1;
    std::fs::write(&archive, bytes).unwrap();
    let v = minisign()
        .args(["-V", "-p"])
        .arg(base.with_extension("pub"))
        .args(["-m", &archive])
        .output()
        .unwrap();
    assert!(!v.status.success());
}

#[test]
fn minisign_keys_sign_with_ptd_and_encrypted_ptd_keys_sign_with_minisign() {
    let user = User::new();
    let d = user.dir.path();
    // A key pair made by minisign (no password: -W).
    let st = minisign()
        .args(["-G", "-W", "-p"])
        .arg(d.join("m.pub"))
        .arg("-s")
        .arg(d.join("m.key"))
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let file = d.join("data.txt");
    std::fs::write(&file, "phase-type\n").unwrap();
    user.ok(&[
        "sign",
        file.to_str().unwrap(),
        "--key",
        d.join("m.key").to_str().unwrap(),
        "--trusted-comment",
        "hello",
    ]);
    let v = minisign()
        .args(["-V", "-p"])
        .arg(d.join("m.pub"))
        .arg("-m")
        .arg(&file)
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    assert!(String::from_utf8_lossy(&v.stdout).contains("Trusted comment: hello"));

    // An encrypted ptd key opens in minisign with its password.
    let base = d.join("enc");
    let out = user
        .cmd(d, &["keygen", "-o", base.to_str().unwrap()])
        .env("PTD_SIGNING_KEY_PASSWORD", "correct horse")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut child = minisign()
        .arg("-S")
        .arg("-s")
        .arg(base.with_extension("key"))
        .arg("-m")
        .arg(&file)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"correct horse\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = minisign()
        .args(["-V", "-p"])
        .arg(base.with_extension("pub"))
        .arg("-m")
        .arg(&file)
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    // Without the password ptd refuses to use it, and says how to give it.
    let out = user
        .cmd(
            d,
            &[
                "sign",
                file.to_str().unwrap(),
                "--key",
                base.with_extension("key").to_str().unwrap(),
            ],
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("PTD_SIGNING_KEY_PASSWORD"));
}

#[test]
fn a_legacy_minisign_signature_is_refused_as_such() {
    let reg = support::HttpRegistry::new();
    reg.publish(&support::models().join("reliability/erlang"));
    let archive = reg.artifacts().join("reliability-erlang-1.0.0.ptd.tar.zst");
    let sig = archive.with_extension("zst.minisig");
    let text = std::fs::read_to_string(&sig).unwrap();
    let comment = text
        .lines()
        .find_map(|l| l.strip_prefix("trusted comment: "))
        .unwrap()
        .to_string();
    // The same key and trusted comment, in minisign's legacy (not prehashed) format.
    let out = minisign()
        .args(["-S", "-l", "-s"])
        .arg(&reg.key)
        .args(["-t", &comment, "-m"])
        .arg(&archive)
        .arg("-x")
        .arg(&sig)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let legacy = std::fs::read_to_string(&sig).unwrap();
    assert_ne!(legacy, text);
    // The algorithm bytes: "Ed" (legacy) encodes as "RW...", "ED" (prehashed) as "RU...".
    assert!(text.lines().nth(1).unwrap().starts_with("RU"), "{text}");
    assert!(legacy.lines().nth(1).unwrap().starts_with("RW"), "{legacy}");
    let user = User::new();
    let err = user.fails(&[
        "install",
        "reliability/erlang",
        "--registry",
        &reg.index_url(),
    ]);
    assert!(err.contains("minisign's legacy format"), "{err}");
    assert!(err.contains("without -l"), "{err}");
    assert!(!err.contains("the data was altered"), "{err}");
    assert!(user.installed().is_empty());
}
