//! File-system helpers every module may use, and that use nothing else of ptd: atomic writes
//! (a temporary file beside the target, synced, renamed), file locks between processes, cheap
//! placement (reflink, hard link or copy, never replacing a name), SHA-256 of bytes and files,
//! and the one I/O error type that carries the path it concerns.

pub mod atomic;
pub mod lock;
pub mod place;

pub use atomic::{shared_temp_file, write_atomic, write_output};
pub use place::{Placed, copy_file, place_copy, place_new, same_file};

use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// An I/O error and the path it concerns.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct IoError {
    pub path: String,
    #[source]
    pub source: std::io::Error,
}

impl IoError {
    pub fn new(path: impl AsRef<Path>, source: std::io::Error) -> IoError {
        IoError {
            path: path.as_ref().display().to_string(),
            source,
        }
    }

    /// The error's kind (`NotFound`, ...).
    pub fn kind(&self) -> std::io::ErrorKind {
        self.source.kind()
    }
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A writer that only hashes what is written to it.
pub struct Sha256Writer<'a>(pub &'a mut Sha256);

impl Write for Sha256Writer<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Lowercase hex SHA-256 of a file, read in a stream.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut Sha256Writer(&mut h))?;
    Ok(hex::encode(h.finalize()))
}

/// Every file under `dir`, recursively, sorted; empty if `dir` does not exist.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A number that differs between calls and processes: for temporary names, and the seed of
/// randomised checks.
pub fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    h.finish()
}
