//! Removing files and directories from the store and the cache tiers: a directory is renamed
//! away in one atomic step before it is deleted, so a reader sees it whole or not at all.

use super::{CacheError, io};
use crate::install::Home;
use std::path::Path;

pub(super) fn remove_file(p: &Path) -> Result<(), CacheError> {
    match std::fs::remove_file(p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(p)(e)),
        _ => Ok(()),
    }
}

/// Removes a file, or a directory in one atomic step ([`remove_dir_atomically`]); a path that is
/// already gone is fine.
pub fn remove_path(home: &Home, p: &Path) -> Result<(), CacheError> {
    if p.is_dir() {
        remove_dir_atomically(home, p)
    } else {
        remove_file(p)
    }
}

/// Renames a directory into `tmp/` (one atomic step), then deletes it there.
pub(super) fn remove_dir_atomically(home: &Home, dir: &Path) -> Result<(), CacheError> {
    if !dir.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(home.tmp()).map_err(io(&home.tmp()))?;
    let away = tempfile::Builder::new()
        .prefix("evict-")
        .tempdir_in(home.tmp())
        .map_err(io(&home.tmp()))?
        .keep();
    let target = away.join("bundle");
    std::fs::rename(dir, &target).map_err(io(dir))?;
    std::fs::remove_dir_all(&away).map_err(io(&away))?;
    Ok(())
}
