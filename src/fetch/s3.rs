//! S3 and S3-compatible buckets through object_store: `s3://bucket/key` locations, with the
//! endpoint and region a registry names. Credentials, in this order: the environment's static
//! keys (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`); static keys of the
//! AWS profile (`AWS_PROFILE`, else `default`); then object_store's chain: a web identity token
//! (`AWS_WEB_IDENTITY_TOKEN_FILE` with `AWS_ROLE_ARN`), container credentials
//! (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`, or `AWS_CONTAINER_CREDENTIALS_FULL_URI` with
//! `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`), the instance metadata service. Requests go
//! unsigned only when `AWS_SKIP_SIGNATURE=true` asks for it (public buckets).

use super::FetchError;
use futures_util::StreamExt;
use object_store::CredentialProvider;
use object_store::aws::{
    AmazonS3, AmazonS3Builder, AmazonS3ConfigKey, AwsCredential, AwsCredentialProvider,
};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, WriteMultipart};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

/// A bucket and the key of one object in it.
#[derive(Clone, Debug, PartialEq)]
pub struct S3Url {
    pub bucket: String,
    pub key: String,
}

impl S3Url {
    /// Parses `s3://bucket/key`.
    pub fn parse(url: &str) -> Result<S3Url, FetchError> {
        let bad = || FetchError::Http {
            url: url.into(),
            message: "not an s3://bucket/key URL".into(),
        };
        let rest = url.strip_prefix("s3://").ok_or_else(bad)?;
        let (bucket, key) = rest.split_once('/').ok_or_else(bad)?;
        if bucket.is_empty() || key.is_empty() {
            return Err(bad());
        }
        Ok(S3Url {
            bucket: bucket.into(),
            key: key.into(),
        })
    }
}

/// Credentials and region of an AWS profile.
#[derive(Debug, Default, PartialEq)]
pub struct Profile {
    pub name: String,
    pub key_id: Option<String>,
    pub secret: Option<String>,
    pub token: Option<String>,
    pub region: Option<String>,
    /// A setting by which the profile gets credentials other than static keys (SSO,
    /// `credential_process`, an assumed role), which ptd does not follow.
    pub via: Option<String>,
}

/// The settings of a profile that name a way to get credentials other than static keys.
const OTHER_SOURCES: [&str; 6] = [
    "credential_process",
    "sso_session",
    "sso_start_url",
    "role_arn",
    "source_profile",
    "web_identity_token_file",
];

/// The section `name` of an INI file, as key/value pairs.
fn ini_section(text: &str, names: &[String]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(h) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = names.iter().any(|n| n == h.trim());
            continue;
        }
        if inside && let Some((k, v)) = line.split_once('=') {
            out.push((k.trim().to_lowercase(), v.trim().to_string()));
        }
    }
    out
}

/// The AWS profile `$AWS_PROFILE` (else `default`) from `~/.aws/credentials` and
/// `~/.aws/config` (or `$AWS_SHARED_CREDENTIALS_FILE`, `$AWS_CONFIG_FILE`).
pub fn aws_profile() -> Option<Profile> {
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from)?;
    let name = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".into());
    let creds_file = std::env::var_os("AWS_SHARED_CREDENTIALS_FILE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| home.join(".aws/credentials"));
    let config_file = std::env::var_os("AWS_CONFIG_FILE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| home.join(".aws/config"));
    let mut p = Profile {
        name: name.clone(),
        ..Profile::default()
    };
    let get = |pairs: &[(String, String)], k: &str| {
        pairs.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone())
    };
    if let Ok(t) = std::fs::read_to_string(creds_file) {
        let s = ini_section(&t, std::slice::from_ref(&name));
        p.key_id = get(&s, "aws_access_key_id");
        p.secret = get(&s, "aws_secret_access_key");
        p.token = get(&s, "aws_session_token");
        p.via = OTHER_SOURCES
            .iter()
            .find(|k| get(&s, k).is_some())
            .map(|k| k.to_string());
    }
    if let Ok(t) = std::fs::read_to_string(config_file) {
        let s = ini_section(&t, &[format!("profile {name}"), name.clone()]);
        p.region = get(&s, "region");
        if p.key_id.is_none() {
            p.key_id = get(&s, "aws_access_key_id");
            p.secret = get(&s, "aws_secret_access_key");
        }
        if p.via.is_none() {
            p.via = OTHER_SOURCES
                .iter()
                .find(|k| get(&s, k).is_some())
                .map(|k| k.to_string());
        }
    }
    let empty = Profile {
        name: name.clone(),
        ..Profile::default()
    };
    (p != empty).then_some(p)
}

/// The source of temporary credentials that the environment names for object_store's chain,
/// if any (else the instance metadata service is asked).
fn role_source() -> Option<&'static str> {
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    if set("AWS_WEB_IDENTITY_TOKEN_FILE") && set("AWS_ROLE_ARN") {
        Some("the web identity token (AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN)")
    } else if set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
        Some("the container credential endpoint (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI)")
    } else if set("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        && set("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
    {
        Some(
            "the container credential endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI, AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE)",
        )
    } else {
        None
    }
}

/// No credentials could be had from the source object_store's chain settled on.
#[derive(Debug, thiserror::Error)]
#[error(
    "could not get AWS credentials from {from}: {cause}; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE naming a profile with keys in ~/.aws/credentials), or AWS_SKIP_SIGNATURE=true to send unsigned requests to a public bucket"
)]
pub struct NoCredentials {
    from: &'static str,
    cause: String,
}

/// object_store's credential chain, its failures explained.
#[derive(Debug)]
struct Explained {
    inner: AwsCredentialProvider,
    from: &'static str,
}

#[async_trait::async_trait]
impl CredentialProvider for Explained {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        self.inner.get_credential().await.map_err(|e| {
            let cause = match &e {
                object_store::Error::Generic { source, .. } => {
                    let mut m = source.to_string();
                    let mut s = source.source();
                    while let Some(x) = s {
                        let t = x.to_string();
                        if !m.contains(&t) {
                            m.push_str(": ");
                            m.push_str(&t);
                        }
                        s = x.source();
                    }
                    m
                }
                other => other.to_string(),
            };
            object_store::Error::Generic {
                store: "S3",
                source: Box::new(NoCredentials {
                    from: self.from,
                    cause,
                }),
            }
        })
    }
}

/// A bucket client.
#[derive(Clone, Debug)]
pub struct Bucket {
    store: AmazonS3,
    pub name: String,
    endpoint: Option<String>,
}

/// What an S3 error means for the user.
fn s3_err(what: &str, e: object_store::Error) -> FetchError {
    if let object_store::Error::Generic { source, .. } = &e
        && let Some(n) = source.downcast_ref::<NoCredentials>()
    {
        return FetchError::Http {
            url: what.into(),
            message: n.to_string(),
        };
    }
    let hint = match &e {
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => {
            ": the credentials were refused; check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and the bucket policy)"
        }
        _ => "",
    };
    FetchError::Http {
        url: what.into(),
        message: format!("{e}{hint}"),
    }
}

impl Bucket {
    /// A client for `bucket` at `endpoint` (AWS when absent) in `region` (else `AWS_REGION`,
    /// else `us-east-1`).
    pub fn new(
        bucket: &str,
        endpoint: Option<&str>,
        region: Option<&str>,
    ) -> Result<Bucket, FetchError> {
        Bucket::build(bucket, endpoint, region, None)
    }

    /// Like [`Bucket::new`], for an optional source that is better passed over than waited for
    /// (a shared cache layer): failed requests are retried at most twice, within `within`.
    pub fn new_impatient(
        bucket: &str,
        endpoint: Option<&str>,
        region: Option<&str>,
        within: std::time::Duration,
    ) -> Result<Bucket, FetchError> {
        let retry = object_store::RetryConfig {
            max_retries: 2,
            retry_timeout: within,
            ..Default::default()
        };
        Bucket::build(bucket, endpoint, region, Some(retry))
    }

    fn build(
        bucket: &str,
        endpoint: Option<&str>,
        region: Option<&str>,
        retry: Option<object_store::RetryConfig>,
    ) -> Result<Bucket, FetchError> {
        let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Some(r) = retry {
            b = b.with_retry(r);
        }
        if let Some(e) = endpoint {
            b = b.with_endpoint(e).with_allow_http(e.starts_with("http://"));
        }
        let env_keys = std::env::var("AWS_ACCESS_KEY_ID").is_ok();
        let profile = if env_keys { None } else { aws_profile() };
        let env_region =
            std::env::var("AWS_REGION").is_ok() || std::env::var("AWS_DEFAULT_REGION").is_ok();
        let profile_region = profile.as_ref().and_then(|p| p.region.clone());
        match (region, profile_region) {
            (Some(r), _) => b = b.with_region(r),
            _ if env_region => {}
            (None, Some(r)) => b = b.with_region(r),
            (None, None) => b = b.with_region("us-east-1"),
        }
        let skip = b
            .get_config_value(&AmazonS3ConfigKey::SkipSignature)
            .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
        match profile {
            Some(Profile {
                key_id: Some(id),
                secret,
                token,
                ..
            }) => {
                b = b
                    .with_access_key_id(id)
                    .with_secret_access_key(secret.unwrap_or_default());
                if let Some(t) = token {
                    b = b.with_token(t);
                }
            }
            Some(Profile {
                name,
                via: Some(via),
                ..
            }) if !skip && !env_keys && role_source().is_none() => {
                return Err(FetchError::Http {
                    url: format!("s3://{bucket}"),
                    message: format!(
                        "the AWS profile `{name}` gets its credentials through `{via}`, which ptd does not support (it reads static keys from a profile, not SSO, credential_process or assumed roles): export them into the environment first, e.g. `eval \"$(aws configure export-credentials --profile {name} --format env)\"`, or set AWS_SKIP_SIGNATURE=true for a public bucket"
                    ),
                });
            }
            _ if !env_keys && !skip => {
                // object_store's own chain: web identity, container credentials, then the
                // instance metadata service. Its credential requests get a short retry budget
                // of their own, so that a machine without any of these fails in seconds.
                let quick = object_store::RetryConfig {
                    backoff: object_store::BackoffConfig {
                        init_backoff: std::time::Duration::from_millis(100),
                        max_backoff: std::time::Duration::from_secs(1),
                        base: 2.0,
                    },
                    max_retries: 2,
                    retry_timeout: std::time::Duration::from_secs(10),
                };
                let chain = b
                    .clone()
                    .with_retry(quick)
                    .build()
                    .map_err(|e| s3_err(&format!("s3://{bucket}"), e))?;
                let from = role_source().unwrap_or(
                    "the instance metadata service (neither AWS_ACCESS_KEY_ID, a profile with keys, a web identity token nor container credentials is set)",
                );
                b = b.with_credentials(Arc::new(Explained {
                    inner: chain.credentials().clone(),
                    from,
                }));
            }
            _ => {}
        }
        let store = b
            .build()
            .map_err(|e| s3_err(&format!("s3://{bucket}"), e))?;
        Ok(Bucket {
            store,
            name: bucket.into(),
            endpoint: endpoint.map(str::to_string),
        })
    }

    pub fn describe(&self, key: &str) -> String {
        match &self.endpoint {
            Some(e) => format!("s3://{}/{key} (at {e})", self.name),
            None => format!("s3://{}/{key}", self.name),
        }
    }

    /// The whole object; `None` if there is none.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, FetchError> {
        match self.store.get(&ObjectPath::from(key)).await {
            Ok(r) => {
                let b = r
                    .bytes()
                    .await
                    .map_err(|e| s3_err(&self.describe(key), e))?;
                Ok(Some(b.to_vec()))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(s3_err(&self.describe(key), e)),
        }
    }

    /// Reads an object of `kind` whole, refusing it by its size when that is over the kind's
    /// cap, and otherwise as soon as more than the cap has arrived. `None` if it is missing.
    pub async fn get_limited(
        &self,
        key: &str,
        kind: super::Metadata,
        limits: &super::MetadataLimits,
    ) -> Result<Option<Vec<u8>>, FetchError> {
        let what = self.describe(key);
        let cap = limits.cap(kind);
        let r = match self.store.get(&ObjectPath::from(key)).await {
            Ok(r) => r,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(s3_err(&what, e)),
        };
        if r.meta.size > cap {
            return Err(limits.too_large(kind, &what, format!("{} bytes", r.meta.size)));
        }
        let mut bytes = Vec::new();
        let mut stream = r.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| s3_err(&what, e))?;
            if (bytes.len() + chunk.len()) as u64 > cap {
                return Err(limits.too_large(
                    kind,
                    &what,
                    format!("more than {cap} bytes arrived"),
                ));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Some(bytes))
    }

    /// Streams an object into `part`, checking size and SHA-256 (object_store retries
    /// transient failures itself).
    pub async fn download(
        &self,
        key: &str,
        part: &Path,
        want_sha256: &str,
        want_size: u64,
    ) -> Result<(), FetchError> {
        let what = self.describe(key);
        let r = match self.store.get(&ObjectPath::from(key)).await {
            Ok(r) => r,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(FetchError::Status {
                    url: what,
                    status: 404,
                });
            }
            Err(e) => return Err(s3_err(&what, e)),
        };
        let io = |e| {
            FetchError::Io(crate::fs::IoError {
                path: part.display().to_string(),
                source: e,
            })
        };
        let mut file = std::fs::File::create(part).map_err(io)?;
        let mut hasher = Sha256::new();
        let mut n: u64 = 0;
        let mut stream = r.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| s3_err(&what, e))?;
            n += chunk.len() as u64;
            if n > want_size {
                drop(file);
                let _ = std::fs::remove_file(part);
                return Err(FetchError::Size {
                    url: what,
                    got: n,
                    want: want_size,
                });
            }
            hasher.update(&chunk);
            file.write_all(&chunk).map_err(io)?;
        }
        file.sync_all().map_err(io)?;
        let got = hex::encode(hasher.finalize());
        if n != want_size {
            let _ = std::fs::remove_file(part);
            return Err(FetchError::Size {
                url: what,
                got: n,
                want: want_size,
            });
        }
        if got != want_sha256 {
            let _ = std::fs::remove_file(part);
            return Err(FetchError::Checksum {
                url: what,
                got,
                want: want_sha256.into(),
            });
        }
        Ok(())
    }

    /// Writes an object only if the key is free. Returns false if an object is already there
    /// (the caller compares contents). Objects of at least `multipart_from` bytes are uploaded in
    /// parts after checking that the key is free.
    pub async fn put_new(
        &self,
        key: &str,
        bytes: &[u8],
        multipart_from: usize,
    ) -> Result<bool, FetchError> {
        let what = self.describe(key);
        let path = ObjectPath::from(key);
        if bytes.len() >= multipart_from {
            match self.store.head(&path).await {
                Ok(_) => return Ok(false),
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(s3_err(&what, e)),
            }
            let upload = self
                .store
                .put_multipart(&path)
                .await
                .map_err(|e| s3_err(&what, e))?;
            let mut w = WriteMultipart::new_with_chunk_size(upload, 8 << 20);
            w.write(bytes);
            w.finish().await.map_err(|e| s3_err(&what, e))?;
            return Ok(true);
        }
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match self
            .store
            .put_opts(&path, PutPayload::from(bytes.to_vec()), opts)
            .await
        {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => Ok(false),
            Err(e) => Err(s3_err(&what, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ini_sections() {
        let t = "[default]\naws_access_key_id = a\n\n[lab]\naws_access_key_id = b\naws_secret_access_key = c\n";
        let s = ini_section(t, &["lab".to_string()]);
        assert_eq!(s[0], ("aws_access_key_id".into(), "b".into()));
        let c = "[profile lab]\nregion = eu-north-1\n";
        let s = ini_section(c, &["profile lab".into(), "lab".into()]);
        assert_eq!(s[0].1, "eu-north-1");
    }
}
