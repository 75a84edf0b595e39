//! Where index files are read from: the copy compiled into ptd, a directory (or `file://`), or
//! HTTP(S), fetched sparsely (only the files asked for) with conditional requests and cached.
//! Directories and HTTP(S) are read through their [`crate::transport::Transport`].

use crate::fetch::{FetchError, Http, Metadata, MetadataLimits};
use crate::fs::write_atomic;
use crate::transport::{self, Got, Location, Miss, Since, Transport};
use include_dir::{Dir, include_dir};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The default registry's index, compiled into the binary.
pub static EMBEDDED_INDEX: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/registry-index");
/// The model recipes of the default registry, compiled into the binary.
pub static EMBEDDED_MODELS: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/models");

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{0}")]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Io(#[from] crate::fs::IoError),
    #[error("{url}: not in the local index cache and --offline forbids fetching it")]
    Offline { url: String },
    #[error("'{0}' is not a valid index path")]
    BadPath(String),
}

/// An index location.
#[derive(Clone)]
pub enum IndexSource {
    Embedded,
    Dir {
        path: PathBuf,
        /// Reads capped by the files' kinds.
        dir: transport::dir::Dir,
    },
    /// Fetched over HTTP (size caps from `http`'s options). A fetched body goes into the index
    /// cache only once the registry has verified it ([`IndexSource::keep`]).
    Http {
        base: String,
        cache: PathBuf,
        http: Box<transport::http::HttpTransport>,
        offline: bool,
        /// Bodies fetched but not yet verified: their `ETag` and `Last-Modified`, by path.
        pending: Arc<Mutex<HashMap<String, CacheMeta>>>,
    },
}

#[derive(Clone, Serialize, Deserialize, Default)]
pub struct CacheMeta {
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

/// A whole file read from a directory, `None` if it is not there.
fn body(got: Result<Got, Miss>) -> Result<Option<Vec<u8>>, SourceError> {
    match got {
        Ok(Got::Body { bytes, .. }) => Ok(Some(bytes)),
        Ok(Got::NotModified) | Err(Miss::NotThere(_)) => Ok(None),
        Err(m) => Err(SourceError::Fetch(m.into_error().expect("an error"))),
    }
}

impl IndexSource {
    /// `file://PATH` or a path is a directory; `http://` and `https://` are fetched.
    pub fn from_spec(spec: &str, cache_root: &Path, http: &Http, offline: bool) -> IndexSource {
        let dir = |path: &str| IndexSource::Dir {
            path: PathBuf::from(path),
            dir: transport::dir::Dir::new(http.options().limits),
        };
        match Location::from_spec(spec, None, None) {
            Location::Http { url: base } => {
                let cache = cache_root.join(&crate::fs::sha256_hex(base.as_bytes())[..16]);
                IndexSource::Http {
                    base,
                    cache,
                    http: Box::new(transport::http::HttpTransport::new(http.clone())),
                    offline,
                    pending: Arc::default(),
                }
            }
            Location::Dir { path } => dir(&path),
            // Not a kind of index: taken as a directory name, which holds no index.
            _ => dir(spec),
        }
    }

    /// A directory, with the default size caps.
    pub fn dir(path: impl Into<PathBuf>) -> IndexSource {
        IndexSource::Dir {
            path: path.into(),
            dir: transport::dir::Dir::new(MetadataLimits::default()),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            IndexSource::Embedded => "the index built into ptd".into(),
            IndexSource::Dir { path, .. } => path.display().to_string(),
            IndexSource::Http { base, .. } => base.clone(),
        }
    }

    pub fn is_embedded(&self) -> bool {
        matches!(self, IndexSource::Embedded)
    }

    /// The directory an index lives in, when it is local.
    pub fn local_dir(&self) -> Option<&Path> {
        match self {
            IndexSource::Dir { path, .. } => Some(path),
            _ => None,
        }
    }

    /// Reads one index file; `None` if it does not exist. A file over its kind's size cap
    /// ([`Metadata::of_index_path`]) is refused before it is read whole. Over HTTP, a new body
    /// is remembered but not cached until [`IndexSource::keep`] says it was verified.
    pub async fn read(&self, path: &str) -> Result<Option<Vec<u8>>, SourceError> {
        check_path(path)?;
        let kind = Metadata::of_index_path(path);
        match self {
            IndexSource::Embedded => {
                Ok(EMBEDDED_INDEX.get_file(path).map(|f| f.contents().to_vec()))
            }
            IndexSource::Dir { path: base, dir } => {
                let file = base.join(path);
                body(
                    dir.get(&file.to_string_lossy(), kind, Since::default())
                        .await,
                )
            }
            IndexSource::Http {
                base,
                cache,
                http,
                offline,
                pending,
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
                let since = Since {
                    etag,
                    last_modified: lm,
                };
                match http.get(&url, kind, since).await {
                    Ok(Got::NotModified) => Ok(cached),
                    Err(Miss::NotThere(_)) => Ok(None),
                    Err(m) => Err(m.into_error().expect("an error").into()),
                    Ok(Got::Body {
                        bytes,
                        etag,
                        last_modified,
                    }) => {
                        pending.lock().expect("pending").insert(
                            path.to_string(),
                            CacheMeta {
                                etag,
                                last_modified,
                            },
                        );
                        Ok(Some(bytes))
                    }
                }
            }
        }
    }

    /// Puts a body read by [`IndexSource::read`] into the index cache, now that it has been
    /// verified (`bytes` are the verified bytes). Nothing happens for a body that came from the
    /// cache, or for a local index.
    pub fn keep(&self, path: &str, bytes: &[u8]) -> Result<(), SourceError> {
        let IndexSource::Http { cache, pending, .. } = self else {
            return Ok(());
        };
        let Some(meta) = pending.lock().expect("pending").remove(path) else {
            return Ok(());
        };
        let body = cache.join(path);
        let meta_path = cache.join(format!("{path}.cache-meta"));
        let io = |p: &Path| {
            let p = p.display().to_string();
            move |source| SourceError::Io(crate::fs::IoError { path: p, source })
        };
        // The body first: a meta file never describes a body that is not there. A crash
        // between the two leaves a body without a meta file, fetched again unconditionally.
        let _ = std::fs::remove_file(&meta_path);
        write_atomic(&body, bytes).map_err(io(&body))?;
        let m = serde_json::to_vec(&meta).expect("meta");
        write_atomic(&meta_path, &m).map_err(io(&meta_path))?;
        Ok(())
    }

    /// Drops a body read from `path` but not verified (it never reached the cache).
    pub fn discard(&self, path: &str) {
        if let IndexSource::Http { pending, .. } = self {
            pending.lock().expect("pending").remove(path);
        }
    }

    /// Called when the file last read from `path` failed verification: a new body is dropped
    /// (it never reached the cache); a cached copy that failed is removed from the cache, so
    /// that nothing rejected is reused.
    pub fn forget(&self, path: &str) {
        if let IndexSource::Http { cache, pending, .. } = self {
            let fresh = pending.lock().expect("pending").remove(path).is_some();
            if !fresh && check_path(path).is_ok() {
                let _ = std::fs::remove_file(cache.join(format!("{path}.cache-meta")));
                let _ = std::fs::remove_file(cache.join(path));
            }
        }
    }
}
