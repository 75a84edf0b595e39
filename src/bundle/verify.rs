//! Reading bundle archives: entries and their order, the manifest against the files
//! ([`verify`]), then what the files claim about the graph and the DAG ([`check`]).

use super::{
    Bundle, BundleError, FORMAT, FORMAT_VERSION, MODULE_V2, Manifest, OLDEST_FORMAT_VERSION,
    PAYLOAD, PAYLOAD_JSON, REWARDS, content_hash, dag_bytes, payloads_of, read_dag, read_graph,
};
use crate::archive::{Files, read_tar_zst_hashed};
use crate::eliminate::{self, Symbolic};
use crate::graph::Graph;
use crate::hash::GraphHashes;
use crate::model::{ModelMeta, RewardSets};
use serde::Deserialize;
use std::path::Path;

/// Reads and verifies a bundle archive from disk.
pub fn read(path: &Path) -> Result<Bundle, BundleError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| BundleError::Io {
        file: name.clone(),
        source,
    })?;
    unpack(&bytes, &name)
}

/// The archive's files and their SHA-256 digests (hex), hashed as they are decompressed.
fn read_entries(bytes: &[u8], name: &str) -> Result<(Files, Vec<String>), BundleError> {
    // Every format's payload is metadata, graph and DAG, in that order (binary, or JSON in
    // versions 2 and 3); one more file may follow (the reward sets, version 2's module).
    // `verify` then holds the files to exactly what the manifest's format version lists.
    let (files, digests) = read_tar_zst_hashed(bytes, name, |path, files| {
        let position = files.len();
        let expected: &[&str] = match position {
            0 => &["manifest.json"],
            1 => &PAYLOAD[..1],
            p if p <= PAYLOAD.len() => &[PAYLOAD[p - 1], PAYLOAD_JSON[p - 1]],
            p if p == PAYLOAD.len() + 1 => &[REWARDS, MODULE_V2],
            _ => &[],
        };
        if !expected.contains(&path) {
            return Err(format!(
                "unexpected entry '{path}' at position {position} (expected {})",
                if expected.is_empty() {
                    "no more entries".to_string()
                } else {
                    expected
                        .iter()
                        .map(|e| format!("'{e}'"))
                        .collect::<Vec<_>>()
                        .join(" or ")
                }
            ));
        }
        Ok(())
    })?;
    if files.len() != 1 + PAYLOAD.len() && files.len() != 2 + PAYLOAD.len() {
        return Err(BundleError::Invalid {
            file: name.to_string(),
            message: format!(
                "has {} entries, expected {} (bundle format version {FORMAT_VERSION}: {}, and {REWARDS} when the model has reward sets); a bundle of another format version needs the ptd that reads it, or a rebuild",
                files.len(),
                1 + PAYLOAD.len(),
                PAYLOAD.join(", ")
            ),
        });
    }
    Ok((files, digests))
}

/// Verifies bundle bytes without interpreting the graph or the DAG: entry names, order and
/// types, the manifest's format, each file's size and SHA-256, the content hash, and that
/// `meta.json` names the manifest's model and version. The archive's signature binds the
/// content hash, which binds every file; [`check`] then tests what the files claim. Returns the
/// manifest and the data files ([`PAYLOAD`], then [`REWARDS`] if present; a version 2 bundle's
/// module is checked and dropped).
pub fn verify(bytes: &[u8], name: &str) -> Result<(Manifest, Files), BundleError> {
    let invalid = |message: String| BundleError::Invalid {
        file: name.to_string(),
        message,
    };
    let (mut files, digests) = read_entries(bytes, name)?;
    let manifest: Manifest =
        serde_json::from_slice(&files[0].1).map_err(|e| invalid(format!("manifest.json: {e}")))?;
    let payloads = payloads_of(manifest.format_version).filter(|_| manifest.format == FORMAT);
    let Some(payloads) = payloads else {
        return Err(invalid(format!(
            "manifest.json: format {} version {} is not {FORMAT} version {OLDEST_FORMAT_VERSION} to {FORMAT_VERSION}; upgrade ptd",
            manifest.format, manifest.format_version
        )));
    };
    let listed: Vec<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
    let held: Vec<&str> = files[1..].iter().map(|(p, _)| p.as_str()).collect();
    if listed != held || !payloads.iter().any(|p| **p == *listed) {
        return Err(invalid(format!(
            "manifest.json: bundle format version {} holds and lists exactly {}{}",
            manifest.format_version,
            payloads[0].join(", "),
            if payloads.len() > 1 {
                format!(", then {REWARDS} when the model has reward sets")
            } else {
                String::new()
            }
        )));
    }
    for (((path, data), digest), entry) in files[1..].iter().zip(&digests[1..]).zip(&manifest.files)
    {
        if &entry.path != path || entry.size != data.len() as u64 || entry.sha256 != *digest {
            return Err(invalid(format!(
                "{path} does not match its manifest entry (size or SHA-256 differs): the bundle is corrupt or was altered"
            )));
        }
    }
    if content_hash(&manifest.files).as_deref() != Some(manifest.content_hash.as_str()) {
        return Err(invalid(
            "manifest.json: content_hash does not match the files".into(),
        ));
    }
    #[derive(Deserialize)]
    struct NameVersion {
        name: String,
        version: semver::Version,
    }
    let nv: NameVersion =
        serde_json::from_slice(&files[1].1).map_err(|e| invalid(format!("meta.json: {e}")))?;
    if nv.name != manifest.name || nv.version != manifest.version {
        return Err(invalid(
            "meta.json and manifest.json disagree on name or version".into(),
        ));
    }
    files.retain(|(p, _)| p != MODULE_V2);
    Ok((manifest, files))
}

/// A bundle whose claims were tested: its graph hashes to the manifest's hashes, and its DAG
/// belongs to its graph.
pub struct Checked {
    pub manifest: Manifest,
    /// `manifest.json` and the data files, in archive order.
    pub files: Files,
    pub meta: ModelMeta,
    pub graph: Graph,
    pub symbolic: Symbolic,
    pub rewards: RewardSets,
}

/// [`verify`], then everything the files claim: `meta.json` parses, `graph.json` is a valid
/// graph whose phasic and canonical hashes (computed here) are the manifest's, `dag.json` is a
/// valid DAG for as many parameters and vertices, and the DAG belongs to the graph
/// ([`Symbolic::check_graph`] at two thetas drawn from `seed`; when the graph cannot be
/// evaluated there, the DAG must equal the graph's elimination byte for byte), and
/// `rewards.json`, if present, holds reward sets that fit the graph.
pub fn check(bytes: &[u8], name: &str, seed: u64) -> Result<Checked, BundleError> {
    let (manifest, files) = verify(bytes, name)?;
    let (meta, graph, symbolic, rewards) = check_files(&manifest, &files, name, seed)?;
    Ok(Checked {
        manifest,
        files,
        meta,
        graph,
        symbolic,
        rewards,
    })
}

/// The checks of [`check`] on files already verified against `manifest` (`manifest.json`, then
/// [`PAYLOAD`], then [`REWARDS`] if the manifest lists it).
pub fn check_files(
    manifest: &Manifest,
    files: &Files,
    name: &str,
    seed: u64,
) -> Result<(ModelMeta, Graph, Symbolic, RewardSets), BundleError> {
    let invalid = |message: String| BundleError::Invalid {
        file: name.to_string(),
        message,
    };
    let meta: ModelMeta =
        serde_json::from_slice(&files[1].1).map_err(|e| invalid(format!("meta.json: {e}")))?;
    if meta.name != manifest.name || meta.version != manifest.version {
        return Err(invalid(
            "meta.json and manifest.json disagree on name or version".into(),
        ));
    }
    let (graph_file, dag_file) = (files[2].0.as_str(), files[3].0.as_str());
    let graph = read_graph(graph_file, &files[2].1, &format!("{name}:{graph_file}"))?;
    let hashes = GraphHashes::of(&graph);
    if hashes != manifest.hashes {
        return Err(invalid(format!(
            "manifest.json claims phasic hash {} and canonical hash {}, but {graph_file} hashes to {} and {}: the bundle is filed under another graph's name",
            manifest.hashes.phasic, manifest.hashes.canonical, hashes.phasic, hashes.canonical
        )));
    }
    let dag = &files[3].1;
    let symbolic = read_dag(dag_file, dag, &format!("{name}:{dag_file}"))?;
    let thetas = eliminate::random_thetas(graph.param_length(), 2, seed);
    let belongs = match symbolic.check_graph(&graph, &thetas, seed) {
        Err(eliminate::CheckError::Unusable(_)) => {
            let ones = vec![vec![1.0; graph.param_length()]];
            match symbolic.check_graph(&graph, &ones, seed) {
                Err(eliminate::CheckError::Unusable(_)) => {
                    // No theta to test with: only the elimination itself will do.
                    if dag_bytes(dag_file, &eliminate::eliminate(&graph)) == *dag {
                        Ok(())
                    } else {
                        Err("it is not the graph's elimination".to_string())
                    }
                }
                other => other.map_err(|e| e.to_string()),
            }
        }
        other => other.map_err(|e| e.to_string()),
    };
    belongs.map_err(|why| {
        invalid(format!(
            "{dag_file} does not belong to {graph_file}: {why}; refusing a DAG that would answer for another model"
        ))
    })?;
    let rewards = match files.get(1 + PAYLOAD.len()) {
        Some((p, bytes)) if p == REWARDS => reward_sets(bytes, &graph, name, ":")?,
        _ => RewardSets::default(),
    };
    Ok((meta, graph, symbolic, rewards))
}

/// Parses a bundle's `rewards.json` and checks its sets against the bundle's graph.
pub(super) fn reward_sets(
    bytes: &[u8],
    graph: &Graph,
    name: &str,
    sep: &str,
) -> Result<RewardSets, BundleError> {
    let file = format!("{name}{sep}{REWARDS}");
    let sets = RewardSets::from_bytes(bytes, &file)?;
    sets.check(graph).map_err(|message| BundleError::Invalid {
        file,
        message: format!("{message}: refusing reward sets that do not fit the bundle's graph"),
    })?;
    Ok(sets)
}

/// Unpacks and checks bundle bytes ([`check`]). Nothing is written to disk.
pub fn unpack(bytes: &[u8], name: &str) -> Result<Bundle, BundleError> {
    let c = check(bytes, name, crate::fs::random_u64())?;
    Ok(Bundle {
        manifest: c.manifest,
        meta: c.meta,
        graph: c.graph,
        symbolic: c.symbolic,
        rewards: c.rewards,
    })
}
