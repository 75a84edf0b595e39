//! The user's configuration, `$PTD_HOME/config.toml`:
//!
//! ```toml
//! [registries.lab]
//! index = "https://models.example.org/index"   # URL, file:// URL or directory
//! keys = ["RWQ..."]            # pin the registry's public keys (else trusted on first use)
//! token-env = "LAB_TOKEN"      # read the bearer token from this variable ...
//! # token = "..."              # ... or write it here
//!
//! [http]
//! ca-bundle = "/etc/ssl/lab-ca.pem"
//!
//! [cache]
//! max-size = "20GB"        # defaults for `ptd cache gc`
//! max-age = "90days"
//! shared = "/cluster/ptd"  # read-only second layer (another ptd home, or s3://bucket/prefix
//!                          # with shared-endpoint / shared-region for S3-compatible services)
//!
//! [jax]
//! python = "/opt/conda/envs/lab/bin/python"  # the Python whose JAX is used (else python3)
//!
//! [build]
//! max-vertices = 5000000   # bounds on a generator's state space (PTD_MAX_VERTICES wins)
//! max-edges = 50000000     # (PTD_MAX_EDGES)
//! max-memory = "4GiB"      # estimated bytes while exploring (PTD_MAX_MEMORY)
//! [index]                     # size caps of files read whole from a registry or mirror
//! max-config-size = "1MiB"    # config.json
//! max-snapshot-size = "16MiB" # snapshot.json
//! max-signature-size = "64KiB" # .minisig files
//! max-file-size = "64MiB"     # a model's index file
//! ```
//!
//! A token can also come from `PTD_REGISTRY_<NAME>_TOKEN` (name upper-cased, `-` as `_`), which
//! wins over the file; the caps from `PTD_INDEX_MAX_CONFIG_BYTES`,
//! `PTD_INDEX_MAX_SNAPSHOT_BYTES`, `PTD_INDEX_MAX_SIGNATURE_BYTES` and
//! `PTD_INDEX_MAX_FILE_BYTES`, which win over the file.

use crate::fetch::{Metadata, MetadataLimits};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A named registry.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RegistryEntry {
    pub index: String,
    #[serde(default)]
    pub keys: Vec<String>,
    pub token: Option<String>,
    pub token_env: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HttpConfig {
    pub ca_bundle: Option<PathBuf>,
}

/// `[cache]`: defaults for `ptd cache gc`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CacheConfig {
    /// e.g. "20GB".
    pub max_size: Option<String>,
    /// e.g. "90days".
    pub max_age: Option<String>,
    /// A read-only second layer: another ptd home (e.g. on a shared filesystem), or
    /// `s3://bucket/prefix` holding the same layout, whose archives are used, verified, before
    /// downloading.
    pub shared: Option<String>,
    /// For an `s3://` shared layer on an S3-compatible service other than AWS: its endpoint.
    pub shared_endpoint: Option<String>,
    /// For an `s3://` shared layer: the bucket's region.
    pub shared_region: Option<String>,
}

/// `[jax]`: the Python that runs JAX (`PTD_PYTHON` wins over it).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct JaxConfig {
    pub python: Option<PathBuf>,
}

/// `[build]`: bounds on exploring a generator's state space (the environment's
/// `PTD_MAX_VERTICES`, `PTD_MAX_EDGES` and `PTD_MAX_MEMORY` win over them).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BuildConfig {
    pub max_vertices: Option<u64>,
    pub max_edges: Option<u64>,
    /// e.g. "4GiB".
    pub max_memory: Option<String>,
}

/// `[index]`: size caps of the files read whole from a registry or mirror (sizes such as
/// "4MiB"; see [`crate::fetch::Metadata`] for the defaults).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct IndexConfig {
    pub max_config_size: Option<String>,
    pub max_snapshot_size: Option<String>,
    pub max_signature_size: Option<String>,
    pub max_file_size: Option<String>,
}

impl IndexConfig {
    fn get(&self, kind: Metadata) -> Option<&str> {
        match kind {
            Metadata::Config => self.max_config_size.as_deref(),
            Metadata::Snapshot => self.max_snapshot_size.as_deref(),
            Metadata::Signature => self.max_signature_size.as_deref(),
            Metadata::IndexFile => self.max_file_size.as_deref(),
        }
    }
}

/// `config.toml`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub registries: BTreeMap<String, RegistryEntry>,
    #[serde(default)]
    pub http: HttpConfig,
    #[serde(default)]
    pub cache: CacheConfig,
    #[serde(default)]
    pub jax: JaxConfig,
    #[serde(default)]
    pub build: BuildConfig,
    #[serde(default)]
    pub index: IndexConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    #[error("{file}: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
}

/// The environment variable that may hold a registry's token.
pub fn token_variable(name: &str) -> String {
    let n: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("PTD_REGISTRY_{n}_TOKEN")
}

impl Config {
    /// Reads `path`; a missing file is an empty configuration.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(source) => return Err(ConfigError::Io { file, source }),
        };
        Config::parse(&text, &file)
    }

    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let c: Config = toml::from_str(text).map_err(|e| ConfigError::Invalid {
            file: file.into(),
            message: e.to_string().trim_end().to_string(),
        })?;
        for (name, r) in &c.registries {
            if name == "default" {
                return Err(ConfigError::Invalid {
                    file: file.into(),
                    message: "[registries.default]: 'default' names the registry built into ptd; choose another name".into(),
                });
            }
            if r.token.is_some() && r.token_env.is_some() {
                return Err(ConfigError::Invalid {
                    file: file.into(),
                    message: format!(
                        "[registries.{name}]: give either 'token' or 'token-env', not both"
                    ),
                });
            }
        }
        Ok(c)
    }

    /// The size caps of files read whole from registries: per kind, its environment variable
    /// (`PTD_INDEX_MAX_..._BYTES`), else `[index]` here, else the default. `file` names this
    /// configuration in errors.
    pub fn metadata_limits(&self, file: &str) -> Result<MetadataLimits, ConfigError> {
        let mut limits = MetadataLimits::default();
        for kind in Metadata::ALL {
            let (text, origin, what) = match std::env::var(kind.env()) {
                Ok(v) if !v.trim().is_empty() => {
                    (v, kind.env().to_string(), kind.env().to_string())
                }
                _ => match self.index.get(kind) {
                    Some(v) => (
                        v.to_string(),
                        file.to_string(),
                        format!("[index] {}", kind.setting()),
                    ),
                    None => continue,
                },
            };
            let bytes = crate::cache::parse_size(&text)
                .ok()
                .filter(|b| *b > 0)
                .ok_or_else(|| ConfigError::Invalid {
                    file: origin,
                    message: format!(
                        "{what} = '{text}' is not a size: give bytes, or a size with a unit (e.g. 4MiB)"
                    ),
                })?;
            limits.set(kind, bytes);
        }
        Ok(limits)
    }

    /// The bearer token for registry `name`, if any: `PTD_REGISTRY_<NAME>_TOKEN`, then the
    /// variable named by `token-env`, then `token`.
    pub fn token(&self, name: &str) -> Option<String> {
        if let Ok(t) = std::env::var(token_variable(name))
            && !t.is_empty()
        {
            return Some(t);
        }
        let r = self.registries.get(name)?;
        if let Some(v) = &r.token_env {
            return std::env::var(v).ok().filter(|t| !t.is_empty());
        }
        r.token.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_registries_and_rejects_mistakes() {
        let c = Config::parse(
            "[registries.lab]\nindex = \"https://x.org/i\"\nkeys = [\"RWabc\"]\ntoken = \"t\"\n[http]\nca-bundle = \"/ca.pem\"\n",
            "config.toml",
        )
        .unwrap();
        assert_eq!(c.registries["lab"].index, "https://x.org/i");
        assert_eq!(c.http.ca_bundle.as_deref(), Some(Path::new("/ca.pem")));
        assert_eq!(c.token("lab").as_deref(), Some("t"));
        let e = Config::parse("[registries.lab]\nindx = \"x\"\n", "config.toml").unwrap_err();
        assert!(e.to_string().contains("config.toml") && e.to_string().contains("indx"));
        assert!(Config::parse("[registries.default]\nindex = \"x\"\n", "c").is_err());
        assert_eq!(token_variable("my-lab"), "PTD_REGISTRY_MY_LAB_TOKEN");
    }

    #[test]
    fn index_size_caps_come_from_the_index_section() {
        let c = Config::parse(
            "[index]\nmax-file-size = \"2MiB\"\nmax-signature-size = \"1000\"\n",
            "config.toml",
        )
        .unwrap();
        let l = c.metadata_limits("config.toml").unwrap();
        assert_eq!(l.cap(Metadata::IndexFile), 2 << 20);
        assert_eq!(l.cap(Metadata::Signature), 1000);
        assert_eq!(l.cap(Metadata::Config), Metadata::Config.default_cap());
        let c = Config::parse("[index]\nmax-config-size = \"lots\"\n", "config.toml").unwrap();
        let e = c.metadata_limits("config.toml").unwrap_err().to_string();
        assert!(
            e.contains("config.toml") && e.contains("max-config-size"),
            "{e}"
        );
        assert!(Config::parse("[index]\nmax-size = \"1\"\n", "c").is_err());
    }
}
