//! Atomic writes: a temporary file in the target's directory, synced, then renamed over the
//! name, so that a reader sees the old file or the whole new one, never a part.

use std::path::Path;

/// A temporary file in `dir` that will be renamed into place as a shared file: created with mode
/// 0666 less the umask (0644 under umask 022), like any file a program writes, rather than
/// tempfile's private 0600. Secret keys are written otherwise, with mode 0600.
pub fn shared_temp_file(dir: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    let mut b = tempfile::Builder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        b.permissions(std::fs::Permissions::from_mode(0o666));
    }
    b.tempfile_in(dir)
}

/// Writes `bytes` to `path` through a temporary file and a rename (creating the directory); the
/// file gets mode 0666 less the umask.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = shared_temp_file(dir)?;
    std::io::Write::write_all(&mut tmp, bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Writes an output file the user asked for (an archive, a graph file) atomically: a temporary
/// file in the same directory (which must exist), readable by all (0644), synced, then renamed
/// to `path`.
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
