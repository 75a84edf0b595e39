//! Placing verified files: the bundle's directory (`bundles/<content hash>/`, renamed into
//! place whole), tier 1 (`$PHASIC_CACHE_DIR/symbolic/`), tier 2 (the JAX compilation cache),
//! phasic's own artifacts, and the database record. A name that holds other bytes is never
//! replaced.

use super::db::{Db, Installed, SymbolicIndex};
use super::evaluator::write_evaluator;
use super::{Home, InstallError, now_rfc3339};
use crate::bundle;
use crate::index::source::write_atomic;
use std::path::{Path, PathBuf};

/// Puts `src`'s bytes at the new path `dst` as cheaply as the filesystem allows: a reflink
/// (copy-on-write clone: shares blocks, but the files stay independent), else a hard link
/// (shares the file itself), else a copy.
pub fn place_copy(src: &Path, dst: &Path) -> std::io::Result<()> {
    if reflink_copy::reflink(src, dst).is_ok() {
        return Ok(());
    }
    let _ = std::fs::remove_file(dst);
    std::fs::hard_link(src, dst).or_else(|_| std::fs::copy(src, dst).map(drop))
}

/// How [`place_new`] left a name.
#[derive(Debug, PartialEq)]
enum Placed {
    /// The file was placed.
    New,
    /// The name already held the same bytes.
    Same,
    /// The name already held other bytes; they were left alone.
    Other,
}

/// Puts a copy (reflink, hard link or copy) of `src` at `target` unless `target` exists, never
/// replacing what is there: the copy is made under a temporary name beside `target`, then linked
/// to `target`, which fails if the name exists (a rename would replace it). A failed copy leaves
/// no temporary behind, and the error names `target`.
fn place_new(src: &Path, target: &Path, sha256: &str) -> Result<Placed, InstallError> {
    let dir = target.parent().unwrap_or(Path::new("."));
    let existing = |target: &Path| -> Result<Placed, InstallError> {
        if same_file(src, target) {
            return Ok(Placed::Same);
        }
        let size = std::fs::metadata(src)
            .map_err(|e| InstallError::io(src, e))?
            .len();
        let same = std::fs::metadata(target).is_ok_and(|m| m.len() == size)
            && crate::fetch::hash_file(target).is_ok_and(|h| h == sha256);
        Ok(if same { Placed::Same } else { Placed::Other })
    };
    if target.exists() {
        return existing(target);
    }
    let tmp = dir.join(format!(
        ".link-{}-{:016x}",
        std::process::id(),
        bundle::random_seed()
    ));
    if let Err(e) = place_copy(src, &tmp) {
        let _ = std::fs::remove_file(&tmp);
        return Err(InstallError::io(target, e));
    }
    let linked = std::fs::hard_link(&tmp, target);
    let result = match linked {
        Ok(()) => Ok(Placed::New),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => existing(target),
        // A filesystem without hard links: rename, having just seen the name free.
        Err(_) if !target.exists() => std::fs::rename(&tmp, target)
            .map(|()| Placed::New)
            .map_err(|e| InstallError::io(target, e)),
        Err(_) => existing(target),
    };
    let _ = std::fs::remove_file(&tmp);
    result
}

/// Whether two paths are the same file (one inode).
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return x.dev() == y.dev() && x.ino() == y.ino();
        }
    }
    let _ = (a, b);
    false
}

/// Places an installed bundle's DAG into the symbolic tier under the graph's phasic hash (which
/// installing computed from the graph, and whose DAG it checked against the graph). A tier-1
/// name is never replaced: when it already holds other bytes they stay, and the returned note
/// says so (`ptd cache verify --repair` settles it).
pub fn place_tier1(
    home: &Home,
    i: &Installed,
    bundle_dir: &Path,
) -> Result<Option<String>, InstallError> {
    let sym = home.symbolic();
    std::fs::create_dir_all(&sym).map_err(|e| InstallError::io(&sym, e))?;
    let dag_src = bundle_dir.join("dag.json");
    let target = sym.join(format!("{}.json", i.phasic_hash));
    let meta_path = sym.join(format!("{}.meta", i.phasic_hash));
    let manifest_path = bundle_dir.join("manifest.json");
    let manifest: bundle::Manifest = serde_json::from_slice(
        &std::fs::read(&manifest_path).map_err(|e| InstallError::io(&manifest_path, e))?,
    )
    .map_err(|e| InstallError::io(&manifest_path, std::io::Error::other(e)))?;
    let dag_sha = manifest
        .files
        .iter()
        .find(|f| f.path == "dag.json")
        .map(|f| f.sha256.clone())
        .unwrap_or_default();
    let placed = place_new(&dag_src, &target, &dag_sha)?;
    if placed == Placed::Other {
        return Ok(Some(format!(
            "{} already holds other bytes for this graph; they were left in place (a tier-1 entry is never replaced by an install): `ptd verify` tells whether they belong to the graph, `ptd cache verify --repair` replaces them if not",
            target.display()
        )));
    }
    if placed == Placed::Same && meta_path.is_file() {
        return Ok(None);
    }
    let size = std::fs::metadata(&target)
        .map_err(|e| InstallError::io(&target, e))?
        .len();
    let meta = serde_json::json!({
        "name": i.name,
        "version": i.version,
        "registry": i.registry,
        "content_hash": i.content_hash,
        "phasic_hash": i.phasic_hash,
        "canonical_hash": i.canonical_hash,
        "parameters": manifest.parameters,
        "vertices": manifest.graph.vertices,
        "edges": manifest.graph.edges,
        "dag_format": manifest.dag_format,
        "dag_format_version": manifest.dag_format_version,
        "bundle": bundle_dir.display().to_string(),
    });
    let meta_bytes = serde_json::to_vec_pretty(&meta).expect("meta");
    write_atomic(&meta_path, &meta_bytes).map_err(|e| InstallError::io(&meta_path, e))?;
    let idx = SymbolicIndex::open(&sym.join("index.db"))?;
    idx.record(
        &i.phasic_hash,
        &target,
        &now_rfc3339(),
        size,
        manifest.graph.vertices,
        manifest.graph.edges,
        &String::from_utf8_lossy(&meta_bytes),
    )?;
    Ok(None)
}

/// Writes the verified files into `bundles/<content hash>/`, renaming a complete directory
/// into place.
pub(super) fn extract(
    home: &Home,
    content_hash: &str,
    files: &[(String, Vec<u8>)],
) -> Result<PathBuf, InstallError> {
    let dir = home.bundle_dir(content_hash);
    if dir.join("manifest.json").is_file() {
        // The bundle's files are immutable once placed; ptd's evaluator beside them is
        // rewritten when it is not what this ptd derives.
        write_evaluator(
            &dir,
            files
                .iter()
                .filter(|(n, _)| n == crate::jax::EVALUATOR || n == crate::jax::EVALUATOR_TABLES)
                .map(|(n, b)| (n.as_str(), b.as_slice())),
        )?;
        return Ok(dir);
    }
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        // Renamed into place whole: readable by others as the umask allows, not 0700.
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o777));
    }
    let tmp = builder
        .prefix("extract-")
        .tempdir_in(home.tmp())
        .map_err(|e| InstallError::io(&home.tmp(), e))?;
    for (name, data) in files {
        // The reader admits only the bundle's own file names; a name that could leave the
        // directory is refused here too.
        if !bundle::plain_name(name) {
            return Err(InstallError::Mismatch {
                name: content_hash.to_string(),
                version: String::new(),
                message: format!("bundle entry '{name}' is not a plain file name"),
            });
        }
        let p = tmp.path().join(name);
        std::fs::write(&p, data).map_err(|e| InstallError::io(&p, e))?;
    }
    let staged = tmp.keep();
    match std::fs::rename(&staged, &dir) {
        Ok(()) => Ok(dir),
        Err(_) if dir.join("manifest.json").is_file() => {
            // Another process won the race with identical content.
            let _ = std::fs::remove_dir_all(&staged);
            Ok(dir)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staged);
            Err(InstallError::io(&dir, e))
        }
    }
}

/// phasic's elimination artifacts, into `$PHASIC_CACHE_DIR/parameterized_reward_compute/`
/// where phasic looks for them under the graph's phasic hash.
pub(super) fn place_phasic(home: &Home, files: &bundle::Files) -> Result<usize, InstallError> {
    crate::phasic::place(&home.phasic_cache, files)
        .map_err(|err| InstallError::io(&home.phasic_cache, err))?;
    Ok(files.len())
}

/// Tier 2: writes the platform archive's files into the JAX cache directory, each through a
/// temporary name and a rename.
pub(super) fn place_tier2(home: &Home, files: &[(String, Vec<u8>)]) -> Result<usize, InstallError> {
    if files.is_empty() {
        return Ok(0);
    }
    let jax = &home.jax_cache;
    std::fs::create_dir_all(jax).map_err(|err| InstallError::io(jax, err))?;
    for (name, data) in files {
        let p = jax.join(name);
        let same = std::fs::metadata(&p).is_ok_and(|m| m.len() == data.len() as u64);
        if !same {
            write_atomic(&p, data).map_err(|err| InstallError::io(&p, err))?;
        }
    }
    Ok(files.len())
}

/// Records an installed version, its bundle's size and its first use.
pub(super) fn record_installed(
    db: &Db,
    i: &Installed,
    bundle_bytes: u64,
) -> Result<(), InstallError> {
    db.record(i)?;
    db.record_size(&i.content_hash, bundle_bytes)?;
    db.touch(&i.name, &i.version, &i.registry, &i.installed_at)?;
    Ok(())
}
