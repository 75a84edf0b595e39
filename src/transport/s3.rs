//! An S3 bucket (or an S3-compatible service) through [`crate::fetch::s3::Bucket`]: addresses
//! are object keys. Reads are capped by kind; downloads are checked as they stream (the client
//! retries transient failures itself). Writes are conditional (`If-None-Match: *`; from
//! `$PTD_S3_MULTIPART_BYTES`, default 64 MiB, in parts after a check that the key is free), so
//! two publishers cannot overwrite each other.

use super::{Got, Miss, Put, PutError, Same, Since, Transport, Want};
use crate::fetch::s3::Bucket;
use crate::fetch::{FetchError, Metadata, MetadataLimits};
use std::path::Path;

/// A bucket as a transport.
#[derive(Clone, Debug)]
pub struct S3 {
    bucket: Bucket,
    limits: MetadataLimits,
}

impl S3 {
    pub fn new(bucket: Bucket, limits: MetadataLimits) -> S3 {
        S3 { bucket, limits }
    }

    pub fn bucket(&self) -> &Bucket {
        &self.bucket
    }
}

/// Size from which S3 uploads go in parts: `$PTD_S3_MULTIPART_BYTES`, else 64 MiB.
fn multipart_from() -> usize {
    std::env::var("PTD_S3_MULTIPART_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64 << 20)
}

impl Transport for S3 {
    fn url(&self, address: &str) -> String {
        format!("s3://{}/{address}", self.bucket.name)
    }

    /// The object's URL, with the service's endpoint if it is not AWS.
    fn describe(&self, address: &str) -> String {
        self.bucket.describe(address)
    }

    async fn put_new(&self, address: &str, bytes: &[u8], same: Same<'_>) -> Result<Put, PutError> {
        let fetch = |e: FetchError| PutError::Refused(e.to_string());
        if self
            .bucket
            .put_new(address, bytes, multipart_from())
            .await
            .map_err(fetch)?
        {
            return Ok(Put::Created);
        }
        match self.bucket.get(address).await.map_err(fetch)? {
            Some(existing) if same(&existing) => Ok(Put::Unchanged),
            _ => Err(PutError::Differs(self.describe(address))),
        }
    }

    /// Never conditional.
    async fn get(&self, address: &str, kind: Metadata, _since: Since<'_>) -> Result<Got, Miss> {
        match self
            .bucket
            .get_limited(address, kind, &self.limits)
            .await
            .map_err(Miss::of)?
        {
            Some(bytes) => Ok(Got::body(bytes)),
            None => Err(Miss::NotThere(
                FetchError::Status {
                    url: self.bucket.describe(address),
                    status: 404,
                }
                .to_string(),
            )),
        }
    }

    async fn download(&self, address: &str, part: &Path, want: Want<'_>) -> Result<(), Miss> {
        self.bucket
            .download(address, part, want.sha256, want.size)
            .await
            .map_err(Miss::of)
    }
}
