//! Reading an installed bundle's directory (`bundles/<content hash>/`), whose files were
//! checked at install: each is checked again against the manifest, which must give the content
//! hash the directory is named by.

use super::verify::reward_sets;
use super::{Bundle, BundleError, Manifest, PAYLOAD, REWARDS, content_hash};
use crate::eliminate::Symbolic;
use crate::fs::sha256_hex;
use crate::graph::GraphFile;
use crate::model::{ModelMeta, RewardSets};
use std::path::Path;

/// Reads an installed bundle's directory (`bundles/<content hash>/`, written by `ptd install`
/// after [`check`](super::check)): every data file is checked against the manifest's size and
/// SHA-256 and the manifest against the content hash the directory is named by, then parsed. The
/// DAG was checked against the graph at install (`ptd verify` checks it again), so that is not redone.
pub fn read_installed(dir: &Path) -> Result<Bundle, BundleError> {
    let installed = Installed::open(dir)?;
    let name = &installed.name;
    let invalid = |message: String| BundleError::Invalid {
        file: name.clone(),
        message,
    };
    let manifest = installed.manifest.clone();
    let with_rewards = manifest.files.iter().any(|f| f.path == REWARDS);
    let data = PAYLOAD
        .iter()
        .chain(with_rewards.then_some(&REWARDS))
        .map(|p| installed.read(p))
        .collect::<Result<Vec<_>, _>>()?;
    let meta: ModelMeta =
        serde_json::from_slice(&data[0]).map_err(|e| invalid(format!("meta.json: {e}")))?;
    let text =
        std::str::from_utf8(&data[1]).map_err(|_| invalid("graph.json is not UTF-8".into()))?;
    let graph = GraphFile::parse(text, &format!("{name}/graph.json"))?;
    let symbolic = Symbolic::from_bytes(&data[2], &format!("{name}/dag.json"))?;
    let rewards = match data.get(3) {
        Some(bytes) => reward_sets(bytes, &graph, name, "/")?,
        None => RewardSets::default(),
    };
    Ok(Bundle {
        manifest,
        meta,
        graph,
        symbolic,
        rewards,
    })
}

/// An installed bundle's reward sets, read from its directory without the graph: the manifest
/// must give the content hash the directory is named by and `rewards.json` its size and SHA-256
/// (the sets were checked against the graph at install). None when the manifest lists no
/// `rewards.json`.
pub fn read_installed_rewards(dir: &Path) -> Result<RewardSets, BundleError> {
    let installed = Installed::open(dir)?;
    if !installed.manifest.files.iter().any(|f| f.path == REWARDS) {
        return Ok(RewardSets::default());
    }
    let bytes = installed.read(REWARDS)?;
    Ok(RewardSets::from_bytes(
        &bytes,
        &format!("{}/{REWARDS}", installed.name),
    )?)
}

/// An installed bundle's directory and its manifest, which gives the content hash the
/// directory is named by.
struct Installed<'a> {
    dir: &'a Path,
    name: String,
    manifest: Manifest,
}

impl<'a> Installed<'a> {
    fn open(dir: &'a Path) -> Result<Installed<'a>, BundleError> {
        let name = dir.display().to_string();
        let bytes = read_file(&dir.join("manifest.json"))?;
        let manifest: Manifest =
            serde_json::from_slice(&bytes).map_err(|e| BundleError::Invalid {
                file: name.clone(),
                message: format!("manifest.json: {e}"),
            })?;
        let named = dir.file_name().map(|n| n.to_string_lossy().into_owned());
        if content_hash(&manifest.files) != named {
            return Err(BundleError::Invalid {
                file: name,
                message: "manifest.json does not give the content hash this directory is named by: `ptd cache verify --repair`".into(),
            });
        }
        Ok(Installed {
            dir,
            name,
            manifest,
        })
    }

    /// A data file, which must match its manifest entry.
    fn read(&self, file: &str) -> Result<Vec<u8>, BundleError> {
        let bytes = read_file(&self.dir.join(file))?;
        let listed = self.manifest.files.iter().find(|f| f.path == file);
        if listed.is_none_or(|f| f.size != bytes.len() as u64 || f.sha256 != sha256_hex(&bytes)) {
            return Err(BundleError::Invalid {
                file: self.name.clone(),
                message: format!(
                    "{file} does not match its manifest entry: `ptd cache verify --repair`"
                ),
            });
        }
        Ok(bytes)
    }
}

fn read_file(p: &Path) -> Result<Vec<u8>, BundleError> {
    std::fs::read(p).map_err(|source| BundleError::Io {
        file: p.display().to_string(),
        source,
    })
}
