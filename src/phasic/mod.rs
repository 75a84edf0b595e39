//! phasic's own elimination artifacts. phasic 0.32.1, with its reward-compute cache on
//! (`PHASIC_REWARD_COMPUTE_CACHE=1`), keeps the result of eliminating a graph in
//! `$PHASIC_CACHE_DIR/parameterized_reward_compute/<phasic hash>.bin` and loads it instead of
//! eliminating again (`docs/phasic.md`). ptd has the real phasic write that file for a model's
//! graph (`ptd build --with-phasic`), packs it in a signed archive tagged by the artifact's format
//! revision, and installs it where phasic looks.

use crate::archive::{self, FileEntry, Files};
use crate::bundle;
use crate::jax::{JaxError, ask, run};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const FORMAT: &str = "ptd-phasic";
pub const FORMAT_VERSION: u32 = 1;
/// The description entry, first in the archive.
pub const META: &str = "phasic.json";
/// phasic's directory for elimination artifacts, under `$PHASIC_CACHE_DIR`.
pub const DIR: &str = "parameterized_reward_compute";

const QUERY: &str = include_str!("query.py");
const MAKE: &str = include_str!("make.py");

/// `phasic.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhasicMeta {
    pub format: String,
    pub format_version: u32,
    pub name: String,
    pub version: semver::Version,
    /// The content hash of the bundle whose graph phasic eliminated.
    pub content_hash: String,
    /// `phasic-pcg<format revision>`.
    pub tag: String,
    /// The phasic that wrote the files.
    pub phasic_version: String,
    /// The artifact's format revision (from its header): a phasic reads revisions up to its own.
    pub format_revision: u32,
    /// The graph's phasic hash, which names the artifact.
    pub phasic_hash: String,
    pub files: Vec<FileEntry>,
}

/// The tag of artifacts of a format revision.
pub fn tag(format_revision: u32) -> String {
    format!("phasic-pcg{format_revision}")
}

/// The format revision a tag names, if it is a phasic tag.
pub fn tag_revision(tag: &str) -> Option<u32> {
    tag.strip_prefix("phasic-pcg")?.parse().ok()
}

/// The format revision in an artifact's header: `PTDPRMC3` is revision 3; `PTDPRMC1` carries
/// it as a u32 after a u32 version.
pub fn header_revision(bytes: &[u8]) -> Option<u32> {
    match bytes.get(..8)? {
        b"PTDPRMC3" => Some(3),
        b"PTDPRMC1" => Some(u32::from_le_bytes(bytes.get(12..16)?.try_into().ok()?)),
        _ => None,
    }
}

fn path_ok(p: &str) -> bool {
    p.strip_prefix(DIR)
        .and_then(|r| r.strip_prefix('/'))
        .is_some_and(|f| archive::plain_name(f) && f.ends_with(".bin"))
}

/// Packs phasic's files (paths relative to `$PHASIC_CACHE_DIR`) with their description.
pub fn pack(mut meta: PhasicMeta, files: &Files) -> Result<Vec<u8>, JaxError> {
    meta.files = archive::list_files(files);
    let mut json = serde_json::to_vec_pretty(&meta).expect("metadata serializes");
    json.push(b'\n');
    archive::pack_described(META, &json, files).map_err(crate::jax::archive::refused)
}

/// Reads a phasic archive: `phasic.json`, then exactly the files it lists (each
/// `parameterized_reward_compute/<name>.bin`, with its size and SHA-256), the one named by the
/// phasic hash among them, with the header's format revision.
pub fn read(bytes: &[u8], name: &str) -> Result<(PhasicMeta, Files), JaxError> {
    let invalid = |message: String| JaxError::Invalid {
        file: name.to_string(),
        message,
    };
    let (json, files) = archive::described_files(bytes, name, META, path_ok)
        .map_err(|e| invalid(crate::jax::archive::strip(&e.to_string(), name)))?;
    let meta: PhasicMeta =
        serde_json::from_slice(&json).map_err(|e| invalid(format!("{META}: {e}")))?;
    if meta.format != FORMAT || meta.format_version != FORMAT_VERSION {
        return Err(invalid(format!(
            "{META}: format {} version {} is not {FORMAT} version {FORMAT_VERSION}; a newer ptd may read it",
            meta.format, meta.format_version
        )));
    }
    archive::check_listed(&files, &meta.files, META).map_err(invalid)?;
    let main = format!("{DIR}/{}.bin", meta.phasic_hash);
    let Some((_, data)) = files.iter().find(|(p, _)| *p == main) else {
        return Err(invalid(format!("{META}: no {main} among the files")));
    };
    if header_revision(data) != Some(meta.format_revision) || meta.tag != tag(meta.format_revision)
    {
        return Err(invalid(format!(
            "{main}: its header is not format revision {} (tag {})",
            meta.format_revision, meta.tag
        )));
    }
    Ok((meta, files))
}

/// What phasic a Python has.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhasicEnv {
    pub phasic: String,
    pub max_format_revision: u32,
}

/// Asks `python` (once, cached under `state_dir`) which phasic it has.
pub fn query(python: &Path, state_dir: &Path) -> Result<PhasicEnv, JaxError> {
    let a = ask(
        python,
        state_dir,
        "phasic-env",
        QUERY,
        "to report its phasic",
    )?;
    if a["missing"].as_str().is_some() {
        return Err(JaxError::Failed {
            python: python.display().to_string(),
            what: "to import phasic".into(),
            stderr: "phasic is not installed there".into(),
        });
    }
    Ok(PhasicEnv {
        phasic: a["phasic"].as_str().unwrap_or_default().to_string(),
        max_format_revision: a["max_format_revision"].as_u64().unwrap_or(0) as u32,
    })
}

/// Among `tags`, the phasic tag to install for a phasic that reads revisions up to `max`: the
/// newest such revision.
pub fn choose<'a>(tags: impl IntoIterator<Item = &'a str>, max: u32) -> Option<&'a str> {
    tags.into_iter()
        .filter_map(|t| Some((tag_revision(t)?, t)))
        .filter(|(r, _)| *r <= max)
        .max_by_key(|(r, _)| *r)
        .map(|(_, t)| t)
}

/// What `ptd build --with-phasic` made.
pub struct Made {
    pub meta: PhasicMeta,
    pub files: Files,
}

/// Lets the real phasic (run by `python`) eliminate `graph_file` (the bundle's `graph.json`)
/// into a fresh cache directory and collects the artifact it writes. phasic must name it by the
/// same phasic hash ptd computed.
pub fn make(
    python: &Path,
    graph_file: &[u8],
    manifest: &bundle::Manifest,
) -> Result<Made, JaxError> {
    let tmp = tempfile::tempdir().map_err(|e| JaxError::Io {
        file: std::env::temp_dir().display().to_string(),
        source: e,
    })?;
    let graph = tmp.path().join("graph.json");
    std::fs::write(&graph, graph_file).map_err(|e| JaxError::Io {
        file: graph.display().to_string(),
        source: e,
    })?;
    let cache = tmp.path().join("cache");
    let args = serde_json::json!({ "graph": graph, "cache_dir": cache }).to_string();
    let what = "to eliminate the graph with phasic";
    let out = run(python, MAKE, &[&args], what)?;
    let answer: serde_json::Value = serde_json::from_str(out.trim().lines().last().unwrap_or(""))
        .map_err(|e| JaxError::Failed {
        python: python.display().to_string(),
        what: what.into(),
        stderr: format!("unexpected answer {out:?}: {e}"),
    })?;
    let phasic_hash = answer["hash"].as_str().unwrap_or_default().to_string();
    if phasic_hash != manifest.hashes.phasic {
        return Err(JaxError::Invalid {
            file: "graph.json".into(),
            message: format!(
                "phasic hashes the graph as {phasic_hash}, ptd as {}: the artifact would not be found",
                manifest.hashes.phasic
            ),
        });
    }
    let mut files: Files = Vec::new();
    let dir = cache.join(DIR);
    let rd = std::fs::read_dir(&dir).map_err(|e| JaxError::Io {
        file: dir.display().to_string(),
        source: e,
    })?;
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let rel = format!("{DIR}/{name}");
        if !e.file_type().is_ok_and(|t| t.is_file()) || !path_ok(&rel) {
            continue;
        }
        let data = std::fs::read(e.path()).map_err(|err| JaxError::Io {
            file: e.path().display().to_string(),
            source: err,
        })?;
        files.push((rel, data));
    }
    files.sort();
    let main = format!("{DIR}/{phasic_hash}.bin");
    let revision = files
        .iter()
        .find(|(p, _)| *p == main)
        .and_then(|(_, d)| header_revision(d))
        .ok_or_else(|| JaxError::Invalid {
            file: dir.display().to_string(),
            message: format!("phasic wrote no readable {main}"),
        })?;
    let meta = PhasicMeta {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        name: manifest.name.clone(),
        version: manifest.version.clone(),
        content_hash: manifest.content_hash.clone(),
        tag: tag(revision),
        phasic_version: answer["phasic"].as_str().unwrap_or_default().to_string(),
        format_revision: revision,
        phasic_hash,
        files: Vec::new(),
    };
    Ok(Made { meta, files })
}

/// Places the archive's files under `phasic_cache` (`$PHASIC_CACHE_DIR`), each through a
/// temporary name and a rename; a file already there with the same bytes is left alone.
pub fn place(phasic_cache: &Path, files: &Files) -> std::io::Result<Vec<PathBuf>> {
    let mut placed = Vec::new();
    for (rel, data) in files {
        let p = phasic_cache.join(rel);
        let same = std::fs::read(&p).is_ok_and(|old| old == *data);
        if !same {
            if let Some(d) = p.parent() {
                std::fs::create_dir_all(d)?;
            }
            crate::fs::write_atomic(&p, data)?;
        }
        placed.push(p);
    }
    Ok(placed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_headers() {
        assert_eq!(tag(3), "phasic-pcg3");
        assert_eq!(tag_revision("phasic-pcg3"), Some(3));
        assert_eq!(
            tag_revision("linux-x86_64_v3-cpu-jax0.10.2-jaxlib0.10.2"),
            None
        );
        assert_eq!(header_revision(b"PTDPRMC3\x07\x03"), Some(3));
        let mut v1 = b"PTDPRMC1".to_vec();
        v1.extend(1u32.to_le_bytes());
        v1.extend(2u32.to_le_bytes());
        assert_eq!(header_revision(&v1), Some(2));
        assert_eq!(header_revision(b"NOTPHASIC"), None);
        let tags = ["phasic-pcg2", "phasic-pcg3", "phasic-pcg4", "linux-x"];
        assert_eq!(choose(tags, 3), Some("phasic-pcg3"));
        assert_eq!(choose(tags, 1), None);
        assert!(path_ok("parameterized_reward_compute/ab.bin"));
        assert!(!path_ok("parameterized_reward_compute/../x.bin"));
        assert!(!path_ok("symbolic/ab.bin"));
    }
}
