//! Projects: `ptd.toml` (what a research environment needs) and `ptd.lock` (exactly what it
//! got). `docs/file-formats.md` describes both.
//!
//! ```toml
//! # ptd.toml
//! [project]
//! name = "demography-study"
//!
//! [dependencies]
//! "coalescent/kingman" = "1.2"
//! "lab/island-model" = { version = "0.3", registry = "lab" }
//! ```

use crate::fs::write_atomic;
use crate::index::IndexEntry;
use crate::resolve::Requirement;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const MANIFEST: &str = "ptd.toml";
pub const LOCKFILE: &str = "ptd.lock";
pub const LOCK_FORMAT: u32 = 1;
/// The registry built into ptd.
pub const DEFAULT_REGISTRY: &str = "default";

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    #[error("{file}: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error(
        "no ptd.toml in {0} or any directory above it; run `ptd init` to start a project, or name a model (`ptd install NAME@REQ`)"
    )]
    NotFound(String),
}

/// One requirement of a project.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependency {
    pub req: semver::VersionReq,
    /// A configured registry name, a URL or a directory; `default` when absent.
    pub registry: String,
    /// For a family: the variant values asked for (the other keys of the table).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variants: crate::model::Requested,
}

/// A parsed `ptd.toml`.
#[derive(Clone, Debug)]
pub struct Project {
    pub root: PathBuf,
    pub name: String,
    pub dependencies: BTreeMap<String, Dependency>,
    doc: toml_edit::DocumentMut,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    project: RawProject,
    #[serde(default)]
    dependencies: BTreeMap<String, RawDep>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProject {
    name: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawDep {
    Req(String),
    Table(RawDepTable),
}

/// `{ version = "1", registry = "lab", samples = 30 }`: every other key is a variant.
type RawDepTable = toml::Table;

impl Project {
    /// Finds `ptd.toml` in `start` or above.
    pub fn find(start: &Path) -> Result<Project, ProjectError> {
        let mut dir = Some(start);
        while let Some(d) = dir {
            let p = d.join(MANIFEST);
            if p.is_file() {
                return Project::read(d);
            }
            dir = d.parent();
        }
        Err(ProjectError::NotFound(start.display().to_string()))
    }

    /// Reads `root/ptd.toml`.
    pub fn read(root: &Path) -> Result<Project, ProjectError> {
        let path = root.join(MANIFEST);
        let text = std::fs::read_to_string(&path).map_err(|source| ProjectError::Io {
            file: path.display().to_string(),
            source,
        })?;
        Project::parse(root, &text)
    }

    pub fn parse(root: &Path, text: &str) -> Result<Project, ProjectError> {
        let file = root.join(MANIFEST).display().to_string();
        let bad = |message: String| ProjectError::Invalid {
            file: file.clone(),
            message,
        };
        let raw: RawManifest = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        let doc: toml_edit::DocumentMut = text.parse().map_err(|e| bad(format!("{e}")))?;
        let mut dependencies = BTreeMap::new();
        for (name, d) in raw.dependencies {
            crate::model::check_name(&name).map_err(|m| bad(format!("[dependencies] {m}")))?;
            let mut variants = crate::model::Requested::new();
            let (req, registry) = match d {
                RawDep::Req(r) => (r, None),
                RawDep::Table(t) => {
                    let text = |key: &str| -> Result<Option<String>, ProjectError> {
                        match t.get(key) {
                            None => Ok(None),
                            Some(toml::Value::String(s)) => Ok(Some(s.clone())),
                            Some(other) => Err(bad(format!(
                                "[dependencies] \"{name}\": '{key}' must be a string, found {}",
                                other.type_str()
                            ))),
                        }
                    };
                    let (version, registry) = (text("version")?, text("registry")?);
                    for (k, v) in &t {
                        if k == "version" || k == "registry" {
                            continue;
                        }
                        crate::model::variants::check_variant_name(k).map_err(|m| {
                            bad(format!("[dependencies] \"{name}\": {m}; the keys are version, registry and the model's variants"))
                        })?;
                        let value = crate::model::VariantValue::from_toml(v).ok_or_else(|| {
                            bad(format!(
                                "[dependencies] \"{name}\": variant '{k}' must be a number, string or boolean, found {}",
                                v.type_str()
                            ))
                        })?;
                        variants.insert(k.clone(), value);
                    }
                    (version.unwrap_or_else(|| "*".into()), registry)
                }
            };
            let req = semver::VersionReq::parse(&req).map_err(|e| {
                bad(format!(
                    "[dependencies] \"{name}\": '{req}' is not a version requirement ({e})"
                ))
            })?;
            dependencies.insert(
                name,
                Dependency {
                    req,
                    registry: registry.unwrap_or_else(|| DEFAULT_REGISTRY.into()),
                    variants,
                },
            );
        }
        Ok(Project {
            root: root.to_path_buf(),
            name: raw.project.name,
            dependencies,
            doc,
        })
    }

    /// Creates `root/ptd.toml`, named `name` or else after the directory; refuses to overwrite
    /// one.
    pub fn init(root: &Path, name: Option<&str>) -> Result<Project, ProjectError> {
        let name = match name {
            Some(n) => n.to_string(),
            None => std::fs::canonicalize(root)
                .ok()
                .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "project".into()),
        };
        let path = root.join(MANIFEST);
        if path.exists() {
            return Err(ProjectError::Invalid {
                file: path.display().to_string(),
                message: "a project already exists here".into(),
            });
        }
        let text = format!(
            "[project]\nname = {}\n\n[dependencies]\n",
            toml_edit::Value::from(name.as_str())
        );
        let p = Project::parse(root, &text)?;
        p.save()?;
        Ok(p)
    }

    /// Adds or changes a requirement, keeping the file's comments and layout.
    pub fn add(&mut self, req: &Requirement, registry: &str) {
        let text_req = req.req.to_string();
        let deps = self.doc["dependencies"].or_insert(toml_edit::table());
        if let Some(t) = deps.as_table_mut() {
            t.set_implicit(false);
        }
        let value = if registry == DEFAULT_REGISTRY && req.variants.is_empty() {
            toml_edit::value(text_req)
        } else {
            let mut t = toml_edit::InlineTable::new();
            t.insert("version", text_req.into());
            if registry != DEFAULT_REGISTRY {
                t.insert("registry", registry.into());
            }
            for (k, v) in &req.variants {
                let v: toml_edit::Value = match v {
                    crate::model::VariantValue::Bool(b) => (*b).into(),
                    crate::model::VariantValue::Int(i) => (*i).into(),
                    crate::model::VariantValue::Float(f) => (*f).into(),
                    crate::model::VariantValue::Str(s) => s.as_str().into(),
                };
                t.insert(k, v);
            }
            toml_edit::value(t)
        };
        deps[req.name.as_str()] = value;
        self.dependencies.insert(
            req.name.clone(),
            Dependency {
                req: req.req.clone(),
                registry: registry.into(),
                variants: req.variants.clone(),
            },
        );
    }

    /// Removes a requirement; false if there was none. `name` must be a model name.
    pub fn remove(&mut self, name: &str) -> Result<bool, ProjectError> {
        crate::model::check_name(name).map_err(|message| ProjectError::Invalid {
            file: self.root.join(MANIFEST).display().to_string(),
            message,
        })?;
        if let Some(t) = self.doc["dependencies"].as_table_like_mut() {
            t.remove(name);
        }
        Ok(self.dependencies.remove(name).is_some())
    }

    pub fn save(&self) -> Result<(), ProjectError> {
        let path = self.root.join(MANIFEST);
        write_atomic(&path, self.doc.to_string().as_bytes()).map_err(|source| ProjectError::Io {
            file: path.display().to_string(),
            source,
        })
    }

    pub fn lock_path(&self) -> PathBuf {
        self.root.join(LOCKFILE)
    }

    /// The requirements as the lockfile records them.
    pub fn requirements(&self) -> BTreeMap<String, LockedRequirement> {
        self.dependencies
            .iter()
            .map(|(n, d)| {
                (
                    n.clone(),
                    LockedRequirement {
                        req: d.req.to_string(),
                        registry: d.registry.clone(),
                        variants: d.variants.clone(),
                    },
                )
            })
            .collect()
    }
}

/// A requirement as recorded in the lockfile, to tell whether `ptd.toml` changed since.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedRequirement {
    pub req: String,
    pub registry: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variants: crate::model::Requested,
}

/// One locked model version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedModel {
    pub name: String,
    pub version: semver::Version,
    pub registry: String,
    pub file: String,
    pub sha256: String,
    pub size: u64,
    pub content_hash: String,
    pub phasic_hash: String,
    pub key_id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<String>,
    /// Built on this machine from the family's signed recipe (signed by `key_id`) rather
    /// than downloaded: any machine that builds it must get these same bytes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub built: bool,
    /// For a member of a family: the values of its variants.
    #[serde(default, skip_serializing_if = "crate::model::Variants::is_empty")]
    pub variants: crate::model::Variants,
}

impl LockedModel {
    pub fn from_entry(e: &IndexEntry, registry: &str) -> LockedModel {
        let mut dependencies: Vec<String> = e.deps.iter().map(|d| d.name.clone()).collect();
        dependencies.sort();
        LockedModel {
            name: e.name.clone(),
            version: e.version.clone(),
            registry: registry.into(),
            file: e.file.clone(),
            sha256: e.sha256.clone(),
            size: e.size,
            content_hash: e.content_hash.clone(),
            phasic_hash: e.phasic_hash.clone(),
            key_id: e.key_id.clone(),
            dependencies,
            built: e.needs_build(),
            variants: e.variants.clone(),
        }
    }

    /// What to install for this locked model, among its registry's lines: the line it pins,
    /// or for a member built here, that member of its version (with the pinned hashes, which
    /// its build must reproduce).
    pub fn entry(&self, lines: Vec<IndexEntry>) -> Option<IndexEntry> {
        if self.built {
            return IndexEntry::to_rebuild(
                &lines,
                &self.version,
                &self.variants,
                (
                    &self.sha256,
                    self.size,
                    &self.content_hash,
                    &self.phasic_hash,
                ),
            );
        }
        lines
            .into_iter()
            .find(|e| e.version == self.version && e.variants == self.variants)
    }

    /// Whether an index entry is exactly what was locked. A member built locally
    /// ([`IndexEntry::needs_build`]) matches by name, version, values and key; its bytes are
    /// checked once built.
    pub fn matches(&self, e: &IndexEntry) -> bool {
        let same = self.name == e.name
            && self.version == e.version
            && self.variants == e.variants
            && self.key_id == e.key_id;
        if e.needs_build() {
            return same && self.built;
        }
        same && !self.built
            && self.sha256 == e.sha256
            && self.size == e.size
            && self.content_hash == e.content_hash
            && self.phasic_hash == e.phasic_hash
    }
}

/// `ptd.lock`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lockfile {
    pub version: u32,
    #[serde(default)]
    pub requirements: BTreeMap<String, LockedRequirement>,
    #[serde(default, rename = "model")]
    pub models: Vec<LockedModel>,
}

const LOCK_HEADER: &str = "# This file is written by ptd; do not edit it by hand.\n";

impl Lockfile {
    pub fn new(
        requirements: BTreeMap<String, LockedRequirement>,
        mut models: Vec<LockedModel>,
    ) -> Lockfile {
        models.sort_by(|a, b| (&a.name, &a.registry).cmp(&(&b.name, &b.registry)));
        Lockfile {
            version: LOCK_FORMAT,
            requirements,
            models,
        }
    }

    /// Reads a lockfile; `None` if there is none.
    pub fn read(path: &Path) -> Result<Option<Lockfile>, ProjectError> {
        let file = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(ProjectError::Io { file, source }),
        };
        Lockfile::parse(&text, &file).map(Some)
    }

    pub fn parse(text: &str, file: &str) -> Result<Lockfile, ProjectError> {
        let bad = |message: String| ProjectError::Invalid {
            file: file.into(),
            message,
        };
        let l: Lockfile = toml::from_str(text).map_err(|e| {
            bad(format!(
                "{}; delete it and run `ptd lock` to write a new one",
                e.to_string().trim_end()
            ))
        })?;
        if l.version != LOCK_FORMAT {
            return Err(bad(format!(
                "lock format {} is not supported (this ptd writes format {LOCK_FORMAT})",
                l.version
            )));
        }
        for (i, m) in l.models.iter().enumerate() {
            crate::model::check_name(&m.name)
                .map_err(|message| bad(format!("[[model]] {}: {message}", i + 1)))?;
            for (what, h) in [
                ("sha256", &m.sha256),
                ("content_hash", &m.content_hash),
                ("phasic_hash", &m.phasic_hash),
            ] {
                if h.len() != 64 || !h.bytes().all(|c| c.is_ascii_hexdigit()) {
                    return Err(bad(format!(
                        "[[model]] {} ({}): {what} is not 64 hex digits",
                        i + 1,
                        m.name
                    )));
                }
            }
            if m.file.contains('/') || m.file.contains("..") {
                return Err(bad(format!(
                    "[[model]] {} ({}): file must be a plain file name",
                    i + 1,
                    m.name
                )));
            }
        }
        Ok(l)
    }

    pub fn to_text(&self) -> String {
        let body = toml::to_string(self).expect("lockfile serializes");
        format!("{LOCK_HEADER}{body}")
    }

    pub fn write(&self, path: &Path) -> Result<(), ProjectError> {
        write_atomic(path, self.to_text().as_bytes()).map_err(|source| ProjectError::Io {
            file: path.display().to_string(),
            source,
        })
    }

    /// Locked versions of one registry, for the resolver's preferences.
    pub fn versions(&self, registry: &str) -> BTreeMap<String, semver::Version> {
        self.models
            .iter()
            .filter(|m| m.registry == registry)
            .map(|m| (m.name.clone(), m.version.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_edits_keep_comments_and_lock_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        Project::init(dir.path(), Some("study")).unwrap();
        let mut text = std::fs::read_to_string(dir.path().join(MANIFEST)).unwrap();
        text.insert_str(0, "# my study\n");
        std::fs::write(dir.path().join(MANIFEST), &text).unwrap();
        let mut p = Project::read(dir.path()).unwrap();
        p.add(
            &Requirement::parse("coalescent/kingman@1.2").unwrap(),
            "default",
        );
        p.add(&Requirement::parse("lab/x@=0.3.1").unwrap(), "lab");
        p.save().unwrap();
        let back = Project::read(dir.path()).unwrap();
        let text = std::fs::read_to_string(dir.path().join(MANIFEST)).unwrap();
        assert!(text.starts_with("# my study\n"), "{text}");
        assert_eq!(
            back.dependencies["coalescent/kingman"].req.to_string(),
            "^1.2"
        );
        assert_eq!(back.dependencies["lab/x"].registry, "lab");
        let mut back = back;
        assert!(back.remove("lab/x").unwrap());
        assert!(!back.remove("lab/x").unwrap());
        back.save().unwrap();
        assert_eq!(Project::read(dir.path()).unwrap().dependencies.len(), 1);

        let l = Lockfile::new(
            back.requirements(),
            vec![LockedModel {
                name: "coalescent/kingman".into(),
                version: "1.2.1".parse().unwrap(),
                registry: "default".into(),
                file: "coalescent-kingman-1.2.1.ptd.tar.zst".into(),
                sha256: "a".repeat(64),
                size: 10,
                content_hash: "b".repeat(64),
                phasic_hash: "c".repeat(64),
                key_id: "0123456789ABCDEF".into(),
                dependencies: vec![],
                built: false,
                variants: Default::default(),
            }],
        );
        let t = l.to_text();
        assert_eq!(Lockfile::parse(&t, "ptd.lock").unwrap(), l);
        assert!(!t.contains("variants") && !t.contains("built"), "{t}");
        let e = Lockfile::parse(&t.replace(&"a".repeat(64), "zz"), "ptd.lock").unwrap_err();
        assert!(e.to_string().contains("sha256"), "{e}");
    }

    #[test]
    fn variants_in_the_manifest_and_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        Project::init(dir.path(), Some("study")).unwrap();
        let mut p = Project::read(dir.path()).unwrap();
        let req = Requirement::parse_words(&["coalescent/block-counting@1", "samples=30"])
            .unwrap()
            .remove(0);
        p.add(&req, "default");
        p.save().unwrap();
        let text = std::fs::read_to_string(dir.path().join(MANIFEST)).unwrap();
        assert!(
            text.contains("\"coalescent/block-counting\" = { version = \"^1\", samples = 30 }"),
            "{text}"
        );
        let back = Project::read(dir.path()).unwrap();
        let d = &back.dependencies["coalescent/block-counting"];
        assert_eq!(d.variants["samples"], crate::model::VariantValue::Int(30));
        assert_eq!(d.registry, DEFAULT_REGISTRY);
        // The requirements recorded in the lock change with the values.
        let before = back.requirements();
        let mut other = back.clone();
        let req = Requirement::parse_words(&["coalescent/block-counting@1", "samples=31"])
            .unwrap()
            .remove(0);
        other.add(&req, "default");
        assert_ne!(before, other.requirements());
        // A locked member records its values, and whether it was built here.
        let variants = crate::model::Variants::from_key(r#"{"samples":30}"#).unwrap();
        let m = LockedModel {
            name: "coalescent/block-counting".into(),
            version: "1.1.0".parse().unwrap(),
            registry: "default".into(),
            file: "coalescent-block-counting-1.1.0_samples-30.ptd.tar.zst".into(),
            sha256: "a".repeat(64),
            size: 10,
            content_hash: "b".repeat(64),
            phasic_hash: "c".repeat(64),
            key_id: "0123456789ABCDEF".into(),
            dependencies: vec![],
            built: true,
            variants,
        };
        let l = Lockfile::new(back.requirements(), vec![m]);
        let t = l.to_text();
        assert!(
            t.contains("built = true") && t.contains("samples = 30"),
            "{t}"
        );
        assert_eq!(Lockfile::parse(&t, "ptd.lock").unwrap(), l);
        // Bad variant keys and values name the dependency.
        let e = Project::parse(
            dir.path(),
            "[project]\nname = \"x\"\n[dependencies]\n\"a/b\" = { version = \"1\", Samples = 3 }\n",
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("\"a/b\": 'Samples' is not a variant name"),
            "{e}"
        );
        let e = Project::parse(
            dir.path(),
            "[project]\nname = \"x\"\n[dependencies]\n\"a/b\" = { version = \"1\", samples = [3] }\n",
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("variant 'samples' must be a number"),
            "{e}"
        );
    }

    #[test]
    fn bad_manifests_name_the_field() {
        let d = Path::new("/p");
        let e = Project::parse(
            d,
            "[project]\nname = \"x\"\n[dependencies]\n\"a/b\" = \"1.x.y\"\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("\"a/b\""), "{e}");
        let e = Project::parse(
            d,
            "[project]\nname = \"x\"\n[dependencies]\n\"AB\" = \"1\"\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("namespace/name"), "{e}");
        assert!(Project::parse(d, "[dependencies]\n").is_err());
    }
}
