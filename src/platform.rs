//! What the user's Python offers this machine: the tag of its JAX (which platform archives of
//! compiled code fit) and its phasic (which revision of phasic's own artifacts it reads), each
//! asked at most once per process and only when needed.

use crate::jax::{JaxEnv, JaxError};
use crate::phasic::PhasicEnv;
use std::path::{Path, PathBuf};

/// Which JAX archives fit this machine: the tag of the user's Python's JAX, worked out at most
/// once per process and only when an archive needs choosing.
pub struct Target {
    python: PathBuf,
    state_dir: PathBuf,
    tag: std::sync::OnceLock<Result<String, String>>,
    phasic: std::sync::OnceLock<Result<PhasicEnv, String>>,
}

impl Target {
    /// `python` as [`crate::jax::python`] chose it; answers are cached under `state_dir`.
    pub fn new(python: PathBuf, state_dir: PathBuf) -> Target {
        Target {
            python,
            state_dir,
            tag: std::sync::OnceLock::new(),
            phasic: std::sync::OnceLock::new(),
        }
    }

    /// The Python that runs JAX.
    pub fn python(&self) -> &Path {
        &self.python
    }

    /// What JAX the Python has (asked once, cached).
    pub fn env(&self) -> Result<JaxEnv, JaxError> {
        crate::jax::query(&self.python, &self.state_dir)
    }

    /// The user's phasic (asked once, cached), or why there is none.
    pub fn phasic(&self) -> Result<&PhasicEnv, &str> {
        self.phasic
            .get_or_init(|| {
                crate::phasic::query(&self.python, &self.state_dir).map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(String::as_str)
    }

    /// This machine's tag (`PTD_JAX_TAG` overrides asking Python), or why there is none.
    pub fn tag(&self) -> Result<&str, &str> {
        self.tag
            .get_or_init(|| {
                if let Some(t) = std::env::var("PTD_JAX_TAG").ok().filter(|t| !t.is_empty()) {
                    return Ok(t);
                }
                crate::jax::query(&self.python, &self.state_dir)
                    .map(|env| env.tag())
                    .map_err(|e| e.to_string())
            })
            .as_deref()
            .map_err(String::as_str)
    }
}
