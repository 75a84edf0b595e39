//! The registry index: `config.json`, one file of JSON lines per model, and a signed snapshot.
//!
//! `docs/registry-protocol.md` is the reference. In short:
//!
//! * `config.json` names the registry, its artifact locations and its public keys;
//! * `<namespace>/<name>` holds one JSON line per published version ([`IndexEntry`]);
//! * `snapshot.json` (+ `snapshot.json.minisig`) carries a version counter, an expiry and the
//!   SHA-256 of every other index file. A client verifies the snapshot signature, refuses a
//!   snapshot older than one it has seen (rollback) or past its expiry (freeze), and checks every
//!   index file it reads against the snapshot.

pub mod registry;
pub mod source;

use crate::model::{VariantDecls, Variants};
use crate::sign::{Signature, TrustedKey};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use source::{IndexSource, SourceError};

pub const INDEX_FORMAT: u32 = 1;

/// Where a registry's archives can be downloaded ([`crate::transport::Location`]), in order of
/// preference.
pub use crate::transport::Location as ArtifactLocation;

/// A public key a registry signs with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    pub id: String,
    pub public_key: String,
}

/// `config.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    pub name: String,
    pub index_format: u32,
    pub artifacts: Vec<ArtifactLocation>,
    pub keys: Vec<KeyEntry>,
}

/// A dependency of a model version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dependency {
    pub name: String,
    pub req: semver::VersionReq,
}

/// A platform-specific archive (JAX compilation-cache entries) of a model version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformArtifact {
    pub platform: String,
    pub file: String,
    pub sha256: String,
    pub size: u64,
}

/// One published version: one line of an index file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexEntry {
    pub name: String,
    pub version: semver::Version,
    /// Archive file name.
    pub file: String,
    /// SHA-256 of the archive.
    pub sha256: String,
    pub size: u64,
    pub content_hash: String,
    pub phasic_hash: String,
    pub canonical_hash: String,
    pub parameters: Vec<String>,
    #[serde(default)]
    pub deps: Vec<Dependency>,
    #[serde(default)]
    pub artifacts: Vec<PlatformArtifact>,
    #[serde(default)]
    pub yanked: bool,
    /// Id of the key that signed the archive.
    pub key_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    /// For registries that carry their model recipes (the embedded default registry): the
    /// recipe's path under `models/`, from which the bundle can be rebuilt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipe: Option<String>,
    /// What `file` is: a ptd bundle (the default), or phasic's own elimination artifact alone
    /// (mirrored from a phasic-traces registry, with no graph).
    #[serde(default, skip_serializing_if = "ArchiveKind::is_bundle")]
    pub kind: ArchiveKind,
    /// Metadata kept from where the version came from (a phasic-traces entry's `metadata`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
    /// For a member of a family: the values of every variant (one line per prebuilt member;
    /// the lines of one version differ only here and in their archive and hashes).
    #[serde(default, skip_serializing_if = "Variants::is_empty")]
    pub variants: Variants,
    /// For a family: what variants it takes and where its signed recipe is, from which a
    /// member that was not prebuilt is built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<Family>,
    /// Not an index line but a member to build here from the family's recipe
    /// ([`IndexEntry::to_build`]); its hashes, when set, are pins (from a lockfile) that the
    /// build must reproduce.
    #[serde(skip)]
    pub build_here: bool,
}

/// A family's variants and recipe, repeated on each of its version's lines.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Family {
    pub variants: VariantDecls,
    /// The recipe archive (`model.toml` and the files it names, tar + zstd), signed like a
    /// bundle with the trusted comment of [`recipe_trusted_comment`]. Absent for a registry
    /// that carries its recipes ([`IndexEntry::recipe`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipe: Option<RecipeArchive>,
}

/// A version's signed recipe archive.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipeArchive {
    pub file: String,
    pub sha256: String,
    pub size: u64,
}

impl IndexEntry {
    /// A member of this line's family that the registry has not prebuilt: the version's line
    /// with the member's values, its file name, and no archive or hashes (they are known once
    /// it is built from the family's recipe). [`IndexEntry::needs_build`] tells it apart.
    pub fn to_build(&self, variants: Variants) -> IndexEntry {
        IndexEntry {
            file: crate::bundle::archive_name(&self.name, &self.version, &variants),
            sha256: String::new(),
            size: 0,
            content_hash: String::new(),
            phasic_hash: String::new(),
            canonical_hash: String::new(),
            artifacts: Vec::new(),
            variants,
            build_here: true,
            ..self.clone()
        }
    }

    /// The member `variants` of `version`, built here before, to build again from the
    /// family's recipe (a line of that version among a model's `lines`), with the hashes of the
    /// earlier build as pins it must reproduce: the archive's SHA-256 and size, the content
    /// and phasic hashes. `None` when no line of that version is a family's.
    pub fn to_rebuild(
        lines: &[IndexEntry],
        version: &semver::Version,
        variants: &Variants,
        (sha256, size, content_hash, phasic_hash): (&str, u64, &str, &str),
    ) -> Option<IndexEntry> {
        let line = lines
            .iter()
            .find(|e| e.version == *version && e.family.is_some())?;
        Some(IndexEntry {
            sha256: sha256.to_string(),
            size,
            content_hash: content_hash.to_string(),
            phasic_hash: phasic_hash.to_string(),
            ..line.to_build(variants.clone())
        })
    }

    /// Whether this is a member to build ([`IndexEntry::to_build`]).
    pub fn needs_build(&self) -> bool {
        self.build_here
    }

    /// The version as artifact templates name it (`{name}`, `{version}`, `{tag}`).
    pub fn release(&self) -> crate::transport::Release<'_> {
        crate::transport::Release {
            name: &self.name,
            version: &self.version,
        }
    }
}

/// What a version's main archive is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArchiveKind {
    /// A ptd bundle: graph, symbolic DAG, evaluator (`docs/bundle-format.md`).
    #[default]
    Bundle,
    /// A phasic archive (`phasic.json` + phasic's artifact files) standing alone.
    PhasicArtifact,
}

impl ArchiveKind {
    pub fn is_bundle(&self) -> bool {
        *self == ArchiveKind::Bundle
    }
}

/// `snapshot.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    pub registry: String,
    pub version: u64,
    /// RFC 3339, UTC.
    pub created: String,
    pub expires: String,
    /// SHA-256 of every other index file, by path.
    pub files: BTreeMap<String, String>,
}

/// Errors reading or trusting an index.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    #[error("{file} line {line}: {message}")]
    Line {
        file: String,
        line: usize,
        message: String,
    },
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Sign(#[from] crate::sign::SignError),
    #[error(
        "registry '{registry}': {file} does not match the signed snapshot (SHA-256 {got}, snapshot says {want}): the mirror serves an index file that was not published"
    )]
    Mismatch {
        registry: String,
        file: String,
        got: String,
        want: String,
    },
    #[error(
        "registry '{registry}': the snapshot is version {got} but version {seen} was already seen: refusing a rolled-back index"
    )]
    Rollback {
        registry: String,
        got: u64,
        seen: u64,
    },
    #[error(
        "registry '{registry}': the snapshot expired at {expires}: refusing a frozen index (the registry must re-sign its snapshot)"
    )]
    Expired { registry: String, expires: String },
    #[error("registry '{registry}' has no model '{name}'")]
    NoSuchModel { registry: String, name: String },
    /// A model name that is not `namespace/name` (the message says so).
    #[error("{0}")]
    BadName(String),
}

/// The trusted comment signed into every archive's `.minisig`.
pub fn archive_trusted_comment(
    name: &str,
    version: &semver::Version,
    content_hash: &str,
) -> String {
    format!("ptd-bundle name={name} version={version} content_hash={content_hash}")
}

/// The trusted comment signed into a recipe archive's `.minisig`.
pub fn recipe_trusted_comment(name: &str, version: &semver::Version, sha256: &str) -> String {
    format!("ptd-recipe name={name} version={version} sha256={sha256}")
}

/// The trusted comment signed into a snapshot's `.minisig`.
pub fn snapshot_trusted_comment(s: &Snapshot) -> String {
    format!("ptd-snapshot registry={} version={}", s.registry, s.version)
}

/// Path of a model's index file: `namespace/name`.
pub fn index_path(name: &str) -> String {
    name.to_string()
}

/// Parses the index file of model `name`: one JSON object per non-empty line. `file` names it
/// in errors.
pub fn parse_index_file(
    bytes: &[u8],
    name: &str,
    file: &str,
) -> Result<Vec<IndexEntry>, IndexError> {
    let text = std::str::from_utf8(bytes).map_err(|_| IndexError::Invalid {
        file: file.into(),
        message: "not UTF-8".into(),
    })?;
    let mut out: Vec<IndexEntry> = Vec::new();
    let mut seen: std::collections::HashSet<(semver::Version, String)> =
        std::collections::HashSet::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let e: IndexEntry = serde_json::from_str(line).map_err(|e| IndexError::Line {
            file: file.into(),
            line: i + 1,
            message: e.to_string(),
        })?;
        let bad = |message: String| IndexError::Line {
            file: file.into(),
            line: i + 1,
            message,
        };
        if e.name != name {
            return Err(bad(format!(
                "entry for '{}' in the index file of another model",
                e.name
            )));
        }
        for (what, h) in [
            ("sha256", &e.sha256),
            ("content_hash", &e.content_hash),
            ("phasic_hash", &e.phasic_hash),
            ("canonical_hash", &e.canonical_hash),
        ] {
            if h.len() != 64 || !h.bytes().all(|c| c.is_ascii_hexdigit()) {
                return Err(bad(format!("{what} is not 64 hex digits")));
            }
        }
        for d in &e.deps {
            crate::model::check_name(&d.name).map_err(|m| bad(format!("dependency {m}")))?;
        }
        if e.file.contains('/') || e.file.contains("..") || e.file.is_empty() {
            return Err(bad(format!(
                "file name '{}' must be a plain file name",
                e.file
            )));
        }
        if !seen.insert((e.version.clone(), e.variants.to_string())) {
            return Err(bad(if e.variants.is_empty() {
                format!("version {} is listed twice", e.version)
            } else {
                format!("version {} {} is listed twice", e.version, e.variants)
            }));
        }
        match (&e.family, e.variants.is_empty()) {
            (None, true) => {}
            (None, false) => {
                return Err(bad("variant values without a family declaration".into()));
            }
            (Some(f), _) => {
                f.variants
                    .check()
                    .map_err(|err| bad(format!("family: {err}")))?;
                let settled = f
                    .variants
                    .settle(&e.variants.0)
                    .map_err(|err| bad(err.to_string()))?;
                if settled != e.variants {
                    return Err(bad(format!(
                        "variants '{}' do not name every variant of the family ({})",
                        e.variants,
                        f.variants.describe()
                    )));
                }
                if let Some(r) = &f.recipe
                    && (r.file.contains('/') || r.file.contains("..") || r.file.is_empty())
                {
                    return Err(bad(format!(
                        "recipe file name '{}' must be a plain file name",
                        r.file
                    )));
                }
            }
        }
        if let Some(first) = out.iter().find(|o: &&IndexEntry| o.version == e.version)
            && first.family != e.family
        {
            return Err(bad(format!(
                "the lines of version {} disagree on the family's variants or recipe",
                e.version
            )));
        }
        out.push(e);
    }
    Ok(out)
}

/// Writes index entries as JSON lines, in version order.
pub fn write_index_file(entries: &[IndexEntry]) -> Vec<u8> {
    let mut sorted: Vec<&IndexEntry> = entries.iter().collect();
    sorted.sort_by(|a, b| {
        a.version
            .cmp(&b.version)
            .then_with(|| a.variants.cmp_values(&b.variants))
    });
    let mut out = Vec::new();
    for e in sorted {
        out.extend_from_slice(
            serde_json::to_string(e)
                .expect("entry serializes")
                .as_bytes(),
        );
        out.push(b'\n');
    }
    out
}

impl RegistryConfig {
    pub fn parse(bytes: &[u8], file: &str) -> Result<RegistryConfig, IndexError> {
        let c: RegistryConfig = serde_json::from_slice(bytes).map_err(|e| IndexError::Invalid {
            file: file.into(),
            message: e.to_string(),
        })?;
        if c.index_format != INDEX_FORMAT {
            return Err(IndexError::Invalid {
                file: file.into(),
                message: format!(
                    "index format {} is not supported (this ptd reads format {INDEX_FORMAT}); upgrade ptd",
                    c.index_format
                ),
            });
        }
        Ok(c)
    }

    pub fn trusted_keys(&self) -> Result<Vec<TrustedKey>, IndexError> {
        let mut keys = Vec::new();
        for k in &self.keys {
            let t = TrustedKey::parse(&k.public_key)?;
            if t.key_id != k.id {
                return Err(IndexError::Invalid {
                    file: "config.json".into(),
                    message: format!(
                        "key id {} does not match its public key (id {})",
                        k.id, t.key_id
                    ),
                });
            }
            keys.push(t);
        }
        Ok(keys)
    }
}

impl Snapshot {
    /// Verifies a snapshot's signature with `keys` and parses it.
    pub fn verify(
        bytes: &[u8],
        sig: &str,
        keys: &[TrustedKey],
        registry: &str,
    ) -> Result<Snapshot, IndexError> {
        let what = format!("registry '{registry}' snapshot.json");
        let s = Signature::parse(sig, &format!("{what}.minisig"))?;
        let comment = s.verify(bytes, keys, &what)?.to_string();
        let snap: Snapshot = serde_json::from_slice(bytes).map_err(|e| IndexError::Invalid {
            file: what.clone(),
            message: e.to_string(),
        })?;
        if comment != snapshot_trusted_comment(&snap) {
            return Err(IndexError::Invalid {
                file: what,
                message: format!("the signed comment '{comment}' does not describe this snapshot"),
            });
        }
        Ok(snap)
    }

    /// Parses a snapshot whose signature needs no check (the index built into ptd).
    pub fn parse(bytes: &[u8], registry: &str) -> Result<Snapshot, IndexError> {
        serde_json::from_slice(bytes).map_err(|e| IndexError::Invalid {
            file: format!("registry '{registry}' snapshot.json"),
            message: e.to_string(),
        })
    }

    /// Checks the expiry against `now`.
    pub fn check_expiry(&self, now: std::time::SystemTime) -> Result<(), IndexError> {
        let exp = humantime::parse_rfc3339(&self.expires).map_err(|e| IndexError::Invalid {
            file: "snapshot.json".into(),
            message: format!("expires: {e}"),
        })?;
        if now > exp {
            return Err(IndexError::Expired {
                registry: self.registry.clone(),
                expires: self.expires.clone(),
            });
        }
        Ok(())
    }

    /// Checks an index file's bytes against the snapshot.
    pub fn check_file(&self, path: &str, bytes: &[u8]) -> Result<(), IndexError> {
        let got = crate::fs::sha256_hex(bytes);
        match self.files.get(path) {
            Some(want) if *want == got => Ok(()),
            Some(want) => Err(IndexError::Mismatch {
                registry: self.registry.clone(),
                file: path.into(),
                got,
                want: want.clone(),
            }),
            None => Err(IndexError::Mismatch {
                registry: self.registry.clone(),
                file: path.into(),
                got,
                want: "nothing (the file is not in the snapshot)".into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(v: &str) -> IndexEntry {
        IndexEntry {
            name: "a/b".into(),
            version: v.parse().unwrap(),
            file: format!("a-b-{v}.ptd.tar.zst"),
            sha256: "0".repeat(64),
            size: 1,
            content_hash: "1".repeat(64),
            phasic_hash: "2".repeat(64),
            canonical_hash: "3".repeat(64),
            parameters: vec!["theta".into()],
            deps: vec![],
            artifacts: vec![],
            yanked: false,
            key_id: "ABCD".into(),
            description: String::new(),
            keywords: vec![],
            recipe: None,
            kind: ArchiveKind::Bundle,
            metadata: None,
            variants: Default::default(),
            family: None,
            build_here: false,
        }
    }

    #[test]
    fn index_lines_round_trip_and_are_checked() {
        let bytes = write_index_file(&[entry("1.1.0"), entry("1.0.0")]);
        let back = parse_index_file(&bytes, "a/b", "a/b").unwrap();
        assert_eq!(back[0].version.to_string(), "1.0.0");
        let mut bad = String::from_utf8(bytes.clone()).unwrap();
        bad.push_str("{\"name\": 3}\n");
        let e = parse_index_file(bad.as_bytes(), "a/b", "a/b").unwrap_err();
        assert!(e.to_string().starts_with("a/b line 3:"), "{e}");
        let dup = write_index_file(&[entry("1.0.0"), entry("1.0.0")]);
        assert!(
            parse_index_file(&dup, "a/b", "a/b")
                .unwrap_err()
                .to_string()
                .contains("listed twice")
        );
    }
}
