//! ptd's evaluator beside an installed bundle: a module and tables derived from the checked DAG
//! (never taken from the archive) on first use, rewritten when an older ptd wrote them.

use super::InstallError;
use crate::bundle;
use crate::fs::write_atomic;
use std::path::Path;

/// ptd's evaluator module and the tables derived from a checked DAG and its graph (which gives
/// the atom at 0).
pub fn evaluator_files(
    m: &bundle::Manifest,
    g: &crate::graph::Graph,
    s: &crate::eliminate::Symbolic,
) -> [(&'static str, Vec<u8>); 2] {
    crate::jax::emit::evaluator_files(
        s,
        &crate::jax::emit::Header {
            name: &m.name,
            version: &m.version,
            parameters: &m.parameters,
            graph_hash: &m.hashes.canonical,
            atom0: crate::eliminate::start_atom(g),
        },
    )
}

/// Rewrites an installed bundle's evaluator when one is there but is not this ptd's (its module
/// differs, or its tables are missing or in another format version): a bundle directory an
/// older ptd installed. A bundle whose evaluator was never derived is left so.
pub fn refresh_evaluator(dir: &Path) -> Result<(), InstallError> {
    let module = dir.join(crate::jax::EVALUATOR);
    let tables = dir.join(crate::jax::EVALUATOR_TABLES);
    if !module.exists() && !tables.exists() {
        return Ok(());
    }
    derive_evaluator(dir)
}

/// Derives ptd's evaluator beside an installed bundle (module and tables, from its DAG and
/// graph, each read against the bundle's manifest), unless this ptd's is there already. The
/// evaluator is derived on first use rather than at install: only JAX users need it, and its
/// tables are the largest file beside a bundle.
pub fn derive_evaluator(dir: &Path) -> Result<(), InstallError> {
    let module = dir.join(crate::jax::EVALUATOR);
    let tables = dir.join(crate::jax::EVALUATOR_TABLES);
    let current = std::fs::read(&module).is_ok_and(|b| b == crate::jax::emit::MODULE.as_bytes());
    if current && tables_current(&tables) {
        return Ok(());
    }
    let b = bundle::read_installed(dir)?;
    let files = evaluator_files(&b.manifest, b.graph()?, &b.symbolic);
    write_evaluator(dir, files.iter().map(|(n, b)| (*n, b.as_slice())))
}

/// Whether a tables file is there in this ptd's format version (its first 16 bytes say).
fn tables_current(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 16];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| {
            crate::jax::emit::tables_version(&head) == Some(crate::jax::emit::TABLES_FORMAT_VERSION)
        })
}

/// Writes ptd's evaluator files into an installed bundle's directory, each (atomically) only
/// where it differs from what is there.
fn write_evaluator<'a>(
    dir: &Path,
    files: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Result<(), InstallError> {
    for (name, data) in files {
        let p = dir.join(name);
        if std::fs::read(&p).ok().as_deref() != Some(data) {
            write_atomic(&p, data).map_err(|e| InstallError::io(&p, e))?;
        }
    }
    Ok(())
}
