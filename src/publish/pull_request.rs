//! Changing an index that lives in a GitHub repository without a git checkout: read the index
//! at the base branch through the contents API, change a local copy (publish, yank), then push
//! the changed files to a new branch and open a pull request, all through octocrab. This is how
//! CI publishes.

use super::PublishError;
use base64::Engine;
use octocrab::Octocrab;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

/// An index directory inside a GitHub repository.
pub struct IndexRepo {
    crab: Octocrab,
    pub owner: String,
    pub repo: String,
    /// The index's directory in the repository (`""` for the root).
    pub path: String,
    /// The branch pull requests go to.
    pub base: String,
}

/// A copy of the index at the base branch: file path (relative to the index) → (blob sha,
/// bytes).
pub struct Checkout {
    base_sha: String,
    files: BTreeMap<String, (String, Vec<u8>)>,
}

/// An opened pull request.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PullRequest {
    pub number: u64,
    pub url: String,
    pub branch: String,
    pub files: Vec<String>,
}

fn err(what: &str, e: octocrab::Error) -> PublishError {
    let detail = match &e {
        octocrab::Error::GitHub { source, .. } => format!(
            "GitHub answered {} {}",
            source.status_code.as_u16(),
            source.message
        ),
        other => other.to_string(),
    };
    PublishError::Refused(format!("{what}: {detail}"))
}

fn is_status(e: &octocrab::Error, code: u16) -> bool {
    matches!(e, octocrab::Error::GitHub { source, .. } if source.status_code.as_u16() == code)
}

impl IndexRepo {
    /// `OWNER/REPO` with the index under `path` on branch `base`; token from `GITHUB_TOKEN`,
    /// API from `GITHUB_API_URL`.
    pub fn new(spec: &str, path: &str, base: &str) -> Result<IndexRepo, PublishError> {
        let (owner, repo) = spec.split_once('/').ok_or_else(|| {
            PublishError::Refused(format!("--index-repo '{spec}': use OWNER/REPO"))
        })?;
        let (crab, _, _) = crate::transport::releases::client(
            "opening an index pull request",
            "contents and pull-requests: write",
        )?;
        Ok(IndexRepo {
            crab,
            owner: owner.into(),
            repo: repo.into(),
            path: path.trim_matches('/').to_string(),
            base: base.into(),
        })
    }

    fn repo_path(&self, rel: &str) -> String {
        if self.path.is_empty() {
            rel.to_string()
        } else {
            format!("{}/{rel}", self.path)
        }
    }

    fn route(&self, rest: &str) -> String {
        format!("/repos/{}/{}/{rest}", self.owner, self.repo)
    }

    async fn read(&self, rel: &str) -> Result<Option<(String, Vec<u8>)>, PublishError> {
        let p = self.repo_path(rel);
        let v: Value = match self
            .crab
            .get(
                self.route(&format!("contents/{p}")),
                Some(&json!({ "ref": self.base })),
            )
            .await
        {
            Ok(v) => v,
            Err(e) if is_status(&e, 404) => return Ok(None),
            Err(e) => return Err(err(&format!("{}/{} {p}", self.owner, self.repo), e)),
        };
        let sha = v["sha"].as_str().unwrap_or_default().to_string();
        let b64: String = v["content"]
            .as_str()
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| PublishError::Refused(format!("{p}: GitHub sent invalid base64: {e}")))?;
        Ok(Some((sha, bytes)))
    }

    /// Copies the index at the base branch into `dir`: the snapshot, its signature, and every
    /// file the snapshot lists.
    pub async fn checkout(&self, dir: &Path) -> Result<Checkout, PublishError> {
        let r: Value = self
            .crab
            .get(
                self.route(&format!("git/ref/heads/{}", self.base)),
                None::<&()>,
            )
            .await
            .map_err(|e| err(&format!("branch {}", self.base), e))?;
        let base_sha = r["object"]["sha"].as_str().unwrap_or_default().to_string();
        let mut files = BTreeMap::new();
        let snap = self.read("snapshot.json").await?.ok_or_else(|| {
            PublishError::Refused(format!(
                "{}/{}: no {} on {}: not a ptd index",
                self.owner,
                self.repo,
                self.repo_path("snapshot.json"),
                self.base
            ))
        })?;
        let listed: crate::index::Snapshot = serde_json::from_slice(&snap.1)
            .map_err(|e| PublishError::Refused(format!("snapshot.json: {e}")))?;
        files.insert("snapshot.json".to_string(), snap);
        let mut names: Vec<String> = listed.files.keys().cloned().collect();
        names.push("snapshot.json.minisig".into());
        for rel in names {
            if let Some(f) = self.read(&rel).await? {
                files.insert(rel, f);
            }
        }
        for (rel, (_, bytes)) in &files {
            let p = dir.join(rel);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent).map_err(|source| {
                    PublishError::Io(crate::fs::IoError {
                        path: parent.display().to_string(),
                        source,
                    })
                })?;
            }
            std::fs::write(&p, bytes).map_err(|source| {
                PublishError::Io(crate::fs::IoError {
                    path: p.display().to_string(),
                    source,
                })
            })?;
        }
        Ok(Checkout { base_sha, files })
    }

    /// Pushes the files of `dir` that differ from the checkout to a new branch and opens a
    /// pull request into the base branch.
    pub async fn propose(
        &self,
        dir: &Path,
        checkout: &Checkout,
        branch: &str,
        title: &str,
        body: &str,
    ) -> Result<PullRequest, PublishError> {
        let mut changed: Vec<(String, Vec<u8>)> = Vec::new();
        for p in crate::fs::files_under(dir) {
            let rel = p
                .strip_prefix(dir)
                .expect("under dir")
                .to_string_lossy()
                .replace('\\', "/");
            if rel.starts_with('.') || rel.ends_with(".lock") {
                continue;
            }
            let bytes = std::fs::read(&p).map_err(|source| {
                PublishError::Io(crate::fs::IoError {
                    path: p.display().to_string(),
                    source,
                })
            })?;
            if checkout.files.get(&rel).map(|(_, b)| b) != Some(&bytes) {
                changed.push((rel, bytes));
            }
        }
        if changed.is_empty() {
            return Err(PublishError::Refused(
                "nothing changed in the index: no pull request opened".into(),
            ));
        }
        // Index files first, snapshot signature and snapshot last, as publishing writes them.
        changed.sort_by_key(|(rel, _)| match rel.as_str() {
            "snapshot.json.minisig" => 1,
            "snapshot.json" => 2,
            _ => 0,
        });
        let _: Value = self
            .crab
            .post(
                self.route("git/refs"),
                Some(&json!({ "ref": format!("refs/heads/{branch}"), "sha": checkout.base_sha })),
            )
            .await
            .map_err(|e| {
                if is_status(&e, 422) {
                    PublishError::Refused(format!(
                        "branch {branch} already exists in {}/{}: a pull request for this change may already be open",
                        self.owner, self.repo
                    ))
                } else {
                    err(&format!("creating branch {branch}"), e)
                }
            })?;
        for (rel, bytes) in &changed {
            let p = self.repo_path(rel);
            let mut body = json!({
                "message": format!("{title}: {p}"),
                "content": base64::engine::general_purpose::STANDARD.encode(bytes),
                "branch": branch,
            });
            if let Some((sha, _)) = checkout.files.get(rel) {
                body["sha"] = json!(sha);
            }
            let _: Value = self
                .crab
                .put(self.route(&format!("contents/{p}")), Some(&body))
                .await
                .map_err(|e| err(&format!("writing {p} on {branch}"), e))?;
        }
        let pr: Value = self
            .crab
            .post(
                self.route("pulls"),
                Some(&json!({ "title": title, "head": branch, "base": self.base, "body": body })),
            )
            .await
            .map_err(|e| err("opening the pull request", e))?;
        Ok(PullRequest {
            number: pr["number"].as_u64().unwrap_or_default(),
            url: pr["html_url"].as_str().unwrap_or_default().to_string(),
            branch: branch.into(),
            files: changed
                .into_iter()
                .map(|(r, _)| self.repo_path(&r))
                .collect(),
        })
    }
}
