//! Platform archives: JAX persistent-cache entries compiled from one bundle's evaluator, for one
//! tag. A deterministic tar + zstd holding `jax.json` first, then the cache files with plain
//! names; `docs/bundle-format.md` is the reference.

use super::{JaxEnv, JaxError};
use crate::archive::FileEntry;
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const FORMAT: &str = "ptd-jax";
pub const FORMAT_VERSION: u32 = 1;
/// The metadata entry, first in the archive.
pub const META: &str = "jax.json";

/// `jax.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JaxMeta {
    pub format: String,
    pub format_version: u32,
    pub name: String,
    pub version: semver::Version,
    /// The content hash of the bundle whose `evaluator.py` was compiled.
    pub content_hash: String,
    /// Where these entries can be reused (see [`JaxEnv::tag`]).
    pub tag: String,
    pub jax: JaxEnv,
    /// Batch sizes compiled: theta of shape (batch, parameters), float64.
    pub batches: Vec<u64>,
    /// `k` of `moments_jit` compiled.
    pub moments: usize,
    pub files: Vec<FileEntry>,
}

/// A plain cache file name: what JAX writes (`jit_moments-<hash>-cache`), nothing that could
/// name a directory.
fn plain(name: &str) -> bool {
    name != META && crate::archive::plain_name(name)
}

/// The regular files directly in a JAX cache directory, by name (JAX keeps helper
/// directories, such as its autotuning cache, which are not entries).
pub fn cache_files(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, JaxError> {
    let mut out = Vec::new();
    let rd = std::fs::read_dir(dir).map_err(|e| JaxError::io(dir, e))?;
    for ent in rd {
        let ent = ent.map_err(|e| JaxError::io(dir, e))?;
        let ty = ent.file_type().map_err(|e| JaxError::io(&ent.path(), e))?;
        let name = ent.file_name().to_string_lossy().into_owned();
        if !ty.is_file() || !plain(&name) {
            continue;
        }
        let data = std::fs::read(ent.path()).map_err(|e| JaxError::io(&ent.path(), e))?;
        out.push((name, data));
    }
    out.sort();
    Ok(out)
}

/// Packs `files` with their metadata; `meta.files` is filled in here. A file name that cannot
/// be an entry is refused, naming it.
pub fn pack(mut meta: JaxMeta, files: &crate::archive::Files) -> Result<Vec<u8>, JaxError> {
    meta.files = crate::archive::list_files(files);
    let mut json = serde_json::to_vec_pretty(&meta).expect("metadata serializes");
    json.push(b'\n');
    crate::archive::pack_described(META, &json, files).map_err(refused)
}

/// A file the archive layer would not pack, as this module's error.
pub(crate) fn refused(e: crate::archive::ArchiveError) -> JaxError {
    match e {
        crate::archive::ArchiveError::Invalid { file, message } => {
            JaxError::Invalid { file, message }
        }
    }
}

/// Reads a platform archive: `jax.json` first, then exactly the files it lists, each with its
/// size and SHA-256. Returns the metadata and the cache files.
pub fn read(bytes: &[u8], name: &str) -> Result<(JaxMeta, crate::archive::Files), JaxError> {
    let invalid = |message: String| JaxError::Invalid {
        file: name.to_string(),
        message,
    };
    let (json, files) = crate::archive::described_files(bytes, name, META, plain)
        .map_err(|e| invalid(strip(&e.to_string(), name)))?;
    let meta: JaxMeta =
        serde_json::from_slice(&json).map_err(|e| invalid(format!("{META}: {e}")))?;
    if meta.format != FORMAT || meta.format_version != FORMAT_VERSION {
        return Err(invalid(format!(
            "{META}: format {} version {} is not {FORMAT} version {FORMAT_VERSION}; a newer ptd may read it",
            meta.format, meta.format_version
        )));
    }
    if !meta.tag.chars().all(super::tag_char) || meta.tag.is_empty() {
        return Err(invalid(format!(
            "{META}: tag '{}' is not a plain tag",
            meta.tag
        )));
    }
    crate::archive::check_listed(&files, &meta.files, META).map_err(invalid)?;
    Ok((meta, files))
}

/// Drops a leading "<name>: " from a message that an `Invalid` error will prefix again.
pub fn strip(message: &str, name: &str) -> String {
    message
        .strip_prefix(&format!("{name}: "))
        .unwrap_or(message)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> JaxMeta {
        JaxMeta {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            name: "lab/m".into(),
            version: semver::Version::new(1, 0, 0),
            content_hash: "ab".repeat(32),
            tag: "linux-x86_64_v3-cpu-jax0.10.2-jaxlib0.10.2".into(),
            jax: JaxEnv {
                jax: "0.10.2".into(),
                jaxlib: "0.10.2".into(),
                backend: "cpu".into(),
                platform_version: "cpu".into(),
            },
            batches: vec![1, 64],
            moments: 2,
            files: Vec::new(),
        }
    }

    #[test]
    fn round_trips_and_refuses_changes() {
        let files = vec![
            ("jit_moments-aa-cache".to_string(), b"one".to_vec()),
            ("jit_moments-bb-cache".to_string(), b"two".to_vec()),
        ];
        let bytes = pack(meta(), &files).unwrap();
        let (m, got) = read(&bytes, "a.jax.tar.zst").unwrap();
        assert_eq!(got, files);
        assert_eq!(m.files.len(), 2);
        assert_eq!(pack(meta(), &files).unwrap(), bytes, "deterministic");

        // A file that is not the listed one.
        let mut m2 = m.clone();
        m2.files[1].sha256 = "00".repeat(32);
        let mut json = serde_json::to_vec_pretty(&m2).unwrap();
        json.push(b'\n');
        let forged = crate::archive::pack_entries(
            std::iter::once((META, json.as_slice()))
                .chain(files.iter().map(|(n, b)| (n.as_str(), b.as_slice()))),
        )
        .unwrap();
        let e = read(&forged, "a.jax.tar.zst").unwrap_err().to_string();
        assert!(
            e.contains("jit_moments-bb-cache") && e.contains("SHA-256"),
            "{e}"
        );

        // No metadata first.
        let bare =
            crate::archive::pack_entries(files.iter().map(|(n, b)| (n.as_str(), b.as_slice())))
                .unwrap();
        let e = read(&bare, "b").unwrap_err().to_string();
        assert!(e.contains("first entry must be jax.json"), "{e}");
    }
}
