//! Where artifacts are: a registry's artifact locations (URL templates, `config.json`'s
//! `artifacts`), parsed once where they enter ptd (`config.json`, the command line) into
//! [`Location`]; and base locations (a shared cache layer, an index) from a spec
//! ([`Location::from_spec`]). Nothing after that looks at a URL's scheme again.
//!
//! On the wire a location stays `{ "kind", "url", "endpoint"?, "region"? }`
//! (`docs/registry-protocol.md`); serialising a parsed location gives back the same fields.

use crate::fetch::github::repo_of_template;
use serde::{Deserialize, Serialize};

/// An artifact location: a URL template with `{file}`, `{tag}`, `{name}`, `{namespace}`,
/// `{model}` and `{version}`, and the transport that reaches it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawLocation", into = "RawLocation")]
pub enum Location {
    /// A directory: `file://PATH` (`kind: file`); `path` is the template after `file://`.
    Dir { path: String },
    /// Plain HTTP(S) (`kind: http` or `https`, by the URL's scheme).
    Http { url: String },
    /// An S3 bucket (`kind: s3`, `s3://BUCKET/KEY`): `key` is the key template (or, for a base
    /// location, the prefix); `endpoint` names an S3-compatible service other than AWS.
    S3 {
        bucket: String,
        key: String,
        endpoint: Option<String>,
        region: Option<String>,
    },
    /// GitHub releases (`kind: github-releases`):
    /// `<host>/<owner>/<repo>/releases/download/{tag}/{file}`.
    GitHub {
        owner: String,
        repo: String,
        url: String,
    },
}

/// A location that cannot be used: the field and value, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("artifact location {field} '{value}': {message}")]
pub struct LocationError {
    pub field: &'static str,
    pub value: String,
    pub message: String,
}

fn bad(field: &'static str, value: &str, message: impl Into<String>) -> LocationError {
    LocationError {
        field,
        value: value.into(),
        message: message.into(),
    }
}

/// A location as `config.json` writes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLocation {
    /// `github-releases`, `s3`, `https`, `http` or `file`.
    pub kind: String,
    /// The URL template.
    pub url: String,
    /// For `s3` locations on an S3-compatible service other than AWS: its endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// For `s3` locations: the bucket's region (default `us-east-1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

impl TryFrom<RawLocation> for Location {
    type Error = LocationError;
    fn try_from(r: RawLocation) -> Result<Location, LocationError> {
        Location::parse(&r.kind, &r.url, r.endpoint.as_deref(), r.region.as_deref())
    }
}

impl From<Location> for RawLocation {
    fn from(l: Location) -> RawLocation {
        RawLocation {
            kind: l.kind().into(),
            url: l.url(),
            endpoint: l.endpoint().map(str::to_string),
            region: l.region().map(str::to_string),
        }
    }
}

/// `s3://BUCKET/KEY` as bucket and key (the key may be empty when `key_optional`).
fn split_s3(url: &str, key_optional: bool) -> Option<(String, String)> {
    let rest = url.strip_prefix("s3://")?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    (!bucket.is_empty() && (key_optional || !key.is_empty()))
        .then(|| (bucket.to_string(), key.to_string()))
}

impl Location {
    /// A location from `config.json`'s fields: the kind must be one ptd knows and agree with
    /// the URL's scheme, the URL must hold `{file}`, and `endpoint` and `region` belong to `s3`
    /// locations only.
    pub fn parse(
        kind: &str,
        url: &str,
        endpoint: Option<&str>,
        region: Option<&str>,
    ) -> Result<Location, LocationError> {
        if !url.contains("{file}") {
            return Err(bad(
                "url",
                url,
                "must contain {file}, where the archive's file name goes",
            ));
        }
        if kind != "s3" {
            if let Some(e) = endpoint {
                return Err(bad(
                    "endpoint",
                    e,
                    format!("is for s3 locations, not {kind}"),
                ));
            }
            if let Some(r) = region {
                return Err(bad("region", r, format!("is for s3 locations, not {kind}")));
            }
        }
        let scheme = |want: &str| {
            if url.starts_with(want) {
                Ok(())
            } else {
                Err(bad(
                    "url",
                    url,
                    format!("a location of kind {kind} is a {want} URL"),
                ))
            }
        };
        match kind {
            "file" => {
                scheme("file://")?;
                Ok(Location::Dir {
                    path: url["file://".len()..].to_string(),
                })
            }
            "http" => scheme("http://").map(|()| Location::Http { url: url.into() }),
            "https" => scheme("https://").map(|()| Location::Http { url: url.into() }),
            "s3" => {
                let (bucket, key) = split_s3(url, false)
                    .ok_or_else(|| bad("url", url, "not an s3://BUCKET/KEY template"))?;
                Ok(Location::S3 {
                    bucket,
                    key,
                    endpoint: endpoint.map(str::to_string),
                    region: region.map(str::to_string),
                })
            }
            "github-releases" => {
                let (owner, repo) = repo_of_template(url)
                    .filter(|_| url.starts_with("https://") || url.starts_with("http://"))
                    .ok_or_else(|| {
                        bad(
                            "url",
                            url,
                            "a GitHub releases location looks like https://github.com/OWNER/REPO/releases/download/{tag}/{file}",
                        )
                    })?;
                Ok(Location::GitHub {
                    owner,
                    repo,
                    url: url.into(),
                })
            }
            _ => Err(bad(
                "kind",
                kind,
                "not one of github-releases, s3, https, http, file",
            )),
        }
    }

    /// A location given as a URL template alone (`ptd registry init --artifacts`): the kind
    /// follows from the URL (a `/releases/download/{tag}/{file}` URL, or one on github.com, is
    /// GitHub releases); the endpoint and region apply to `s3://` templates only.
    pub fn from_template(
        url: &str,
        endpoint: Option<&str>,
        region: Option<&str>,
    ) -> Result<Location, LocationError> {
        let kind = if url.starts_with("file://") {
            "file"
        } else if url.starts_with("https://github.com/")
            || url.contains("/releases/download/{tag}/{file}")
        {
            "github-releases"
        } else if url.starts_with("s3://") {
            "s3"
        } else if url.starts_with("https://") {
            "https"
        } else if url.starts_with("http://") {
            "http"
        } else {
            return Err(bad(
                "url",
                url,
                "use an http(s)://, s3:// or file:// URL template with {file}",
            ));
        };
        let s3 = kind == "s3";
        Location::parse(kind, url, endpoint.filter(|_| s3), region.filter(|_| s3))
    }

    /// A base location (no template): `s3://BUCKET[/PREFIX]` (with an endpoint and region),
    /// `http(s)://...`, or a directory (`file://DIR` or a path). The prefix of an S3 location is
    /// kept without surrounding slashes, a URL without a trailing one.
    pub fn from_spec(spec: &str, endpoint: Option<&str>, region: Option<&str>) -> Location {
        if let Some((bucket, prefix)) = split_s3(spec, true) {
            return Location::S3 {
                bucket,
                key: prefix.trim_matches('/').to_string(),
                endpoint: endpoint.map(str::to_string),
                region: region.map(str::to_string),
            };
        }
        if spec.starts_with("http://") || spec.starts_with("https://") {
            return Location::Http {
                url: spec.trim_end_matches('/').to_string(),
            };
        }
        Location::Dir {
            path: spec.strip_prefix("file://").unwrap_or(spec).to_string(),
        }
    }

    /// The `kind` field on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            Location::Dir { .. } => "file",
            Location::Http { url } if url.starts_with("http://") => "http",
            Location::Http { .. } => "https",
            Location::S3 { .. } => "s3",
            Location::GitHub { .. } => "github-releases",
        }
    }

    /// The URL (template) as written.
    pub fn url(&self) -> String {
        match self {
            Location::Dir { path } => format!("file://{path}"),
            Location::Http { url } | Location::GitHub { url, .. } => url.clone(),
            Location::S3 { bucket, key, .. } => format!("s3://{bucket}/{key}"),
        }
    }

    pub fn endpoint(&self) -> Option<&str> {
        match self {
            Location::S3 { endpoint, .. } => endpoint.as_deref(),
            _ => None,
        }
    }

    pub fn region(&self) -> Option<&str> {
        match self {
            Location::S3 { region, .. } => region.as_deref(),
            _ => None,
        }
    }

    /// The address of `file` of version `e` in this location's own terms: a path (directory),
    /// a URL (HTTP, GitHub) or an object key (S3).
    pub fn address(&self, e: Release<'_>, file: &str) -> String {
        match self {
            Location::Dir { path } => expand_url(path, e, file),
            Location::Http { url } | Location::GitHub { url, .. } => expand_url(url, e, file),
            Location::S3 { key, .. } => expand_url(key, e, file),
        }
    }
}

/// A model version, as artifact templates name it.
#[derive(Clone, Copy, Debug)]
pub struct Release<'a> {
    /// `namespace/model`.
    pub name: &'a str,
    pub version: &'a semver::Version,
}

/// The release tag of a version: `<namespace>-<name>-v<version>`.
pub fn release_tag(e: Release<'_>) -> String {
    let (ns, model) = e.name.split_once('/').unwrap_or(("", e.name));
    format!("{ns}-{model}-v{}", e.version)
}

/// Expands an artifact URL template for a model version.
pub fn expand_url(template: &str, e: Release<'_>, file: &str) -> String {
    let (ns, model) = e.name.split_once('/').unwrap_or(("", e.name));
    template
        .replace("{file}", file)
        .replace("{tag}", &release_tag(e))
        .replace("{name}", e.name)
        .replace("{namespace}", ns)
        .replace("{model}", model)
        .replace("{version}", &e.version.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(json: &str) {
        let l: Location = serde_json::from_str(json).unwrap();
        let back = serde_json::to_string(&l).unwrap();
        assert_eq!(back, json);
    }

    #[test]
    fn the_wire_format_is_kept() {
        round_trip(
            r#"{"kind":"github-releases","url":"https://github.com/o/r/releases/download/{tag}/{file}"}"#,
        );
        round_trip(r#"{"kind":"s3","url":"s3://lab/ptd/{file}","region":"eu-north-1"}"#);
        round_trip(
            r#"{"kind":"s3","url":"s3://models/{file}","endpoint":"https://minio.example.org"}"#,
        );
        round_trip(r#"{"kind":"https","url":"https://mirror.example.org/ptd/{file}"}"#);
        round_trip(r#"{"kind":"http","url":"http://127.0.0.1:8080/a/{file}"}"#);
        round_trip(r#"{"kind":"file","url":"file:///srv/ptd/{file}"}"#);
    }

    #[test]
    fn a_bad_location_names_its_field_and_value() {
        let e = |json: &str| {
            serde_json::from_str::<Location>(json)
                .unwrap_err()
                .to_string()
        };
        assert!(
            e(r#"{"kind":"ftp","url":"ftp://x/{file}"}"#).contains("kind 'ftp'"),
            "{}",
            e(r#"{"kind":"ftp","url":"ftp://x/{file}"}"#)
        );
        assert!(e(r#"{"kind":"https","url":"s3://b/{file}"}"#).contains("url 's3://b/{file}'"));
        assert!(e(r#"{"kind":"https","url":"https://x/a"}"#).contains("must contain {file}"));
        assert!(
            e(r#"{"kind":"https","url":"https://x/{file}","region":"eu"}"#).contains("region 'eu'")
        );
        assert!(e(r#"{"kind":"s3","url":"s3:///{file}"}"#).contains("s3://BUCKET/KEY"));
        assert!(
            e(r#"{"kind":"github-releases","url":"https://github.com/o/{file}"}"#)
                .contains("OWNER/REPO")
        );
        assert!(e(r#"{"kind":"file","url":"file:///a/{file}","x":1}"#).contains("unknown field"));
    }

    #[test]
    fn templates_and_specs() {
        let g = Location::from_template(
            "http://127.0.0.1:9/o/r/releases/download/{tag}/{file}",
            Some("e"),
            None,
        )
        .unwrap();
        assert_eq!(g.kind(), "github-releases");
        assert_eq!(g.endpoint(), None);
        let s = Location::from_template("s3://b/p/{file}", Some("http://e"), Some("r")).unwrap();
        assert_eq!(s.endpoint(), Some("http://e"));
        assert!(Location::from_template("ftp://x/{file}", None, None).is_err());
        assert_eq!(
            Location::from_spec("s3://b/p/q/", None, None),
            Location::S3 {
                bucket: "b".into(),
                key: "p/q".into(),
                endpoint: None,
                region: None
            }
        );
        assert_eq!(
            Location::from_spec("file:///x", None, None),
            Location::Dir { path: "/x".into() }
        );
        assert_eq!(
            Location::from_spec("https://h/i/", None, None),
            Location::Http {
                url: "https://h/i".into()
            }
        );
    }
}
