//! Publishing: create a registry, publish a model version (build, sign, upload to the artifact
//! store, add the index line, re-sign the snapshot), yank. The index is a local directory (a
//! checkout of the index repository); the store is the registry's first writable artifact
//! location, or the one given.

use crate::bundle::Built;
use crate::index::{ArtifactLocation, IndexEntry};
use crate::publish::Put;
use crate::publish::store::Store;
use crate::publish::{IndexDir, PublishError, sign_archive, sign_platform_archive};
use crate::sign::Signer;
use crate::{Error, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// `ptd registry init DIR`: `config.json`, a first signed snapshot and a `README.md` that
/// tells users how to reach the registry and which key to pin.
pub fn registry_init(
    dir: &Path,
    name: &str,
    artifacts: Vec<ArtifactLocation>,
    signer: &Signer,
) -> Result<()> {
    IndexDir::new(dir).init(name, artifacts.clone(), signer)?;
    let readme = dir.join("README.md");
    if !readme.exists() {
        let locations: String = artifacts
            .iter()
            .map(|a| format!("- `{}` ({})\n", a.url(), a.kind()))
            .collect();
        let text = format!(
            "# ptd registry `{name}`\n\n\
             This directory is a ptd registry index (format 1, see ptd's `docs/registry-protocol.md`):\n\
             `config.json`, one file of JSON lines per model under `<namespace>/<name>`, and\n\
             `snapshot.json`, signed in `snapshot.json.minisig`.\n\n\
             Archives are downloaded from, in order:\n\n{locations}\n\
             Index and archives are signed with minisign key `{id}`:\n\n    {pk}\n\n\
             ## Using it\n\n\
             Add it to `$PTD_HOME/config.toml` (default `~/.ptd/config.toml`), pinning the key:\n\n\
             ```toml\n[registries.{name}]\nindex = \"<URL or path of this directory>\"\nkeys = [\"{pk}\"]\n```\n\n\
             then `ptd install --registry {name} NAMESPACE/MODEL@REQ`, or `registry = \"{name}\"` in a\n\
             project's `ptd.toml`.\n\n\
             ## Publishing\n\n\
             `ptd publish <model dir> --registry <this directory> --key <secret key>` builds, signs\n\
             and uploads the archive, then adds its line here and re-signs the snapshot; commit the\n\
             result. `ptd yank NAME@VERSION --registry <this directory>` marks a version yanked.\n\
             Never edit the index files by hand without `ptd registry resign`.\n",
            id = signer.key_id,
            pk = signer.public_key(),
        );
        crate::index::source::write_atomic(&readme, text.as_bytes())
            .map_err(|e| Error::io(&readme, e))?;
    }
    Ok(())
}

/// A new key pair for a new registry, under `$PTD_HOME/keys/<name>.key` / `.pub` (never inside
/// the index, which is published): its signer and files.
pub fn new_registry_key(
    home: &crate::install::Home,
    name: &str,
    password: Option<&str>,
) -> Result<(Signer, super::keys::KeyFiles)> {
    let base = home
        .root
        .join("keys")
        .join(crate::index::registry::state_id(name));
    let files = super::keys::keygen(&base, password, false)?;
    let signer = Signer::read(&files.secret, password)?;
    Ok((signer, files))
}

/// What to publish and where.
pub struct Request<'a> {
    /// A model directory, a graph file or a bundle.
    pub input: &'a Path,
    /// The index directory.
    pub index: &'a Path,
    /// Overrides the registry's artifact location: a directory, `file://` or `s3://` URL.
    pub store: Option<Store>,
    pub signer: &'a Signer,
    /// The recipe's path under `models/`, recorded in the index line.
    pub recipe: Option<String>,
    /// Platform archives of JAX compilation-cache entries (`ptd build --jax`) for this bundle.
    pub jax: &'a [PathBuf],
    /// Only say what would be done.
    pub dry_run: bool,
    /// The index is in this GitHub repository: change it through a pull request instead of in
    /// `index` (which is then unused).
    pub index_repo: Option<crate::publish::pull_request::IndexRepo>,
}

/// One file and what happened (or would happen) to it.
#[derive(Clone, Debug, Serialize)]
pub struct Uploaded {
    pub file: String,
    pub to: String,
    pub size: u64,
    /// `created`, `unchanged` or `would upload`.
    pub action: String,
}

/// The outcome of a publish.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// `published`, `unchanged` (the same content was already published) or `dry-run`.
    pub status: String,
    pub entry: IndexEntry,
    pub files: Vec<Uploaded>,
    /// The pull request that adds the index line, when the index is on GitHub.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<crate::publish::pull_request::PullRequest>,
}

/// The store to publish into: the one given, else the registry's first writable location.
pub(crate) fn choose_store(index: &IndexDir, given: Option<Store>) -> Result<Store> {
    if let Some(s) = given {
        return Ok(s);
    }
    let config = index.config()?;
    for loc in &config.artifacts {
        if let Some(s) = Store::from_location(loc)? {
            return Ok(s);
        }
    }
    Err(Error::Usage(format!(
        "registry '{}' has no artifact location ptd can write (file://, s3:// or GitHub releases); pass --store DIR|s3://BUCKET/PREFIX|github:OWNER/REPO",
        config.name
    )))
}

/// `ptd publish`. A version already published with the same content is a no-op; with other
/// content it is refused before anything is uploaded. Files go to the store first, the index
/// line last, so a reader never sees a line whose archive is missing.
pub async fn publish(mut req: Request<'_>) -> Result<Report> {
    let Some(repo) = req.index_repo.take() else {
        return publish_local(req).await;
    };
    // A copy of the index at the base branch, changed locally, then proposed.
    let tmp = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let checkout = repo.checkout(tmp.path()).await?;
    let dry_run = req.dry_run;
    let mut report = publish_local(Request {
        index: tmp.path(),
        ..req
    })
    .await?;
    if report.status == "published" && !dry_run {
        let e = &report.entry;
        let tag = crate::install::release_tag(e);
        let title = format!("Publish {} {}", e.name, e.version);
        let body = format!(
            "Adds {} {} to the index (content hash {}, archive SHA-256 {}, signed by key {}) and re-signs the snapshot.\n\nOpened by ptd publish.",
            e.name, e.version, e.content_hash, e.sha256, e.key_id
        );
        report.pull_request = Some(
            repo.propose(
                tmp.path(),
                &checkout,
                &format!("ptd-publish/{tag}"),
                &title,
                &body,
            )
            .await?,
        );
    }
    Ok(report)
}

async fn publish_local(req: Request<'_>) -> Result<Report> {
    let index = IndexDir::new(req.index);
    let input = super::build::open_input(req.input, true)?;
    let built: Built = super::build::build_bundle(&input)?;
    let (mut entry, mut upload) = sign_archive(&built, req.signer, req.recipe.clone())?;
    // Each platform archive is read and verified once.
    let mut jax = Vec::new();
    for path in req.jax {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let source = path.display().to_string();
        let d = crate::publish::describe_platform_archive(&bytes, &source)?;
        jax.push((source, bytes, d));
    }
    let existing = index
        .read_entries(&entry.name)?
        .into_iter()
        .find(|e| e.version == entry.version);
    if let Some(old) = &existing
        && old.content_hash == entry.content_hash
    {
        // The same content: only platform archives for tags it lacks are added.
        let mut grown = old.clone();
        let mut upload = crate::publish::Upload::new();
        for (source, bytes, d) in jax {
            if old.artifacts.iter().any(|a| a.platform == d.tag) {
                continue;
            }
            upload.extend(sign_platform_archive(
                &mut grown, d, bytes, &source, req.signer,
            )?);
        }
        if upload.is_empty() {
            return Ok(Report {
                status: "unchanged".into(),
                entry: old.clone(),
                files: Vec::new(),
                pull_request: None,
            });
        }
        let store = choose_store(&index, req.store)?;
        let files = upload_all(&store, &grown, &upload, req.signer, req.dry_run).await?;
        if req.dry_run {
            return Ok(Report {
                status: "dry-run".into(),
                entry: grown,
                files,
                pull_request: None,
            });
        }
        let entry = index.add_artifacts(
            &grown.name,
            &grown.version,
            &grown.content_hash,
            &grown.artifacts,
            req.signer,
        )?;
        return Ok(Report {
            status: "published".into(),
            entry,
            files,
            pull_request: None,
        });
    }
    for (source, bytes, d) in jax {
        upload.extend(sign_platform_archive(
            &mut entry, d, bytes, &source, req.signer,
        )?);
    }
    if let Some(old) = existing {
        return Err(PublishError::Exists {
            name: entry.name.clone(),
            version: entry.version.to_string(),
            existing: old.content_hash,
        }
        .into());
    }
    let store = choose_store(&index, req.store)?;
    let files = upload_all(&store, &entry, &upload, req.signer, req.dry_run).await?;
    if req.dry_run {
        return Ok(Report {
            status: "dry-run".into(),
            entry,
            files,
            pull_request: None,
        });
    }
    index.add(entry.clone(), req.signer)?;
    Ok(Report {
        status: "published".into(),
        entry,
        files,
        pull_request: None,
    })
}

/// Uploads files (each archive before its signature) into the version's place in the store.
async fn upload_all(
    store: &Store,
    entry: &IndexEntry,
    upload: &crate::publish::Upload,
    signer: &Signer,
    dry_run: bool,
) -> Result<Vec<Uploaded>> {
    let tag = crate::install::release_tag(entry);
    let mut files = Vec::new();
    for (file, bytes) in upload {
        // A signature already stored is as good as ours if it signs the same file, with the
        // same comment, by the same key.
        let signed = file
            .strip_suffix(".minisig")
            .and_then(|f| upload.iter().find(|(n, _)| n == f));
        let same = |old: &[u8]| -> bool {
            match signed {
                None => old == bytes.as_slice(),
                Some((_, data)) => equivalent_signature(old, bytes, data, signer),
            }
        };
        let action = if dry_run {
            "would upload".to_string()
        } else {
            match store.put_new(&tag, file, bytes, &same).await? {
                Put::Created => "created".into(),
                Put::Unchanged => "unchanged".into(),
            }
        };
        files.push(Uploaded {
            file: file.clone(),
            to: store.describe(&tag, file),
            size: bytes.len() as u64,
            action,
        });
    }
    Ok(files)
}

/// Whether the stored signature `old` is valid for `data`, made by `signer`'s key, with the
/// same trusted comment as `new`.
pub(crate) fn equivalent_signature(old: &[u8], new: &[u8], data: &[u8], signer: &Signer) -> bool {
    let parse = |b: &[u8]| {
        std::str::from_utf8(b)
            .ok()
            .and_then(|t| crate::sign::Signature::parse(t, "signature").ok())
    };
    let (Some(old), Some(new)) = (parse(old), parse(new)) else {
        return false;
    };
    let Ok(key) = crate::sign::TrustedKey::parse(&signer.public_key()) else {
        return false;
    };
    old.key_id == signer.key_id
        && old.trusted_comment() == new.trusted_comment()
        && old.verify(data, &[key], "signature").is_ok()
}

/// Where a publisher's `--registry` points: a local index directory, or an index in a GitHub
/// repository (changed through a pull request).
pub enum IndexTarget {
    Dir(PathBuf),
    Repo(crate::publish::pull_request::IndexRepo),
}

/// Resolves `--registry`: a name from `$PTD_HOME/config.toml` (its `index`), a directory or
/// `file://` URL, or `https://github.com/OWNER/REPO[/tree/BRANCH[/PATH]]` (PATH defaults to
/// `index_path`, BRANCH to `base`).
pub fn index_target(
    config: &crate::config::Config,
    spec: &str,
    index_path: &str,
    base: &str,
) -> Result<IndexTarget> {
    let spec = config
        .registries
        .get(spec)
        .map(|r| r.index.as_str())
        .unwrap_or(spec);
    if let Some(rest) = spec.strip_prefix("https://github.com/") {
        let parts: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
        let (repo, branch, path) = match parts.as_slice() {
            [o, r] => (format!("{o}/{r}"), base.to_string(), index_path.to_string()),
            [o, r, "tree", b, p @ ..] => (
                format!("{o}/{r}"),
                b.to_string(),
                if p.is_empty() {
                    index_path.to_string()
                } else {
                    p.join("/")
                },
            ),
            _ => {
                return Err(Error::Usage(format!(
                    "--registry {spec}: use https://github.com/OWNER/REPO[/tree/BRANCH/PATH]"
                )));
            }
        };
        return Ok(IndexTarget::Repo(
            crate::publish::pull_request::IndexRepo::new(&repo, &path, &branch)?,
        ));
    }
    if spec.starts_with("http://") || spec.starts_with("https://") {
        return Err(Error::Usage(format!(
            "--registry {spec}: an index served over HTTP cannot be changed from here; publish into its checkout (a directory) or its GitHub repository"
        )));
    }
    Ok(IndexTarget::Dir(PathBuf::from(
        spec.strip_prefix("file://").unwrap_or(spec),
    )))
}

/// `ptd yank NAME@VERSION [--undo]`.
pub fn yank(
    index_dir: &Path,
    name: &str,
    version: &semver::Version,
    undo: bool,
    signer: &Signer,
) -> Result<()> {
    IndexDir::new(index_dir).yank(name, version, !undo, signer)?;
    Ok(())
}
