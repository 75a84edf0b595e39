//! Size caps of the small files read whole from a registry or mirror (`config.json`,
//! `snapshot.json`, signatures, index files): anything larger is refused before it is read.

use super::FetchError;
use std::path::Path;

/// The kinds of small files read whole into memory from a registry or mirror, each with its own
/// size cap ([`MetadataLimits`]): anything larger is refused before it is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metadata {
    /// A registry's `config.json`.
    Config,
    /// A registry's `snapshot.json`.
    Snapshot,
    /// A minisign signature (`.minisig`), of a snapshot or an archive.
    Signature,
    /// A model's index file (one line per version), or another JSON document.
    IndexFile,
}

impl Metadata {
    /// The kind of an index path (`config.json`, `snapshot.json`, `*.minisig`, else an index
    /// file).
    pub fn of_index_path(path: &str) -> Metadata {
        match path {
            "config.json" => Metadata::Config,
            "snapshot.json" => Metadata::Snapshot,
            p if p.ends_with(".minisig") => Metadata::Signature,
            _ => Metadata::IndexFile,
        }
    }

    pub const ALL: [Metadata; 4] = [
        Metadata::Config,
        Metadata::Snapshot,
        Metadata::Signature,
        Metadata::IndexFile,
    ];

    pub fn describe(self) -> &'static str {
        match self {
            Metadata::Config => "a registry's config.json",
            Metadata::Snapshot => "a registry's snapshot.json",
            Metadata::Signature => "a signature (.minisig)",
            Metadata::IndexFile => "an index file",
        }
    }

    /// The environment variable that sets this kind's cap.
    pub fn env(self) -> &'static str {
        match self {
            Metadata::Config => "PTD_INDEX_MAX_CONFIG_BYTES",
            Metadata::Snapshot => "PTD_INDEX_MAX_SNAPSHOT_BYTES",
            Metadata::Signature => "PTD_INDEX_MAX_SIGNATURE_BYTES",
            Metadata::IndexFile => "PTD_INDEX_MAX_FILE_BYTES",
        }
    }

    /// The key under `[index]` in `config.toml` that sets this kind's cap.
    pub fn setting(self) -> &'static str {
        match self {
            Metadata::Config => "max-config-size",
            Metadata::Snapshot => "max-snapshot-size",
            Metadata::Signature => "max-signature-size",
            Metadata::IndexFile => "max-file-size",
        }
    }

    /// The default cap: far above what a real registry writes (a `config.json` of a few
    /// hundred bytes per artifact location and key; a snapshot of about 100 bytes per model, so
    /// 16 MiB is some 160,000 models; a signature of about 300 bytes; an index file of about
    /// 700 bytes per version, so 64 MiB is some 90,000 versions of one model), and far below
    /// what would exhaust a machine's memory.
    pub fn default_cap(self) -> u64 {
        match self {
            Metadata::Config => 1 << 20,
            Metadata::Snapshot => 16 << 20,
            Metadata::Signature => 64 << 10,
            Metadata::IndexFile => 64 << 20,
        }
    }
}

/// Size caps of the files read whole from a registry or mirror (see [`Metadata`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetadataLimits {
    caps: [u64; 4],
}

impl Default for MetadataLimits {
    fn default() -> Self {
        MetadataLimits {
            caps: Metadata::ALL.map(Metadata::default_cap),
        }
    }
}

impl MetadataLimits {
    pub fn cap(&self, kind: Metadata) -> u64 {
        self.caps[kind as usize]
    }

    pub fn set(&mut self, kind: Metadata, bytes: u64) {
        self.caps[kind as usize] = bytes;
    }

    /// The error for a body of `kind` from `url` found over its cap; `seen` says how.
    pub fn too_large(&self, kind: Metadata, url: &str, seen: String) -> FetchError {
        FetchError::TooLarge {
            url: url.into(),
            seen,
            cap: self.cap(kind),
            what: kind.describe(),
            env: kind.env(),
            setting: kind.setting(),
        }
    }

    /// Reads a local file of `kind` whole, refusing it unread (by its length) or as soon as
    /// more than the cap has been read. `Ok(None)` if it does not exist.
    pub fn read_file(&self, kind: Metadata, path: &Path) -> Result<Option<Vec<u8>>, FetchError> {
        use std::io::Read;
        let cap = self.cap(kind);
        let what = path.display().to_string();
        let f = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(FetchError::io(path, e)),
        };
        let len = f.metadata().map_err(|e| FetchError::io(path, e))?.len();
        if len > cap {
            return Err(self.too_large(kind, &what, format!("{len} bytes")));
        }
        let mut bytes = Vec::with_capacity(len as usize);
        f.take(cap + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| FetchError::io(path, e))?;
        if bytes.len() as u64 > cap {
            return Err(self.too_large(kind, &what, format!("more than {cap} bytes read")));
        }
        Ok(Some(bytes))
    }
}
