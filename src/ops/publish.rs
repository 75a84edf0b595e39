//! Publishing a model version: build, sign, upload to the artifact store, add the index line,
//! re-sign the snapshot. The index is a local directory (a checkout of the index repository) or
//! a GitHub repository (through a pull request); the store is the registry's first writable
//! artifact location, or the one given (listed in `config.json` if it was not).

use crate::bundle::Built;
use crate::index::{ArtifactLocation, IndexEntry};
use crate::publish::Put;
use crate::publish::store::Store;
use crate::publish::{IndexDir, PublishError, sign_archive, sign_platform_archive};
use crate::sign::Signer;
use crate::{Error, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};

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

/// What publishing did with a version (serialised as `published`, `unchanged` or `dry-run`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Published,
    /// The same content was already published.
    Unchanged,
    /// Nothing was changed (`--dry-run`).
    DryRun,
}

/// What happened to one file (serialised as `created`, `unchanged` or `would upload`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Action {
    #[serde(rename = "created")]
    Created,
    #[serde(rename = "unchanged")]
    Unchanged,
    #[serde(rename = "would upload")]
    WouldUpload,
}

impl Action {
    /// The status line's verb.
    pub fn verb(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Unchanged => "unchanged",
            Action::WouldUpload => "would upload",
        }
    }
}

/// One file and what happened (or would happen) to it.
#[derive(Clone, Debug, Serialize)]
pub struct Uploaded {
    pub file: String,
    pub to: String,
    pub size: u64,
    pub action: Action,
}

/// The outcome of a publish.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub status: Status,
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
    if report.status == Status::Published && !dry_run {
        let e = &report.entry;
        let tag = crate::install::release_tag(e.release());
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
    if super::family::family_recipe(req.input)?.is_some() {
        return Err(Error::Usage(format!(
            "{} declares [variants]: publish it as a family, with its recipe archive (`ptd publish DIR [--variants SET]`)",
            req.input.display()
        )));
    }
    let input = super::build::open_input(req.input, true)?;
    if !input.meta().variants.is_empty() {
        return Err(Error::Usage(format!(
            "{} is the member '{}' of the family {}: publish members from the recipe, `ptd publish DIR --variants SET --prebuilt {}`",
            req.input.display(),
            input.meta().variants,
            input.meta().name,
            req.input
                .parent()
                .map_or(".".to_string(), |p| p.display().to_string())
        )));
    }
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
                status: Status::Unchanged,
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
                status: Status::DryRun,
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
            status: Status::Published,
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
            status: Status::DryRun,
            entry,
            files,
            pull_request: None,
            location_added,
        });
    }
    index.add(entry.clone(), req.signer)?;
    Ok(Report {
        status: Status::Published,
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
            crate::install::expand_url(&loc.url(), entry.release(), file)
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
    let tag = crate::install::release_tag(entry.release());
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
    let tag = crate::install::release_tag(entry.release());
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
            Action::WouldUpload
        } else {
            match store.put_new(&tag, file, bytes, &same).await? {
                Put::Created => Action::Created,
                Put::Unchanged => Action::Unchanged,
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

/// A family publish's extra settings.
pub struct FamilyRequest<'a> {
    /// `NAME=SET` words (`samples=2..50`); none: the default member alone.
    pub variants: &'a [String],
    /// Threads building members.
    pub jobs: usize,
    /// A directory of members already built (`ptd build --variants ... --shard I/N`).
    pub prebuilt: Option<&'a Path>,
    /// A progress bar on standard error (when it is a terminal).
    pub progress: bool,
}

/// One member of a family publish.
#[derive(Clone, Debug, Serialize)]
pub struct MemberReport {
    pub variants: crate::model::Variants,
    pub file: String,
    pub content_hash: String,
    pub sha256: String,
    pub size: u64,
    pub status: Status,
    /// Where its bundle came from: `built` here, `prebuilt` (read from `--prebuilt DIR`), or
    /// `index` (already published).
    pub source: &'static str,
}

/// The outcome of a family publish.
#[derive(Clone, Debug, Serialize)]
pub struct FamilyReport {
    /// `published` when any member was added, `dry-run`, or `unchanged`.
    pub status: Status,
    pub name: String,
    pub version: semver::Version,
    pub family: crate::index::Family,
    /// Every member of the set asked for (the default member included), in its order.
    pub members: Vec<MemberReport>,
    pub files: Vec<Uploaded>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<crate::publish::pull_request::PullRequest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location_added: Option<ArtifactLocation>,
}

impl FamilyReport {
    /// How many members have each status.
    pub fn count(&self, status: Status) -> usize {
        self.members.iter().filter(|m| m.status == status).count()
    }
}

/// `ptd publish DIR [--variants SET...]` for a recipe that declares `[variants]`: every member
/// of the set and the default member, each a signed bundle with its own index line carrying
/// the family (its declarations and signed recipe archive), the recipe archive uploaded beside
/// them, then all new lines added in one change and the snapshot re-signed once. Members
/// already published are left as they are (their lines, not rebuilt); a version published
/// from another recipe (its recipe archive differs) is refused before anything is uploaded.
pub async fn publish_family(mut req: Request<'_>, fam: &FamilyRequest<'_>) -> Result<FamilyReport> {
    let Some(repo) = req.index_repo.take() else {
        return publish_family_local(req, fam).await;
    };
    let tmp = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let checkout = repo.checkout(tmp.path()).await?;
    let dry_run = req.dry_run;
    let mut report = publish_family_local(
        Request {
            index: tmp.path(),
            ..req
        },
        fam,
    )
    .await?;
    if report.status == Status::Published && !dry_run {
        let tag = crate::install::release_tag(crate::transport::Release {
            name: &report.name,
            version: &report.version,
        });
        let added: Vec<String> = report
            .members
            .iter()
            .filter(|m| m.status == Status::Published)
            .map(|m| format!("- {} (content hash {})", m.variants, m.content_hash))
            .collect();
        let title = format!(
            "Publish {} {} ({} members)",
            report.name,
            report.version,
            added.len()
        );
        let recipe = report.family.recipe.as_ref().map_or(String::new(), |r| {
            format!("recipe archive {} (SHA-256 {}), ", r.file, r.sha256)
        });
        let body = format!(
            "Adds {} {} to the index: {recipe}members\n\n{}\n\nand re-signs the snapshot.\n\nOpened by ptd publish.",
            report.name,
            report.version,
            added.join("\n")
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

async fn publish_family_local(req: Request<'_>, fam: &FamilyRequest<'_>) -> Result<FamilyReport> {
    use super::family;
    if !req.jax.is_empty() {
        return Err(Error::Usage(
            "--jax-archive and --phasic-archive belong to one bundle; publish a family's members without them".into(),
        ));
    }
    let recipe = family::require_family(req.input)?;
    let members = family::members(&recipe, fam.variants)?;
    let (name, version) = (recipe.meta.name.clone(), recipe.meta.version.clone());
    let dir = recipe.path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let recipe_bytes =
        crate::bundle::recipe::pack_recipe(&recipe, &|p: &Path| std::fs::read(dir.join(p)))?;
    let (archive, recipe_upload) =
        crate::publish::sign_recipe(recipe_bytes, &name, &version, req.signer)?;
    let family = crate::index::Family {
        variants: recipe.variants.clone(),
        recipe: Some(archive),
    };
    let index = IndexDir::new(req.index);
    let existing: Vec<IndexEntry> = index
        .read_entries(&name)?
        .into_iter()
        .filter(|e| e.version == version)
        .collect();
    if let Some(old) = existing.first()
        && old.family.as_ref() != Some(&family)
    {
        return Err(crate::publish::family_changed(old).into());
    }
    let published = |v: &crate::model::Variants| existing.iter().find(|e| &e.variants == v);
    // The members to add: read from --prebuilt when there, the rest built here.
    let todo: Vec<usize> = (0..members.len())
        .filter(|&i| published(&members[i]).is_none())
        .collect();
    let mut got: Vec<Option<(family::Member, &'static str)>> =
        (0..members.len()).map(|_| None).collect();
    let mut to_build = Vec::new();
    for &i in &todo {
        match fam
            .prebuilt
            .map(|d| family::read_prebuilt(&recipe, &members[i], d))
            .transpose()?
            .flatten()
        {
            Some(m) => got[i] = Some((m, "prebuilt")),
            None => to_build.push(i),
        }
    }
    let wanted: Vec<crate::model::Variants> =
        to_build.iter().map(|&i| members[i].clone()).collect();
    let built = family::build_members(
        &recipe,
        &wanted,
        fam.jobs,
        super::build::configured_limits(&crate::install::Home::from_env())?,
        fam.progress,
    )?;
    for (i, m) in to_build.iter().zip(built) {
        got[*i] = Some((m, "built"));
    }
    let status = if req.dry_run {
        Status::DryRun
    } else {
        Status::Published
    };
    let mut entries = Vec::new();
    let mut upload = crate::publish::Upload::new();
    let mut reports = Vec::new();
    for (i, v) in members.iter().enumerate() {
        if let Some(old) = published(v) {
            reports.push(MemberReport {
                variants: v.clone(),
                file: old.file.clone(),
                content_hash: old.content_hash.clone(),
                sha256: old.sha256.clone(),
                size: old.size,
                status: Status::Unchanged,
                source: "index",
            });
            continue;
        }
        let (m, source) = got[i].take().expect("every new member was read or built");
        let (mut entry, files) = crate::publish::sign_bundle(
            m.bytes,
            &m.manifest,
            &m.meta,
            req.signer,
            req.recipe.clone(),
        )?;
        entry.family = Some(family.clone());
        reports.push(MemberReport {
            variants: v.clone(),
            file: entry.file.clone(),
            content_hash: entry.content_hash.clone(),
            sha256: entry.sha256.clone(),
            size: entry.size,
            status,
            source,
        });
        upload.extend(files);
        entries.push(entry);
    }
    let mut report = FamilyReport {
        status: Status::Unchanged,
        name,
        version,
        family,
        members: reports,
        files: Vec::new(),
        pull_request: None,
        location_added: None,
    };
    let Some(first) = entries.first().cloned() else {
        return Ok(report);
    };
    // The recipe archive first: a member's line never points to a family whose recipe is
    // missing.
    let mut all = recipe_upload;
    all.extend(upload);
    let given = req.store.is_some();
    let store = choose_store(&index, req.store)?;
    let unlisted = check_unlisted(&index, &store, given).await?;
    report.files = upload_all(&store, &first, &all, req.signer, req.dry_run).await?;
    report.location_added = record_store(
        &index,
        &store,
        &first,
        &all,
        unlisted,
        req.signer,
        req.dry_run,
    )
    .await?;
    report.status = status;
    if req.dry_run {
        return Ok(report);
    }
    let added = index.add_all(entries, req.signer)?;
    // A member another publish added meanwhile is unchanged, not published.
    let mut added = added.into_iter();
    for m in report.members.iter_mut().filter(|m| m.source != "index") {
        if let Some(crate::publish::Published::Unchanged(_)) = added.next() {
            m.status = Status::Unchanged;
        }
    }
    if report.count(Status::Published) == 0 {
        report.status = Status::Unchanged;
    }
    Ok(report)
}
