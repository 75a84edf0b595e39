//! Packing files into a deterministic tar + zstd archive.

use super::{ArchiveError, FileEntry, Files};
use crate::fs::sha256_hex;

/// zstd level used for every archive; part of the determinism contract.
pub const ZSTD_LEVEL: i32 = 9;

/// Packs (name, bytes) pairs as a deterministic tar + zstd archive: fixed order, mtimes,
/// owners and modes. A name longer than a ustar header holds is written as a GNU long-name
/// entry (with the same fixed fields) before its header. A name that is not a relative path of
/// plain parts ([`packable`]) is refused, naming it.
pub fn pack_entries<'a>(
    entries: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Result<Vec<u8>, ArchiveError> {
    let mut tar = tar::Builder::new(Vec::new());
    tar.mode(tar::HeaderMode::Deterministic);
    for (path, bytes) in entries {
        let refused = |message: String| ArchiveError::Invalid {
            file: path.to_string(),
            message,
        };
        packable(path).map_err(refused)?;
        let mut h = tar::Header::new_ustar();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, path, bytes)
            .map_err(|e| refused(format!("cannot be packed: {e}")))?;
    }
    let in_memory = |e: std::io::Error| ArchiveError::Invalid {
        file: "archive in memory".into(),
        message: e.to_string(),
    };
    let tar = tar.into_inner().map_err(in_memory)?;
    zstd::bulk::compress(&tar, ZSTD_LEVEL).map_err(in_memory)
}

/// Whether `name` may be an entry: a relative path whose parts are neither empty, `.` nor
/// `..`, without NUL bytes. The message says why not.
pub fn packable(name: &str) -> Result<(), String> {
    if name.contains('\0') {
        return Err("an entry name may not hold a NUL byte".into());
    }
    if name.starts_with('/') {
        return Err("an entry name must be a relative path, not an absolute one".into());
    }
    if name
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err(
            "an entry name's parts may not be empty, `.` or `..` (no climbing out of the archive)"
                .into(),
        );
    }
    Ok(())
}

/// Packs a description (`meta` name and JSON bytes) followed by `files`.
pub fn pack_described(meta: &str, json: &[u8], files: &Files) -> Result<Vec<u8>, ArchiveError> {
    pack_entries(
        std::iter::once((meta, json)).chain(files.iter().map(|(n, b)| (n.as_str(), b.as_slice()))),
    )
}

/// The list of `files` as manifest entries.
pub fn list_files(files: &Files) -> Vec<FileEntry> {
    files
        .iter()
        .map(|(p, b)| FileEntry {
            path: p.clone(),
            size: b.len() as u64,
            sha256: sha256_hex(b),
        })
        .collect()
}
