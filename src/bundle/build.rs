//! Building bundles: a model's metadata, graph, DAG and reward sets, listed in a manifest and
//! packed as one deterministic archive.

use super::{BundleError, archive_name, content_hash};
use super::{FORMAT, FORMAT_VERSION, FileEntry, GraphStats, JSON_FORMAT_VERSION, Manifest};
use super::{PAYLOAD, PAYLOAD_JSON, REWARDS};
use crate::archive::pack_entries;
use crate::eliminate::{self, Symbolic};
use crate::fs::{sha256_hex, write_output};
use crate::graph::{Graph, GraphFile};
use crate::hash::GraphHashes;
use crate::model::{ModelMeta, RewardSets};
use std::path::{Path, PathBuf};

/// Everything a built bundle holds, before packing.
pub struct Built {
    pub manifest: Manifest,
    /// The recipe's metadata (description, keywords, dependencies).
    pub meta: ModelMeta,
    files: Vec<(String, Vec<u8>)>,
}

impl Built {
    /// The model's dependencies, as its recipe declares them.
    pub fn meta_dependencies(&self) -> &std::collections::BTreeMap<String, semver::VersionReq> {
        &self.meta.dependencies
    }

    /// A payload file's bytes (`meta.json`, `graph.bin`, `dag.bin`, `rewards.json`; the JSON
    /// files in format version 3).
    pub fn payload(&self, name: &str) -> Option<&[u8]> {
        self.files
            .iter()
            .find(|(p, _)| p == name)
            .map(|(_, b)| b.as_slice())
    }

    /// The bundle's graph, read back from its graph file (binary or JSON).
    pub fn graph(&self) -> Result<Graph, BundleError> {
        let f = super::graph_file(&self.manifest);
        super::read_graph(f, self.payload(f).unwrap_or_default(), f)
    }

    /// The bundle's symbolic form, read back from its DAG file (binary or JSON).
    pub fn symbolic(&self) -> Result<Symbolic, BundleError> {
        let f = super::dag_file(&self.manifest);
        super::read_dag(f, self.payload(f).unwrap_or_default(), f)
    }

    /// The archive file name: `namespace-name-version.ptd.tar.zst`, or for a family member
    /// `namespace-name-version_samples-30.ptd.tar.zst`.
    pub fn file_name(&self) -> String {
        archive_name(
            &self.manifest.name,
            &self.manifest.version,
            &self.meta.variants,
        )
    }

    /// The archive bytes (tar + zstd), identical for identical input.
    pub fn pack(&self) -> Vec<u8> {
        let manifest = manifest_bytes(&self.manifest);
        let entries = std::iter::once(("manifest.json", manifest.as_slice()))
            .chain(self.files.iter().map(|(p, b)| (p.as_str(), b.as_slice())));
        pack_entries(entries).expect("a bundle's entries have fixed plain names")
    }

    /// Writes the archive into `dir` atomically and returns its path.
    pub fn write_to(&self, dir: &Path) -> Result<PathBuf, BundleError> {
        let path = dir.join(self.file_name());
        let io = |source| BundleError::Io {
            file: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        write_output(&path, &self.pack()).map_err(io)?;
        Ok(path)
    }
}

fn manifest_bytes(m: &Manifest) -> Vec<u8> {
    let mut v = serde_json::to_vec_pretty(m).expect("manifest serializes");
    v.push(b'\n');
    v
}

/// Builds a bundle from model metadata and its graph.
pub fn build(meta: &ModelMeta, graph: &Graph) -> Built {
    let symbolic = eliminate::eliminate(graph);
    build_with(meta, graph, &symbolic)
}

/// Builds a bundle from an already eliminated graph, without reward sets.
pub fn build_with(meta: &ModelMeta, graph: &Graph, symbolic: &Symbolic) -> Built {
    build_with_rewards(meta, graph, symbolic, &RewardSets::default())
}

/// Builds a bundle from an already eliminated graph and the model's reward sets (checked
/// against the graph by whoever made them: [`crate::model::Recipe::reward_sets`]). Without
/// sets the bundle holds no `rewards.json` and is byte for byte what [`build_with`] gives.
pub fn build_with_rewards(
    meta: &ModelMeta,
    graph: &Graph,
    symbolic: &Symbolic,
    rewards: &RewardSets,
) -> Built {
    build_in_format(meta, graph, symbolic, rewards, FORMAT_VERSION)
}

/// The bundle whose content hash is `want`, when one of the formats this ptd builds gives it:
/// this format version with the reward sets, format version 3 (JSON graph and DAG) with them,
/// then version 3 without them (bundles made before models carried reward sets). Registries
/// and lockfiles record content hashes of bundles built in those formats; a rebuild must
/// reproduce them. Without a match, this format version's bundle.
pub fn build_matching(
    meta: &ModelMeta,
    graph: &Graph,
    symbolic: &Symbolic,
    rewards: &RewardSets,
    want: &str,
) -> Built {
    let current = build_with_rewards(meta, graph, symbolic, rewards);
    if want.is_empty() || current.manifest.content_hash == want {
        return current;
    }
    let json = build_in_format(meta, graph, symbolic, rewards, JSON_FORMAT_VERSION);
    if json.manifest.content_hash == want {
        return json;
    }
    if !rewards.is_empty() {
        let without = build_in_format(
            meta,
            graph,
            symbolic,
            &RewardSets::default(),
            JSON_FORMAT_VERSION,
        );
        if without.manifest.content_hash == want {
            return without;
        }
    }
    current
}

/// [`build_with_rewards`] in a given format version: [`FORMAT_VERSION`] (binary graph and DAG)
/// or [`JSON_FORMAT_VERSION`] (JSON graph and DAG, as published before the binary layouts).
pub fn build_in_format(
    meta: &ModelMeta,
    graph: &Graph,
    symbolic: &Symbolic,
    rewards: &RewardSets,
    format_version: u32,
) -> Built {
    let hashes = GraphHashes::of(graph);
    let mut meta_json = serde_json::to_vec_pretty(meta).expect("meta serializes");
    meta_json.push(b'\n');
    let json = format_version == JSON_FORMAT_VERSION;
    let (names, graph_bytes, dag_bytes) = if json {
        (
            PAYLOAD_JSON,
            GraphFile::to_bytes(graph),
            symbolic.to_bytes(),
        )
    } else {
        (PAYLOAD, graph.to_binary(), symbolic.to_binary())
    };
    let mut files: Vec<(String, Vec<u8>)> = vec![
        (names[0].into(), meta_json),
        (names[1].into(), graph_bytes),
        (names[2].into(), dag_bytes),
    ];
    if !rewards.is_empty() {
        files.push((REWARDS.into(), rewards.to_bytes()));
    }
    let entries: Vec<FileEntry> = files
        .iter()
        .map(|(p, b)| FileEntry {
            path: p.clone(),
            size: b.len() as u64,
            sha256: sha256_hex(b),
        })
        .collect();
    let manifest = Manifest {
        format: FORMAT.into(),
        format_version: if json {
            JSON_FORMAT_VERSION
        } else {
            FORMAT_VERSION
        },
        builder: format!("ptd {}", env!("CARGO_PKG_VERSION")),
        name: meta.name.clone(),
        version: meta.version.clone(),
        parameters: meta.parameters.clone(),
        hashes,
        graph: GraphStats {
            vertices: graph.vertex_count(),
            edges: graph.edge_count() + graph.start_edges().len(),
            state_length: graph.state_length(),
            param_length: graph.param_length(),
            dag_nodes: symbolic.dag().len(),
            unknowns: symbolic.unknowns(),
        },
        dag_format: eliminate::FORMAT.into(),
        dag_format_version: if json {
            eliminate::FORMAT_VERSION
        } else {
            eliminate::BINARY_FORMAT_VERSION
        },
        content_hash: content_hash(&entries).expect("hex digests"),
        files: entries,
    };
    Built {
        manifest,
        meta: meta.clone(),
        files,
    }
}
