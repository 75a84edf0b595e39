//! `ptd import phasic-traces`: mirrors a phasic-traces registry (`registry.json`, the index that
//! phasic's `Graph.pull_cache()` reads) into a ptd registry. Each compute entry becomes model
//! `<namespace>/<id>`, whose versions are phasic archives of the entry's artifacts; an entry
//! whose artifacts changed gets a new patch version, a retracted entry is yanked.

use crate::archive::{self, Files};
use crate::bundle;
use crate::fetch::{Conditional, Http};
use crate::fs::sha256_hex;
use crate::index::{ArchiveKind, IndexEntry, archive_trusted_comment};
use crate::phasic::{DIR, PhasicMeta};
use crate::publish::IndexDir;
use crate::publish::store::Store;
use crate::sign::Signer;
use crate::{Error, Result};
use serde::Serialize;
use std::path::Path;

/// What the import should do.
pub struct ImportRequest<'a> {
    /// `registry.json`: a path, a `file://` URL or an `http(s)://` URL.
    pub source: &'a str,
    /// The ptd index directory to add versions to.
    pub index: &'a Path,
    /// The store for the archives (else the registry's first writable location).
    pub store: Option<Store>,
    pub signer: &'a Signer,
    /// Namespace of the imported models.
    pub namespace: &'a str,
    pub dry_run: bool,
}

/// One compute entry and what happened to it.
#[derive(Clone, Debug, Serialize)]
pub struct Imported {
    pub id: String,
    pub name: String,
    /// The version added, or the one already holding these artifacts.
    pub version: Option<semver::Version>,
    /// `published`, `unchanged`, `yanked`, `would publish`, or `skipped: <why>`.
    pub action: String,
}

/// What `ptd import phasic-traces` did, entry by entry.
#[derive(Clone, Debug, Serialize)]
pub struct ImportReport {
    pub entries: Vec<Imported>,
}

/// A model name for a compute id: lowercase letters, digits, `-` and `_`; others become `-`.
fn model_name(namespace: &str, id: &str) -> String {
    let n: String = id
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{namespace}/{}", n.trim_matches('-'))
}

async fn fetch(http: &Http, url: &str) -> Result<Vec<u8>> {
    if let Some(path) = url.strip_prefix("file://") {
        return std::fs::read(path).map_err(|e| Error::io(path, e));
    }
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return std::fs::read(url).map_err(|e| Error::io(url, e));
    }
    match http
        .get_conditional(url, None, None, crate::fetch::Metadata::IndexFile)
        .await?
    {
        Conditional::Body { bytes, .. } => Ok(bytes),
        Conditional::NotFound => Err(Error::Usage(format!("{url}: not found (HTTP 404)"))),
        Conditional::NotModified => Err(Error::Usage(format!("{url}: unexpected 304"))),
    }
}

/// Where a `cid_or_path` is: a URL as it is, else a path relative to `registry.json`'s place.
fn resolve(source: &str, cid_or_path: &str) -> String {
    if cid_or_path.contains("://") {
        return cid_or_path.to_string();
    }
    match source.rfind('/') {
        Some(i) => format!("{}/{}", &source[..i], cid_or_path.trim_start_matches('/')),
        None => cid_or_path.to_string(),
    }
}

/// One artifact of an entry, fetched and checked against its SHA-256 (and size when given).
async fn artifact(http: &Http, source: &str, a: &serde_json::Value) -> Result<Vec<u8>, String> {
    let path = a["cid_or_path"]
        .as_str()
        .ok_or("an artifact has no cid_or_path")?;
    let want = a["sha256"].as_str().ok_or("an artifact has no sha256")?;
    let url = resolve(source, path);
    let bytes = fetch(http, &url).await.map_err(|e| e.to_string())?;
    let got = sha256_hex(&bytes);
    if got != want.to_ascii_lowercase() {
        return Err(format!("{url}: SHA-256 is {got}, the registry says {want}"));
    }
    if let Some(size) = a["size_bytes"].as_u64()
        && size != bytes.len() as u64
    {
        return Err(format!(
            "{url}: {} bytes, the registry says {size}",
            bytes.len()
        ));
    }
    Ok(bytes)
}

/// The files of one compute entry, as phasic names them under `$PHASIC_CACHE_DIR`.
async fn entry_files(
    http: &Http,
    source: &str,
    graph_hash: &str,
    entry: &serde_json::Value,
) -> Result<(Files, u32), String> {
    let parent = artifact(http, source, &entry["artifacts"]["parent"]).await?;
    let revision = crate::phasic::header_revision(&parent)
        .ok_or("the parent artifact has no PTDPRMC header")?;
    if let Some(r) = entry["format_revision"].as_u64()
        && r != u64::from(revision)
    {
        return Err(format!(
            "format_revision {r} but the artifact's header says {revision}"
        ));
    }
    let mut files: Files = vec![(format!("{DIR}/{graph_hash}.bin"), parent)];
    for scc in entry["artifacts"]["scc"].as_array().into_iter().flatten() {
        let h = scc["scc_hash"]
            .as_str()
            .ok_or("an SCC artifact has no scc_hash")?;
        if !archive::plain_name(h) {
            return Err(format!("scc_hash '{h}' is not a plain name"));
        }
        files.push((
            format!("{DIR}/scc_{h}.bin"),
            artifact(http, source, scc).await?,
        ));
    }
    files.sort();
    Ok((files, revision))
}

/// `ptd import phasic-traces SOURCE --registry DIR`.
pub async fn phasic_traces(req: ImportRequest<'_>, http: &Http) -> Result<ImportReport> {
    let text = fetch(http, req.source).await?;
    let registry: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| Error::Usage(format!("{}: not JSON: {e}", req.source)))?;
    let Some(computes) = registry["computes"].as_object() else {
        return Err(Error::Usage(format!(
            "{}: no 'computes' object: not a phasic-traces registry.json",
            req.source
        )));
    };
    if let Some(f) = registry["format"].as_str()
        && f != "ptd_pcg"
    {
        return Err(Error::Usage(format!(
            "{}: format '{f}', expected 'ptd_pcg'",
            req.source
        )));
    }
    let index = IndexDir::new(req.index);
    let store = if req.dry_run {
        None
    } else {
        Some(super::publish::choose_store(&index, req.store)?)
    };
    let mut report = ImportReport {
        entries: Vec::new(),
    };
    let mut ids: Vec<&String> = computes.keys().collect();
    ids.sort();
    for id in ids {
        let entry = &computes[id];
        let name = model_name(req.namespace, id);
        let mut row = Imported {
            id: id.clone(),
            name: name.clone(),
            version: None,
            action: String::new(),
        };
        let skip = |why: String| format!("skipped: {why}");
        if let Err(why) = crate::model::check_name(&name) {
            row.action = skip(why);
            report.entries.push(row);
            continue;
        }
        let graph_hash = entry["graph_hash"].as_str().unwrap_or_default().to_string();
        if graph_hash.len() != 64 || !graph_hash.bytes().all(|c| c.is_ascii_hexdigit()) {
            row.action = skip("graph_hash is not 64 hex digits".into());
            report.entries.push(row);
            continue;
        }
        let retracted = entry["retracted"].as_bool().unwrap_or(false);
        let (files, revision) = match entry_files(http, req.source, &graph_hash, entry).await {
            Ok(f) => f,
            Err(why) => {
                row.action = skip(why);
                report.entries.push(row);
                continue;
            }
        };
        let listed = archive::list_files(&files);
        let content_hash = bundle::content_hash(&listed).expect("hex digests");
        let existing = index.read_entries(&name)?;
        if let Some(old) = existing.iter().find(|e| e.content_hash == content_hash) {
            row.version = Some(old.version.clone());
            row.action = if retracted && !old.yanked {
                if !req.dry_run {
                    index.yank(&name, &old.version, true, req.signer)?;
                }
                "yanked".into()
            } else {
                "unchanged".into()
            };
            report.entries.push(row);
            continue;
        }
        let version = existing
            .iter()
            .map(|e| e.version.clone())
            .max()
            .map(|mut v| {
                v.patch += 1;
                v.pre = semver::Prerelease::EMPTY;
                v
            })
            .unwrap_or_else(|| semver::Version::new(1, 0, 0));
        let meta = PhasicMeta {
            format: crate::phasic::FORMAT.into(),
            format_version: crate::phasic::FORMAT_VERSION,
            name: name.clone(),
            version: version.clone(),
            content_hash: content_hash.clone(),
            tag: crate::phasic::tag(revision),
            phasic_version: String::new(),
            format_revision: revision,
            phasic_hash: graph_hash.clone(),
            files: Vec::new(),
        };
        let bytes = crate::phasic::pack(meta, &files)?;
        let file = format!("{}-{version}.phasic.tar.zst", name.replace('/', "-"));
        row.version = Some(version.clone());
        let metadata = entry["metadata"].clone();
        let e = IndexEntry {
            name: name.clone(),
            version: version.clone(),
            file: file.clone(),
            sha256: sha256_hex(&bytes),
            size: bytes.len() as u64,
            content_hash: content_hash.clone(),
            phasic_hash: graph_hash,
            // There is no graph, so no canonical hash: zeros say so.
            canonical_hash: "0".repeat(64),
            parameters: Vec::new(),
            deps: Vec::new(),
            artifacts: Vec::new(),
            yanked: retracted,
            key_id: req.signer.key_id.clone(),
            description: metadata["description"].as_str().unwrap_or_default().into(),
            keywords: metadata["tags"]
                .as_array()
                .map(|t| {
                    t.iter()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default(),
            recipe: None,
            kind: ArchiveKind::PhasicArtifact,
            metadata: (!metadata.is_null()).then(|| {
                serde_json::json!({
                    "source": "phasic-traces",
                    "compute_id": id,
                    "format_revision": revision,
                    "metadata": metadata,
                })
            }),
            variants: Default::default(),
            family: None,
            build_here: false,
        };
        let Some(store) = &store else {
            row.action = "would publish".into();
            report.entries.push(row);
            continue;
        };
        let sig = req.signer.sign(
            &bytes,
            &archive_trusted_comment(&name, &version, &content_hash),
        )?;
        let tag = crate::install::release_tag(e.release());
        let sig = sig.into_bytes();
        // A stored signature is as good as ours when it signs the same archive, with the same
        // comment, by the same key (an interrupted import can be run again).
        let same_archive = |old: &[u8]| old == bytes.as_slice();
        let same_sig =
            |old: &[u8]| super::publish::equivalent_signature(old, &sig, &bytes, req.signer);
        store.put_new(&tag, &file, &bytes, &same_archive).await?;
        store
            .put_new(&tag, &format!("{file}.minisig"), &sig, &same_sig)
            .await?;
        index.add(e, req.signer)?;
        row.action = if retracted {
            "published (yanked: retracted)".into()
        } else {
            "published".into()
        };
        report.entries.push(row);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths() {
        assert_eq!(
            model_name("phasic-traces", "Coal_n5 theta1"),
            "phasic-traces/coal_n5-theta1"
        );
        assert_eq!(
            resolve("https://x.org/r/registry.json", "artifacts/a.bin"),
            "https://x.org/r/artifacts/a.bin"
        );
        assert_eq!(
            resolve("/srv/t/registry.json", "file:///b.bin"),
            "file:///b.bin"
        );
        assert_eq!(resolve("/srv/t/registry.json", "a/b.bin"), "/srv/t/a/b.bin");
    }
}
