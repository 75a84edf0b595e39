//! Publishing into a registry whose index is a local directory: create the registry, add a
//! signed archive and its index line, yank, and re-sign the snapshot after every change.
//!
//! A published version is immutable: publishing it again with other content is refused, and
//! publishing the same content again changes nothing.

pub mod pull_request;
pub mod store;

use crate::bundle::Built;
use crate::fs::{sha256_hex, write_atomic};
use crate::index::{
    ArtifactLocation, INDEX_FORMAT, IndexEntry, KeyEntry, RecipeArchive, RegistryConfig, Snapshot,
    archive_trusted_comment, index_path, parse_index_file, recipe_trusted_comment,
    snapshot_trusted_comment, write_index_file,
};
use crate::sign::{SignError, Signer};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

pub use crate::transport::Put;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Io(#[from] crate::fs::IoError),
    #[error(transparent)]
    Sign(#[from] SignError),
    #[error(transparent)]
    Index(#[from] crate::index::IndexError),
    #[error(
        "{name} {version} is already published with other content (content hash {existing}); a published version never changes: publish a new version"
    )]
    Exists {
        name: String,
        version: String,
        existing: String,
    },
    #[error(
        "{name} {version} is already published from another recipe ({existing}); a published version never changes: publish a new version"
    )]
    RecipeChanged {
        name: String,
        version: String,
        existing: String,
    },
    #[error("{0}")]
    Refused(String),
}

impl From<crate::transport::PutError> for PublishError {
    fn from(e: crate::transport::PutError) -> PublishError {
        use crate::transport::PutError;
        match e {
            PutError::Io(e) => PublishError::Io(e),
            e @ PutError::Differs(_) => PublishError::Refused(e.to_string()),
            PutError::Refused(m) => PublishError::Refused(m),
        }
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> PublishError + '_ {
    move |source| {
        PublishError::Io(crate::fs::IoError {
            path: path.display().to_string(),
            source,
        })
    }
}

/// How long a freshly signed snapshot stays valid.
pub const SNAPSHOT_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);

/// A registry index in a local directory.
pub struct IndexDir {
    pub dir: PathBuf,
}

/// What a publish did.
#[derive(Debug, PartialEq)]
pub enum Published {
    Added(Box<IndexEntry>),
    /// The same content was already published under this version.
    Unchanged(Box<IndexEntry>),
}

impl IndexDir {
    pub fn new(dir: impl Into<PathBuf>) -> IndexDir {
        IndexDir { dir: dir.into() }
    }

    fn lock(&self) -> Result<std::fs::File, PublishError> {
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let p = self.dir.join(".ptd-index.lock");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(io(&p))?;
        f.lock().map_err(io(&p))?;
        Ok(f)
    }

    /// Creates `config.json` and a first signed snapshot.
    pub fn init(
        &self,
        name: &str,
        artifacts: Vec<ArtifactLocation>,
        signer: &Signer,
    ) -> Result<(), PublishError> {
        let _l = self.lock()?;
        let config_path = self.dir.join("config.json");
        if config_path.exists() {
            return Err(PublishError::Refused(format!(
                "{}: a registry already exists here",
                config_path.display()
            )));
        }
        let config = RegistryConfig {
            name: name.into(),
            index_format: INDEX_FORMAT,
            artifacts,
            keys: vec![KeyEntry {
                id: signer.key_id.clone(),
                public_key: signer.public_key(),
            }],
        };
        let mut bytes = serde_json::to_vec_pretty(&config).expect("config");
        bytes.push(b'\n');
        write_atomic(&config_path, &bytes).map_err(io(&config_path))?;
        self.write_snapshot(signer, 0, SNAPSHOT_VALIDITY)
    }

    pub fn config(&self) -> Result<RegistryConfig, PublishError> {
        let p = self.dir.join("config.json");
        let bytes = std::fs::read(&p).map_err(io(&p))?;
        Ok(RegistryConfig::parse(&bytes, &p.display().to_string())?)
    }

    /// The index file of `name`, which must be a valid model name (so that it stays inside
    /// the index directory).
    fn index_file(&self, name: &str) -> Result<PathBuf, PublishError> {
        crate::model::check_name(name).map_err(PublishError::Refused)?;
        Ok(self.dir.join(index_path(name)))
    }

    /// The published versions of `name` (none if it has no index file).
    pub fn read_entries(&self, name: &str) -> Result<Vec<IndexEntry>, PublishError> {
        let p = self.index_file(name)?;
        match std::fs::read(&p) {
            Ok(b) => Ok(parse_index_file(&b, name, &p.display().to_string())?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(io(&p)(e)),
        }
    }

    /// Appends `location` to the registry's artifact locations (last, so the order of
    /// preference of those listed stays) and re-signs; `false` if one with its URL is listed.
    pub fn add_location(
        &self,
        location: &ArtifactLocation,
        signer: &Signer,
    ) -> Result<bool, PublishError> {
        let _l = self.lock()?;
        let mut config = self.config()?;
        check_signer(&config, signer)?;
        if config.artifacts.iter().any(|a| a.url() == location.url()) {
            return Ok(false);
        }
        config.artifacts.push(location.clone());
        let p = self.dir.join("config.json");
        let mut bytes = serde_json::to_vec_pretty(&config).expect("config");
        bytes.push(b'\n');
        write_atomic(&p, &bytes).map_err(io(&p))?;
        self.resign_next(signer)?;
        Ok(true)
    }

    /// Adds a version's index line, unless the same version is already there.
    pub fn add(&self, entry: IndexEntry, signer: &Signer) -> Result<Published, PublishError> {
        let mut out = self.add_all(vec![entry], signer)?;
        Ok(out.remove(0))
    }

    /// Adds index lines of one model in one change (one write, one re-signed snapshot): each
    /// line whose version and variant values are already there with the same content hash is
    /// left as it is (`Unchanged`); with another content hash, or when the version's lines
    /// declare another family (its variants or recipe), nothing is changed and the publish is
    /// refused. The result is in the order of `new`.
    pub fn add_all(
        &self,
        new: Vec<IndexEntry>,
        signer: &Signer,
    ) -> Result<Vec<Published>, PublishError> {
        let Some(name) = new.first().map(|e| e.name.clone()) else {
            return Ok(Vec::new());
        };
        if let Some(e) = new.iter().find(|e| e.name != name) {
            return Err(PublishError::Refused(format!(
                "index lines of {} and {name} cannot be added in one change",
                e.name
            )));
        }
        let _l = self.lock()?;
        let config = self.config()?;
        check_signer(&config, signer)?;
        let mut entries = self.read_entries(&name)?;
        let mut out = Vec::new();
        let mut added = false;
        for entry in new {
            if let Some(old) = entries
                .iter()
                .find(|e| e.version == entry.version && e.variants == entry.variants)
            {
                if old.content_hash == entry.content_hash && old.family == entry.family {
                    out.push(Published::Unchanged(Box::new(old.clone())));
                    continue;
                }
                if old.content_hash != entry.content_hash {
                    return Err(PublishError::Exists {
                        name: entry.name.clone(),
                        version: entry.version.to_string(),
                        existing: old.content_hash.clone(),
                    });
                }
            }
            if let Some(other) = entries.iter().find(|e| e.version == entry.version)
                && other.family != entry.family
            {
                return Err(family_changed(other));
            }
            entries.push(entry.clone());
            out.push(Published::Added(Box::new(entry)));
            added = true;
        }
        if added {
            let p = self.index_file(&name)?;
            let bytes = write_index_file(&entries);
            // What is written must read back: the lines of a version agree on their family.
            parse_index_file(&bytes, &name, &p.display().to_string())?;
            write_atomic(&p, &bytes).map_err(io(&p))?;
            self.resign_next(signer)?;
        }
        Ok(out)
    }

    /// Sets or clears the yanked flag of every line of a version (each member of a family).
    pub fn yank(
        &self,
        name: &str,
        version: &semver::Version,
        yanked: bool,
        signer: &Signer,
    ) -> Result<(), PublishError> {
        let _l = self.lock()?;
        let mut entries = self.read_entries(name)?;
        let mut lines = entries
            .iter_mut()
            .filter(|e| &e.version == version)
            .peekable();
        if lines.peek().is_none() {
            return Err(PublishError::Refused(format!(
                "{name} {version} is not published in {}",
                self.dir.display()
            )));
        }
        let mut changed = false;
        for e in lines {
            changed |= e.yanked != yanked;
            e.yanked = yanked;
        }
        if !changed {
            return Ok(());
        }
        let p = self.index_file(name)?;
        write_atomic(&p, &write_index_file(&entries)).map_err(io(&p))?;
        self.resign_next(signer)
    }

    /// Adds platform archives to a published version whose content hash is `content_hash`;
    /// tags it already has are left as they are.
    pub fn add_artifacts(
        &self,
        name: &str,
        version: &semver::Version,
        content_hash: &str,
        artifacts: &[crate::index::PlatformArtifact],
        signer: &Signer,
    ) -> Result<IndexEntry, PublishError> {
        let _l = self.lock()?;
        let mut entries = self.read_entries(name)?;
        let e = entries
            .iter_mut()
            .find(|e| &e.version == version && e.content_hash == content_hash)
            .ok_or_else(|| {
                PublishError::Refused(format!(
                    "{name} {version} with content hash {content_hash} is not published in {}",
                    self.dir.display()
                ))
            })?;
        for a in artifacts {
            if !e.artifacts.iter().any(|o| o.platform == a.platform) {
                e.artifacts.push(a.clone());
            }
        }
        e.artifacts.sort_by(|a, b| a.platform.cmp(&b.platform));
        let updated = e.clone();
        let p = self.index_file(name)?;
        write_atomic(&p, &write_index_file(&entries)).map_err(io(&p))?;
        self.resign_next(signer)?;
        Ok(updated)
    }

    fn current_version(&self) -> u64 {
        std::fs::read(self.dir.join("snapshot.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Snapshot>(&b).ok())
            .map(|s| s.version)
            .unwrap_or(0)
    }

    /// Signs a new snapshot of the index as it is on disk (after editing index files by hand or
    /// by script), one version above the current one.
    pub fn resign(&self, signer: &Signer) -> Result<(), PublishError> {
        self.resign_valid_for(signer, SNAPSHOT_VALIDITY)
    }

    /// [`IndexDir::resign`] with a snapshot that expires after `validity` (clients refuse an
    /// expired snapshot, so a registry re-signed on a schedule cannot be frozen by a mirror).
    pub fn resign_valid_for(
        &self,
        signer: &Signer,
        validity: Duration,
    ) -> Result<(), PublishError> {
        let _l = self.lock()?;
        self.write_snapshot(signer, self.current_version(), validity)
    }

    fn resign_next(&self, signer: &Signer) -> Result<(), PublishError> {
        self.write_snapshot(signer, self.current_version(), SNAPSHOT_VALIDITY)
    }

    /// Writes a new snapshot (version `previous + 1`) over every index file, and signs it.
    fn write_snapshot(
        &self,
        signer: &Signer,
        previous: u64,
        validity: Duration,
    ) -> Result<(), PublishError> {
        let config = self.config()?;
        let mut files = BTreeMap::new();
        collect(&self.dir, &self.dir, &mut files)?;
        let now = SystemTime::now();
        let snap = Snapshot {
            registry: config.name.clone(),
            version: previous + 1,
            created: humantime::format_rfc3339_seconds(now).to_string(),
            expires: humantime::format_rfc3339_seconds(now + validity).to_string(),
            files,
        };
        let mut bytes = serde_json::to_vec_pretty(&snap).expect("snapshot");
        bytes.push(b'\n');
        let sig = signer.sign(&bytes, &snapshot_trusted_comment(&snap))?;
        let sp = self.dir.join("snapshot.json.minisig");
        let p = self.dir.join("snapshot.json");
        // Signature first: a reader that sees the new snapshot also finds its signature; a
        // reader between the two renames sees a mismatch and reads both again.
        write_atomic(&sp, sig.as_bytes()).map_err(io(&sp))?;
        write_atomic(&p, &bytes).map_err(io(&p))?;
        Ok(())
    }
}

/// The refusal of a line whose family differs from the published line `old` of its version.
pub fn family_changed(old: &IndexEntry) -> PublishError {
    let existing = match &old.family {
        None => format!(
            "as a single model, content hash {}, not as a family",
            old.content_hash
        ),
        Some(f) => match &f.recipe {
            Some(r) => format!(
                "recipe archive {} with SHA-256 {}, variants {}",
                r.file,
                r.sha256,
                f.variants.describe()
            ),
            None => format!("variants {}", f.variants.describe()),
        },
    };
    PublishError::RecipeChanged {
        name: old.name.clone(),
        version: old.version.to_string(),
        existing,
    }
}

/// Refuses a signer whose key is not one of the registry's.
fn check_signer(config: &RegistryConfig, signer: &Signer) -> Result<(), PublishError> {
    if config.keys.iter().any(|k| k.id == signer.key_id) {
        return Ok(());
    }
    Err(PublishError::Refused(format!(
        "key {} is not one of registry '{}'s keys ({}); sign with a registry key",
        signer.key_id,
        config.name,
        config
            .keys
            .iter()
            .map(|k| k.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

fn collect(
    root: &Path,
    dir: &Path,
    out: &mut BTreeMap<String, String>,
) -> Result<(), PublishError> {
    let mut items: Vec<_> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .collect::<Result<_, _>>()
        .map_err(io(dir))?;
    items.sort_by_key(|e| e.file_name());
    for item in items {
        let path = item.path();
        let name = item.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.ends_with(".tmp") {
            continue;
        }
        let rel = path
            .strip_prefix(root)
            .expect("under root")
            .to_string_lossy()
            .replace('\\', "/");
        if rel == "snapshot.json" || rel == "snapshot.json.minisig" || rel.ends_with(".md") {
            continue;
        }
        if path.is_dir() {
            collect(root, &path, out)?;
        } else {
            let bytes = std::fs::read(&path).map_err(io(&path))?;
            out.insert(rel, sha256_hex(&bytes));
        }
    }
    Ok(())
}

/// Files to upload: (file name, bytes).
pub type Upload = Vec<(String, Vec<u8>)>;

/// What a platform archive says of itself.
pub struct PlatformDescription {
    /// `jax` or `phasic`.
    pub kind: &'static str,
    pub tag: String,
    pub name: String,
    pub version: semver::Version,
    pub content_hash: String,
}

/// Reads a platform archive of either kind (JAX cache entries or phasic artifacts, told apart by
/// the first entry's name), verified.
pub fn describe_platform_archive(
    bytes: &[u8],
    source: &str,
) -> Result<PlatformDescription, PublishError> {
    let refused = |e: crate::jax::JaxError| PublishError::Refused(e.to_string());
    if crate::bundle::first_entry(bytes).as_deref() == Some(crate::phasic::META) {
        let (m, _) = crate::phasic::read(bytes, source).map_err(refused)?;
        return Ok(PlatformDescription {
            kind: "phasic",
            tag: m.tag,
            name: m.name,
            version: m.version,
            content_hash: m.content_hash,
        });
    }
    let (m, _) = crate::jax::archive::read(bytes, source).map_err(refused)?;
    Ok(PlatformDescription {
        kind: "jax",
        tag: m.tag,
        name: m.name,
        version: m.version,
        content_hash: m.content_hash,
    })
}

/// Signs a platform archive (JAX compilation-cache entries from `ptd build --jax`, or phasic's
/// artifacts from `ptd build --with-phasic`) as part of `entry`; `d` is what
/// [`describe_platform_archive`] read from it, and must name the entry's model, version and
/// content hash. It is stored as `<bundle stem>.<tag>.<kind>.tar.zst` + `.minisig`, recorded in
/// the entry, and both files are returned. `source` names the file in messages.
pub fn sign_platform_archive(
    entry: &mut IndexEntry,
    d: PlatformDescription,
    bytes: Vec<u8>,
    source: &str,
    signer: &Signer,
) -> Result<Upload, PublishError> {
    if d.name != entry.name || d.version != entry.version || d.content_hash != entry.content_hash {
        return Err(PublishError::Refused(format!(
            "{source} was made from {} {} (content hash {}), not from this bundle, {} {} ({}); build it again with `ptd build --jax` or `--with-phasic`",
            d.name, d.version, d.content_hash, entry.name, entry.version, entry.content_hash
        )));
    }
    let tag = d.tag;
    if entry.artifacts.iter().any(|a| a.platform == tag) {
        return Err(PublishError::Refused(format!(
            "{} {} already has a {} archive for {tag}",
            entry.name, entry.version, d.kind
        )));
    }
    let stem = entry.file.trim_end_matches(".ptd.tar.zst");
    let file = format!("{stem}.{tag}.{}.tar.zst", d.kind);
    let sig = signer.sign(
        &bytes,
        &crate::install::platform_trusted_comment(
            &entry.name,
            &entry.version,
            &tag,
            &entry.content_hash,
        ),
    )?;
    entry.artifacts.push(crate::index::PlatformArtifact {
        platform: tag,
        file: file.clone(),
        sha256: sha256_hex(&bytes),
        size: bytes.len() as u64,
    });
    entry.artifacts.sort_by(|a, b| a.platform.cmp(&b.platform));
    Ok(vec![
        (file.clone(), bytes),
        (format!("{file}.minisig"), sig.into_bytes()),
    ])
}

/// Signs a built bundle's archive; returns the index entry for it and the files to upload
/// (`<file>` and `<file>.minisig`).
pub fn sign_archive(
    built: &Built,
    signer: &Signer,
    recipe: Option<String>,
) -> Result<(IndexEntry, Upload), PublishError> {
    sign_bundle(built.pack(), &built.manifest, &built.meta, signer, recipe)
}

/// Signs a bundle's archive `bytes` whose manifest and metadata are `m` and `meta` (built
/// here, or read back and checked with [`crate::bundle::check`]); returns the index entry and
/// the files to upload (`<file>` and `<file>.minisig`).
pub fn sign_bundle(
    bytes: Vec<u8>,
    m: &crate::bundle::Manifest,
    meta: &crate::model::ModelMeta,
    signer: &Signer,
    recipe: Option<String>,
) -> Result<(IndexEntry, Upload), PublishError> {
    let file = crate::bundle::archive_name(&m.name, &m.version, &meta.variants);
    let sig = signer.sign(
        &bytes,
        &archive_trusted_comment(&m.name, &m.version, &m.content_hash),
    )?;
    let entry = IndexEntry {
        name: m.name.clone(),
        version: m.version.clone(),
        file: file.clone(),
        sha256: sha256_hex(&bytes),
        size: bytes.len() as u64,
        content_hash: m.content_hash.clone(),
        phasic_hash: m.hashes.phasic.clone(),
        canonical_hash: m.hashes.canonical.clone(),
        parameters: m.parameters.clone(),
        deps: meta
            .dependencies
            .iter()
            .map(|(name, req)| crate::index::Dependency {
                name: name.clone(),
                req: req.clone(),
            })
            .collect(),
        artifacts: Vec::new(),
        yanked: false,
        key_id: signer.key_id.clone(),
        description: meta.description.clone(),
        keywords: meta.keywords.clone(),
        recipe,
        kind: crate::index::ArchiveKind::Bundle,
        metadata: None,
        variants: meta.variants.clone(),
        family: None,
        build_here: false,
    };
    let upload = vec![
        (file.clone(), bytes),
        (format!("{file}.minisig"), sig.into_bytes()),
    ];
    Ok((entry, upload))
}

/// Signs a family's recipe archive (`bundle::recipe::pack_recipe`) of `name` `version` with
/// the trusted comment of [`recipe_trusted_comment`]; returns where the index lines point to
/// it and the files to upload (`<file>` and `<file>.minisig`).
pub fn sign_recipe(
    bytes: Vec<u8>,
    name: &str,
    version: &semver::Version,
    signer: &Signer,
) -> Result<(RecipeArchive, Upload), PublishError> {
    let file = crate::bundle::recipe::recipe_archive_name(name, version);
    let sha256 = sha256_hex(&bytes);
    let sig = signer.sign(&bytes, &recipe_trusted_comment(name, version, &sha256))?;
    let archive = RecipeArchive {
        file: file.clone(),
        sha256,
        size: bytes.len() as u64,
    };
    Ok((
        archive,
        vec![
            (file.clone(), bytes),
            (format!("{file}.minisig"), sig.into_bytes()),
        ],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::{ArchiveKind, Family};
    use crate::model::{VariantDecls, variants::parse_words};

    fn signer() -> Signer {
        let keys = crate::sign::generate(None).unwrap();
        Signer::from_secret_file(&keys.secret_file, None, "test key").unwrap()
    }

    fn member(samples: i64, content: char, recipe_sha: char) -> IndexEntry {
        let decls: VariantDecls =
            toml::from_str("samples = { default = 4, min = 2, max = 30 }").unwrap();
        let variants = decls
            .settle(&parse_words([format!("samples={samples}").as_str()]).unwrap())
            .unwrap();
        IndexEntry {
            name: "a/b".into(),
            version: semver::Version::new(1, 0, 0),
            file: crate::bundle::archive_name("a/b", &semver::Version::new(1, 0, 0), &variants),
            sha256: "0".repeat(64),
            size: 1,
            content_hash: format!("{samples:02}{}", content.to_string().repeat(62)),
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
            variants,
            family: Some(Family {
                variants: decls,
                recipe: Some(RecipeArchive {
                    file: "a-b-1.0.0.recipe.tar.zst".into(),
                    sha256: recipe_sha.to_string().repeat(64),
                    size: 10,
                }),
            }),
            build_here: false,
        }
    }

    #[test]
    fn members_are_added_in_one_change_and_yanked_together() {
        let dir = tempfile::tempdir().unwrap();
        let s = signer();
        let index = IndexDir::new(dir.path());
        index.init("t", Vec::new(), &s).unwrap();
        let snapshot = |i: &IndexDir| {
            serde_json::from_slice::<Snapshot>(&std::fs::read(i.dir.join("snapshot.json")).unwrap())
                .unwrap()
                .version
        };
        let out = index
            .add_all(vec![member(2, 'a', 'r'), member(4, 'a', 'r')], &s)
            .unwrap();
        assert!(out.iter().all(|p| matches!(p, Published::Added(_))));
        assert_eq!(snapshot(&index), 2, "one re-signed snapshot for both lines");
        // Again, with one more: the two are unchanged, the third added.
        let out = index
            .add_all(
                vec![
                    member(2, 'a', 'r'),
                    member(4, 'a', 'r'),
                    member(3, 'a', 'r'),
                ],
                &s,
            )
            .unwrap();
        assert!(matches!(out[0], Published::Unchanged(_)));
        assert!(matches!(out[2], Published::Added(_)));
        let lines = index.read_entries("a/b").unwrap();
        let samples: Vec<String> = lines.iter().map(|e| e.variants.to_string()).collect();
        assert_eq!(samples, ["samples=2", "samples=3", "samples=4"]);
        // Another recipe under the version, or other content for a member: refused, unchanged.
        let before = std::fs::read(dir.path().join("a/b")).unwrap();
        let e = index.add_all(vec![member(5, 'a', 's')], &s).unwrap_err();
        assert!(
            e.to_string()
                .contains("already published from another recipe (recipe archive a-b-1.0.0.recipe.tar.zst with SHA-256 rrrr"),
            "{e}"
        );
        let e = index.add_all(vec![member(2, 'b', 'r')], &s).unwrap_err();
        assert!(matches!(e, PublishError::Exists { .. }), "{e}");
        let mut single = member(6, 'a', 'r');
        single.variants = Default::default();
        single.family = None;
        let e = index.add_all(vec![single], &s).unwrap_err();
        assert!(e.to_string().contains("another recipe"), "{e}");
        assert_eq!(std::fs::read(dir.path().join("a/b")).unwrap(), before);
        // Yank: every line of the version.
        let v = semver::Version::new(1, 0, 0);
        index.yank("a/b", &v, true, &s).unwrap();
        assert!(index.read_entries("a/b").unwrap().iter().all(|e| e.yanked));
        index.yank("a/b", &v, false, &s).unwrap();
        assert!(index.read_entries("a/b").unwrap().iter().all(|e| !e.yanked));
        let e = index
            .yank("a/b", &semver::Version::new(2, 0, 0), true, &s)
            .unwrap_err();
        assert!(e.to_string().contains("is not published"), "{e}");
    }
}
