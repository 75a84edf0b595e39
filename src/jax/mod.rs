//! The JAX tier: the evaluator (ptd's module and the tables it derives from a DAG, [`emit`]), the user's Python and
//! its JAX ([`JaxEnv`], asked once and cached), the tag that says exactly where compiled code
//! can be reused, compiling into a persistent cache directory, and platform archives of those
//! cache entries ([`archive`]).

pub mod archive;
pub mod emit;

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::Command;

/// File name of the evaluator module ptd writes into an installed bundle's directory.
pub const EVALUATOR: &str = "evaluator.py";
/// File name of the evaluator's tables, derived from the verified DAG, beside the module.
pub const EVALUATOR_TABLES: &str = "evaluator.bin";

const QUERY: &str = include_str!("query.py");
const COMPILE: &str = include_str!("compile.py");

#[derive(Debug, thiserror::Error)]
pub enum JaxError {
    #[error(
        "cannot run Python '{python}': {source} (set PTD_PYTHON, or [jax] python in config.toml, to a Python with jax installed)"
    )]
    NoPython {
        python: String,
        source: std::io::Error,
    },
    #[error("{python} has no {missing} installed: `{python} -m pip install jax jaxlib`")]
    NoJax { python: String, missing: String },
    #[error("{python} failed {what}:\n{stderr}")]
    Failed {
        python: String,
        what: String,
        stderr: String,
    },
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    #[error("{file}: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
}

impl JaxError {
    fn io(path: &Path, source: std::io::Error) -> JaxError {
        JaxError::Io {
            file: path.display().to_string(),
            source,
        }
    }
}

/// The Python that runs JAX: `PTD_PYTHON`, else `[jax] python` from config.toml, else
/// `python3` on the PATH.
pub fn python(configured: Option<&Path>) -> PathBuf {
    match std::env::var_os("PTD_PYTHON").filter(|v| !v.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => configured
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("python3")),
    }
}

/// What a Python's JAX is: everything JAX's persistent cache keys on besides the program.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JaxEnv {
    pub jax: String,
    pub jaxlib: String,
    /// `cpu`, `gpu` or `tpu`.
    pub backend: String,
    /// The backend's own version (`cpu`, or e.g. `cuda 12080` on GPUs).
    pub platform_version: String,
}

impl JaxEnv {
    /// The tag of compiled code for this JAX on this machine:
    /// `<os>-<arch>-<backend>-jax<version>-jaxlib<version>`, with the backend's version appended
    /// when it is not the backend's name (CUDA, ROCm). `<arch>` carries the x86-64
    /// micro-architecture level (`x86_64_v3`), because XLA compiles for the host's instruction
    /// set.
    pub fn tag(&self) -> String {
        let mut t = format!(
            "{}-{}-{}-jax{}-jaxlib{}",
            std::env::consts::OS,
            arch(),
            self.backend,
            self.jax,
            self.jaxlib
        );
        if self.platform_version != self.backend {
            let v: String = self
                .platform_version
                .chars()
                .filter(|c| !c.is_whitespace())
                .map(|c| if tag_char(c) { c } else { '_' })
                .collect();
            t.push('-');
            t.push_str(&v);
        }
        t
    }
}

/// Characters a tag may hold (it becomes part of a file name).
pub fn tag_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_.".contains(c)
}

/// The CPU architecture, with the x86-64 micro-architecture level on x86-64.
pub fn arch() -> String {
    #[cfg(target_arch = "x86_64")]
    {
        let v2 = is_x86_feature_detected!("sse4.2")
            && is_x86_feature_detected!("ssse3")
            && is_x86_feature_detected!("popcnt");
        let v3 = v2
            && is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("bmi1")
            && is_x86_feature_detected!("bmi2")
            && is_x86_feature_detected!("lzcnt")
            && is_x86_feature_detected!("movbe");
        let v4 = v3
            && is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512cd")
            && is_x86_feature_detected!("avx512dq")
            && is_x86_feature_detected!("avx512vl");
        let level = [v4, v3, v2].iter().position(|&x| x).map_or(1, |i| 4 - i);
        format!("x86_64_v{level}")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        std::env::consts::ARCH.to_string()
    }
}

/// The cached answer for one interpreter, valid while the interpreter and the files the
/// answer names keep their modification times.
#[derive(Serialize, Deserialize)]
struct Cached {
    python: String,
    stamps: Vec<(String, u128)>,
    answer: serde_json::Value,
}

fn mtime(path: &Path) -> Option<u128> {
    let t = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos())
}

fn stamps(files: &[String]) -> Option<Vec<(String, u128)>> {
    files
        .iter()
        .map(|f| Some((f.clone(), mtime(Path::new(f))?)))
        .collect()
}

/// Where the answer of kind `kind` for `python` is cached under `state_dir`.
fn cache_file(state_dir: &Path, python: &Path, kind: &str) -> PathBuf {
    let h = crate::fs::sha256_hex(python.as_os_str().as_encoded_bytes());
    state_dir.join(format!("{kind}-{}.json", &h[..16]))
}

/// Runs `script` with `python` once and keeps its JSON answer in `state_dir`, reused while the
/// interpreter and the files the answer lists under `"files"` are unchanged. `what` says what
/// was asked, for errors.
pub fn ask(
    python: &Path,
    state_dir: &Path,
    kind: &str,
    script: &str,
    what: &str,
) -> Result<serde_json::Value, JaxError> {
    let cache = cache_file(state_dir, python, kind);
    if let Ok(text) = std::fs::read_to_string(&cache)
        && let Ok(c) = serde_json::from_str::<Cached>(&text)
        && c.python == python.display().to_string()
    {
        let files: Vec<String> = c.stamps.iter().map(|s| s.0.clone()).collect();
        if stamps(&files).as_ref() == Some(&c.stamps) {
            return Ok(c.answer);
        }
    }
    let out = run(python, script, &[], what)?;
    let answer: serde_json::Value =
        serde_json::from_str(out.trim()).map_err(|e| JaxError::Failed {
            python: python.display().to_string(),
            what: what.into(),
            stderr: format!("unexpected answer {out:?}: {e}"),
        })?;
    let mut files: Vec<String> = answer["files"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if let Some(p) = answer["python"].as_str() {
        files.push(p.to_string());
    }
    if let Some(stamps) = stamps(&files) {
        let c = Cached {
            python: python.display().to_string(),
            stamps,
            answer: answer.clone(),
        };
        let _ = std::fs::create_dir_all(state_dir);
        let text = serde_json::to_vec_pretty(&c).expect("cache entry serializes");
        // Only a cache: a failed write just means asking again next time.
        let _ = crate::fs::write_atomic(&cache, &text);
    }
    Ok(answer)
}

/// Asks `python` which JAX it has, once: the answer is kept in `state_dir` and reused while the
/// interpreter and JAX's files are unchanged.
pub fn query(python: &Path, state_dir: &Path) -> Result<JaxEnv, JaxError> {
    let a = ask(python, state_dir, "jax-env", QUERY, "to report its JAX")?;
    if let Some(missing) = a["missing"].as_str() {
        return Err(JaxError::NoJax {
            python: python.display().to_string(),
            missing: missing.to_string(),
        });
    }
    let field = |k: &str| a[k].as_str().unwrap_or_default().to_string();
    Ok(JaxEnv {
        jax: field("jax"),
        jaxlib: field("jaxlib"),
        backend: field("backend"),
        platform_version: field("platform_version"),
    })
}

pub fn run(python: &Path, script: &str, args: &[&str], what: &str) -> Result<String, JaxError> {
    let out = Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .map_err(|source| JaxError::NoPython {
            python: python.display().to_string(),
            source,
        })?;
    if !out.status.success() {
        return Err(JaxError::Failed {
            python: python.display().to_string(),
            what: what.into(),
            stderr: String::from_utf8_lossy(&out.stderr).trim_end().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// One compiled shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Compiled {
    pub batch: u64,
    pub seconds: f64,
}

/// Compiles the evaluator module at `module` with `python` for theta of shape
/// `(batch, parameters)` for each batch size (float64, `moments_jit` with `k = moments`),
/// writing JAX's persistent compilation cache entries into `cache_dir`.
pub fn compile(
    python: &Path,
    module: &Path,
    batches: &[u64],
    moments: usize,
    cache_dir: &Path,
) -> Result<Vec<Compiled>, JaxError> {
    std::fs::create_dir_all(cache_dir).map_err(|e| JaxError::io(cache_dir, e))?;
    let args = serde_json::json!({
        "module": module,
        "cache_dir": cache_dir,
        "batches": batches,
        "moments": moments,
    })
    .to_string();
    let what = format!("to compile {}", module.display());
    let out = run(python, COMPILE, &[&args], &what)?;
    #[derive(Deserialize)]
    struct Answer {
        compiled: Vec<Compiled>,
    }
    let a: Answer = serde_json::from_str(out.trim()).map_err(|e| JaxError::Failed {
        python: python.display().to_string(),
        what,
        stderr: format!("unexpected answer {out:?}: {e}"),
    })?;
    Ok(a.compiled)
}

/// Parses a batch list such as `1,64,1024`.
pub fn parse_batches(s: &str) -> Result<Vec<u64>, String> {
    let mut out = Vec::new();
    for part in s.split(',') {
        let b: u64 = part
            .trim()
            .parse()
            .ok()
            .filter(|&b| b > 0)
            .ok_or_else(|| format!("'{}' is not a positive batch size", part.trim()))?;
        if !out.contains(&b) {
            out.push(b);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_name_every_part_of_the_key() {
        let env = JaxEnv {
            jax: "0.10.2".into(),
            jaxlib: "0.10.2".into(),
            backend: "cpu".into(),
            platform_version: "cpu".into(),
        };
        let t = env.tag();
        assert!(t.ends_with("-cpu-jax0.10.2-jaxlib0.10.2"), "{t}");
        assert!(t.starts_with(std::env::consts::OS));
        let gpu = JaxEnv {
            backend: "gpu".into(),
            platform_version: "cuda 12080".into(),
            ..env
        };
        assert!(gpu.tag().ends_with("-gpu-jax0.10.2-jaxlib0.10.2-cuda12080"));
        assert!(gpu.tag().chars().all(tag_char));
    }

    #[test]
    fn batch_lists() {
        assert_eq!(parse_batches("1, 64,1024,64").unwrap(), vec![1, 64, 1024]);
        assert!(parse_batches("1,x").unwrap_err().contains("'x'"));
        assert!(parse_batches("0").is_err());
    }
}
