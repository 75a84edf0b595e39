//! Deterministic `tar` + `zstd` archives of regular files, and their safe reading: the layer
//! under bundles (`bundle`), JAX platform archives (`jax::archive`), phasic
//! archives (`phasic`) and cache exports.
//!
//! Packing writes regular files only, in the given order, with mode 0644, owner 0:0 and mtime 0,
//! names longer than a tar header holds as GNU long-name entries, at one zstd level: the same
//! files give the same bytes. Reading ([`read_tar_zst`]) happens in memory and refuses links,
//! devices, directories, absolute and `..` paths, skippable or appended zstd frames, trailing
//! data and archives that expand past [`Limits`]. A *described* archive ([`described_files`])
//! starts with a JSON entry listing the other files ([`FileEntry`]), checked by
//! [`check_listed`].
//!
//! This module depends on nothing else in ptd; its errors are [`ArchiveError`].

mod limits;
mod pack;
mod read;

pub use limits::{Limits, MAX_FILE_BYTES, MAX_RATIO, RATIO_FLOOR};
pub use pack::{ZSTD_LEVEL, list_files, pack_described, pack_entries, packable};
pub use read::{check_listed, described_files, first_entry, read_tar_zst, read_tar_zst_hashed};

use serde::{Deserialize, Serialize};

/// An archive's files: (name, bytes), in archive order.
pub type Files = Vec<(String, Vec<u8>)>;

/// One file listed in an archive's description (a bundle's manifest, `jax.json`,
/// `phasic.json`): its path, size and SHA-256.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// An archive that cannot be read, or files that cannot be packed.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// `file` is the archive (when reading) or the entry (when packing).
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
}

/// A plain file name: letters, digits, `-_.+`, not hidden.
pub fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.+".contains(c))
}
