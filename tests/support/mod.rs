//! Shared set-up for the integration tests: isolated ptd homes, a signed registry published with
//! the real `ptd` binary, and a real HTTP server on 127.0.0.1 serving it.
#![allow(dead_code)]

#[path = "github.rs"]
pub mod github;
#[path = "http_server.rs"]
pub mod http_server;
#[path = "python.rs"]
pub mod python;
#[path = "s3.rs"]
pub mod s3;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const PTD: &str = env!("CARGO_BIN_EXE_ptd");

/// The repository's `models/` directory.
pub fn models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models")
}

/// An isolated user: `$HOME`, `$PTD_HOME`, phasic's and JAX's caches, all in a temporary dir.
pub struct User {
    pub dir: tempfile::TempDir,
}

impl User {
    pub fn new() -> User {
        User {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("ptd-home")
    }
    pub fn phasic_cache(&self) -> PathBuf {
        self.dir.path().join("phasic-cache")
    }
    pub fn jax_cache(&self) -> PathBuf {
        self.dir.path().join("jax-cache")
    }
    /// A `ptd` command run as this user, in `cwd`.
    pub fn cmd(&self, cwd: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(PTD);
        c.args(args)
            .current_dir(cwd)
            .env("HOME", self.dir.path())
            .env("PTD_HOME", self.home())
            .env("PHASIC_CACHE_DIR", self.phasic_cache())
            .env("JAX_COMPILATION_CACHE_DIR", self.jax_cache())
            .env("PTD_HTTP_BACKOFF_MS", "5")
            .env("PTD_HTTP_TIMEOUT_MS", "5000")
            .env_remove("PTD_SIGNING_KEY")
            .env_remove("PTD_SIGNING_KEY_PASSWORD")
            .env_remove("PTD_REGISTRY_TOKEN")
            .env_remove("PTD_PYTHON")
            .env_remove("PTD_JAX_TAG")
            .env_remove("PTD_MAX_VERTICES")
            .env_remove("PTD_MAX_EDGES")
            .env_remove("PTD_MAX_MEMORY")
            .env_remove("HTTPS_PROXY")
            .env_remove("HTTP_PROXY")
            .env_remove("https_proxy")
            .env_remove("http_proxy")
            .env_remove("ALL_PROXY");
        c
    }
    /// Runs `ptd` in the user's directory with extra environment variables, whatever the
    /// outcome.
    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = self.cmd(self.dir.path(), args);
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    }
    /// Runs `ptd` in the user's directory; panics with its output unless it succeeds.
    pub fn ok(&self, args: &[&str]) -> Output {
        self.ok_in(self.dir.path(), args)
    }
    pub fn ok_in(&self, cwd: &Path, args: &[&str]) -> Output {
        let out = self.cmd(cwd, args).output().unwrap();
        assert!(
            out.status.success(),
            "ptd {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
    /// Runs `ptd`, expects failure, returns its standard error.
    pub fn fails(&self, args: &[&str]) -> String {
        self.fails_in(self.dir.path(), args)
    }
    pub fn fails_in(&self, cwd: &Path, args: &[&str]) -> String {
        let out = self.cmd(cwd, args).output().unwrap();
        assert!(
            !out.status.success(),
            "ptd {args:?} should have failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!err.contains("panicked"), "ptd panicked: {err}");
        err
    }
    /// Makes an unencrypted key pair `<base>.key` / `<base>.pub`; returns the secret key.
    pub fn keygen(&self, base: &Path) -> PathBuf {
        self.ok(&["keygen", "-o", base.to_str().unwrap(), "--unencrypted"]);
        base.with_extension("key")
    }
    /// `ptd registry init INDEX --name NAME --artifacts URL... EXTRA... --key KEY`.
    pub fn init_registry(
        &self,
        index: &Path,
        name: &str,
        artifacts: &[&str],
        extra: &[&str],
        key: &Path,
    ) {
        let mut args = vec!["registry", "init", index.to_str().unwrap(), "--name", name];
        for a in artifacts {
            args.extend(["--artifacts", a]);
        }
        args.extend_from_slice(extra);
        args.extend(["--key", key.to_str().unwrap()]);
        self.ok(&args);
    }
    /// `ptd eval` of an installed version's archive (an item of `ptd install --json`): its
    /// first two moments at `theta`.
    pub fn installed_moments(&self, item: &serde_json::Value, theta: &str) -> Vec<f64> {
        let archive = self.home().join("archives").join(format!(
            "{}.ptd.tar.zst",
            item["archive_sha256"].as_str().unwrap()
        ));
        let out = self.ok(&[
            "eval",
            archive.to_str().unwrap(),
            "--theta",
            theta,
            "--json",
        ]);
        json(&out)["moments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_f64().unwrap())
            .collect()
    }
    /// Everything installed, from `ptd list --json`.
    pub fn installed(&self) -> Vec<serde_json::Value> {
        let out = self.ok(&["list", "--json"]);
        serde_json::from_slice(&out.stdout).unwrap()
    }
    /// Files in the cache tiers and the store (not temporary files).
    pub fn cached_files(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (root, skip_tmp) in [
            (self.home(), true),
            (self.phasic_cache(), false),
            (self.jax_cache(), false),
        ] {
            for e in walk(&root) {
                let rel = e.strip_prefix(&root).unwrap().display().to_string();
                let ignored = (skip_tmp && (rel.starts_with("tmp") || rel.starts_with("locks")))
                    || rel.starts_with("registries")
                    || rel.starts_with("ptd.db");
                if !ignored {
                    out.push(rel);
                }
            }
        }
        out
    }
}

/// The key id of a minisign public key file (the end of its comment line).
pub fn key_id(public_key: &Path) -> String {
    let text = std::fs::read_to_string(public_key).unwrap();
    let first = text.lines().next().unwrap();
    first.rsplit(' ').next().unwrap().to_string()
}

/// Every file under `dir` (recursively); empty if it does not exist.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    ptd::fs::files_under(dir)
}

/// A registry published with the `ptd` binary: index under `<root>/index`, archives under
/// `<root>/artifacts`, served over HTTP from `<root>`.
pub struct HttpRegistry {
    pub root: tempfile::TempDir,
    pub server: http_server::FileServer,
    pub key: PathBuf,
    pub publisher: User,
}

impl HttpRegistry {
    /// A registry named `lab` whose archives are downloaded from `artifact_urls` (templates;
    /// `{server}` is replaced by this registry's server URL, `{root}` by its directory).
    pub fn with_locations(artifact_urls: &[&str]) -> HttpRegistry {
        let root = tempfile::tempdir().unwrap();
        let server = http_server::FileServer::start(root.path());
        let publisher = User::new();
        let key = publisher.keygen(&publisher.dir.path().join("lab"));
        let locations: Vec<String> = artifact_urls
            .iter()
            .map(|u| {
                u.replace("{server}", &server.url())
                    .replace("{root}", root.path().to_str().unwrap())
            })
            .collect();
        let locations: Vec<&str> = locations.iter().map(String::as_str).collect();
        publisher.init_registry(&root.path().join("index"), "lab", &locations, &[], &key);
        HttpRegistry {
            root,
            server,
            key,
            publisher,
        }
    }

    pub fn new() -> HttpRegistry {
        HttpRegistry::with_locations(&["{server}/artifacts/{file}"])
    }

    pub fn index_url(&self) -> String {
        format!("{}/index", self.server.url())
    }
    pub fn index_dir(&self) -> PathBuf {
        self.root.path().join("index")
    }
    pub fn artifacts(&self) -> PathBuf {
        self.root.path().join("artifacts")
    }
    /// Publishes a recipe (a path under the repository's `models/`, or any model directory).
    pub fn publish(&self, recipe: &Path) {
        self.publisher.ok(&[
            "publish",
            recipe.to_str().unwrap(),
            "--registry",
            self.index_dir().to_str().unwrap(),
            "--store",
            self.artifacts().to_str().unwrap(),
            "--key",
            self.key.to_str().unwrap(),
        ]);
    }
    /// Publishes the kingman versions of the repository before it became a family (1.0.0 to
    /// 1.2.1) and reliability/erlang.
    pub fn publish_standard(&self) {
        let k = models().join("coalescent/kingman");
        for v in ["1.0.0", "1.1.0", "1.2.0", "1.2.1"] {
            self.publish(&k.join("versions").join(v));
        }
        self.publish(&models().join("reliability/erlang"));
    }
    /// Lists `bytes` as `name version` in the registry with a valid signature by the
    /// registry's key, claiming these hashes: a publisher that turned hostile (or a fault the
    /// signature cannot catch). Replaces the model's index file.
    pub fn list_signed(
        &self,
        name: &str,
        version: &str,
        bytes: &[u8],
        (content_hash, phasic_hash, canonical_hash): (&str, &str, &str),
    ) {
        use sha2::Digest;
        let file = format!("{}-{version}.ptd.tar.zst", name.replace('/', "-"));
        let store = self.artifacts();
        std::fs::create_dir_all(&store).unwrap();
        let path = store.join(&file);
        std::fs::write(&path, bytes).unwrap();
        self.publisher.ok(&[
            "sign",
            path.to_str().unwrap(),
            "--key",
            self.key.to_str().unwrap(),
            "--trusted-comment",
            &format!("ptd-bundle name={name} version={version} content_hash={content_hash}"),
        ]);
        let key_id = key_id(&self.key.with_extension("pub"));
        let line = serde_json::json!({
            "name": name, "version": version, "file": file,
            "sha256": hex::encode(sha2::Sha256::digest(bytes)), "size": bytes.len(),
            "content_hash": content_hash, "phasic_hash": phasic_hash,
            "canonical_hash": canonical_hash, "parameters": ["theta"], "key_id": key_id,
        });
        let index = self.index_dir().join(name);
        std::fs::create_dir_all(index.parent().unwrap()).unwrap();
        std::fs::write(&index, format!("{line}\n")).unwrap();
        self.resign(&[]);
    }
    /// Signs a new snapshot of the index after it was edited by hand (`extra`: more options of
    /// `ptd registry resign`).
    pub fn resign(&self, extra: &[&str]) {
        let index = self.index_dir();
        let mut args = vec![
            "registry",
            "resign",
            index.to_str().unwrap(),
            "--key",
            self.key.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        self.publisher.ok(&args);
    }
    pub fn yank(&self, spec: &str, undo: bool) {
        let index = self.index_dir();
        let mut args = vec![
            "yank",
            spec,
            "--registry",
            index.to_str().unwrap(),
            "--key",
            self.key.to_str().unwrap(),
        ];
        if undo {
            args.push("--undo");
        }
        self.publisher.ok(&args);
    }
    /// URL path of an archive.
    pub fn archive_path(name: &str, version: &str) -> String {
        format!(
            "/artifacts/{}-{version}.ptd.tar.zst",
            name.replace('/', "-")
        )
    }
    pub fn archive_file(&self, name: &str, version: &str) -> PathBuf {
        self.root
            .path()
            .join(Self::archive_path(name, version).trim_start_matches('/'))
    }
}

/// E[T^k] of the time to the most recent common ancestor of `n` lineages under Kingman's
/// coalescent with pairwise rate `theta`: the first two moments of a sum of independent
/// exponentials with rates theta*C(k,2), k = 2..n.
pub fn kingman_moments(n: u32, theta: f64) -> (f64, f64) {
    let rates: Vec<f64> = (2..=n)
        .map(|k| theta * f64::from(k * (k - 1)) / 2.0)
        .collect();
    let mean: f64 = rates.iter().map(|r| 1.0 / r).sum();
    let var: f64 = rates.iter().map(|r| 1.0 / (r * r)).sum();
    (mean, var + mean * mean)
}

/// A command's standard output as JSON; panics showing both streams if it is not.
pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

pub fn rel_err(a: f64, b: f64) -> f64 {
    ((a - b) / b).abs()
}

/// Records one kind of injected fault for `docs/reliability.md`: how many were injected, how
/// many ptd survived (completed correctly, or failed clearly with an intact cache) and how much
/// installed data was lost. Panics unless every fault was survived and nothing was lost. With
/// `PTD_RELIABILITY_REPORT=FILE` the counts are appended to FILE as a JSON line
/// (`scripts/reliability-report.sh`).
pub fn record(group: &str, fault: &str, injected: usize, survived: usize, lost: usize) {
    use std::io::Write;
    assert_eq!(lost, 0, "{group} / {fault}: data lost");
    assert_eq!(
        survived, injected,
        "{group} / {fault}: not every fault was survived"
    );
    if let Some(path) = std::env::var_os("PTD_RELIABILITY_REPORT") {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        let line = serde_json::json!({"group": group, "fault": fault, "injected": injected,
                                      "survived": survived, "lost": lost});
        writeln!(f, "{line}").unwrap();
    }
}

/// Sets the access and modification times of `path` (a file or a directory) and of everything
/// under it `days` days back.
pub fn age_tree(path: &std::path::Path, days: f64) {
    if path.is_dir() {
        for e in std::fs::read_dir(path).unwrap() {
            age_tree(&e.unwrap().path(), days);
        }
    }
    let t = std::time::SystemTime::now() - std::time::Duration::from_secs_f64(days * 86400.0);
    let f = if path.is_dir() {
        std::fs::File::open(path).unwrap()
    } else {
        std::fs::File::options().write(true).open(path).unwrap()
    };
    f.set_times(std::fs::FileTimes::new().set_accessed(t).set_modified(t))
        .unwrap();
}
