//! Packing files into a deterministic tar + zstd archive.

use super::{FileEntry, Files, sha256_hex};

/// zstd level used for every archive; part of the determinism contract.
pub const ZSTD_LEVEL: i32 = 9;

/// Packs (name, bytes) pairs as a deterministic tar + zstd archive: fixed order, mtimes,
/// owners and modes.
pub fn pack_entries<'a>(entries: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    tar.mode(tar::HeaderMode::Deterministic);
    for (path, bytes) in entries {
        let mut h = tar::Header::new_ustar();
        h.set_path(path).expect("short ASCII path");
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        tar.append(&h, bytes).expect("writing to memory");
    }
    let tar = tar.into_inner().expect("writing to memory");
    zstd::bulk::compress(&tar, ZSTD_LEVEL).expect("zstd compression in memory")
}

/// Packs a description (`meta` name and JSON bytes) followed by `files`.
pub fn pack_described(meta: &str, json: &[u8], files: &Files) -> Vec<u8> {
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
