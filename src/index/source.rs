//! Where index files are read from: the copy compiled into ptd, a directory (or `file://`), or
//! HTTP(S), fetched sparsely (only the files asked for) with conditional requests and cached.

use crate::fetch::{Conditional, FetchError, Http};
use include_dir::{Dir, include_dir};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The default registry's index, compiled into the binary.
pub static EMBEDDED_INDEX: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/registry-index");
/// The model recipes of the default registry, compiled into the binary.
pub static EMBEDDED_MODELS: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/models");

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{0}")]
    Fetch(#[from] FetchError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{url}: not in the local index cache and --offline forbids fetching it")]
    Offline { url: String },
    #[error("'{0}' is not a valid index path")]
    BadPath(String),
}

/// An index location.
#[derive(Clone)]
pub enum IndexSource {
    Embedded,
    Dir(PathBuf),
    Http {
        base: String,
        cache: PathBuf,
        http: Http,
        offline: bool,
    },
}

#[derive(Serialize, Deserialize, Default)]
struct CacheMeta {
    etag: Option<String>,
    last_modified: Option<String>,
}

fn check_path(path: &str) -> Result<(), SourceError> {
    let ok = !path.is_empty()
        && !path.starts_with('/')
        && path.split('/').all(|p| {
            !p.is_empty()
                && p != "."
                && p != ".."
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        });
    if ok {
        Ok(())
    } else {
        Err(SourceError::BadPath(path.into()))
    }
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

/// Writes `bytes` to `path` through a temporary file and a rename; the file gets mode 0666 less
/// the umask.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = shared_temp_file(dir)?;
    std::io::Write::write_all(&mut tmp, bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

impl IndexSource {
    /// `file://PATH` or a path is a directory; `http://` and `https://` are fetched.
    pub fn from_spec(spec: &str, cache_root: &Path, http: &Http, offline: bool) -> IndexSource {
        if let Some(p) = spec.strip_prefix("file://") {
            return IndexSource::Dir(PathBuf::from(p));
        }
        if spec.starts_with("http://") || spec.starts_with("https://") {
            let base = spec.trim_end_matches('/').to_string();
            let cache = cache_root.join(&crate::index::sha256_hex(base.as_bytes())[..16]);
            return IndexSource::Http {
                base,
                cache,
                http: http.clone(),
                offline,
            };
        }
        IndexSource::Dir(PathBuf::from(spec))
    }

    pub fn describe(&self) -> String {
        match self {
            IndexSource::Embedded => "the index built into ptd".into(),
            IndexSource::Dir(p) => p.display().to_string(),
            IndexSource::Http { base, .. } => base.clone(),
        }
    }

    pub fn is_embedded(&self) -> bool {
        matches!(self, IndexSource::Embedded)
    }

    /// The directory an index lives in, when it is local.
    pub fn local_dir(&self) -> Option<&Path> {
        match self {
            IndexSource::Dir(p) => Some(p),
            _ => None,
        }
    }

    /// Reads one index file; `None` if it does not exist.
    pub async fn read(&self, path: &str) -> Result<Option<Vec<u8>>, SourceError> {
        check_path(path)?;
        match self {
            IndexSource::Embedded => {
                Ok(EMBEDDED_INDEX.get_file(path).map(|f| f.contents().to_vec()))
            }
            IndexSource::Dir(dir) => {
                let p = dir.join(path);
                match std::fs::read(&p) {
                    Ok(b) => Ok(Some(b)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(source) => Err(SourceError::Io {
                        path: p.display().to_string(),
                        source,
                    }),
                }
            }
            IndexSource::Http {
                base,
                cache,
                http,
                offline,
            } => {
                let url = format!("{base}/{path}");
                let body = cache.join(path);
                let meta_path = cache.join(format!("{path}.cache-meta"));
                let cached = std::fs::read(&body).ok();
                let meta: CacheMeta = std::fs::read(&meta_path)
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok())
                    .unwrap_or_default();
                if *offline {
                    return match cached {
                        Some(b) => Ok(Some(b)),
                        None => Err(SourceError::Offline { url }),
                    };
                }
                let (etag, lm) = if cached.is_some() {
                    (meta.etag.as_deref(), meta.last_modified.as_deref())
                } else {
                    (None, None)
                };
                match http.get_conditional(&url, etag, lm).await? {
                    Conditional::NotModified => Ok(cached),
                    Conditional::NotFound => Ok(None),
                    Conditional::Body {
                        bytes,
                        etag,
                        last_modified,
                    } => {
                        let io = |source| SourceError::Io {
                            path: body.display().to_string(),
                            source,
                        };
                        write_atomic(&body, &bytes).map_err(io)?;
                        let m = serde_json::to_vec(&CacheMeta {
                            etag,
                            last_modified,
                        })
                        .expect("meta");
                        write_atomic(&meta_path, &m).map_err(io)?;
                        Ok(Some(bytes))
                    }
                }
            }
        }
    }
}
