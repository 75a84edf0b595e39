//! Writing into GitHub releases, through octocrab (the half of the [`super::github`] transport
//! that needs the API): one release per model version (tag `<namespace>-<name>-v<version>`),
//! the archive and its signature as assets. The token comes from `GITHUB_TOKEN`; the API from
//! `GITHUB_API_URL` (set by GitHub Actions; default `https://api.github.com`). Uploads go to the
//! release's own `upload_url`.

use super::{Put, PutError, Same};
use octocrab::Octocrab;

/// A repository's releases.
#[derive(Debug)]
pub struct Releases {
    crab: Octocrab,
    api: String,
    token: String,
    pub owner: String,
    pub repo: String,
}

fn gh_err(what: &str, e: octocrab::Error) -> PutError {
    let detail = match &e {
        octocrab::Error::GitHub { source, .. } => {
            let hint = if source.status_code.as_u16() == 401 {
                ": GITHUB_TOKEN was refused (is it valid, with contents: write permission?)"
            } else {
                ""
            };
            format!(
                "GitHub answered {} {}{hint}",
                source.status_code.as_u16(),
                source.message
            )
        }
        other => other.to_string(),
    };
    PutError::Refused(format!("{what}: {detail}"))
}

/// An authenticated client for `GITHUB_API_URL` (default `https://api.github.com`) with the
/// token in `GITHUB_TOKEN`, and both; `purpose` and `permission` explain a missing token.
pub(crate) fn client(
    purpose: &str,
    permission: &str,
) -> Result<(Octocrab, String, String), PutError> {
    let token = std::env::var("GITHUB_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            PutError::Refused(format!(
                "{purpose} needs a token in GITHUB_TOKEN ({permission})"
            ))
        })?;
    let api = std::env::var("GITHUB_API_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "https://api.github.com".into());
    let crab = Octocrab::builder()
        .set_connect_timeout(Some(timeout()))
        .base_uri(api.as_str())
        .map_err(|e| gh_err(&api, e))?
        .personal_token(token.clone())
        .build()
        .map_err(|e| gh_err(&api, e))?;
    Ok((crab, api, token))
}

/// How long to wait for a connection, an answer or the next bytes: `PTD_HTTP_TIMEOUT_MS`,
/// default 30 s, as for downloads.
fn timeout() -> std::time::Duration {
    crate::fetch::HttpOptions::from_env().timeout
}

fn status_of(e: &octocrab::Error) -> Option<u16> {
    match e {
        octocrab::Error::GitHub { source, .. } => Some(source.status_code.as_u16()),
        _ => None,
    }
}

impl Releases {
    pub fn new(owner: &str, repo: &str) -> Result<Releases, PutError> {
        let (crab, api, token) = client("publishing to GitHub releases", "contents: write")?;
        Ok(Releases {
            crab,
            api,
            token,
            owner: owner.into(),
            repo: repo.into(),
        })
    }

    /// A client that also authenticates to the upload host a release names in its
    /// `upload_url` (uploads.github.com on github.com; another path on GitHub Enterprise).
    fn uploader(&self, upload_url: &str) -> Result<Octocrab, PutError> {
        let origin: String = match upload_url.split_once("://") {
            Some((scheme, rest)) => {
                let host = rest.split('/').next().unwrap_or(rest);
                format!("{scheme}://{host}")
            }
            None => {
                return Err(PutError::Refused(format!(
                    "GitHub gave an upload URL without a scheme: {upload_url}"
                )));
            }
        };
        Octocrab::builder()
            .set_connect_timeout(Some(timeout()))
            .base_uri(self.api.as_str())
            .map_err(|e| gh_err(&self.api, e))?
            .upload_uri(origin.as_str())
            .map_err(|e| gh_err(&origin, e))?
            .personal_token(self.token.clone())
            .build()
            .map_err(|e| gh_err(&origin, e))
    }

    pub fn describe(&self, tag: &str, file: &str) -> String {
        format!(
            "GitHub release {}/{} {tag}, asset {file}",
            self.owner, self.repo
        )
    }

    /// The artifact location template of this repository's release assets,
    /// `<host>/<owner>/<repo>/releases/download/{tag}/{file}`. The host is the one of the
    /// release `tag`'s page when it exists (GitHub Enterprise's too); otherwise it follows from
    /// the API URL (`api.github.com` → `github.com`, `<host>/api/v3` → `<host>`).
    pub async fn download_template(&self, tag: Option<&str>) -> Result<String, PutError> {
        let tail = |base: &str| {
            format!(
                "{}/{}/{}/releases/download/{{tag}}/{{file}}",
                base.trim_end_matches('/'),
                self.owner,
                self.repo
            )
        };
        if let Some(tag) = tag {
            let repo = self.crab.repos(&self.owner, &self.repo);
            match repo.releases().get_by_tag(tag).await {
                Ok(r) => {
                    let page = r.html_url.as_str();
                    let suffix = format!("/{}/{}/releases/tag/", self.owner, self.repo);
                    if let Some((base, _)) = page.rsplit_once(&suffix) {
                        return Ok(tail(base));
                    }
                }
                Err(e) if status_of(&e) == Some(404) => {}
                Err(e) => return Err(gh_err(&self.describe(tag, "-"), e)),
            }
        }
        let api = self.api.trim_end_matches('/');
        if api == "https://api.github.com" {
            return Ok(tail("https://github.com"));
        }
        match api.strip_suffix("/api/v3") {
            Some(base) => Ok(tail(base)),
            None => Err(PutError::Refused(format!(
                "cannot tell the download URLs of {}/{}'s release assets from GITHUB_API_URL={api}: list them in the registry with `ptd registry init --artifacts` or in config.json",
                self.owner, self.repo
            ))),
        }
    }

    /// The release for `tag`, created if missing.
    async fn release(&self, tag: &str) -> Result<octocrab::models::repos::Release, PutError> {
        let repo = self.crab.repos(&self.owner, &self.repo);
        let rel = repo.releases();
        match rel.get_by_tag(tag).await {
            Ok(r) => return Ok(r),
            Err(e) if status_of(&e) == Some(404) => {}
            Err(e) => return Err(gh_err(&self.describe(tag, "-"), e)),
        }
        let body = format!("Published by ptd: archive and minisign signature of {tag}.");
        match rel.create(tag).name(tag).body(&body).send().await {
            Ok(r) => Ok(r),
            // Created meanwhile by another publisher.
            Err(e) if status_of(&e) == Some(422) => rel
                .get_by_tag(tag)
                .await
                .map_err(|e| gh_err(&self.describe(tag, "-"), e)),
            Err(e) => Err(gh_err(&self.describe(tag, "-"), e)),
        }
    }

    /// The bytes of the release asset `id`, through the API with the token (its public
    /// download URL answers 404 for a private repository): `GET .../releases/assets/{id}` with
    /// `Accept: application/octet-stream`, which GitHub redirects to storage (where the token is
    /// not sent). The wait for the answer and for each part of the body is limited by
    /// `PTD_HTTP_TIMEOUT_MS`.
    async fn asset_bytes(&self, id: u64, tag: &str, file: &str) -> Result<Vec<u8>, PutError> {
        use http_body_util::BodyExt;
        let what = self.describe(tag, file);
        let limit = timeout();
        let late = || {
            PutError::Refused(format!(
                "{what}: no answer from GitHub within {} ms (PTD_HTTP_TIMEOUT_MS)",
                limit.as_millis()
            ))
        };
        let route = format!("/repos/{}/{}/releases/assets/{id}", self.owner, self.repo);
        let mut headers = http::header::HeaderMap::new();
        headers.insert(
            http::header::ACCEPT,
            http::HeaderValue::from_static("application/octet-stream"),
        );
        let response = tokio::time::timeout(limit, async {
            let r = self.crab._get_with_headers(route, Some(headers)).await?;
            octocrab::map_github_error(r).await
        })
        .await
        .map_err(|_| late())?
        .map_err(|e| gh_err(&what, e))?;
        let mut body = response.into_body();
        let mut bytes = Vec::new();
        while let Some(frame) = tokio::time::timeout(limit, body.frame())
            .await
            .map_err(|_| late())?
        {
            let frame = frame.map_err(|e| gh_err(&what, e))?;
            if let Ok(data) = frame.into_data() {
                bytes.extend_from_slice(&data);
            }
        }
        Ok(bytes)
    }

    /// The bytes of the asset called `file`, if the release has one: the release's assets are
    /// listed through the API and the asset read by [`Releases::asset_bytes`].
    async fn existing(
        &self,
        release_id: u64,
        tag: &str,
        file: &str,
    ) -> Result<Option<Vec<u8>>, PutError> {
        let repo = self.crab.repos(&self.owner, &self.repo);
        let rel = repo.releases();
        let mut page = 1u32;
        loop {
            let limit = timeout();
            let assets = tokio::time::timeout(
                limit,
                rel.assets(release_id).per_page(100).page(page).send(),
            )
            .await
            .map_err(|_| {
                PutError::Refused(format!(
                    "{}: no answer from GitHub within {} ms (PTD_HTTP_TIMEOUT_MS)",
                    self.describe(tag, file),
                    limit.as_millis()
                ))
            })?
            .map_err(|e| gh_err(&self.describe(tag, file), e))?;
            let n = assets.items.len();
            if let Some(a) = assets.items.into_iter().find(|a| a.name == file) {
                return self
                    .asset_bytes(a.id.into_inner(), tag, file)
                    .await
                    .map(Some);
            }
            if n < 100 {
                return Ok(None);
            }
            page += 1;
        }
    }

    /// Uploads `file` as an asset of the release `tag` unless one by that name exists; an
    /// existing asset is accepted only if `same` says so.
    pub async fn put_new(
        &self,
        tag: &str,
        file: &str,
        bytes: &[u8],
        same: Same<'_>,
    ) -> Result<Put, PutError> {
        let release = self.release(tag).await?;
        let id = release.id.into_inner();
        let differs = || PutError::Differs(self.describe(tag, file));
        if let Some(old) = self.existing(id, tag, file).await? {
            return if same(&old) {
                Ok(Put::Unchanged)
            } else {
                Err(differs())
            };
        }
        let uploader = self.uploader(&release.upload_url)?;
        let repo = uploader.repos(&self.owner, &self.repo);
        let rel = repo.releases();
        match rel
            .upload_asset(id, file, bytes::Bytes::copy_from_slice(bytes))
            .send()
            .await
        {
            Ok(_) => Ok(Put::Created),
            Err(e) if status_of(&e) == Some(422) => match self.existing(id, tag, file).await? {
                Some(old) if same(&old) => Ok(Put::Unchanged),
                _ => Err(differs()),
            },
            Err(e) => Err(gh_err(&self.describe(tag, file), e)),
        }
    }
}
