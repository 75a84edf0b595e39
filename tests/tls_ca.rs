//! A registry served over HTTPS with a certificate from a private CA: refused by default,
//! accepted with `PTD_CA_BUNDLE` or `[http] ca-bundle`. The CA and certificate are made with the
//! `openssl` tool and the server is Python's standard library (both installed by
//! `scripts/test-all.sh`; without them this test fails rather than skips).

mod support;

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use support::{HttpRegistry, User};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl tool is missing: run scripts/test-all.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const SERVER: &str = r#"
import http.server, os, ssl, sys
root, cert, key = sys.argv[1], sys.argv[2], sys.argv[3]
os.chdir(root)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"#;

struct Child(std::process::Child);
impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_private_ca_is_trusted_only_when_configured() {
    let reg = HttpRegistry::new();
    reg.publish_standard();
    let pki = tempfile::tempdir().unwrap();
    let d = pki.path();
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=ptd test CA",
        ],
    );
    openssl(
        d,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(
        d.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );

    let mut child = Command::new("python3")
        .args(["-c", SERVER])
        .arg(reg.root.path())
        .arg(d.join("leaf.pem"))
        .arg(d.join("leaf.key"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 is missing: run scripts/test-all.sh");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _server = Child(child);
    let port: u16 = line.trim().parse().expect("the TLS server did not start");
    let index = format!("https://127.0.0.1:{port}/index");

    let user = User::new();
    let err = user.fails(&["install", "reliability/erlang", "--registry", &index]);
    assert!(err.to_lowercase().contains("certificate"), "{err}");

    let out = user.run_env(
        &["install", "reliability/erlang", "--registry", &index],
        &[("PTD_CA_BUNDLE", d.join("ca.pem").to_str().unwrap())],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The same through config.toml, for a named registry.
    let user = User::new();
    std::fs::create_dir_all(user.home()).unwrap();
    std::fs::write(
        user.home().join("config.toml"),
        format!(
            "[registries.lab]\nindex = \"{index}\"\n[http]\nca-bundle = \"{}\"\n",
            d.join("ca.pem").display()
        ),
    )
    .unwrap();
    user.ok(&["install", "reliability/erlang", "--registry", "lab"]);

    // A bundle that is not PEM is named in a clear error.
    let bad = d.join("not-a-ca.pem");
    std::fs::write(&bad, "hello").unwrap();
    let out = user.run_env(
        &["info", "reliability/erlang", "--registry", &index],
        &[("PTD_CA_BUNDLE", bad.to_str().unwrap())],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not-a-ca.pem"), "{err}");
}
