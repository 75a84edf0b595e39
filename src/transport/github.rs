//! GitHub releases: release assets are plain HTTP downloads at
//! `<host>/<owner>/<repo>/releases/download/<tag>/<file>`. A private repository answers those
//! with 404 (or 401/403); then, with `GITHUB_TOKEN`, the asset and its signature are found
//! through the API and fetched from there ([`crate::fetch::github::PrivateAssets`]). Writing
//! uploads an asset to the release of the address's tag (made if missing) through the API
//! ([`super::releases`]), unless the release has one by that name.

use super::http::HttpTransport;
use super::releases::Releases;
use super::{Got, Miss, Put, PutError, Same, Signed, Since, Transport, Want};
use crate::fetch::github::{PrivateAssets, repo_of_template};
use crate::fetch::{FetchError, Http, Metadata};
use std::path::Path;
use std::sync::OnceLock;

/// A repository's releases as a transport; addresses are the public download URLs.
pub struct GitHub {
    public: HttpTransport,
    http: Http,
    template: String,
    owner: String,
    repo: String,
    /// The API client for writing, made when first needed.
    releases: OnceLock<Releases>,
}

/// The release tag and file name of a release download URL (`.../<tag>/<file>`).
fn tag_and_file(address: &str) -> (&str, &str) {
    let mut tail = address.rsplitn(3, '/');
    let file = tail.next().unwrap_or("");
    (tail.next().unwrap_or(""), file)
}

impl GitHub {
    /// `template` is the location's URL template (it names the repository).
    pub fn new(http: Http, template: &str) -> GitHub {
        let (owner, repo) = repo_of_template(template).unwrap_or_default();
        GitHub {
            public: HttpTransport::new(http.clone()),
            http,
            template: template.to_string(),
            owner,
            repo,
            releases: OnceLock::new(),
        }
    }

    /// The repository's releases through the API, with `GITHUB_TOKEN` (refused without it).
    pub fn releases(&self) -> Result<&Releases, PutError> {
        if let Some(r) = self.releases.get() {
            return Ok(r);
        }
        let r = Releases::new(&self.owner, &self.repo)?;
        Ok(self.releases.get_or_init(|| r))
    }

    /// The same archive and its signature through the API, with the token; `None` without a
    /// token.
    async fn private(
        &self,
        address: &str,
        part: &Path,
        want: Want<'_>,
    ) -> Result<Option<Signed>, Miss> {
        let Some(private) =
            PrivateAssets::new(&self.template, self.http.options()).map_err(Miss::Bad)?
        else {
            return Ok(None);
        };
        let (tag, file) = tag_and_file(address);
        let (asset, sig_url) = private.asset_urls(tag, file).await.map_err(Miss::of)?;
        let api = HttpTransport::new(private.http.clone());
        api.download(&asset, part, want).await?;
        let sig = match api
            .get(&sig_url, Metadata::Signature, Since::default())
            .await
        {
            Ok(Got::Body { bytes, .. }) => Ok(bytes),
            Ok(Got::NotModified) => Err(Miss::NotThere(sig_url.clone())),
            Err(m) => Err(m),
        };
        Ok(Some(Signed {
            url: asset,
            sig_url,
            sig,
        }))
    }
}

impl Transport for GitHub {
    fn url(&self, address: &str) -> String {
        address.to_string()
    }

    /// The release and the asset.
    fn describe(&self, address: &str) -> String {
        let (tag, file) = tag_and_file(address);
        format!(
            "GitHub release {}/{} {tag}, asset {file}",
            self.owner, self.repo
        )
    }

    async fn put_new(&self, address: &str, bytes: &[u8], same: Same<'_>) -> Result<Put, PutError> {
        let (tag, file) = tag_and_file(address);
        self.releases()?.put_new(tag, file, bytes, same).await
    }

    async fn get(&self, address: &str, kind: Metadata, since: Since<'_>) -> Result<Got, Miss> {
        self.public.get(address, kind, since).await
    }

    async fn download(&self, address: &str, part: &Path, want: Want<'_>) -> Result<(), Miss> {
        self.public.download(address, part, want).await
    }

    async fn download_signed(
        &self,
        address: &str,
        part: &Path,
        want: Want<'_>,
    ) -> Result<Signed, Miss> {
        let public = self.public.download_signed(address, part, want).await;
        let refused = matches!(
            &public,
            Err(Miss::NotThere(_))
                | Err(Miss::Failed(FetchError::Status {
                    status: 401 | 403,
                    ..
                }))
        );
        if refused && let Some(signed) = self.private(address, part, want).await? {
            return Ok(signed);
        }
        public
    }
}
