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

/// The name of a registry made in `dir`: `name` if given, else the directory's own name, which
/// must then be a plain word (letters, digits, `.`, `_`, `-`).
pub fn registry_name(dir: &Path, name: Option<&str>) -> Result<String> {
    if let Some(n) = name {
        return Ok(n.to_string());
    }
    let abs = std::path::absolute(dir).map_err(|e| Error::io(dir, e))?;
    let base = abs
        .components()
        .next_back()
        .and_then(|c| match c {
            std::path::Component::Normal(n) => n.to_str(),
            _ => None,
        })
        .unwrap_or_default();
    let plain = !base.is_empty()
        && !base.starts_with('.')
        && base
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !plain {
        return Err(Error::Usage(format!(
            "{}: the registry's name defaults to the directory's name, and '{base}' is not a plain name (letters, digits, '.', '_', '-'); pass --name NAME",
            dir.display()
        )));
    }
    Ok(base.to_string())
}

/// The artifact location a directory registry made without `--artifacts` gets: the directory
/// `<DIR>-archives` beside it (outside the index, so that archives are neither hashed into the
/// snapshot nor committed with the index), as an absolute `file://` URL; the directory is made.
pub fn default_artifacts(dir: &Path) -> Result<ArtifactLocation> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let abs = dir.canonicalize().map_err(|e| Error::io(dir, e))?;
    let (Some(parent), Some(base)) = (abs.parent(), abs.file_name()) else {
        return Err(Error::Usage(format!(
            "{}: no directory beside it can hold the archives; pass --artifacts URL",
            abs.display()
        )));
    };
    let archives = parent.join(format!("{}-archives", base.to_string_lossy()));
    std::fs::create_dir_all(&archives).map_err(|e| Error::io(&archives, e))?;
    Ok(crate::publish::store::dir_location(&archives)?)
}

/// `ptd registry init DIR`: `config.json`, a first signed snapshot and a `README.md` that
/// tells users how to reach the registry and which key to pin, and publishers how to publish.
/// Without artifact locations, the registry gets [`default_artifacts`]. `key_file` is where
/// the secret key is, when it was made here (under `$PTD_HOME/keys/`).
pub fn registry_init(
    dir: &Path,
    name: &str,
    mut artifacts: Vec<ArtifactLocation>,
    signer: &Signer,
    key_file: Option<&Path>,
) -> Result<()> {
    if dir.join("config.json").exists() {
        return Err(PublishError::Refused(format!(
            "{}: a registry already exists here",
            dir.join("config.json").display()
        ))
        .into());
    }
    if artifacts.is_empty() {
        artifacts.push(default_artifacts(dir)?);
    }
    IndexDir::new(dir).init(name, artifacts.clone(), signer)?;
    let readme = dir.join("README.md");
    if !readme.exists() {
        let here = dir
            .canonicalize()
            .map_err(|e| Error::io(dir, e))?
            .display()
            .to_string();
        let locations: String = artifacts
            .iter()
            .map(|a| format!("- `{}` ({})\n", a.url(), a.kind()))
            .collect();
        let writable: Vec<&ArtifactLocation> = artifacts
            .iter()
            .filter(|a| matches!(Store::from_location(a), Ok(Some(_))))
            .collect();
        let store_note = match writable.first() {
            Some(a) => format!("Archives go to `{}`, the first location ptd can write.", a.url()),
            None => "None of these locations is one ptd can write: add `--store DIR|s3://BUCKET/PREFIX|github:OWNER/REPO`\n(it is then added to the locations above).".to_string(),
        };
        let key_note = match key_file {
            Some(k) => format!(
                "The secret key is `{}`\n\
                 (never put it in this directory): `ptd publish` and `ptd yank` find it there by its id;\n\
                 elsewhere (CI) pass `--key FILE` or put the key file's text in `PTD_SIGNING_KEY`.\n\
                 An encrypted key's password comes from `PTD_SIGNING_KEY_PASSWORD`.",
                k.display()
            ),
            None => "`ptd publish` and `ptd yank` find the secret key under `$PTD_HOME/keys/` (as `<name>.key` beside\n\
                 its `<name>.pub`) by its id; elsewhere pass `--key FILE` or put the key file's text in\n\
                 `PTD_SIGNING_KEY`. An encrypted key's password comes from `PTD_SIGNING_KEY_PASSWORD`."
                .to_string(),
        };
        let text = format!(
            "# ptd registry `{name}`\n\n\
             This directory is a ptd registry index (format 1, see ptd's `docs/registry-protocol.md`):\n\
             `config.json`, one file of JSON lines per model under `<namespace>/<name>`, and\n\
             `snapshot.json`, signed in `snapshot.json.minisig`.\n\n\
             Archives are downloaded from, in order:\n\n{locations}\n\
             Index and archives are signed with minisign key `{id}`:\n\n    {pk}\n\n\
             ## Using it\n\n\
             Add it to `$PTD_HOME/config.toml` (default `~/.ptd/config.toml`), pinning the key (`index` is\n\
             this directory; use its URL where it is served over HTTP):\n\n\
             ```toml\n[registries.{name}]\nindex = \"{here}\"\nkeys = [\"{pk}\"]\n```\n\n\
             then `ptd install --registry {name} NAMESPACE/MODEL@REQ`, or `registry = \"{name}\"` in a\n\
             project's `ptd.toml`.\n\n\
             ## Publishing\n\n\
             ```sh\nptd publish <model dir> --registry {here}\nptd yank NAMESPACE/MODEL@VERSION --registry {here}\n```\n\n\
             `ptd publish` builds, signs and uploads the archive, then adds its line here and re-signs the\n\
             snapshot; commit the result. `ptd yank` marks a version yanked (`--undo` reverses it).\n\
             {store_note}\n\n\
             {key_note}\n\n\
             Never edit the index files by hand without `ptd registry resign`.\n",
            id = signer.key_id,
            pk = signer.public_key(),
        );
        crate::fs::write_atomic(&readme, text.as_bytes()).map_err(|e| Error::io(&readme, e))?;
    }
    Ok(())
}

/// The secret key that signs changes to the registry whose index is `index` (a directory, if
/// known): `key` (`--key`), else `$PTD_SIGNING_KEY`, else the key pair under `$PTD_HOME/keys/`
/// (`<name>.key` beside `<name>.pub`) whose public key is one of the registry's keys in its
/// `config.json`. The password of an encrypted key comes from `$PTD_SIGNING_KEY_PASSWORD`.
pub fn registry_signer(key: Option<&Path>, index: Option<&Path>) -> Result<Signer> {
    let from_env = std::env::var("PTD_SIGNING_KEY").is_ok_and(|v| !v.is_empty());
    let (None, false, Some(index)) = (key, from_env, index) else {
        return super::keys::signer(key);
    };
    let config = IndexDir::new(index).config()?;
    let home = crate::install::Home::from_env();
    let keys = home.root.join("keys");
    let ids: Vec<&str> = config.keys.iter().map(|k| k.id.as_str()).collect();
    let mut publics: Vec<PathBuf> = match std::fs::read_dir(&keys) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "pub"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::io(&keys, e)),
    };
    publics.sort();
    let mut unpaired = Vec::new();
    for public in &publics {
        let Ok(text) = std::fs::read_to_string(public) else {
            continue;
        };
        let Ok(pk) = crate::sign::TrustedKey::parse(&text) else {
            continue;
        };
        if !ids.contains(&pk.key_id.as_str()) {
            continue;
        }
        let secret = public.with_extension("key");
        if !secret.exists() {
            unpaired.push(format!("{} has no {}", public.display(), secret.display()));
            continue;
        }
        let password = std::env::var("PTD_SIGNING_KEY_PASSWORD")
            .ok()
            .filter(|p| !p.is_empty());
        return match Signer::read(&secret, password.as_deref()) {
            Ok(s) => Ok(s),
            Err(e) if password.is_none() => Err(Error::Usage(format!(
                "{}: {e} (an encrypted key needs its password in PTD_SIGNING_KEY_PASSWORD)",
                secret.display()
            ))),
            Err(e) => Err(e.into()),
        };
    }
    let unpaired = if unpaired.is_empty() {
        String::new()
    } else {
        format!(" ({})", unpaired.join("; "))
    };
    Err(Error::Usage(format!(
        "no signing key for registry '{}' (key {}): none of the {} public key file(s) in {} is one of its keys{unpaired}, and neither --key nor PTD_SIGNING_KEY was given; pass --key FILE, set PTD_SIGNING_KEY, or put the key pair there as <name>.key and <name>.pub",
        config.name,
        ids.join(", "),
        publics.len(),
        keys.display()
    )))
}

/// The key a new registry signs with: `key`, else `PTD_SIGNING_KEY`, else a new key pair under
/// `$PTD_HOME/keys/` (made with the password `password` gives, if any); with the new pair's
/// files.
pub fn registry_key(
    key: Option<&Path>,
    name: &str,
    password: impl FnOnce() -> Result<Option<String>>,
) -> Result<(Signer, Option<super::keys::KeyFiles>)> {
    let from_env = std::env::var("PTD_SIGNING_KEY").is_ok_and(|v| !v.is_empty());
    if key.is_some() || from_env {
        return Ok((super::keys::signer(key)?, None));
    }
    let password = password()?;
    let home = crate::install::Home::from_env();
    let (s, files) = new_registry_key(&home, name, password.as_deref())?;
    Ok((s, Some(files)))
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
    /// The `--store` given was none of the registry's artifact locations: this location of it
    /// was appended to `config.json` (in a dry run: would be), so installers find the files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location_added: Option<ArtifactLocation>,
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
    let given = req.store.is_some();
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
                location_added: None,
            });
        }
        let store = choose_store(&index, req.store)?;
        let unlisted = check_unlisted(&index, &store, given).await?;
        let files = upload_all(&store, &grown, &upload, req.signer, req.dry_run).await?;
        let location_added = record_store(
            &index,
            &store,
            &grown,
            &upload,
            unlisted,
            req.signer,
            req.dry_run,
        )
        .await?;
        if req.dry_run {
            return Ok(Report {
                status: "dry-run".into(),
                entry: grown,
                files,
                pull_request: None,
                location_added,
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
            location_added,
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
    let unlisted = check_unlisted(&index, &store, given).await?;
    let files = upload_all(&store, &entry, &upload, req.signer, req.dry_run).await?;
    let location_added = record_store(
        &index,
        &store,
        &entry,
        &upload,
        unlisted,
        req.signer,
        req.dry_run,
    )
    .await?;
    if req.dry_run {
        return Ok(Report {
            status: "dry-run".into(),
            entry,
            files,
            pull_request: None,
            location_added,
        });
    }
    index.add(entry.clone(), req.signer)?;
    Ok(Report {
        status: "published".into(),
        entry,
        files,
        pull_request: None,
        location_added,
    })
}

/// Whether `store`, given with `--store`, is none of the registry's artifact locations (and so
/// must be recorded for installers to find what goes there). A directory or S3 location is
/// formed now, so that one that cannot be a location is refused before anything is uploaded.
async fn check_unlisted(index: &IndexDir, store: &Store, given: bool) -> Result<bool> {
    if !given {
        return Ok(false);
    }
    let config = index.config()?;
    if config.artifacts.iter().any(|loc| store.serves(loc)) {
        return Ok(false);
    }
    if !matches!(store.target(), crate::transport::Location::GitHub { .. }) {
        store.location(None).await?;
    }
    Ok(true)
}

/// Whether one of the registry's `http(s)://` or `file://` locations already serves the
/// version's archive as uploaded (a store published over HTTP, or shared under another path):
/// its signature there is the one in the store, or an equivalent one.
async fn served_elsewhere(
    index: &IndexDir,
    entry: &IndexEntry,
    upload: &crate::publish::Upload,
    signer: &Signer,
) -> Result<bool> {
    // An uploaded file and its signature (the archive's; a platform archive's when only those
    // were uploaded).
    let Some((file, archive, sig)) = upload.iter().find_map(|(n, data)| {
        let sig_name = format!("{n}.minisig");
        upload
            .iter()
            .find(|(m, _)| *m == sig_name)
            .map(|(_, sig)| (n, data, sig))
    }) else {
        return Ok(false);
    };
    let mut opts = crate::fetch::HttpOptions::from_env();
    opts.attempts = 1;
    opts.quiet = true;
    let http = crate::fetch::Http::new(opts)?;
    for loc in &index.config()?.artifacts {
        let url = format!(
            "{}.minisig",
            crate::install::expand_url(&loc.url(), entry, file)
        );
        let there = if let Some(p) = url.strip_prefix("file://") {
            std::fs::read(p).ok()
        } else if url.starts_with("http://") || url.starts_with("https://") {
            match http
                .get_conditional(&url, None, None, crate::fetch::Metadata::Signature)
                .await
            {
                Ok(crate::fetch::Conditional::Body { bytes, .. }) => Some(bytes),
                _ => None,
            }
        } else {
            None
        };
        if there.is_some_and(|t| t == *sig || equivalent_signature(&t, sig, archive, signer)) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Appends the location of an unlisted store to the registry's (after the upload, before the
/// index line), re-signing, unless a listed location serves what was uploaded; in a dry run
/// only says which it would be.
async fn record_store(
    index: &IndexDir,
    store: &Store,
    entry: &IndexEntry,
    upload: &crate::publish::Upload,
    unlisted: bool,
    signer: &Signer,
    dry_run: bool,
) -> Result<Option<ArtifactLocation>> {
    if !unlisted || (!dry_run && served_elsewhere(index, entry, upload, signer).await?) {
        return Ok(None);
    }
    let tag = crate::install::release_tag(entry);
    let loc = store
        .location(if dry_run { None } else { Some(&tag) })
        .await?;
    if !dry_run && !index.add_location(&loc, signer)? {
        return Ok(None);
    }
    Ok(Some(loc))
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
