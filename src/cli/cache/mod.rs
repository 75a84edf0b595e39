//! `ptd cache ...`: see, bound and repair the store and the cache tiers; one file per
//! subcommand.

mod export;
mod gc;
mod import;
mod info;
mod jax;
mod path;
mod prewarm;
mod sync;
pub mod verify;

use super::Cx;
use ptd::Result;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum CacheCommand {
    /// Entries, bytes, hits and misses, oldest and newest use, per tier; the directories.
    Info(info::Args),
    /// Evict least recently used versions (never what a project's ptd.lock pins, unless
    /// --force) and tier-1 files that no installed version owns (phasic's own results), least
    /// recently modified first, and stale temporaries that interrupted writes left. Defaults
    /// from [cache] in $PTD_HOME/config.toml.
    Gc(gc::Args),
    /// Where an installed model's symbolic DAG and bundle are: by NAME[@REQ] or a content or
    /// phasic hash prefix (8+ hex digits); newest version first.
    Path(path::Args),
    /// Write chosen installed models (all if none named) to one signed archive, for machines
    /// without network access.
    Export(export::Args),
    /// Install the models of an export, after checking its signature with a trusted key and
    /// every archive against its record.
    Import(import::Args),
    /// The JAX compilation cache (tier 2): list its entries, or remove those unused for AGE
    /// (all with --all).
    Jax(jax::Args),
    /// Compile an installed model's JAX evaluator into the JAX cache for these batch sizes
    /// (theta of shape (batch, parameters), float64), with the user's Python.
    Prewarm(prewarm::Args),
    /// Copy, verified, every version installed in another ptd home (a shared cache, another
    /// account) that is missing here.
    Sync(sync::Args),
    /// Re-hash every entry and list stale temporaries; with --repair, remove damaged versions
    /// and install them again, and remove the temporaries.
    Verify(verify::Args),
}

pub fn run(c: CacheCommand, cx: &Cx) -> Result<ExitCode> {
    match c {
        CacheCommand::Info(a) => info::run(a, cx),
        CacheCommand::Gc(a) => gc::run(a, cx),
        CacheCommand::Path(a) => path::run(a, cx),
        CacheCommand::Export(a) => export::run(a, cx),
        CacheCommand::Import(a) => import::run(a, cx),
        CacheCommand::Jax(a) => jax::run(a, cx),
        CacheCommand::Prewarm(a) => prewarm::run(a, cx),
        CacheCommand::Sync(a) => sync::run(a, cx),
        CacheCommand::Verify(a) => verify::run(a.repair, a.json, cx),
    }
}
