//! The JAX tier's commands: compiling a bundle's evaluator into a platform archive
//! (`ptd build --jax`), into the user's own JAX cache (`ptd cache prewarm`), and finding an
//! installed evaluator (`ptd which`).

use super::Context;
use crate::bundle::Built;
use crate::cache::Found;
use crate::jax::archive::{self, JaxMeta};
use crate::jax::{Compiled, EVALUATOR};
use crate::model::Requested;
use crate::{Error, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// A platform archive written by `ptd build --jax`.
#[derive(Clone, Debug, Serialize)]
pub struct JaxBuilt {
    pub path: PathBuf,
    pub tag: String,
    pub compiled: Vec<Compiled>,
    /// Cache entries packed.
    pub entries: usize,
}

/// Compiles `built`'s evaluator with the user's Python for theta of shape (batch, P), float64,
/// `moments_jit` with `k = moments`, in a fresh cache directory, and packs the entries as
/// `<bundle stem>.<tag>.jax.tar.zst` in `out_dir` (unsigned: `ptd publish --jax-archive`
/// signs it).
pub fn build_jax(
    ctx: &Context,
    built: &Built,
    out_dir: &Path,
    batches: &[u64],
    moments: usize,
) -> Result<JaxBuilt> {
    let env = ctx.jax.env()?;
    let tag = env.tag();
    let tmp = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    // The evaluator exactly as `ptd install` writes it: ptd's module and the DAG's tables.
    let symbolic = built.symbolic()?;
    let graph = built.graph()?;
    for (name, bytes) in crate::install::evaluator_files(&built.manifest, &graph, &symbolic) {
        let p = tmp.path().join(name);
        std::fs::write(&p, bytes).map_err(|e| Error::io(&p, e))?;
    }
    let module = tmp.path().join(EVALUATOR);
    let cache = tmp.path().join("cache");
    let compiled = crate::jax::compile(ctx.jax.python(), &module, batches, moments, &cache)?;
    let files = archive::cache_files(&cache)?;
    if files.is_empty() {
        return Err(Error::Usage(format!(
            "{} compiled the evaluator but wrote no persistent cache entries into {}",
            ctx.jax.python().display(),
            cache.display()
        )));
    }
    let m = &built.manifest;
    let meta = JaxMeta {
        format: archive::FORMAT.into(),
        format_version: archive::FORMAT_VERSION,
        name: m.name.clone(),
        version: m.version.clone(),
        content_hash: m.content_hash.clone(),
        tag: tag.clone(),
        jax: env,
        batches: batches.to_vec(),
        moments,
        files: Vec::new(),
    };
    let bytes = archive::pack(meta, &files)?;
    let stem = built.file_name();
    let stem = stem.trim_end_matches(".ptd.tar.zst");
    let path = out_dir.join(format!("{stem}.{tag}.jax.tar.zst"));
    std::fs::create_dir_all(out_dir).map_err(|e| Error::io(out_dir, e))?;
    crate::fs::write_output(&path, &bytes).map_err(|e| Error::io(&path, e))?;
    Ok(JaxBuilt {
        path,
        tag,
        compiled,
        entries: files.len(),
    })
}

/// `ptd build --with-phasic`: the user's phasic eliminates the bundle's graph into a fresh
/// cache directory; its artifact is packed as `<bundle stem>.<tag>.phasic.tar.zst` in
/// `out_dir` (unsigned: `ptd publish --phasic-archive` signs it).
pub fn build_phasic(ctx: &Context, built: &Built, out_dir: &Path) -> Result<PathBuf> {
    // phasic reads the graph file (`Graph.from_serialized`), whatever the bundle holds.
    let graph = crate::graph::GraphFile::to_bytes(&built.graph()?);
    let made = crate::phasic::make(ctx.jax.python(), &graph, &built.manifest)?;
    let tag = made.meta.tag.clone();
    let bytes = crate::phasic::pack(made.meta, &made.files)?;
    let stem = built.file_name();
    let stem = stem.trim_end_matches(".ptd.tar.zst");
    let path = out_dir.join(format!("{stem}.{tag}.phasic.tar.zst"));
    crate::fs::write_output(&path, &bytes).map_err(|e| Error::io(&path, e))?;
    Ok(path)
}

/// The newest installed version matching `query` (NAME[@REQ] or a hash prefix), for a family
/// its member with the values `variants` (several matching members are an error that lists
/// them).
pub fn installed(ctx: &Context, query: &str, variants: &Requested) -> Result<Found> {
    let shown = crate::cache::query_words(query, variants);
    let found = super::query::find_installed(ctx, query, variants)?;
    crate::cache::newest_one(found, &shown)?.ok_or_else(|| {
        Error::Usage(format!(
            "nothing installed matches '{shown}': `ptd install {shown}` first (see `ptd list`)"
        ))
    })
}

/// `ptd which`: the installed evaluator module of the newest version matching `query`.
pub fn which(ctx: &Context, query: &str, variants: &Requested) -> Result<PathBuf> {
    module_of(&installed(ctx, query, variants)?)
}

/// The evaluator module beside an installed bundle, when it is this ptd's own; derived there
/// first when the bundle has none yet.
fn module_of(found: &Found) -> Result<PathBuf> {
    let dir = Path::new(&found.bundle);
    let path = dir.join(EVALUATOR);
    // Only ptd's own module is ever handed to Python: the file beside an installed bundle that
    // an older ptd wrote (from the bundle) or anything else put there is refused.
    let ours = |p: &Path| std::fs::read(p).is_ok_and(|b| b == crate::jax::emit::MODULE.as_bytes());
    if path.exists() && !ours(&path) {
        return Err(Error::Usage(format!(
            "{} {}: {} is not this ptd's evaluator module (written by another ptd, or altered): `ptd install {}@={}` writes this ptd's, or `ptd cache verify --repair` removes it and the next use derives it",
            found.name,
            found.version,
            path.display(),
            found.name,
            found.version
        )));
    }
    // A module not there yet, or tables missing or in another format version, are derived.
    crate::install::derive_evaluator(dir)?;
    Ok(path)
}

/// What `ptd cache prewarm` did.
#[derive(Clone, Debug, Serialize)]
pub struct Prewarmed {
    pub name: String,
    pub version: semver::Version,
    #[serde(skip_serializing_if = "crate::model::Variants::is_empty")]
    pub variants: crate::model::Variants,
    pub jax_cache: String,
    pub compiled: Vec<Compiled>,
    /// Entries the JAX cache gained.
    pub new_entries: usize,
}

/// `ptd cache prewarm`: compiles an installed evaluator into the user's JAX cache directory.
pub fn prewarm(
    ctx: &Context,
    query: &str,
    variants: &Requested,
    batches: &[u64],
    moments: usize,
) -> Result<Prewarmed> {
    let found = installed(ctx, query, variants)?;
    let module = module_of(&found)?;
    let dir = &ctx.home.jax_cache;
    let before = count_files(dir);
    let compiled = crate::jax::compile(ctx.jax.python(), &module, batches, moments, dir)?;
    Ok(Prewarmed {
        name: found.name,
        version: found.version,
        variants: found.variants,
        jax_cache: dir.display().to_string(),
        compiled,
        new_entries: count_files(dir).saturating_sub(before),
    })
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .count()
        })
        .unwrap_or(0)
}
