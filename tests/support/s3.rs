//! A real S3-compatible server on 127.0.0.1 for the tests: s3s-fs, which checks request
//! signatures. `scripts/test-all.sh` installs it into `.tools/`; without it the tests that need
//! it fail rather than skip.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

pub const KEY_ID: &str = "ptdtestaccess";
pub const SECRET: &str = "ptdtestsecret";

pub struct S3Server {
    child: Child,
    pub port: u16,
    /// s3s-fs keeps bucket `b`, key `k` as the file `<dir>/b/k`.
    pub dir: tempfile::TempDir,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn s3s_fs() -> PathBuf {
    let local = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".tools/bin/s3s-fs");
    if local.is_file() {
        return local;
    }
    let probe = Command::new("s3s-fs").arg("--help").output();
    assert!(
        probe.is_ok(),
        "s3s-fs is missing: run scripts/test-all.sh (it installs s3s-fs 0.14.1 into .tools/)"
    );
    PathBuf::from("s3s-fs")
}

pub fn start_s3() -> S3Server {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(s3s_fs())
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args([
            "--access-key",
            KEY_ID,
            "--secret-key",
            SECRET,
            "--domain",
            "localhost",
        ])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return S3Server { child, port, dir };
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("s3s-fs did not start");
}

impl S3Server {
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}
