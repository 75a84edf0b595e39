//! Reading an installed bundle's directory (`bundles/<content hash>/`), whose files were
//! checked at install: each is checked again against the manifest, which must give the content
//! hash the directory is named by.

use super::{BundleError, Manifest, REWARDS, content_hash, dag_file, graph_file};
use super::{read_dag, read_graph};
use crate::eliminate::Symbolic;
use crate::fs::sha256_hex;
use crate::graph::Graph;
use crate::model::{ModelMeta, RewardSets};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// An installed bundle, read from its directory (`bundles/<content hash>/`, written by `ptd
/// install` after [`check`](super::check)): the manifest must give the content hash the
/// directory is named by, and every file read must match its manifest entry (size and SHA-256).
/// The graph, the DAG and the reward sets were checked against each other at install (`ptd
/// verify` checks them again), so reading does not redo that; the graph is read only when asked
/// for ([`InstalledBundle::graph`]): evaluating moments needs only the DAG.
#[derive(Debug)]
pub struct InstalledBundle {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub meta: ModelMeta,
    pub symbolic: Symbolic,
    /// The model's named reward sets (none for a bundle without `rewards.json`).
    pub rewards: RewardSets,
    graph: OnceLock<Graph>,
}

impl InstalledBundle {
    /// The graph, read from its file on first use.
    pub fn graph(&self) -> Result<&Graph, BundleError> {
        if let Some(g) = self.graph.get() {
            return Ok(g);
        }
        // The manifest was checked against the directory's name when the bundle was read.
        let name = self.dir.display().to_string();
        let gf = graph_file(&self.manifest);
        let bytes = read_listed(&self.dir, &name, &self.manifest, gf)?;
        let g = read_graph_installed(gf, &bytes, &format!("{name}/{gf}"))?;
        Ok(self.graph.get_or_init(|| g))
    }
}

/// Reads an installed bundle's directory ([`InstalledBundle`]): its manifest, metadata, DAG and
/// reward sets, each checked against the manifest.
pub fn read_installed(dir: &Path) -> Result<InstalledBundle, BundleError> {
    let installed = Installed::open(dir)?;
    let name = &installed.name;
    let invalid = |message: String| BundleError::Invalid {
        file: name.clone(),
        message,
    };
    let manifest = installed.manifest.clone();
    let df = dag_file(&manifest);
    let meta: ModelMeta = serde_json::from_slice(&installed.read("meta.json")?)
        .map_err(|e| invalid(format!("meta.json: {e}")))?;
    let symbolic = read_dag(df, &installed.read(df)?, &format!("{name}/{df}"))?;
    let rewards = if manifest.files.iter().any(|f| f.path == REWARDS) {
        let file = format!("{name}/{REWARDS}");
        RewardSets::from_bytes(&installed.read(REWARDS)?, &file)?
    } else {
        RewardSets::default()
    };
    Ok(InstalledBundle {
        dir: dir.to_path_buf(),
        manifest,
        meta,
        symbolic,
        rewards,
        graph: OnceLock::new(),
    })
}

/// An installed graph file: a binary one is read with the checks that keep every index in
/// bounds but without re-validating the model (unique states, absorption), which installing
/// did; a JSON one is parsed as any graph file.
fn read_graph_installed(path: &str, bytes: &[u8], label: &str) -> Result<Graph, BundleError> {
    if path == super::GRAPH_BIN {
        Ok(Graph::from_binary_installed(bytes, label)?)
    } else {
        read_graph(path, bytes, label)
    }
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
        read_listed(self.dir, &self.name, &self.manifest, file)
    }
}

/// A data file of the installed bundle `dir` (named `name` in errors), which must match its
/// entry in `manifest`.
fn read_listed(
    dir: &Path,
    name: &str,
    manifest: &Manifest,
    file: &str,
) -> Result<Vec<u8>, BundleError> {
    let bytes = read_file(&dir.join(file))?;
    let listed = manifest.files.iter().find(|f| f.path == file);
    if listed.is_none_or(|f| f.size != bytes.len() as u64 || f.sha256 != sha256_hex(&bytes)) {
        return Err(BundleError::Invalid {
            file: name.to_string(),
            message: format!(
                "{file} does not match its manifest entry: `ptd cache verify --repair`"
            ),
        });
    }
    Ok(bytes)
}

fn read_file(p: &Path) -> Result<Vec<u8>, BundleError> {
    std::fs::read(p).map_err(|source| BundleError::Io {
        file: p.display().to_string(),
        source,
    })
}
