//! An opened, verified registry: its config, trusted keys and signed snapshot, and the index
//! files read from it so far.

use super::source::IndexSource;
use super::{IndexEntry, IndexError, RegistryConfig, Snapshot, parse_index_file};
use crate::fs::write_atomic;
use crate::sign::TrustedKey;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// How a registry's keys are trusted.
#[derive(Clone, Debug)]
pub enum KeyTrust {
    /// The index compiled into ptd: its config is as trusted as the binary.
    Builtin,
    /// Keys the user configured for this registry (base64 `RW...` lines).
    Pinned(Vec<String>),
    /// Trust the keys seen on first use, remembered under the state directory; a later change
    /// of keys is refused.
    FirstUse,
}

/// What [`Registry::verify`] establishes: config, trusted keys, snapshot, and the snapshot's
/// bytes and signature as read.
type Verified = (RegistryConfig, Vec<TrustedKey>, Snapshot, Vec<u8>, String);

/// A verified registry.
pub struct Registry {
    pub source: IndexSource,
    pub config: RegistryConfig,
    pub keys: Vec<TrustedKey>,
    pub snapshot: Snapshot,
    entries: Mutex<BTreeMap<String, Vec<IndexEntry>>>,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> IndexError + '_ {
    move |e| IndexError::Invalid {
        file: path.display().to_string(),
        message: e.to_string(),
    }
}

impl Registry {
    /// Opens a registry: reads `config.json`, establishes the trusted keys, verifies the
    /// snapshot's signature, checks `config.json` against it, and refuses rolled-back or
    /// expired snapshots. `state_dir` is this registry's own state directory (see [`state_id`]):
    /// the newest snapshot version seen and the keys trusted on first use.
    pub async fn open(
        source: IndexSource,
        trust: KeyTrust,
        state_dir: &Path,
        now: std::time::SystemTime,
    ) -> Result<Registry, IndexError> {
        let where_ = source.describe();
        let missing = |f: &str| IndexError::Invalid {
            file: format!("{where_}/{f}"),
            message: "missing: this is not a ptd registry index (see docs/registry-protocol.md)"
                .into(),
        };
        let config_bytes = source
            .read("config.json")
            .await?
            .ok_or_else(|| missing("config.json"))?;
        let opened = Self::verify(&source, &trust, state_dir, now, &where_, &config_bytes).await;
        let (config, keys, snapshot, snap_bytes, sig) = match opened {
            Ok(v) => v,
            Err(e) => {
                // Nothing that failed verification reaches or stays in the index cache.
                if let IndexError::Mismatch { file, .. } = &e {
                    source.forget(file);
                }
                for f in ["config.json", "snapshot.json", "snapshot.json.minisig"] {
                    source.discard(f);
                }
                return Err(e);
            }
        };
        source.keep("config.json", &config_bytes)?;
        source.keep("snapshot.json", &snap_bytes)?;
        source.keep("snapshot.json.minisig", sig.as_bytes())?;
        Ok(Registry {
            source,
            config,
            keys,
            snapshot,
            entries: Mutex::new(BTreeMap::new()),
        })
    }

    /// The checks of [`Registry::open`] once `config.json` is read: returns the config, the
    /// trusted keys, the snapshot, and the snapshot's bytes and signature as read.
    async fn verify(
        source: &IndexSource,
        trust: &KeyTrust,
        state_dir: &Path,
        now: std::time::SystemTime,
        where_: &str,
        config_bytes: &[u8],
    ) -> Result<Verified, IndexError> {
        let missing = |f: &str| IndexError::Invalid {
            file: format!("{where_}/{f}"),
            message: "missing: this is not a ptd registry index (see docs/registry-protocol.md)"
                .into(),
        };
        let config = RegistryConfig::parse(config_bytes, &format!("{where_}/config.json"))?;
        let keys = match trust {
            KeyTrust::Builtin => config.trusted_keys()?,
            KeyTrust::Pinned(lines) => lines
                .iter()
                .map(|l| TrustedKey::parse(l))
                .collect::<Result<Vec<_>, _>>()?,
            KeyTrust::FirstUse => {
                let keys = config.trusted_keys()?;
                let path = state_dir.join("trusted-keys.json");
                let ids: Vec<String> = keys.iter().map(|k| k.key_id.clone()).collect();
                match std::fs::read(&path) {
                    Ok(b) => {
                        let known: Vec<String> = serde_json::from_slice(&b).unwrap_or_default();
                        if !ids.iter().all(|i| known.contains(i)) {
                            return Err(IndexError::Invalid {
                                file: format!("{where_}/config.json"),
                                message: format!(
                                    "registry '{}' now lists keys {ids:?} but {known:?} were trusted on first use; if the registry really rotated its keys, pin the new ones in $PTD_HOME/config.toml",
                                    config.name
                                ),
                            });
                        }
                        // Only keys that were trusted before sign from now on.
                        keys.into_iter()
                            .filter(|k| known.contains(&k.key_id))
                            .collect()
                    }
                    Err(_) => {
                        write_atomic(&path, &serde_json::to_vec(&ids).expect("ids"))
                            .map_err(io(&path))?;
                        keys
                    }
                }
            }
        };
        // A publisher replaces the signature, then the snapshot; a reader caught between the
        // two renames reads both again once.
        let mut attempt = 0;
        let (snapshot, snap_bytes, sig) = loop {
            let snap_bytes = source
                .read("snapshot.json")
                .await?
                .ok_or_else(|| missing("snapshot.json"))?;
            let sig = source
                .read("snapshot.json.minisig")
                .await?
                .ok_or_else(|| missing("snapshot.json.minisig"))?;
            let sig = String::from_utf8(sig).map_err(|_| missing("snapshot.json.minisig"))?;
            // The index built into ptd is part of the binary, like its code: its signature is
            // checked when it is built (`tests/default_registry.rs`), not on every start.
            let checked = if source.is_embedded() {
                Snapshot::parse(&snap_bytes, &config.name)
            } else {
                Snapshot::verify(&snap_bytes, &sig, &keys, &config.name)
            };
            match checked {
                Ok(s) => break (s, snap_bytes, sig),
                Err(_) if attempt == 0 && source.local_dir().is_some() => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                Err(e) => return Err(e),
            }
        };
        if snapshot.registry != config.name {
            return Err(IndexError::Invalid {
                file: format!("{where_}/snapshot.json"),
                message: format!(
                    "is for registry '{}', not '{}'",
                    snapshot.registry, config.name
                ),
            });
        }
        snapshot.check_file("config.json", config_bytes)?;
        if !source.is_embedded() {
            snapshot.check_expiry(now)?;
            remember_version(state_dir, &snapshot)?;
        }
        Ok((config, keys, snapshot, snap_bytes, sig))
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Names of every model in the index (from the snapshot; nothing is fetched).
    pub fn model_names(&self) -> Vec<String> {
        self.snapshot
            .files
            .keys()
            .filter(|p| p.contains('/') && !p.ends_with(".json") && !p.ends_with(".minisig"))
            .cloned()
            .collect()
    }

    /// All published versions of `name`, verified against the snapshot.
    pub async fn entries(&self, name: &str) -> Result<Vec<IndexEntry>, IndexError> {
        if let Some(e) = self.entries.lock().expect("lock").get(name) {
            return Ok(e.clone());
        }
        crate::model::check_name(name).map_err(IndexError::BadName)?;
        let path = super::index_path(name);
        if !self.snapshot.files.contains_key(&path) {
            return Err(IndexError::NoSuchModel {
                registry: self.name().into(),
                name: name.into(),
            });
        }
        let bytes = self
            .source
            .read(&path)
            .await?
            .ok_or_else(|| IndexError::NoSuchModel {
                registry: self.name().into(),
                name: name.into(),
            })?;
        let checked = self.snapshot.check_file(&path, &bytes).and_then(|()| {
            parse_index_file(&bytes, name, &format!("{}/{path}", self.source.describe()))
        });
        let entries = match checked {
            Ok(entries) => entries,
            Err(e) => {
                self.source.forget(&path);
                return Err(e);
            }
        };
        self.source.keep(&path, &bytes)?;
        self.entries
            .lock()
            .expect("lock")
            .insert(name.into(), entries.clone());
        Ok(entries)
    }
}

/// Directory name for a registry's state, from how the user names it (a configured name, a URL
/// or a path): readable, and unique through a hash of the whole label. Two registries that call
/// themselves by the same name in their `config.json` never share state.
pub fn state_id(label: &str) -> String {
    let readable: String = label
        .chars()
        .rev()
        .take(40)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let hash = &crate::fs::sha256_hex(label.as_bytes())[..12];
    format!("{}-{hash}", readable.trim_matches('_'))
}

fn remember_version(state_dir: &Path, s: &Snapshot) -> Result<(), IndexError> {
    let dir: PathBuf = state_dir.to_path_buf();
    let path = dir.join("snapshot-version");
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    // Serialise concurrent updates of the counter.
    let _lock = crate::fs::lock::exclusive(&dir.join(".lock")).map_err(io(&dir))?;
    let seen: u64 = std::fs::read_to_string(&path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    if s.version < seen {
        return Err(IndexError::Rollback {
            registry: s.registry.clone(),
            got: s.version,
            seen,
        });
    }
    if s.version > seen {
        write_atomic(&path, s.version.to_string().as_bytes()).map_err(io(&path))?;
    }
    Ok(())
}
