//! ptd's evaluator beside each installed bundle: a module and tables derived from the checked
//! DAG (never taken from the archive), rewritten when an older ptd installed the bundle.

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

/// Rewrites an installed bundle's evaluator (module and tables, from its graph and DAG) when
/// the module is not this ptd's, or the tables are missing or in another format version: a
/// bundle directory installed by an older ptd.
pub fn refresh_evaluator(dir: &Path) -> Result<(), InstallError> {
    let module = dir.join(crate::jax::EVALUATOR);
    let tables = dir.join(crate::jax::EVALUATOR_TABLES);
    let current = std::fs::read(&module).is_ok_and(|b| b == crate::jax::emit::MODULE.as_bytes());
    if current && tables_current(&tables) {
        return Ok(());
    }
    let read = |name: &str| {
        let p = dir.join(name);
        std::fs::read(&p).map_err(|e| InstallError::io(&p, e))
    };
    let manifest: bundle::Manifest = serde_json::from_slice(&read("manifest.json")?)
        .map_err(|e| InstallError::io(&dir.join("manifest.json"), std::io::Error::other(e)))?;
    let (gf, df) = (bundle::graph_file(&manifest), bundle::dag_file(&manifest));
    let s = bundle::read_dag(df, &read(df)?, &dir.join(df).display().to_string())?;
    let g = bundle::read_graph(gf, &read(gf)?, &dir.join(gf).display().to_string())?;
    let files = evaluator_files(&manifest, &g, &s);
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
pub(super) fn write_evaluator<'a>(
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
