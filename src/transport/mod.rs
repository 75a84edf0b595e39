//! How artifacts are reached: one [`Transport`] per kind of [`Location`], a file per backend
//! (`dir`, `http`, `s3`, `github`), each wrapping the clients of [`crate::fetch`]. A transport
//! reads small files whole (capped by their kind, conditionally where it can) and downloads
//! archives into a partial file, checking size and SHA-256 (resuming where it can). Whatever
//! goes wrong is one of three things ([`Miss`]): nothing is there, the transport failed (both
//! mean "try the next location"), or what arrived is wrong (which stops).

pub mod dir;
pub mod github;
pub mod http;
pub mod location;
pub mod s3;

use crate::fetch::{FetchError, Http, Metadata};
use std::future::Future;
use std::path::Path;

pub use location::{Location, LocationError, RawLocation, expand_url, release_tag};

/// Why a location did not give what was asked for.
#[derive(Debug)]
pub enum Miss {
    /// Nothing is there (HTTP 404, no such file or object): the next location is tried.
    NotThere(String),
    /// The transport failed (a refused connection, an unknown host, an HTTP error after the
    /// retries): the next location is tried.
    Failed(FetchError),
    /// What arrived is not what was asked for (size, SHA-256, over a size cap), or a local
    /// failure (writing the partial file): nothing else is tried.
    Bad(FetchError),
}

impl Miss {
    /// Sorts a fetch error: HTTP 404 is "not there", other transport errors "failed", the rest
    /// "bad".
    pub fn of(e: FetchError) -> Miss {
        match e {
            FetchError::Status { status: 404, .. } => Miss::NotThere(e.to_string()),
            e if e.is_transport() => Miss::Failed(e),
            e => Miss::Bad(e),
        }
    }

    /// What to say about a location that was tried and passed over; `None` if the failure must
    /// stop the install.
    pub fn passed_over(&self) -> Option<String> {
        match self {
            Miss::NotThere(m) => Some(m.clone()),
            Miss::Failed(e) => Some(e.to_string()),
            Miss::Bad(_) => None,
        }
    }

    /// The error, if there was one (`None` for "not there").
    pub fn into_error(self) -> Option<FetchError> {
        match self {
            Miss::NotThere(_) => None,
            Miss::Failed(e) | Miss::Bad(e) => Some(e),
        }
    }
}

impl std::fmt::Display for Miss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Miss::NotThere(m) => f.write_str(m),
            Miss::Failed(e) | Miss::Bad(e) => e.fmt(f),
        }
    }
}

/// The validators of a cached copy, for a conditional read.
#[derive(Clone, Copy, Debug, Default)]
pub struct Since<'a> {
    pub etag: Option<&'a str>,
    pub last_modified: Option<&'a str>,
}

/// A small file read whole.
#[derive(Debug)]
pub enum Got {
    /// The cached copy is current (a conditional read).
    NotModified,
    Body {
        bytes: Vec<u8>,
        etag: Option<String>,
        last_modified: Option<String>,
    },
}

impl Got {
    fn body(bytes: Vec<u8>) -> Got {
        Got::Body {
            bytes,
            etag: None,
            last_modified: None,
        }
    }
}

/// The archive a download must give.
#[derive(Clone, Copy, Debug)]
pub struct Want<'a> {
    pub sha256: &'a str,
    pub size: u64,
    /// What is downloaded, for the progress bar.
    pub label: &'a str,
}

/// An archive downloaded and checked (size, SHA-256) into its partial file, and its signature.
#[derive(Debug)]
pub struct Signed {
    /// Where the archive came from.
    pub url: String,
    /// Where its signature was looked for.
    pub sig_url: String,
    /// The signature's bytes, or why there are none (the caller decides what that means).
    pub sig: Result<Vec<u8>, Miss>,
}

/// One way of reaching a location. Addresses are in the location's own terms
/// ([`Location::address`]): a path, a URL or an object key.
pub trait Transport: Sync {
    /// The URL of `address`, as messages and origins name it.
    fn url(&self, address: &str) -> String;

    /// Reads a small file of `kind` whole, refused over the kind's cap; conditional on `since`
    /// where the transport supports it.
    fn get(
        &self,
        address: &str,
        kind: Metadata,
        since: Since<'_>,
    ) -> impl Future<Output = Result<Got, Miss>> + Send;

    /// Downloads `address` into `part`, checking size and SHA-256; on success `part` holds
    /// exactly the wanted bytes.
    fn download(
        &self,
        address: &str,
        part: &Path,
        want: Want<'_>,
    ) -> impl Future<Output = Result<(), Miss>> + Send;

    /// Downloads an archive (as [`Transport::download`]) and reads its signature beside it
    /// (`<address>.minisig`).
    fn download_signed(
        &self,
        address: &str,
        part: &Path,
        want: Want<'_>,
    ) -> impl Future<Output = Result<Signed, Miss>> + Send {
        async move {
            self.download(address, part, want).await?;
            let sig_address = format!("{address}.minisig");
            let sig = match self
                .get(&sig_address, Metadata::Signature, Since::default())
                .await
            {
                Ok(Got::Body { bytes, .. }) => Ok(bytes),
                Ok(Got::NotModified) => Err(Miss::NotThere(self.url(&sig_address))),
                Err(m) => Err(m),
            };
            Ok(Signed {
                url: self.url(address),
                sig_url: self.url(&sig_address),
                sig,
            })
        }
    }
}

/// The transport of any location.
pub enum Any {
    Dir(dir::Dir),
    Http(http::HttpTransport),
    S3(s3::S3),
    GitHub(github::GitHub),
}

impl Any {
    /// The transport for `loc`, with `http` for HTTP(S) (and its size caps for every kind). An
    /// S3 client that cannot be made is a failed transport.
    pub fn open(loc: &Location, http: &Http) -> Result<Any, Miss> {
        Ok(match loc {
            Location::Dir { .. } => Any::Dir(dir::Dir::new(http.options().limits)),
            Location::Http { .. } => Any::Http(http::HttpTransport::new(http.clone())),
            Location::S3 {
                bucket,
                endpoint,
                region,
                ..
            } => Any::S3(s3::S3::new(
                crate::fetch::s3::Bucket::new(bucket, endpoint.as_deref(), region.as_deref())
                    .map_err(Miss::of)?,
                http.options().limits,
            )),
            Location::GitHub { url, .. } => Any::GitHub(github::GitHub::new(http.clone(), url)),
        })
    }
}

/// Calls the same method on whichever transport `$any` holds.
macro_rules! each {
    ($any:expr, $t:ident => $body:expr) => {
        match $any {
            Any::Dir($t) => $body,
            Any::Http($t) => $body,
            Any::S3($t) => $body,
            Any::GitHub($t) => $body,
        }
    };
}

impl Transport for Any {
    fn url(&self, address: &str) -> String {
        each!(self, t => t.url(address))
    }

    async fn get(&self, address: &str, kind: Metadata, since: Since<'_>) -> Result<Got, Miss> {
        each!(self, t => t.get(address, kind, since).await)
    }

    async fn download(&self, address: &str, part: &Path, want: Want<'_>) -> Result<(), Miss> {
        each!(self, t => t.download(address, part, want).await)
    }

    async fn download_signed(
        &self,
        address: &str,
        part: &Path,
        want: Want<'_>,
    ) -> Result<Signed, Miss> {
        each!(self, t => t.download_signed(address, part, want).await)
    }
}
