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
        /// The service's endpoint and the bucket's region, as an artifact location names them.
        endpoint: Option<String>,
        region: Option<String>,
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

/// `p` made absolute: the real path if it exists (symbolic links resolved), else joined to the
/// working directory.
fn absolute(p: &std::path::Path) -> Result<PathBuf, PublishError> {
    match p.canonicalize() {
        Ok(c) => Ok(c),
        Err(_) => std::path::absolute(p).map_err(|source| {
            PublishError::Io(crate::fs::IoError {
                path: p.display().to_string(),
                source,
            })
        }),
    }
}

/// The `file://` artifact location of the directory `d`, by its absolute path.
pub fn dir_location(d: &std::path::Path) -> Result<ArtifactLocation, PublishError> {
    let abs = absolute(d)?;
    let text = abs.to_str().ok_or_else(|| {
        PublishError::Refused(format!(
            "{}: an artifact location must be a UTF-8 path",
            abs.display()
        ))
    })?;
    if text.contains('{') || text.contains('}') {
        return Err(PublishError::Refused(format!(
            "{text}: a directory whose path has '{{' or '}}' cannot be an artifact location (a URL template)"
        )));
    }
    Ok(ArtifactLocation::Dir {
        path: format!("{}/{{file}}", text.trim_end_matches('/')),
    })
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
        Ok(Store::S3 {
            bucket,
            prefix,
            endpoint: endpoint.map(str::to_string),
            region: region.map(str::to_string),
        })
    }

    /// The artifact location from which installers read what this store holds: `file://` with
    /// the directory's absolute path, `s3://` with its endpoint and region, or the GitHub
    /// repository's release download URLs (`tag`, a release of this store, names the host when
    /// it exists; `None` in a dry run, where nothing is asked of GitHub).
    pub async fn location(&self, tag: Option<&str>) -> Result<ArtifactLocation, PublishError> {
        match self {
            Store::Dir(d) => dir_location(d),
            Store::S3 {
                bucket,
                prefix,
                endpoint,
                region,
            } => Ok(ArtifactLocation::S3 {
                bucket: bucket.name.clone(),
                key: Store::key(prefix, "{file}"),
                endpoint: endpoint.clone(),
                region: region.clone(),
            }),
            Store::GitHub(r) => {
                let url = r.download_template(tag).await?;
                ArtifactLocation::parse("github-releases", &url, None, None)
                    .map_err(|e| PublishError::Refused(e.to_string()))
            }
        }
    }

    /// Whether the registry's artifact location `loc` reads from this store.
    pub fn serves(&self, loc: &ArtifactLocation) -> bool {
        match self {
            Store::Dir(d) => {
                let ArtifactLocation::Dir { path } = loc else {
                    return false;
                };
                let Ok(p) = prefix_of(path) else {
                    return false;
                };
                match (absolute(d), absolute(std::path::Path::new(p))) {
                    (Ok(a), Ok(b)) => a == b,
                    _ => false,
                }
            }
            Store::S3 {
                bucket,
                prefix,
                endpoint,
                ..
            } => {
                let url = loc.url();
                let Ok(p) = prefix_of(&url) else {
                    return false;
                };
                let Some((b, key)) = p
                    .strip_prefix("s3://")
                    .map(|r| r.split_once('/').unwrap_or((r, "")))
                else {
                    return false;
                };
                b == bucket.name
                    && key.trim_matches('/') == prefix.as_str()
                    && loc.endpoint().map(|e| e.trim_end_matches('/'))
                        == endpoint.as_deref().map(|e| e.trim_end_matches('/'))
            }
            Store::GitHub(r) => match loc {
                ArtifactLocation::GitHub { owner, repo, .. } => {
                    owner.eq_ignore_ascii_case(&r.owner) && repo.eq_ignore_ascii_case(&r.repo)
                }
                _ => false,
            },
        }
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
            Store::S3 { bucket, prefix, .. } => bucket.describe(&Store::key(prefix, file)),
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
                std::fs::create_dir_all(d).map_err(|source| {
                    PublishError::Io(crate::fs::IoError {
                        path: d.display().to_string(),
                        source,
                    })
                })?;
                let io = |source| {
                    PublishError::Io(crate::fs::IoError {
                        path: p.display().to_string(),
                        source,
                    })
                };
                let mut tmp = crate::fs::shared_temp_file(d).map_err(io)?;
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
            Store::S3 { bucket, prefix, .. } => {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(kind: &str, url: &str, endpoint: Option<&str>) -> ArtifactLocation {
        ArtifactLocation::parse(kind, url, endpoint, None).unwrap()
    }

    fn now<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn an_s3_store_is_served_by_its_own_location_only() {
        let e = Some("http://127.0.0.1:9000");
        let store = Store::from_spec("s3://models/ptd", e, Some("eu-north-1")).unwrap();
        let own = now(store.location(None)).unwrap();
        assert_eq!(own.url(), "s3://models/ptd/{file}");
        assert_eq!(own.endpoint(), e);
        assert_eq!(own.region(), Some("eu-north-1"));
        assert!(store.serves(&own));
        assert!(store.serves(&loc(
            "s3",
            "s3://models/ptd/{file}",
            Some("http://127.0.0.1:9000/")
        )));
        assert!(!store.serves(&loc("s3", "s3://models/other/{file}", e)));
        assert!(!store.serves(&loc("s3", "s3://models/ptd/{file}", None)));
        assert!(!store.serves(&loc("s3", "s3://other/ptd/{file}", e)));
        let root = Store::from_spec("s3://models", None, None).unwrap();
        assert_eq!(
            now(root.location(None)).unwrap().url(),
            "s3://models/{file}"
        );
    }

    #[test]
    fn a_directory_store_is_served_by_a_file_location_of_the_same_directory() {
        let d = tempfile::tempdir().unwrap();
        let real = d.path().canonicalize().unwrap();
        let store = Store::from_spec(real.join("a").to_str().unwrap(), None, None).unwrap();
        let own = now(store.location(None)).unwrap();
        assert_eq!(own.url(), format!("file://{}/a/{{file}}", real.display()));
        assert!(store.serves(&own));
        let dotted = format!("file://{}/b/../a/{{file}}", real.display());
        std::fs::create_dir_all(real.join("a")).unwrap();
        std::fs::create_dir_all(real.join("b")).unwrap();
        assert!(store.serves(&loc("file", &dotted, None)));
        let other = format!("file://{}/b/{{file}}", real.display());
        assert!(!store.serves(&loc("file", &other, None)));
        assert!(!store.serves(&loc("https", "https://example.org/a/{file}", None)));
        let braces = Store::from_spec(real.join("{x}").to_str().unwrap(), None, None).unwrap();
        assert!(now(braces.location(None)).is_err());
    }
}
