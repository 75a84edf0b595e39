//! Moving installed models to machines without network access: `ptd cache export` writes one
//! archive (tar + zstd) holding `export.json` and the chosen versions' archives, signed with the
//! exporter's minisign key (`FILE.minisig`); `ptd cache import` checks that signature against a
//! key the importer names, then every archive's SHA-256 and manifest against `export.json`,
//! before anything is installed.

use super::CacheError;
use crate::install::db::{Db, Installed};
use crate::install::{Home, install_archive};
use crate::model::Variants;
use crate::sign::{Signature, Signer, TrustedKey};
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const EXPORT_FORMAT: &str = "ptd-export";
pub const EXPORT_VERSION: u32 = 1;
/// The description entry, first in an export.
pub const EXPORT_META: &str = "export.json";

/// `export.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportManifest {
    pub format: String,
    pub version: u32,
    pub created: String,
    pub entries: Vec<ExportEntry>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportEntry {
    pub name: String,
    pub version: semver::Version,
    pub registry: String,
    pub archive_sha256: String,
    pub size: u64,
    pub content_hash: String,
    pub phasic_hash: String,
    pub canonical_hash: String,
    /// For a member of a family: its variant values.
    #[serde(default, skip_serializing_if = "Variants::is_empty")]
    pub variants: Variants,
}

fn trusted_comment(bytes: &[u8], n: usize) -> String {
    format!(
        "ptd-export sha256={} entries={n}",
        crate::fs::sha256_hex(bytes)
    )
}

/// Writes the export of `chosen` (all installed versions if empty) to `file`, and its signature.
pub fn export(
    home: &Home,
    chosen: &[Installed],
    file: &Path,
    signer: &Signer,
) -> Result<ExportManifest, CacheError> {
    let all;
    let chosen = if chosen.is_empty() {
        all = if home.db_path().is_file() {
            Db::open(&home.db_path())?.list()?
        } else {
            Vec::new()
        };
        &all
    } else {
        chosen
    };
    if chosen.is_empty() {
        return Err(CacheError::Invalid("nothing installed to export".into()));
    }
    let mut entries = Vec::new();
    let mut blobs: Vec<(String, Vec<u8>)> = Vec::new();
    for i in chosen {
        let p = home.archive_path(&i.archive_sha256);
        let bytes = std::fs::read(&p).map_err(super::io(&p))?;
        if crate::fs::sha256_hex(&bytes) != i.archive_sha256 {
            return Err(CacheError::Invalid(format!(
                "{}: damaged in the store (run `ptd cache verify --repair`); not exported",
                p.display()
            )));
        }
        entries.push(ExportEntry {
            name: i.name.clone(),
            version: i.version.clone(),
            registry: i.registry.clone(),
            archive_sha256: i.archive_sha256.clone(),
            size: bytes.len() as u64,
            content_hash: i.content_hash.clone(),
            phasic_hash: i.phasic_hash.clone(),
            canonical_hash: i.canonical_hash.clone(),
            variants: i.variants.clone(),
        });
        let name = format!("archives/{}.ptd.tar.zst", i.archive_sha256);
        if !blobs.iter().any(|(n, _)| *n == name) {
            blobs.push((name, bytes));
        }
    }
    let manifest = ExportManifest {
        format: EXPORT_FORMAT.into(),
        version: EXPORT_VERSION,
        created: crate::install::now_rfc3339(),
        entries,
    };
    let mj = serde_json::to_vec_pretty(&manifest).expect("manifest serializes");
    let packed = crate::archive::pack_described(EXPORT_META, &mj, &blobs)
        .map_err(|e| CacheError::Invalid(e.to_string()))?;
    let sig = signer
        .sign(&packed, &trusted_comment(&packed, manifest.entries.len()))
        .map_err(|e| CacheError::Invalid(e.to_string()))?;
    let sig_path = std::path::PathBuf::from(format!("{}.minisig", file.display()));
    crate::fs::write_atomic(file, &packed).map_err(super::io(file))?;
    crate::fs::write_atomic(&sig_path, sig.as_bytes()).map_err(super::io(&sig_path))?;
    Ok(manifest)
}

/// Reads an export archive in memory: `export.json` first, then `archives/<sha256>.ptd.tar.zst`
/// entries (one directory level, plain names, each once).
pub fn read_export(
    bytes: &[u8],
    what: &str,
) -> Result<(ExportManifest, crate::archive::Files), CacheError> {
    let (json, files) = crate::archive::described_files(bytes, what, EXPORT_META, |path| {
        path.strip_prefix("archives/").is_some_and(|f| {
            !f.is_empty()
                && !f.starts_with('.')
                && f.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
    })
    .map_err(|e| CacheError::Invalid(e.to_string()))?;
    let manifest: ExportManifest = serde_json::from_slice(&json)
        .map_err(|e| CacheError::Invalid(format!("{what}: {EXPORT_META}: {e}")))?;
    if manifest.format != EXPORT_FORMAT || manifest.version != EXPORT_VERSION {
        return Err(CacheError::Invalid(format!(
            "{what}: not a ptd export of format version {EXPORT_VERSION}"
        )));
    }
    Ok((manifest, files))
}

/// Verifies an export completely, then installs its versions.
pub fn import(
    home: &Home,
    file: &Path,
    trusted: &[TrustedKey],
) -> Result<Vec<Installed>, CacheError> {
    let bytes = std::fs::read(file).map_err(super::io(file))?;
    let sig_path = std::path::PathBuf::from(format!("{}.minisig", file.display()));
    let sig_text = std::fs::read_to_string(&sig_path).map_err(|e| {
        CacheError::Invalid(format!(
            "{}: {e}: an export is only imported with its signature",
            sig_path.display()
        ))
    })?;
    let what = file.display().to_string();
    let sig = Signature::parse(&sig_text, &sig_path.display().to_string())
        .map_err(|e| CacheError::Invalid(e.to_string()))?;
    let comment = sig
        .verify(&bytes, trusted, &what)
        .map_err(|e| CacheError::Invalid(e.to_string()))?
        .to_string();
    let (manifest, rest) = read_export(&bytes, &what)?;
    if comment != trusted_comment(&bytes, manifest.entries.len()) {
        return Err(CacheError::Invalid(format!(
            "{what}: the signed comment '{comment}' does not describe this file"
        )));
    }
    // Every archive present, intact and checked (graph hashes, DAG against graph) before
    // anything is installed.
    let mut plan = Vec::new();
    for e in &manifest.entries {
        let name = format!("archives/{}.ptd.tar.zst", e.archive_sha256);
        let data = rest
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, d)| d)
            .ok_or_else(|| CacheError::Invalid(format!("{what}: {name} is missing")))?;
        if crate::fs::sha256_hex(data) != e.archive_sha256 || data.len() as u64 != e.size {
            return Err(CacheError::Invalid(format!(
                "{what}: {name} does not match export.json"
            )));
        }
        crate::bundle::check(data, &name, crate::fs::random_u64())
            .map_err(|e| CacheError::Invalid(e.to_string()))?;
        plan.push((e, data));
    }
    let mut out = Vec::new();
    for (e, data) in plan {
        let expect = Installed {
            name: e.name.clone(),
            version: e.version.clone(),
            registry: e.registry.clone(),
            archive_sha256: e.archive_sha256.clone(),
            content_hash: e.content_hash.clone(),
            phasic_hash: e.phasic_hash.clone(),
            canonical_hash: e.canonical_hash.clone(),
            size: e.size,
            installed_at: String::new(),
            origin: format!("imported from {what}"),
            variants: e.variants.clone(),
            built: false,
        };
        out.push(install_archive(home, &expect, data)?);
    }
    Ok(out)
}

/// What `ptd cache sync` did.
#[derive(Clone, Debug, Serialize)]
pub struct SyncReport {
    pub copied: Vec<Installed>,
    /// Versions already installed here.
    pub present: usize,
    /// Versions that could not be copied: (version, why). Nothing of them was installed.
    pub failed: Vec<(String, String)>,
}

/// Copies into `home` every version installed in the ptd home `from` that is missing here,
/// verifying each archive (SHA-256 and manifest) as an install does. `from` is only read.
pub fn sync(home: &Home, from: &Path) -> Result<SyncReport, CacheError> {
    let db_path = from.join("ptd.db");
    if !db_path.is_file() {
        return Err(CacheError::Invalid(format!(
            "{}: not a ptd home (no ptd.db)",
            from.display()
        )));
    }
    let theirs = Db::open(&db_path)?.list()?;
    let source = Home {
        root: from.to_path_buf(),
        ..home.clone()
    };
    sync_from(home, theirs, &from.display().to_string(), |i| {
        let p = source.archive_path(&i.archive_sha256);
        std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))
    })
}

/// Copies into `home` every version of `theirs` (another home's installed versions, read from
/// `from`) that is missing here; `fetch` gives an archive's bytes, which are verified (SHA-256
/// and manifest) as an install verifies them.
pub fn sync_from(
    home: &Home,
    theirs: Vec<Installed>,
    from: &str,
    mut fetch: impl FnMut(&Installed) -> Result<Vec<u8>, String>,
) -> Result<SyncReport, CacheError> {
    let ours = if home.db_path().is_file() {
        Db::open(&home.db_path())?.list()?
    } else {
        Vec::new()
    };
    let mut report = SyncReport {
        copied: Vec::new(),
        present: 0,
        failed: Vec::new(),
    };
    for i in theirs {
        if ours.iter().any(|o| {
            o.name == i.name
                && o.version == i.version
                && o.registry == i.registry
                && o.content_hash == i.content_hash
        }) {
            report.present += 1;
            continue;
        }
        let label = i.label();
        let result = fetch(&i).and_then(|bytes| {
            let expect = Installed {
                origin: format!("synced from {from}"),
                ..i.clone()
            };
            install_archive(home, &expect, &bytes).map_err(|e| e.to_string())
        });
        match result {
            Ok(done) => report.copied.push(done),
            Err(why) => report.failed.push((label, why)),
        }
    }
    Ok(report)
}
