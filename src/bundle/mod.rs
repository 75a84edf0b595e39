//! Bundles: one deterministic `tar` + `zstd` archive per model version.
//!
//! Entries, in this order, all regular files with mode 0644, owner 0:0, mtime 0:
//! `manifest.json`, `meta.json`, `graph.json`, `dag.json`, `evaluator.py`. The manifest lists the SHA-256 and
//! size of every other file and a content hash over them; `docs/bundle-format.md` is the
//! reference.

use crate::eliminate::{self, Symbolic, SymbolicFormatError};
use crate::graph::{Graph, GraphFile, GraphFileError};
use crate::hash::GraphHashes;
use crate::model::ModelMeta;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

pub const FORMAT: &str = "ptd-bundle";
pub const FORMAT_VERSION: u32 = 2;
/// zstd level used for every bundle; part of the determinism contract.
pub const ZSTD_LEVEL: i32 = 9;
/// Payload files, in archive order, after `manifest.json`.
pub const PAYLOAD: [&str; 4] = ["meta.json", "graph.json", "dag.json", crate::jax::EVALUATOR];
/// Largest file an archive may hold, and largest total, when reading (uncompressed).
pub const MAX_FILE_BYTES: u64 = 4 << 30;
/// Largest expansion of an archive over its compressed size, above [`RATIO_FLOOR`] bytes.
pub const MAX_RATIO: u64 = 1000;
/// Below this many uncompressed bytes the expansion ratio is not checked.
pub const RATIO_FLOOR: u64 = 64 << 20;

/// What reading an archive may cost: the caps on one file, on the total, and on the expansion
/// ratio (so a small archive cannot unpack into gigabytes). `PTD_ARCHIVE_MAX_FILE_BYTES`,
/// `PTD_ARCHIVE_MAX_TOTAL_BYTES` and `PTD_ARCHIVE_MAX_RATIO` can only lower the defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    pub file_bytes: u64,
    pub total_bytes: u64,
    pub ratio: u64,
}

impl Limits {
    pub fn from_env() -> Limits {
        let get = |var: &str, default: u64| {
            std::env::var(var)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map_or(default, |v| v.min(default))
        };
        Limits {
            file_bytes: get("PTD_ARCHIVE_MAX_FILE_BYTES", MAX_FILE_BYTES),
            total_bytes: get("PTD_ARCHIVE_MAX_TOTAL_BYTES", MAX_FILE_BYTES),
            ratio: get("PTD_ARCHIVE_MAX_RATIO", MAX_RATIO),
        }
    }

    /// The most bytes an archive of `compressed` bytes may expand to.
    fn expansion(&self, compressed: u64) -> u64 {
        self.total_bytes
            .min(RATIO_FLOOR.max(compressed.saturating_mul(self.ratio)))
    }
}

/// One payload file in the manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// Graph figures recorded in the manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphStats {
    pub vertices: usize,
    pub edges: usize,
    pub state_length: usize,
    pub param_length: usize,
    pub dag_nodes: usize,
    pub unknowns: usize,
}

/// `manifest.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub builder: String,
    pub name: String,
    pub version: semver::Version,
    pub parameters: Vec<String>,
    pub hashes: GraphHashes,
    pub graph: GraphStats,
    pub dag_format: String,
    pub dag_format_version: u32,
    pub files: Vec<FileEntry>,
    pub content_hash: String,
}

/// A bundle in memory.
#[derive(Clone, Debug)]
pub struct Bundle {
    pub manifest: Manifest,
    pub meta: ModelMeta,
    pub graph: Graph,
    pub symbolic: Symbolic,
}

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    #[error("{file}: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Graph(#[from] GraphFileError),
    #[error(transparent)]
    Dag(#[from] SymbolicFormatError),
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The content hash: SHA-256 over, per payload file in manifest order, its path, a NUL byte,
/// its size as u64 little-endian, and its 32-byte SHA-256.
pub fn content_hash(files: &[FileEntry]) -> Option<String> {
    let mut h = Sha256::new();
    h.update(b"ptd-content-v1\0");
    for f in files {
        h.update(f.path.as_bytes());
        h.update([0]);
        h.update(f.size.to_le_bytes());
        h.update(hex::decode(&f.sha256).ok().filter(|d| d.len() == 32)?);
    }
    Some(hex::encode(h.finalize()))
}

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

    /// A payload file's bytes (`meta.json`, `graph.json`, `dag.json`, `evaluator.py`).
    pub fn payload(&self, name: &str) -> Option<&[u8]> {
        self.files
            .iter()
            .find(|(p, _)| p == name)
            .map(|(_, b)| b.as_slice())
    }

    /// The archive file name: `namespace-name-version.ptd.tar.zst`.
    pub fn file_name(&self) -> String {
        archive_name(&self.manifest.name, &self.manifest.version)
    }

    /// The archive bytes (tar + zstd), identical for identical input.
    pub fn pack(&self) -> Vec<u8> {
        let manifest = manifest_bytes(&self.manifest);
        let entries = std::iter::once(("manifest.json", manifest.as_slice()))
            .chain(self.files.iter().map(|(p, b)| (p.as_str(), b.as_slice())));
        pack_entries(entries)
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

/// Writes an output file (an archive, a graph file) atomically: a temporary file in the same
/// directory, readable by all like any other output file, synced, then renamed to `path`.
pub fn write_output(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, bytes)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// `namespace-name-version.ptd.tar.zst`.
pub fn archive_name(name: &str, version: &semver::Version) -> String {
    format!("{}-{version}.ptd.tar.zst", name.replace('/', "-"))
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

/// Builds a bundle from an already eliminated graph.
pub fn build_with(meta: &ModelMeta, graph: &Graph, symbolic: &Symbolic) -> Built {
    let hashes = GraphHashes::of(graph);
    let mut meta_json = serde_json::to_vec_pretty(meta).expect("meta serializes");
    meta_json.push(b'\n');
    let files: Vec<(String, Vec<u8>)> = vec![
        (PAYLOAD[0].into(), meta_json),
        (PAYLOAD[1].into(), GraphFile::to_bytes(graph)),
        (PAYLOAD[2].into(), symbolic.to_bytes()),
        (
            PAYLOAD[3].into(),
            crate::jax::emit::evaluator(
                symbolic,
                &crate::jax::emit::Header {
                    name: &meta.name,
                    version: &meta.version,
                    parameters: &meta.parameters,
                    graph_hash: &hashes.canonical,
                },
            )
            .into_bytes(),
        ),
    ];
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
        format_version: FORMAT_VERSION,
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
        dag_format_version: eliminate::FORMAT_VERSION,
        content_hash: content_hash(&entries).expect("hex digests"),
        files: entries,
    };
    Built {
        manifest,
        meta: meta.clone(),
        files,
    }
}

/// Reads and verifies a bundle archive from disk.
pub fn read(path: &Path) -> Result<Bundle, BundleError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| BundleError::Io {
        file: name.clone(),
        source,
    })?;
    unpack(&bytes, &name)
}

/// True when `bytes` start like a zstd frame.
pub fn looks_like_bundle(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
}

/// Packs (name, bytes) pairs as a deterministic tar + zstd archive: fixed order, mtimes,
/// owners and modes.
pub fn pack_entries<'a>(entries: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    tar.mode(tar::HeaderMode::Deterministic);
    for (path, bytes) in entries {
        let mut h = tar::Header::new_ustar();
        h.set_path(path).expect("short ASCII path");
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        tar.append(&h, bytes).expect("writing to memory");
    }
    let tar = tar.into_inner().expect("writing to memory");
    zstd::bulk::compress(&tar, ZSTD_LEVEL).expect("zstd compression in memory")
}

/// Reads a tar + zstd archive of regular files, asking `check(name, files so far)` about each
/// entry before reading it (an `Err` message stops the read). Only regular files are accepted
/// (no links, devices or directories); no file may exceed the per-file cap, and the whole may
/// not expand beyond the total cap or [`Limits`]'s ratio to its compressed size. Nothing is
/// written anywhere: the caller gets the files in memory.
fn read_tar_zst(
    bytes: &[u8],
    name: &str,
    mut check: impl FnMut(&str, &[(String, Vec<u8>)]) -> Result<(), String>,
) -> Result<Files, BundleError> {
    let limits = Limits::from_env();
    let invalid = |message: String| BundleError::Invalid {
        file: name.to_string(),
        message,
    };
    let dec = zstd::stream::read::Decoder::new(bytes)
        .map_err(|e| invalid(format!("not a zstd stream: {e}")))?;
    let budget = limits.expansion(bytes.len() as u64);
    let exceeded = std::rc::Rc::new(std::cell::Cell::new(false));
    let counted = Counted {
        inner: dec,
        read: 0,
        budget,
        exceeded: exceeded.clone(),
    };
    let mut archive = tar::Archive::new(counted);
    let mut files: Files = Vec::new();
    let over = |read: u64| {
        invalid(format!(
            "expands to more than {budget} bytes ({read} read from {} compressed; limits: {} bytes in all, {}x the compressed size): refused as a decompression bomb",
            bytes.len(),
            limits.total_bytes,
            limits.ratio
        ))
    };
    let entries = archive
        .entries()
        .map_err(|e| invalid(format!("not a tar archive: {e}")))?;
    for entry in entries {
        let mut entry = match entry {
            Ok(e) => e,
            Err(_) if exceeded.get() => return Err(over(budget + 1)),
            Err(e) => return Err(invalid(format!("damaged archive: {e}"))),
        };
        let raw = entry.path_bytes().into_owned();
        let path = String::from_utf8(raw).map_err(|_| invalid("entry name is not UTF-8".into()))?;
        check(&path, &files).map_err(invalid)?;
        let kind = entry.header().entry_type();
        if kind != tar::EntryType::Regular {
            return Err(invalid(format!(
                "entry '{path}' is not a regular file ({}): links, devices and directories are refused",
                entry_kind(kind)
            )));
        }
        let size = entry
            .header()
            .size()
            .map_err(|e| invalid(format!("entry '{path}': bad size field: {e}")))?;
        if size > limits.file_bytes {
            return Err(invalid(format!(
                "entry '{path}' is {size} bytes, over the limit of {} bytes for one file",
                limits.file_bytes
            )));
        }
        let mut data = Vec::new();
        if let Err(e) = entry.read_to_end(&mut data) {
            if exceeded.get() {
                return Err(over(budget + 1));
            }
            return Err(invalid(format!("cannot read entry '{path}': {e}")));
        }
        if data.len() as u64 != size {
            return Err(invalid(format!(
                "entry '{path}' is cut short ({} of {size} bytes)",
                data.len()
            )));
        }
        files.push((path, data));
    }
    Ok(files)
}

/// Counts decompressed bytes and fails (setting `exceeded`) once more than `budget` have been
/// read.
struct Counted<R> {
    inner: R,
    read: u64,
    budget: u64,
    exceeded: std::rc::Rc<std::cell::Cell<bool>>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.budget {
            self.exceeded.set(true);
            return Err(std::io::Error::other("archive expands beyond its budget"));
        }
        Ok(n)
    }
}

fn entry_kind(t: tar::EntryType) -> &'static str {
    match t {
        tar::EntryType::Symlink => "a symbolic link",
        tar::EntryType::Link => "a hard link",
        tar::EntryType::Char => "a character device",
        tar::EntryType::Block => "a block device",
        tar::EntryType::Fifo => "a FIFO",
        tar::EntryType::Directory => "a directory",
        _ => "an unsupported entry type",
    }
}

/// The name of an archive's first entry, reading no further than its header.
pub fn first_entry(bytes: &[u8]) -> Option<String> {
    let dec = zstd::stream::read::Decoder::new(bytes).ok()?;
    let mut archive = tar::Archive::new(dec);
    let first = archive.entries().ok()?.next()?.ok()?;
    String::from_utf8(first.path_bytes().into_owned()).ok()
}

/// A plain file name: letters, digits, `-_.+`, not hidden.
pub fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.+".contains(c))
}

/// An archive described by its first entry: `meta` (a JSON document listing the other files),
/// then files whose paths satisfy `path_ok`, each once. Returns the description's bytes and the
/// files; [`check_listed`] then compares them with the list.
pub fn described_files(
    bytes: &[u8],
    name: &str,
    meta: &str,
    path_ok: impl Fn(&str) -> bool,
) -> Result<(Vec<u8>, Files), BundleError> {
    let mut files = read_tar_zst(bytes, name, |path, files| {
        if files.is_empty() {
            if path != meta {
                return Err(format!(
                    "the first entry must be {meta}, not '{path}': not this kind of archive"
                ));
            }
            return Ok(());
        }
        if path == meta {
            return Err(format!("entry '{path}' appears twice"));
        }
        if !path_ok(path) {
            return Err(format!(
                "entry '{path}' is not a file this archive may hold"
            ));
        }
        if files.iter().any(|(p, _)| p == path) {
            return Err(format!("entry '{path}' appears twice"));
        }
        Ok(())
    })?;
    if files.is_empty() {
        return Err(BundleError::Invalid {
            file: name.to_string(),
            message: format!("empty archive: {meta} is missing"),
        });
    }
    let (_, json) = files.remove(0);
    Ok((json, files))
}

/// Checks that `files` are exactly `listed`, in order, each with its size and SHA-256.
pub fn check_listed(files: &Files, listed: &[FileEntry], meta: &str) -> Result<(), String> {
    if files.len() != listed.len() {
        return Err(format!(
            "holds {} files but {meta} lists {}",
            files.len(),
            listed.len()
        ));
    }
    for ((path, data), want) in files.iter().zip(listed) {
        if *path != want.path {
            return Err(format!("entry '{path}' is not the listed '{}'", want.path));
        }
        if data.len() as u64 != want.size || sha256_hex(data) != want.sha256 {
            return Err(format!(
                "entry '{path}' does not match its size and SHA-256 in {meta}"
            ));
        }
    }
    Ok(())
}

/// Packs a description (`meta` name and JSON bytes) followed by `files`.
pub fn pack_described(meta: &str, json: &[u8], files: &Files) -> Vec<u8> {
    pack_entries(
        std::iter::once((meta, json)).chain(files.iter().map(|(n, b)| (n.as_str(), b.as_slice()))),
    )
}

/// The list of `files` as manifest entries.
pub fn list_files(files: &Files) -> Vec<FileEntry> {
    files
        .iter()
        .map(|(p, b)| FileEntry {
            path: p.clone(),
            size: b.len() as u64,
            sha256: sha256_hex(b),
        })
        .collect()
}

fn read_entries(bytes: &[u8], name: &str) -> Result<Files, BundleError> {
    let files = read_tar_zst(bytes, name, |path, files| {
        let expected = if files.is_empty() {
            "manifest.json"
        } else {
            PAYLOAD.get(files.len() - 1).copied().unwrap_or("")
        };
        if path != expected {
            return Err(format!(
                "unexpected entry '{path}' at position {} (expected '{expected}')",
                files.len()
            ));
        }
        Ok(())
    })?;
    if files.len() != 1 + PAYLOAD.len() {
        return Err(BundleError::Invalid {
            file: name.to_string(),
            message: format!(
                "has {} entries, expected {} (bundle format version {FORMAT_VERSION}: {}); a bundle of another format version needs the ptd that reads it, or a rebuild",
                files.len(),
                1 + PAYLOAD.len(),
                PAYLOAD.join(", ")
            ),
        });
    }
    Ok(files)
}

/// An archive's files: (name, bytes), in archive order.
pub type Files = Vec<(String, Vec<u8>)>;

/// Verifies bundle bytes without interpreting the payload: entry names, order and types, the
/// manifest's format, each file's size and SHA-256, the content hash, and that `meta.json` names
/// the manifest's model and version. This is what installing needs: the archive's signature
/// binds the content hash, which binds every file. Returns the manifest and the files.
pub fn verify(bytes: &[u8], name: &str) -> Result<(Manifest, Files), BundleError> {
    let invalid = |message: String| BundleError::Invalid {
        file: name.to_string(),
        message,
    };
    let files = read_entries(bytes, name)?;
    let manifest: Manifest =
        serde_json::from_slice(&files[0].1).map_err(|e| invalid(format!("manifest.json: {e}")))?;
    if manifest.format != FORMAT || manifest.format_version != FORMAT_VERSION {
        return Err(invalid(format!(
            "manifest.json: format {} version {} is not {FORMAT} version {FORMAT_VERSION}; upgrade ptd",
            manifest.format, manifest.format_version
        )));
    }
    if manifest.files.len() != PAYLOAD.len() {
        return Err(invalid(format!(
            "manifest.json: 'files' must list {}",
            PAYLOAD.join(", ")
        )));
    }
    for ((path, data), entry) in files[1..].iter().zip(&manifest.files) {
        if &entry.path != path
            || entry.size != data.len() as u64
            || entry.sha256 != sha256_hex(data)
        {
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
    Ok((manifest, files))
}

/// Unpacks and verifies bundle bytes: entry names, order and types, each file's size and
/// SHA-256 against the manifest, and the content hash. Nothing is written to disk.
pub fn unpack(bytes: &[u8], name: &str) -> Result<Bundle, BundleError> {
    let invalid = |message: String| BundleError::Invalid {
        file: name.to_string(),
        message,
    };
    let (manifest, files) = verify(bytes, name)?;
    let meta: ModelMeta =
        serde_json::from_slice(&files[1].1).map_err(|e| invalid(format!("meta.json: {e}")))?;
    let text =
        std::str::from_utf8(&files[2].1).map_err(|_| invalid("graph.json is not UTF-8".into()))?;
    let graph = GraphFile::parse(text, &format!("{name}:graph.json"))?;
    let symbolic = Symbolic::from_bytes(&files[3].1, &format!("{name}:dag.json"))?;
    if GraphHashes::of(&graph) != manifest.hashes {
        return Err(invalid(
            "manifest.json: graph hashes do not match graph.json".into(),
        ));
    }
    if meta.name != manifest.name || meta.version != manifest.version {
        return Err(invalid(
            "meta.json and manifest.json disagree on name or version".into(),
        ));
    }
    if symbolic.param_length() != graph.param_length() {
        return Err(invalid(
            "dag.json and graph.json disagree on the number of parameters".into(),
        ));
    }
    Ok(Bundle {
        manifest,
        meta,
        graph,
        symbolic,
    })
}
