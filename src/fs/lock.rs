//! File locks between ptd processes: one process at a time downloads an archive, updates a
//! registry's snapshot counter, or evicts a version; the others wait.

use std::path::Path;

/// Whether ptd takes file locks. `PTD_NO_FILE_LOCKS=1` turns them off, for filesystems where
/// they fail silently or hang (some NFS and Lustre set-ups): every cache write is still a
/// rename of a complete, verified file or directory, so concurrent processes may do the same
/// work twice but never leave a partial entry.
pub fn enabled() -> bool {
    std::env::var_os("PTD_NO_FILE_LOCKS").is_none_or(|v| v.is_empty() || v == "0")
}

/// Opens `path` (creating it) and takes an exclusive lock on it, released when the file is
/// dropped; unless locks are off.
pub fn exclusive(path: &Path) -> std::io::Result<std::fs::File> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    if enabled() {
        f.lock()?;
    }
    Ok(f)
}

/// Like [`exclusive`], without waiting: `Ok(None)` when another process holds the lock.
pub fn try_exclusive(path: &Path) -> std::io::Result<Option<std::fs::File>> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    if enabled() {
        match f.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
    }
    Ok(Some(f))
}
