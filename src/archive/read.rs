//! Reading archives in memory: one zstd frame holding a tar of regular files, within
//! [`Limits`]; described archives and their file lists.

use super::{ArchiveError, FileEntry, Files, Limits};
use crate::fs::sha256_hex;
use sha2::{Digest, Sha256};
use std::io::Read;

/// Reads a tar + zstd archive of regular files, asking `check(name, files so far)` about each
/// entry before reading it (an `Err` message stops the read). Only regular files are accepted
/// (no links, devices or directories); no file may exceed the per-file cap, and the whole may
/// not expand beyond the total cap or [`Limits`]'s ratio to its compressed size. Nothing is
/// written anywhere: the caller gets the files in memory.
pub fn read_tar_zst(
    bytes: &[u8],
    name: &str,
    check: impl FnMut(&str, &[(String, Vec<u8>)]) -> Result<(), String>,
) -> Result<Files, ArchiveError> {
    read(bytes, name, check, None)
}

/// [`read_tar_zst`], with the SHA-256 of each file (as lowercase hex, in the order of the
/// files), computed as its bytes come out of the decompressor: no second pass over them.
pub fn read_tar_zst_hashed(
    bytes: &[u8],
    name: &str,
    check: impl FnMut(&str, &[(String, Vec<u8>)]) -> Result<(), String>,
) -> Result<(Files, Vec<String>), ArchiveError> {
    let mut digests = Vec::new();
    let files = read(bytes, name, check, Some(&mut digests))?;
    Ok((files, digests))
}

fn read(
    bytes: &[u8],
    name: &str,
    mut check: impl FnMut(&str, &[(String, Vec<u8>)]) -> Result<(), String>,
    mut digests: Option<&mut Vec<String>>,
) -> Result<Files, ArchiveError> {
    let limits = Limits::from_env();
    let invalid = |message: String| ArchiveError::Invalid {
        file: name.to_string(),
        message,
    };
    one_frame(bytes).map_err(invalid)?;
    let dec = zstd::stream::read::Decoder::with_buffer(bytes)
        .map_err(|e| invalid(format!("not a zstd stream: {e}")))?;
    let budget = limits.expansion(bytes.len() as u64);
    let exceeded = std::rc::Rc::new(std::cell::Cell::new(false));
    let counted = Counted {
        inner: dec,
        read: 0,
        budget,
        exceeded: exceeded.clone(),
    };
    let mut archive = tar::Archive::new(counted);
    let mut files: Files = Vec::new();
    let over = |read: u64| {
        invalid(format!(
            "expands to more than {budget} bytes ({read} read from {} compressed; limits: {} bytes in all, {}x the compressed size): refused as a decompression bomb",
            bytes.len(),
            limits.total_bytes,
            limits.ratio
        ))
    };
    let entries = archive
        .entries()
        .map_err(|e| invalid(format!("not a tar archive: {e}")))?;
    for entry in entries {
        let mut entry = match entry {
            Ok(e) => e,
            Err(_) if exceeded.get() => return Err(over(budget + 1)),
            Err(e) => return Err(invalid(format!("damaged archive: {e}"))),
        };
        let raw = entry.path_bytes().into_owned();
        let path = String::from_utf8(raw).map_err(|_| invalid("entry name is not UTF-8".into()))?;
        check(&path, &files).map_err(invalid)?;
        // Whatever the caller allows, no name may leave the directory it is unpacked into.
        super::packable(&path)
            .map_err(|why| invalid(format!("entry '{path}' is refused: {why}")))?;
        let kind = entry.header().entry_type();
        if kind != tar::EntryType::Regular {
            return Err(invalid(format!(
                "entry '{path}' is not a regular file ({}): links, devices and directories are refused",
                entry_kind(kind)
            )));
        }
        let size = entry
            .header()
            .size()
            .map_err(|e| invalid(format!("entry '{path}': bad size field: {e}")))?;
        if size > limits.file_bytes {
            return Err(invalid(format!(
                "entry '{path}' is {size} bytes, over the limit of {} bytes for one file",
                limits.file_bytes
            )));
        }
        // The claimed size is only trusted as far as the expansion budget allows.
        let mut data = Vec::with_capacity(size.min(budget) as usize);
        let mut hashing = Hashing {
            inner: &mut entry,
            sha: digests.is_some().then(Sha256::new),
        };
        if let Err(e) = hashing.read_to_end(&mut data) {
            if exceeded.get() {
                return Err(over(budget + 1));
            }
            return Err(invalid(format!("cannot read entry '{path}': {e}")));
        }
        if data.len() as u64 != size {
            return Err(invalid(format!(
                "entry '{path}' is cut short ({} of {size} bytes)",
                data.len()
            )));
        }
        if let (Some(digests), Some(sha)) = (digests.as_deref_mut(), hashing.sha) {
            digests.push(hex::encode(sha.finalize()));
        }
        files.push((path, data));
    }
    // After the last entry, only the tar's end (zero blocks) may follow.
    let mut rest = archive.into_inner();
    let mut tail = Vec::new();
    let read = (&mut rest)
        .take(TAIL_BYTES + 1)
        .read_to_end(&mut tail)
        .map_err(|e| invalid(format!("damaged archive after its last entry: {e}")))?;
    if read as u64 > TAIL_BYTES || tail.iter().any(|&b| b != 0) {
        return Err(invalid(format!(
            "holds {} data after the archive's last entry: refused (a bundle is exactly its files)",
            if read as u64 > TAIL_BYTES {
                format!("more than {TAIL_BYTES} bytes of")
            } else {
                "non-zero".to_string()
            }
        )));
    }
    Ok(files)
}

/// Most bytes of zero padding accepted after a tar's last entry (tar's own end-of-archive
/// blocks and record padding).
const TAIL_BYTES: u64 = 10240;

/// Checks that `bytes` are exactly one zstd frame: no skippable frames (which decoders pass over
/// silently, so they could carry anything) and nothing after the frame.
fn one_frame(bytes: &[u8]) -> Result<(), String> {
    const MAGIC: u32 = 0xFD2F_B528;
    let magic = bytes
        .get(..4)
        .map(|m| u32::from_le_bytes([m[0], m[1], m[2], m[3]]));
    match magic {
        Some(MAGIC) => {}
        Some(m) if m & 0xFFFF_FFF0 == 0x184D_2A50 => {
            return Err(
                "starts with a skippable zstd frame: refused (a bundle is one zstd frame)".into(),
            );
        }
        _ => return Err("not a zstd stream".into()),
    }
    match zstd::zstd_safe::find_frame_compressed_size(bytes) {
        Ok(n) if n == bytes.len() => Ok(()),
        Ok(n) => Err(format!(
            "holds {} bytes after its zstd frame ({n} bytes): refused (a bundle is one zstd frame, with no skippable frames or appended data)",
            bytes.len() - n
        )),
        Err(code) => Err(format!(
            "damaged zstd frame: {}",
            zstd::zstd_safe::get_error_name(code)
        )),
    }
}

/// Counts decompressed bytes and fails (setting `exceeded`) once more than `budget` have been
/// read.
struct Counted<R> {
    inner: R,
    read: u64,
    budget: u64,
    exceeded: std::rc::Rc<std::cell::Cell<bool>>,
}

/// A reader that hashes what passes through it (when it has a hasher), while it is still in
/// the cache.
struct Hashing<R> {
    inner: R,
    sha: Option<Sha256>,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(sha) = &mut self.sha {
            sha.update(&buf[..n]);
        }
        Ok(n)
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.budget {
            self.exceeded.set(true);
            return Err(std::io::Error::other("archive expands beyond its budget"));
        }
        Ok(n)
    }
}

fn entry_kind(t: tar::EntryType) -> &'static str {
    match t {
        tar::EntryType::Symlink => "a symbolic link",
        tar::EntryType::Link => "a hard link",
        tar::EntryType::Char => "a character device",
        tar::EntryType::Block => "a block device",
        tar::EntryType::Fifo => "a FIFO",
        tar::EntryType::Directory => "a directory",
        _ => "an unsupported entry type",
    }
}

/// The name of an archive's first entry, reading no further than its header.
pub fn first_entry(bytes: &[u8]) -> Option<String> {
    let dec = zstd::stream::read::Decoder::with_buffer(bytes).ok()?;
    let mut archive = tar::Archive::new(dec);
    let first = archive.entries().ok()?.next()?.ok()?;
    String::from_utf8(first.path_bytes().into_owned()).ok()
}
/// An archive described by its first entry: `meta` (a JSON document listing the other files),
/// then files whose paths satisfy `path_ok`, each once. Returns the description's bytes and the
/// files; [`check_listed`] then compares them with the list.
pub fn described_files(
    bytes: &[u8],
    name: &str,
    meta: &str,
    path_ok: impl Fn(&str) -> bool,
) -> Result<(Vec<u8>, Files), ArchiveError> {
    let mut files = read_tar_zst(bytes, name, |path, files| {
        if files.is_empty() {
            if path != meta {
                return Err(format!(
                    "the first entry must be {meta}, not '{path}': not this kind of archive"
                ));
            }
            return Ok(());
        }
        if path == meta {
            return Err(format!("entry '{path}' appears twice"));
        }
        if !path_ok(path) {
            return Err(format!(
                "entry '{path}' is not a file this archive may hold"
            ));
        }
        if files.iter().any(|(p, _)| p == path) {
            return Err(format!("entry '{path}' appears twice"));
        }
        Ok(())
    })?;
    if files.is_empty() {
        return Err(ArchiveError::Invalid {
            file: name.to_string(),
            message: format!("empty archive: {meta} is missing"),
        });
    }
    let (_, json) = files.remove(0);
    Ok((json, files))
}

/// Checks that `files` are exactly `listed`, in order, each with its size and SHA-256.
pub fn check_listed(files: &Files, listed: &[FileEntry], meta: &str) -> Result<(), String> {
    if files.len() != listed.len() {
        return Err(format!(
            "holds {} files but {meta} lists {}",
            files.len(),
            listed.len()
        ));
    }
    for ((path, data), want) in files.iter().zip(listed) {
        if *path != want.path {
            return Err(format!("entry '{path}' is not the listed '{}'", want.path));
        }
        if data.len() as u64 != want.size || sha256_hex(data) != want.sha256 {
            return Err(format!(
                "entry '{path}' does not match its size and SHA-256 in {meta}"
            ));
        }
    }
    Ok(())
}
