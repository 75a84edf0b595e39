//! Release assets of private GitHub repositories: their public download URLs answer 404 without
//! a token, so the asset is found through the API (`GET /repos/{o}/{r}/releases/tags/{tag}`)
//! and fetched from its API URL with `Accept: application/octet-stream` and the token
//! (`GITHUB_TOKEN`); GitHub redirects to storage, where the token is not sent.

use super::{FetchError, Http, HttpOptions, Token, host_of};

/// `OWNER/REPO` of a `<host>/<owner>/<repo>/releases/download/{tag}/{file}` template.
pub fn repo_of_template(template: &str) -> Option<(String, String)> {
    let path = template.split_once("://")?.1.split_once('/')?.1;
    match path.split('/').collect::<Vec<_>>().as_slice() {
        [owner, repo, "releases", "download", "{tag}", "{file}"] => {
            Some((owner.to_string(), repo.to_string()))
        }
        _ => None,
    }
}

/// The API, with the token, for private release assets; `None` without `GITHUB_TOKEN`.
pub struct PrivateAssets {
    api: String,
    owner: String,
    repo: String,
    /// Sends the token to the API host only, asking for raw bytes.
    pub http: Http,
    /// The same, asking for JSON (release metadata).
    json: Http,
}

impl PrivateAssets {
    pub fn new(template: &str, base: &HttpOptions) -> Result<Option<PrivateAssets>, FetchError> {
        let (Some((owner, repo)), Ok(token)) =
            (repo_of_template(template), std::env::var("GITHUB_TOKEN"))
        else {
            return Ok(None);
        };
        if token.is_empty() {
            return Ok(None);
        }
        let api = std::env::var("GITHUB_API_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "https://api.github.com".into())
            .trim_end_matches('/')
            .to_string();
        let mut opts = base.clone();
        opts.token = Some(Token {
            value: token,
            hosts: host_of(&api).into_iter().collect(),
        });
        opts.accept = Some("application/vnd.github+json".into());
        let json = Http::new(opts.clone())?;
        opts.accept = Some("application/octet-stream".into());
        Ok(Some(PrivateAssets {
            http: Http::new(opts)?,
            json,
            api,
            owner,
            repo,
        }))
    }

    /// The API URLs of the assets `file` and `file.minisig` of release `tag`.
    pub async fn asset_urls(&self, tag: &str, file: &str) -> Result<(String, String), FetchError> {
        let url = format!(
            "{}/repos/{}/{}/releases/tags/{tag}",
            self.api, self.owner, self.repo
        );
        let body = match self
            .json
            .get_conditional(&url, None, None, super::Metadata::IndexFile)
            .await?
        {
            super::Conditional::Body { bytes, .. } => bytes,
            _ => {
                return Err(FetchError::Status { url, status: 404 });
            }
        };
        let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| FetchError::Http {
            url: url.clone(),
            message: format!("not a release: {e}"),
        })?;
        let find = |name: &str| {
            v["assets"].as_array().and_then(|a| {
                a.iter()
                    .find(|x| x["name"] == name)
                    .and_then(|x| x["url"].as_str().map(str::to_string))
            })
        };
        match (find(file), find(&format!("{file}.minisig"))) {
            (Some(a), Some(s)) => Ok((a, s)),
            _ => Err(FetchError::Status {
                url: format!("{url} (asset {file})"),
                status: 404,
            }),
        }
    }
}
