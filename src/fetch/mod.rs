//! The clients that fetch index files and archives: HTTP (`http`: conditional GETs, streaming
//! checked downloads, retries, resumption, host-bound tokens), S3 (`s3`) and GitHub's API for
//! private release assets (`github`); the size caps of files read whole (`limits`); and why a
//! fetch failed.

pub mod github;
mod http;
mod limits;
pub mod s3;

pub use http::{Conditional, Http, HttpOptions};
pub use limits::{Metadata, MetadataLimits};

use std::path::Path;

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url}: {message}")]
    Http { url: String, message: String },
    #[error("{url}: HTTP {status}")]
    Status { url: String, status: u16 },
    #[error(
        "{url}: the download has SHA-256 {got}, the index says {want}: the file was altered or damaged; nothing was installed"
    )]
    Checksum {
        url: String,
        got: String,
        want: String,
    },
    #[error(
        "{url}: {got} bytes received, {want} expected: the download was cut short or padded; nothing was installed"
    )]
    Size { url: String, got: u64, want: u64 },
    #[error(transparent)]
    Io(#[from] crate::fs::IoError),
    #[error(
        "{url}: {seen}, over the {cap}-byte limit for {what}: refused without reading the rest; if it really is this large, raise {env} (bytes, or e.g. 4MiB) or `{setting}` under [index] in $PTD_HOME/config.toml"
    )]
    TooLarge {
        url: String,
        /// What was seen: the declared length, or how much arrived.
        seen: String,
        cap: u64,
        what: &'static str,
        env: &'static str,
        setting: &'static str,
    },
}

impl FetchError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        FetchError::Io(crate::fs::IoError {
            path: path.display().to_string(),
            source,
        })
    }

    /// Whether another mirror may do better (the request failed, not the content).
    pub fn is_transport(&self) -> bool {
        matches!(self, FetchError::Http { .. } | FetchError::Status { .. })
    }
}

/// A bearer token bound to hosts.
#[derive(Clone, Debug)]
pub struct Token {
    pub value: String,
    pub hosts: Vec<String>,
}

/// The authority a token is bound to: `host:port` of a URL (the port made explicit).
pub fn host_of(url: &str) -> Option<String> {
    let u = reqwest::Url::parse(url).ok()?;
    let host = u.host_str()?;
    Some(match u.port_or_known_default() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    })
}

/// Checks a finished file's size and SHA-256; removes it if it is wrong.
pub fn verify_file(
    path: &Path,
    url: &str,
    want_sha256: &str,
    want_size: u64,
) -> Result<(), FetchError> {
    let n = std::fs::metadata(path)
        .map_err(|e| FetchError::io(path, e))?
        .len();
    if n != want_size {
        let _ = std::fs::remove_file(path);
        return Err(FetchError::Size {
            url: url.into(),
            got: n,
            want: want_size,
        });
    }
    let got = crate::fs::sha256_file(path).map_err(|e| FetchError::io(path, e))?;
    if got != want_sha256 {
        let _ = std::fs::remove_file(path);
        return Err(FetchError::Checksum {
            url: url.into(),
            got,
            want: want_sha256.into(),
        });
    }
    Ok(())
}
