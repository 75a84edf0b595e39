//! An S3 bucket (or an S3-compatible service) through [`crate::fetch::s3::Bucket`]: addresses
//! are object keys. Reads are capped by kind; downloads are checked as they stream (the client
//! retries transient failures itself).

use super::{Got, Miss, Since, Transport, Want};
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

impl Transport for S3 {
    fn url(&self, address: &str) -> String {
        format!("s3://{}/{address}", self.bucket.name)
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
