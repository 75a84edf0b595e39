//! Where publishing puts archives and signatures: a directory (or `file://`), or an S3 bucket
//! (or any S3-compatible service). A stored file never changes: writing a name that exists
//! succeeds only if the bytes are the same, and S3 writes are conditional (`If-None-Match`), so
//! two publishers cannot overwrite each other.

use super::{PublishError, Put, differs};
use crate::fetch::s3::{Bucket, S3Url};
use crate::index::ArtifactLocation;
use std::path::PathBuf;

/// A writable artifact store.
#[derive(Debug)]
pub enum Store {
    Dir(PathBuf),
    S3 {
        bucket: Bucket,
        prefix: String,
    },
    /// One release per version (its tag), files as assets.
    GitHub(super::github::Releases),
}

/// Size from which S3 uploads go in parts: `$PTD_S3_MULTIPART_BYTES`, else 64 MiB.
fn multipart_from() -> usize {
    std::env::var("PTD_S3_MULTIPART_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64 << 20)
}

/// The directory part of a `.../{file}` template; no other placeholder may appear.
fn prefix_of(template: &str) -> Result<&str, PublishError> {
    template
        .strip_suffix("/{file}")
        .filter(|p| !p.contains('{'))
        .ok_or_else(|| {
            PublishError::Refused(format!(
                "artifact location {template}: publishing needs a location of the form <prefix>/{{file}}"
            ))
        })
}

impl Store {
    /// The store behind one of a registry's artifact locations, if it is writable by ptd
    /// (`file://`, `s3://` and GitHub releases).
    pub fn from_location(loc: &ArtifactLocation) -> Result<Option<Store>, PublishError> {
        match loc {
            ArtifactLocation::GitHub { url, .. } => Ok(Some(Store::GitHub(
                super::github::Releases::from_template(url)?,
            ))),
            ArtifactLocation::Dir { path } => Ok(Some(Store::Dir(PathBuf::from(prefix_of(path)?)))),
            ArtifactLocation::S3 { .. } => {
                let url = loc.url();
                let prefix = prefix_of(&url)?;
                Ok(Some(Store::s3(
                    &format!("{prefix}/"),
                    loc.endpoint(),
                    loc.region(),
                )?))
            }
            ArtifactLocation::Http { .. } => Ok(None),
        }
    }

    /// `--store`: a directory, `file://DIR`, `s3://bucket[/prefix]` or `github:OWNER/REPO`.
    pub fn from_spec(
        spec: &str,
        endpoint: Option<&str>,
        region: Option<&str>,
    ) -> Result<Store, PublishError> {
        if let Some(repo) = spec.strip_prefix("github:") {
            let (owner, name) = repo.split_once('/').ok_or_else(|| {
                PublishError::Refused(format!("--store {spec}: use github:OWNER/REPO"))
            })?;
            return Ok(Store::GitHub(super::github::Releases::new(owner, name)?));
        }
        if spec.starts_with("s3://") {
            let spec = if spec.trim_start_matches("s3://").contains('/') {
                spec.to_string()
            } else {
                format!("{spec}/")
            };
            return Store::s3(&spec, endpoint, region);
        }
        Ok(Store::Dir(PathBuf::from(
            spec.strip_prefix("file://").unwrap_or(spec),
        )))
    }

    fn s3(url: &str, endpoint: Option<&str>, region: Option<&str>) -> Result<Store, PublishError> {
        let u =
            S3Url::parse(&format!("{url}x")).map_err(|e| PublishError::Refused(e.to_string()))?;
        let prefix = u.key.trim_end_matches('x').trim_matches('/').to_string();
        let bucket = Bucket::new(&u.bucket, endpoint, region)
            .map_err(|e| PublishError::Refused(e.to_string()))?;
        Ok(Store::S3 { bucket, prefix })
    }

    fn key(prefix: &str, file: &str) -> String {
        if prefix.is_empty() {
            file.to_string()
        } else {
            format!("{prefix}/{file}")
        }
    }

    /// Where `file` of the version tagged `tag` goes, for messages.
    pub fn describe(&self, tag: &str, file: &str) -> String {
        match self {
            Store::Dir(d) => d.join(file).display().to_string(),
            Store::S3 { bucket, prefix } => bucket.describe(&Store::key(prefix, file)),
            Store::GitHub(r) => r.describe(tag, file),
        }
    }

    /// Writes `file` of the version tagged `tag` unless it exists; an existing file is accepted
    /// only if `same` says it is equivalent (the same bytes; for a signature, a valid signature
    /// of the same file with the same comment by the same key, since signatures are randomised).
    pub async fn put_new(
        &self,
        tag: &str,
        file: &str,
        bytes: &[u8],
        same: &(dyn Fn(&[u8]) -> bool + Sync),
    ) -> Result<Put, PublishError> {
        let differs = || differs(&self.describe(tag, file));
        match self {
            Store::GitHub(r) => r.put_new(tag, file, bytes, same).await,
            Store::Dir(d) => {
                let p = d.join(file);
                std::fs::create_dir_all(d).map_err(|source| PublishError::Io {
                    path: d.display().to_string(),
                    source,
                })?;
                let io = |source| PublishError::Io {
                    path: p.display().to_string(),
                    source,
                };
                let mut tmp = crate::index::source::shared_temp_file(d).map_err(io)?;
                std::io::Write::write_all(&mut tmp, bytes).map_err(io)?;
                tmp.as_file().sync_all().map_err(io)?;
                match tmp.persist_noclobber(&p) {
                    Ok(_) => Ok(Put::Created),
                    Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
                        if same(&std::fs::read(&p).map_err(io)?) {
                            Ok(Put::Unchanged)
                        } else {
                            Err(differs())
                        }
                    }
                    Err(e) => Err(io(e.error)),
                }
            }
            Store::S3 { bucket, prefix } => {
                let key = Store::key(prefix, file);
                let fetch = |e: crate::fetch::FetchError| PublishError::Refused(e.to_string());
                if bucket
                    .put_new(&key, bytes, multipart_from())
                    .await
                    .map_err(fetch)?
                {
                    return Ok(Put::Created);
                }
                match bucket.get(&key).await.map_err(fetch)? {
                    Some(existing) if same(&existing) => Ok(Put::Unchanged),
                    _ => Err(differs()),
                }
            }
        }
    }
}
