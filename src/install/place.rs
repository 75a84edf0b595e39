//! Placing verified files: the bundle's directory (`bundles/<content hash>/`, renamed into
//! place whole), tier 1 (`$PHASIC_CACHE_DIR/symbolic/`), tier 2 (the JAX compilation cache),
//! phasic's own artifacts, and the database record. A name that holds other bytes is never
//! replaced.

use super::db::{Db, Installed, SymbolicIndex};
use super::{Home, InstallError, now_rfc3339};
use crate::bundle;
use crate::fs::{Placed, place_new, write_atomic};
use std::path::{Path, PathBuf};

/// Places an installed bundle's DAG into the symbolic tier under the graph's phasic hash (which
/// installing computed from the graph, and whose DAG it checked against the graph). A tier-1
/// name is never replaced: when it already holds other bytes they stay, and the returned note
/// says so (`ptd cache verify --repair` settles it).
pub fn place_tier1(
    home: &Home,
    i: &Installed,
    bundle_dir: &Path,
) -> Result<Option<String>, InstallError> {
    place_tier1_in(home, i, bundle_dir, &Tier1Index::default())
}

/// [`place_tier1`], recording into `index`.
pub(super) fn place_tier1_in(
    home: &Home,
    i: &Installed,
    bundle_dir: &Path,
    index: &Tier1Index,
) -> Result<Option<String>, InstallError> {
    let manifest_path = bundle_dir.join("manifest.json");
    let manifest: bundle::Manifest = serde_json::from_slice(
        &std::fs::read(&manifest_path).map_err(|e| InstallError::io(&manifest_path, e))?,
    )
    .map_err(|e| InstallError::io(&manifest_path, std::io::Error::other(e)))?;
    place_tier1_with(home, i, bundle_dir, &manifest, index)
}

/// The symbolic tier's index (`index.db`), opened on first use and kept for the installs of one
/// command, which record into it one thread at a time.
#[derive(Default)]
pub struct Tier1Index(std::sync::Mutex<Option<SymbolicIndex>>);

impl Tier1Index {
    fn with<T>(
        &self,
        path: &Path,
        f: impl FnOnce(&SymbolicIndex) -> Result<T, super::DbError>,
    ) -> Result<T, InstallError> {
        let mut open = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if open.is_none() {
            *open = Some(SymbolicIndex::open(path)?);
        }
        Ok(f(open.as_ref().expect("opened"))?)
    }
}

/// [`place_tier1`] with the bundle's manifest, already read and checked, recording into `index`.
pub(super) fn place_tier1_with(
    home: &Home,
    i: &Installed,
    bundle_dir: &Path,
    manifest: &bundle::Manifest,
    index: &Tier1Index,
) -> Result<Option<String>, InstallError> {
    let sym = home.symbolic();
    std::fs::create_dir_all(&sym).map_err(|e| InstallError::io(&sym, e))?;
    let dag_file = bundle::dag_file(manifest);
    let dag_src = bundle_dir.join(dag_file);
    let target = home.tier1_dag_for(&i.phasic_hash, dag_file);
    let meta_path = sym.join(format!("{}.meta", i.phasic_hash));
    let dag_sha = manifest
        .files
        .iter()
        .find(|f| f.path == dag_file)
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
    index.with(&sym.join("index.db"), |idx| {
        idx.record(
            &i.phasic_hash,
            &target,
            &now_rfc3339(),
            size,
            manifest.graph.vertices,
            manifest.graph.edges,
            &String::from_utf8_lossy(&meta_bytes),
        )
    })?;
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
        // The bundle's files are immutable once placed; an evaluator an older ptd wrote beside
        // them is rewritten.
        super::evaluator::refresh_evaluator(&dir)?;
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
    db.touch(&i.use_key(), &i.installed_at)?;
    Ok(())
}
