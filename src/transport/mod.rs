//! How artifacts are reached and written: one [`Transport`] per kind of [`Location`], a file
//! per backend (`dir`, `http`, `s3`, `github` with its API half in `releases`), each wrapping
//! the clients of [`crate::fetch`]. A transport reads small files whole (capped by their kind,
//! conditionally where it can), downloads archives into a partial file, checking size and
//! SHA-256 (resuming where it can), and writes a file only where none is
//! ([`Transport::put_new`]): a directory atomically (a temporary file renamed without
//! replacing), S3 conditionally (`If-None-Match`, in parts from a size), GitHub as a release
//! asset; an HTTP(S) location is read-only. Whatever goes wrong in a read is one of three
//! things ([`Miss`]): nothing is there, the transport failed (both mean "try the next
//! location"), or what arrived is wrong (which stops); a write fails with a [`PutError`].

pub mod dir;
pub mod github;
pub mod http;
pub mod location;
pub mod releases;
pub mod s3;

use crate::fetch::{FetchError, Http, Metadata};
use std::future::Future;
use std::path::Path;

pub use location::{Location, LocationError, RawLocation, Release, expand_url, release_tag};

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

/// What writing one file did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Put {
    Created,
    /// An equivalent file (the same bytes, or what the caller accepts as such) was already there.
    Unchanged,
}

/// Why a file was not written.
#[derive(Debug, thiserror::Error)]
pub enum PutError {
    #[error(transparent)]
    Io(#[from] crate::fs::IoError),
    /// A file is there with other bytes (it is named as [`Transport::describe`] names it).
    #[error(
        "{0} already exists with other bytes; a published file never changes: publish a new version"
    )]
    Differs(String),
    /// The location cannot be written, or its service refused.
    #[error("{0}")]
    Refused(String),
}

/// A file that may be accepted in place of the one being written (for a signature, a valid one
/// of the same file by the same key: signatures are randomised).
pub type Same<'a> = &'a (dyn Fn(&[u8]) -> bool + Sync);

/// One way of reaching a location. Addresses are in the location's own terms
/// ([`Location::address`]): a path, a URL or an object key.
pub trait Transport: Sync {
    /// The URL of `address`, as messages and origins name it.
    fn url(&self, address: &str) -> String;

    /// Where `address` is, as messages about writing it name it.
    fn describe(&self, address: &str) -> String {
        self.url(address)
    }

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

    /// Writes `bytes` at `address` unless a file is there: a file that is there is accepted
    /// ([`Put::Unchanged`]) only if `same` says it is equivalent, else refused
    /// ([`PutError::Differs`]). Two writers cannot overwrite each other.
    fn put_new(
        &self,
        address: &str,
        bytes: &[u8],
        same: Same<'_>,
    ) -> impl Future<Output = Result<Put, PutError>> + Send;
}

/// The transport of any location.
pub enum Any {
    Dir(dir::Dir),
    Http(http::HttpTransport),
    S3(s3::S3),
    GitHub(Box<github::GitHub>),
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
            Location::GitHub { url, .. } => {
                Any::GitHub(Box::new(github::GitHub::new(http.clone(), url)))
            }
        })
    }

    /// The transport for writing into `loc` (with the default size caps for reading): an S3
    /// client, and for GitHub releases an API client with `GITHUB_TOKEN`, are made now, so that
    /// what cannot be written is refused before anything is.
    pub fn open_writable(loc: &Location) -> Result<Any, PutError> {
        let refused = |e: FetchError| PutError::Refused(e.to_string());
        let limits = crate::fetch::MetadataLimits::default();
        Ok(match loc {
            Location::Dir { .. } => Any::Dir(dir::Dir::new(limits)),
            Location::Http { .. } => {
                let http = Http::new(crate::fetch::HttpOptions::from_env()).map_err(refused)?;
                Any::Http(http::HttpTransport::new(http))
            }
            Location::S3 {
                bucket,
                endpoint,
                region,
                ..
            } => Any::S3(s3::S3::new(
                crate::fetch::s3::Bucket::new(bucket, endpoint.as_deref(), region.as_deref())
                    .map_err(refused)?,
                limits,
            )),
            Location::GitHub { url, .. } => {
                let http = Http::new(crate::fetch::HttpOptions::from_env()).map_err(refused)?;
                let g = github::GitHub::new(http, url);
                g.releases()?;
                Any::GitHub(Box::new(g))
            }
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

    fn describe(&self, address: &str) -> String {
        each!(self, t => t.describe(address))
    }

    async fn put_new(&self, address: &str, bytes: &[u8], same: Same<'_>) -> Result<Put, PutError> {
        each!(self, t => t.put_new(address, bytes, same).await)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::MetadataLimits;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn fetch_errors_are_sorted_into_not_there_failed_and_bad() {
        let status = |status| FetchError::Status {
            url: "https://h/a".into(),
            status,
        };
        let m = Miss::of(status(404));
        assert!(matches!(&m, Miss::NotThere(s) if s == "https://h/a: HTTP 404"));
        assert!(m.into_error().is_none());
        for e in [
            status(403),
            status(503),
            FetchError::Http {
                url: "u".into(),
                message: "refused".into(),
            },
        ] {
            let m = Miss::of(e);
            assert!(matches!(m, Miss::Failed(_)));
            assert!(m.passed_over().is_some());
        }
        let m = Miss::of(FetchError::Checksum {
            url: "u".into(),
            got: "a".into(),
            want: "b".into(),
        });
        assert!(matches!(m, Miss::Bad(_)));
        assert!(
            m.passed_over().is_none(),
            "bad content is never passed over"
        );
    }

    #[test]
    fn a_directory_tells_a_missing_file_from_a_wrong_one() {
        let rt = runtime();
        let d = tempfile::tempdir().unwrap();
        let t = dir::Dir::new(MetadataLimits::default());
        let part = d.path().join("part");
        let zeros = "0".repeat(64);
        let want = |sha256| Want {
            sha256,
            size: 3,
            label: "a",
        };
        let missing = d.path().join("missing").display().to_string();
        match rt.block_on(t.download(&missing, &part, want(&zeros))) {
            Err(Miss::NotThere(m)) => assert_eq!(m, format!("{missing}: not found")),
            other => panic!("{other:?}"),
        }
        let file = d.path().join("a.ptd.tar.zst");
        std::fs::write(&file, b"abc").unwrap();
        let address = file.display().to_string();
        match rt.block_on(t.download(&address, &part, want(&zeros))) {
            Err(Miss::Bad(FetchError::Checksum { .. })) => {}
            other => panic!("{other:?}"),
        }
        assert!(!part.exists(), "a wrong copy is not kept");
        let sha = crate::fs::sha256_hex(b"abc");
        let signed = rt
            .block_on(t.download_signed(&address, &part, want(&sha)))
            .unwrap();
        assert_eq!(std::fs::read(&part).unwrap(), b"abc");
        assert_eq!(signed.url, format!("file://{address}"));
        assert_eq!(signed.sig_url, format!("file://{address}.minisig"));
        assert!(matches!(signed.sig, Err(Miss::NotThere(_))));
        std::fs::write(format!("{address}.minisig"), b"sig").unwrap();
        let signed = rt
            .block_on(t.download_signed(&address, &part, want(&sha)))
            .unwrap();
        assert_eq!(signed.sig.unwrap(), b"sig");
        let mut small = MetadataLimits::default();
        small.set(Metadata::Signature, 2);
        let capped = dir::Dir::new(small);
        match rt.block_on(capped.download_signed(&address, &part, want(&sha))) {
            Ok(Signed {
                sig: Err(Miss::Bad(FetchError::TooLarge { .. })),
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_directory_writes_a_file_once_and_refuses_other_bytes() {
        let rt = runtime();
        let d = tempfile::tempdir().unwrap();
        let t = dir::Dir::new(MetadataLimits::default());
        let file = d.path().join("new/sub/a.ptd.tar.zst");
        let address = file.display().to_string();
        let same = |old: &[u8]| old == b"abc";
        assert_eq!(
            rt.block_on(t.put_new(&address, b"abc", &same)).unwrap(),
            Put::Created
        );
        assert_eq!(std::fs::read(&file).unwrap(), b"abc");
        assert_eq!(
            rt.block_on(t.put_new(&address, b"abc", &same)).unwrap(),
            Put::Unchanged
        );
        let other = |old: &[u8]| old == b"xyz";
        match rt.block_on(t.put_new(&address, b"xyz", &other)) {
            Err(e @ PutError::Differs(_)) => assert_eq!(
                e.to_string(),
                format!(
                    "{address} already exists with other bytes; a published file never changes: publish a new version"
                )
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            std::fs::read(&file).unwrap(),
            b"abc",
            "nothing was replaced"
        );
        let left: Vec<_> = std::fs::read_dir(file.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["a.ptd.tar.zst"], "no temporary file is left");
        // A directory that cannot be made is named.
        let blocked = d.path().join("blocked");
        std::fs::write(&blocked, b"").unwrap();
        let inside = blocked.join("a").display().to_string();
        match rt.block_on(t.put_new(&inside, b"abc", &same)) {
            Err(PutError::Io(e)) => assert_eq!(e.path, blocked.display().to_string()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_http_location_refuses_writes() {
        let rt = runtime();
        let http = Http::new(crate::fetch::HttpOptions::from_env()).unwrap();
        let t = http::HttpTransport::new(http);
        let err = rt
            .block_on(t.put_new("https://h/a.ptd.tar.zst", b"abc", &|_: &[u8]| true))
            .unwrap_err();
        assert!(matches!(err, PutError::Refused(_)));
        assert_eq!(
            err.to_string(),
            "https://h/a.ptd.tar.zst: an http(s) location is read-only: publish into a directory, s3:// or GitHub releases store"
        );
    }

    #[test]
    fn each_location_opens_its_transport() {
        let http = Http::new(crate::fetch::HttpOptions::from_env()).unwrap();
        let open = |json: &str| {
            let loc: Location = serde_json::from_str(json).unwrap();
            Any::open(&loc, &http).ok().unwrap()
        };
        assert!(matches!(
            open(r#"{"kind":"file","url":"file:///srv/{file}"}"#),
            Any::Dir(_)
        ));
        assert!(matches!(
            open(r#"{"kind":"https","url":"https://h/{file}"}"#),
            Any::Http(_)
        ));
        assert!(matches!(
            open(r#"{"kind":"s3","url":"s3://b/p/{file}","region":"eu-north-1"}"#),
            Any::S3(_)
        ));
        let g = open(
            r#"{"kind":"github-releases","url":"https://github.com/o/r/releases/download/{tag}/{file}"}"#,
        );
        assert!(matches!(g, Any::GitHub(_)));
        assert_eq!(g.url("https://x/y"), "https://x/y");
    }
}
