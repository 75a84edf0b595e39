//! Placing a file's bytes at a new name as cheaply as the filesystem allows (reflink, hard
//! link, copy), never replacing what a name already holds.

use super::{IoError, random_u64, sha256_file};
use std::io::{Read, Write};
use std::path::Path;

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
pub enum Placed {
    /// The file was placed.
    New,
    /// The name already held the same bytes.
    Same,
    /// The name already held other bytes; they were left alone.
    Other,
}

/// Puts a copy (reflink, hard link or copy) of `src`, whose SHA-256 is `sha256`, at `target`
/// unless `target` exists, never replacing what is there: the copy is made under a temporary
/// name beside `target`, then linked to `target`, which fails if the name exists (a rename would
/// replace it). A failed copy leaves no temporary behind, and the error names `target`.
pub fn place_new(src: &Path, target: &Path, sha256: &str) -> Result<Placed, IoError> {
    let dir = target.parent().unwrap_or(Path::new("."));
    let existing = |target: &Path| -> Result<Placed, IoError> {
        if same_file(src, target) {
            return Ok(Placed::Same);
        }
        let size = std::fs::metadata(src)
            .map_err(|e| IoError::new(src, e))?
            .len();
        let same = std::fs::metadata(target).is_ok_and(|m| m.len() == size)
            && sha256_file(target).is_ok_and(|h| h == sha256);
        Ok(if same { Placed::Same } else { Placed::Other })
    };
    if target.exists() {
        return existing(target);
    }
    let tmp = dir.join(format!(
        ".link-{}-{:016x}",
        std::process::id(),
        random_u64()
    ));
    if let Err(e) = place_copy(src, &tmp) {
        let _ = std::fs::remove_file(&tmp);
        return Err(IoError::new(target, e));
    }
    let linked = std::fs::hard_link(&tmp, target);
    let result = match linked {
        Ok(()) => Ok(Placed::New),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => existing(target),
        // A filesystem without hard links: rename, having just seen the name free.
        Err(_) if !target.exists() => std::fs::rename(&tmp, target)
            .map(|()| Placed::New)
            .map_err(|e| IoError::new(target, e)),
        Err(_) => existing(target),
    };
    let _ = std::fs::remove_file(&tmp);
    result
}

/// Whether two paths are the same file (one inode).
pub fn same_file(a: &Path, b: &Path) -> bool {
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

/// Copies `src` to `dst` (created or truncated); an error names the file it concerns: `src`
/// when reading fails, `dst` when writing does (a full disk names the file being written). On
/// failure `dst` is removed.
pub fn copy_file(src: &Path, dst: &Path) -> Result<u64, IoError> {
    let mut from = std::fs::File::open(src).map_err(|e| IoError::new(src, e))?;
    let mut to = std::fs::File::create(dst).map_err(|e| IoError::new(dst, e))?;
    let mut buf = vec![0u8; 1 << 16];
    let mut n: u64 = 0;
    let result = loop {
        let got = match from.read(&mut buf) {
            Ok(0) => break to.flush().map_err(|e| IoError::new(dst, e)),
            Ok(k) => k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => break Err(IoError::new(src, e)),
        };
        if let Err(e) = to.write_all(&buf[..got]) {
            break Err(IoError::new(dst, e));
        }
        n += got as u64;
    };
    if result.is_err() {
        drop(to);
        let _ = std::fs::remove_file(dst);
    }
    result.map(|()| n)
}
