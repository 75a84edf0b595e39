//! GitHub releases: release assets are plain HTTP downloads at
//! `<host>/<owner>/<repo>/releases/download/<tag>/<file>`. A private repository answers those
//! with 404 (or 401/403); then, with `GITHUB_TOKEN`, the asset and its signature are found
//! through the API and fetched from there ([`crate::fetch::github::PrivateAssets`]).

use super::http::HttpTransport;
use super::{Got, Miss, Signed, Since, Transport, Want};
use crate::fetch::github::PrivateAssets;
use crate::fetch::{FetchError, Http, Metadata};
use std::path::Path;

/// A repository's releases as a transport; addresses are the public download URLs.
#[derive(Clone)]
pub struct GitHub {
    public: HttpTransport,
    http: Http,
    template: String,
}

impl GitHub {
    /// `template` is the location's URL template (it names the repository).
    pub fn new(http: Http, template: &str) -> GitHub {
        GitHub {
            public: HttpTransport::new(http.clone()),
            http,
            template: template.to_string(),
        }
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
        // A release download URL ends in `<tag>/<file>`.
        let mut tail = address.rsplitn(3, '/');
        let (file, tag) = (tail.next().unwrap_or(""), tail.next().unwrap_or(""));
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
