//! Plain HTTP(S) through [`crate::fetch::Http`]: conditional reads, and downloads that are
//! retried with backoff and resumed with `Range`. Addresses are URLs. Nothing is written over
//! HTTP: an HTTP(S) location serves what was published elsewhere.

use super::{Got, Miss, Put, PutError, Same, Since, Transport, Want};
use crate::fetch::{Conditional, FetchError, Http, Metadata};
use std::path::Path;

/// An HTTP client as a transport.
#[derive(Clone)]
pub struct HttpTransport {
    http: Http,
}

impl HttpTransport {
    pub fn new(http: Http) -> HttpTransport {
        HttpTransport { http }
    }
}

/// The refusal to write into an HTTP(S) location (`what` names it).
pub fn read_only(what: &str) -> PutError {
    PutError::Refused(format!(
        "{what}: an http(s) location is read-only: publish into a directory, s3:// or GitHub releases store"
    ))
}

impl Transport for HttpTransport {
    fn url(&self, address: &str) -> String {
        address.to_string()
    }

    async fn get(&self, address: &str, kind: Metadata, since: Since<'_>) -> Result<Got, Miss> {
        match self
            .http
            .get_conditional(address, since.etag, since.last_modified, kind)
            .await
            .map_err(Miss::of)?
        {
            Conditional::NotModified => Ok(Got::NotModified),
            Conditional::NotFound => Err(Miss::NotThere(
                FetchError::Status {
                    url: address.into(),
                    status: 404,
                }
                .to_string(),
            )),
            Conditional::Body {
                bytes,
                etag,
                last_modified,
            } => Ok(Got::Body {
                bytes,
                etag,
                last_modified,
            }),
        }
    }

    async fn download(&self, address: &str, part: &Path, want: Want<'_>) -> Result<(), Miss> {
        self.http
            .download(address, part, want.sha256, want.size, want.label)
            .await
            .map_err(Miss::of)
    }

    /// Refused: see [`read_only`].
    async fn put_new(
        &self,
        address: &str,
        _bytes: &[u8],
        _same: Same<'_>,
    ) -> Result<Put, PutError> {
        Err(read_only(address))
    }
}
