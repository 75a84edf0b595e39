//! Where publishing puts archives and signatures: the `--store` argument or one of the
//! registry's artifact locations, parsed once into a [`Location`] and written through its
//! [`Transport`] ([`Transport::put_new`]): a directory (or `file://`), an S3 bucket (or any
//! S3-compatible service), or GitHub releases. A stored file never changes: writing a name that
//! exists succeeds only if the file there is equivalent, and writes are create-only, so two
//! publishers cannot overwrite each other.

use super::{PublishError, Put};
use crate::index::ArtifactLocation;
use crate::transport::{Any, Location, Transport};
use std::path::{Path, PathBuf};

/// A writable artifact store.
pub struct Store {
    /// Where files go: a directory's path or a bucket's prefix (without a template), or the
    /// GitHub releases template (`.../{tag}/{file}`).
    target: Location,
    transport: Any,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

/// `p` made absolute: the real path if it exists (symbolic links resolved), else joined to the
/// working directory.
fn absolute(p: &Path) -> Result<PathBuf, PublishError> {
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
pub fn dir_location(d: &Path) -> Result<ArtifactLocation, PublishError> {
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

/// `file` under the key prefix `prefix`.
fn key(prefix: &str, file: &str) -> String {
    if prefix.is_empty() {
        file.to_string()
    } else {
        format!("{prefix}/{file}")
    }
}

impl Store {
    /// A store writing into `target` (see [`Store::target`]).
    fn open(target: Location) -> Result<Store, PublishError> {
        let transport = Any::open_writable(&target)?;
        Ok(Store { target, transport })
    }

    /// The store behind one of a registry's artifact locations, if it is writable by ptd
    /// (`file://`, `s3://` and GitHub releases).
    pub fn from_location(loc: &ArtifactLocation) -> Result<Option<Store>, PublishError> {
        let target = match loc {
            ArtifactLocation::GitHub { .. } => loc.clone(),
            ArtifactLocation::Dir { path } => ArtifactLocation::Dir {
                path: prefix_of(path)?.to_string(),
            },
            ArtifactLocation::S3 {
                bucket,
                key,
                endpoint,
                region,
            } => {
                prefix_of(&loc.url())?;
                ArtifactLocation::S3 {
                    bucket: bucket.clone(),
                    key: key.trim_end_matches("{file}").trim_matches('/').to_string(),
                    endpoint: endpoint.clone(),
                    region: region.clone(),
                }
            }
            ArtifactLocation::Http { .. } => return Ok(None),
        };
        Store::open(target).map(Some)
    }

    /// `--store`: a directory, `file://DIR`, `s3://bucket[/prefix]` (with the service's
    /// endpoint and the bucket's region) or `github:OWNER/REPO`; an `http(s)://` URL is refused
    /// (read-only).
    pub fn from_spec(
        spec: &str,
        endpoint: Option<&str>,
        region: Option<&str>,
    ) -> Result<Store, PublishError> {
        if let Some(repo) = spec.strip_prefix("github:") {
            let (owner, repo) = repo.split_once('/').ok_or_else(|| {
                PublishError::Refused(format!("--store {spec}: use github:OWNER/REPO"))
            })?;
            return Store::open(Location::GitHub {
                owner: owner.into(),
                repo: repo.into(),
                url: format!(
                    "https://github.com/{owner}/{repo}/releases/download/{{tag}}/{{file}}"
                ),
            });
        }
        let target = Location::from_spec(spec, endpoint, region);
        match &target {
            Location::Http { .. } => {
                return Err(crate::transport::http::read_only(&format!("--store {spec}")).into());
            }
            Location::Dir { .. } if spec.starts_with("s3://") => {
                return Err(PublishError::Refused(format!(
                    "{spec}: not an s3://bucket/key URL"
                )));
            }
            _ => {}
        }
        Store::open(target)
    }

    /// Where files go: [`Location::Dir`] with the directory, [`Location::S3`] with the key
    /// prefix (no surrounding slashes), or [`Location::GitHub`].
    pub fn target(&self) -> &Location {
        &self.target
    }

    /// The artifact location from which installers read what this store holds: `file://` with
    /// the directory's absolute path, `s3://` with its endpoint and region, or the GitHub
    /// repository's release download URLs (`tag`, a release of this store, names the host when
    /// it exists; `None` in a dry run, where nothing is asked of GitHub).
    pub async fn location(&self, tag: Option<&str>) -> Result<ArtifactLocation, PublishError> {
        match &self.target {
            Location::Dir { path } => dir_location(Path::new(path)),
            Location::S3 {
                bucket,
                key: prefix,
                endpoint,
                region,
            } => Ok(ArtifactLocation::S3 {
                bucket: bucket.clone(),
                key: key(prefix, "{file}"),
                endpoint: endpoint.clone(),
                region: region.clone(),
            }),
            Location::GitHub { .. } | Location::Http { .. } => {
                let Any::GitHub(g) = &self.transport else {
                    return Err(crate::transport::http::read_only(&self.target.url()).into());
                };
                let url = g.releases()?.download_template(tag).await?;
                ArtifactLocation::parse("github-releases", &url, None, None)
                    .map_err(|e| PublishError::Refused(e.to_string()))
            }
        }
    }

    /// Whether the registry's artifact location `loc` reads from this store.
    pub fn serves(&self, loc: &ArtifactLocation) -> bool {
        match &self.target {
            Location::Dir { path: d } => {
                let ArtifactLocation::Dir { path } = loc else {
                    return false;
                };
                let Ok(p) = prefix_of(path) else {
                    return false;
                };
                match (absolute(Path::new(d)), absolute(Path::new(p))) {
                    (Ok(a), Ok(b)) => a == b,
                    _ => false,
                }
            }
            Location::S3 {
                bucket,
                key: prefix,
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
                b == bucket
                    && key.trim_matches('/') == prefix.as_str()
                    && loc.endpoint().map(|e| e.trim_end_matches('/'))
                        == endpoint.as_deref().map(|e| e.trim_end_matches('/'))
            }
            Location::GitHub { owner, repo, .. } => match loc {
                ArtifactLocation::GitHub {
                    owner: o, repo: r, ..
                } => o.eq_ignore_ascii_case(owner) && r.eq_ignore_ascii_case(repo),
                _ => false,
            },
            Location::Http { .. } => false,
        }
    }

    /// The address of `file` of the version tagged `tag`, in the transport's terms.
    fn address(&self, tag: &str, file: &str) -> String {
        match &self.target {
            Location::Dir { path } => Path::new(path).join(file).display().to_string(),
            Location::S3 { key: prefix, .. } => key(prefix, file),
            Location::GitHub { url, .. } | Location::Http { url } => {
                url.replace("{tag}", tag).replace("{file}", file)
            }
        }
    }

    /// Where `file` of the version tagged `tag` goes, for messages.
    pub fn describe(&self, tag: &str, file: &str) -> String {
        self.transport.describe(&self.address(tag, file))
    }

    /// Writes `file` of the version tagged `tag` unless it exists; an existing file is accepted
    /// only if `same` says it is equivalent (the same bytes; for a signature, a valid signature
    /// of the same file with the same comment by the same key, since signatures are randomised).
    pub async fn put_new(
        &self,
        tag: &str,
        file: &str,
        bytes: &[u8],
        same: crate::transport::Same<'_>,
    ) -> Result<Put, PublishError> {
        Ok(self
            .transport
            .put_new(&self.address(tag, file), bytes, same)
            .await?)
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

    #[test]
    fn a_store_spec_is_parsed_once_into_its_target() {
        let s3 = Store::from_spec("s3://models/a/b/", None, Some("eu-north-1")).unwrap();
        assert_eq!(
            s3.target(),
            &Location::S3 {
                bucket: "models".into(),
                key: "a/b".into(),
                endpoint: None,
                region: Some("eu-north-1".into())
            }
        );
        assert_eq!(s3.describe("t", "f"), "s3://models/a/b/f");
        let listed = Store::from_location(&loc("s3", "s3://models/a/b/{file}", None))
            .unwrap()
            .unwrap();
        assert_eq!(listed.describe("t", "f"), "s3://models/a/b/f");
        let dir = Store::from_spec("file:///srv/ptd", None, None).unwrap();
        assert_eq!(dir.describe("t", "a.ptd.tar.zst"), "/srv/ptd/a.ptd.tar.zst");
        let err = |spec: &str| Store::from_spec(spec, None, None).unwrap_err().to_string();
        assert!(
            err("https://example.org/ptd").contains("an http(s) location is read-only"),
            "{}",
            err("https://example.org/ptd")
        );
        assert!(err("s3://").contains("not an s3://bucket/key URL"));
        assert!(err("github:nobody").contains("use github:OWNER/REPO"));
        assert!(
            Store::from_location(&loc("https", "https://example.org/{file}", None))
                .unwrap()
                .is_none()
        );
    }
}
