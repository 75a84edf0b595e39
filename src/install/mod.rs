//! Installing a resolved model version: obtain its archive (download from the registry's
//! locations in order, or rebuild it from the registry's own recipe), verify it, and place it in
//! the store and the cache tiers.
//!
//! Layout of `$PTD_HOME` (default `~/.ptd`):
//!
//! ```text
//! archives/<sha256>.ptd.tar.zst   content-addressed archives, as downloaded
//! bundles/<content hash>/          the extracted, verified files of each bundle
//! ptd.db                           SQLite: what is installed (WAL mode)
//! locks/                           per-archive lock files
//! tmp/                             partial downloads and extractions
//! registries/                      per-registry state: newest snapshot seen, keys, index cache
//! ```
//!
//! Tier 1 is `$PHASIC_CACHE_DIR/symbolic/` (default `~/.phasic_cache`): `<phasic hash>.json`
//! (the symbolic DAG), `<phasic hash>.meta` and `index.db`. Every file is written to a temporary
//! name and renamed into place; directories are renamed into place whole, so a reader never sees
//! a partial entry and an interrupted install leaves only temporary files behind.

pub mod db;

use crate::bundle;
use crate::fetch::{FetchError, Http};
use crate::index::registry::Registry;
use crate::index::source::{EMBEDDED_MODELS, write_atomic};
use crate::index::{IndexEntry, PlatformArtifact, archive_trusted_comment};
use crate::model::Recipe;
use crate::sign::Signature;
use db::{Db, DbError, Installed, SymbolicIndex};
use std::path::{Path, PathBuf};

/// The directories ptd uses.
#[derive(Clone, Debug)]
pub struct Home {
    pub root: PathBuf,
    pub phasic_cache: PathBuf,
    pub jax_cache: PathBuf,
    /// A read-only second layer: another ptd home (for example on a cluster's shared
    /// filesystem, or copied into an S3 bucket) whose verified archives are used before
    /// anything is downloaded.
    pub shared: Option<SharedLayer>,
}

/// Where a shared cache layer is: a ptd home in a directory, or the same layout under an S3
/// prefix (`<prefix>/archives/<sha256>.ptd.tar.zst`, `<prefix>/ptd.db`).
#[derive(Clone, Debug, PartialEq)]
pub enum SharedLayer {
    Dir(PathBuf),
    S3 {
        bucket: String,
        prefix: String,
        endpoint: Option<String>,
        region: Option<String>,
    },
}

impl SharedLayer {
    /// `s3://bucket/prefix` (with an endpoint and region for S3-compatible services) or a
    /// directory.
    pub fn parse(spec: &str, endpoint: Option<&str>, region: Option<&str>) -> SharedLayer {
        match spec.strip_prefix("s3://") {
            Some(rest) => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                SharedLayer::S3 {
                    bucket: bucket.to_string(),
                    prefix: prefix.trim_matches('/').to_string(),
                    endpoint: endpoint.map(str::to_string),
                    region: region.map(str::to_string),
                }
            }
            None => SharedLayer::Dir(PathBuf::from(spec.strip_prefix("file://").unwrap_or(spec))),
        }
    }

    /// The object key (or path) of `rel` in the layer.
    pub fn key(&self, rel: &str) -> String {
        match self {
            SharedLayer::Dir(d) => d.join(rel).display().to_string(),
            SharedLayer::S3 { prefix, .. } if prefix.is_empty() => rel.to_string(),
            SharedLayer::S3 { prefix, .. } => format!("{prefix}/{rel}"),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            SharedLayer::Dir(d) => d.display().to_string(),
            SharedLayer::S3 {
                bucket,
                prefix,
                endpoint,
                ..
            } => match endpoint {
                Some(e) => format!("s3://{bucket}/{prefix} (at {e})"),
                None => format!("s3://{bucket}/{prefix}"),
            },
        }
    }

    /// A client for an S3 layer's bucket. A layer that does not answer is passed over: at most
    /// two retries within ten seconds.
    pub fn bucket(&self) -> Option<Result<crate::fetch::s3::Bucket, FetchError>> {
        match self {
            SharedLayer::Dir(_) => None,
            SharedLayer::S3 {
                bucket,
                endpoint,
                region,
                ..
            } => Some(crate::fetch::s3::Bucket::new_impatient(
                bucket,
                endpoint.as_deref(),
                region.as_deref(),
                std::time::Duration::from_secs(10),
            )),
        }
    }
}

fn home_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

impl Home {
    /// `$PTD_HOME`, `$PHASIC_CACHE_DIR`, `$JAX_COMPILATION_CACHE_DIR`, with their defaults.
    pub fn from_env() -> Home {
        let var = |k: &str, d: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| home_dir().join(d))
        };
        Home {
            root: var("PTD_HOME", ".ptd"),
            phasic_cache: var("PHASIC_CACHE_DIR", ".phasic_cache"),
            jax_cache: var("JAX_COMPILATION_CACHE_DIR", ".jax_cache"),
            shared: None,
        }
    }

    pub fn archives(&self) -> PathBuf {
        self.root.join("archives")
    }
    pub fn bundles(&self) -> PathBuf {
        self.root.join("bundles")
    }
    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }
    pub fn locks(&self) -> PathBuf {
        self.root.join("locks")
    }
    pub fn registries(&self) -> PathBuf {
        self.root.join("registries")
    }
    /// Answers cached about the user's Python (its JAX).
    pub fn python_state(&self) -> PathBuf {
        self.root.join("python")
    }
    pub fn index_cache(&self) -> PathBuf {
        self.root.join("registries").join("index-cache")
    }
    pub fn db_path(&self) -> PathBuf {
        self.root.join("ptd.db")
    }
    pub fn symbolic(&self) -> PathBuf {
        self.phasic_cache.join("symbolic")
    }
    pub fn archive_path(&self, sha256: &str) -> PathBuf {
        self.archives().join(format!("{sha256}.ptd.tar.zst"))
    }
    pub fn bundle_dir(&self, content_hash: &str) -> PathBuf {
        self.bundles().join(content_hash)
    }

    /// Creates the directories and opens the database.
    pub fn open_db(&self) -> Result<Db, InstallError> {
        for d in [
            self.archives(),
            self.bundles(),
            self.tmp(),
            self.locks(),
            self.registries(),
        ] {
            std::fs::create_dir_all(&d).map_err(|e| InstallError::io(&d, e))?;
        }
        Ok(Db::open(&self.db_path())?)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Sign(#[from] crate::sign::SignError),
    #[error(transparent)]
    Bundle(#[from] crate::bundle::BundleError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{name} {version}: {message}; nothing was installed")]
    Mismatch {
        name: String,
        version: String,
        message: String,
    },
    #[error("{name} {version}: no artifact location answered{offline}:\n  {tried}")]
    Unavailable {
        name: String,
        version: String,
        offline: &'static str,
        tried: String,
    },
}

impl InstallError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        InstallError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// How an archive was obtained.
#[derive(Clone, Debug, PartialEq)]
pub enum Origin {
    /// Already in the store.
    Store,
    /// Copied (verified) from the shared cache layer.
    Shared(String),
    Downloaded(String),
    /// Rebuilt from the registry's recipe; the content hash matched the index.
    Rebuilt {
        recipe: String,
        same_archive: bool,
    },
}

impl Origin {
    pub fn describe(&self) -> String {
        match self {
            Origin::Store => "already in the store".into(),
            Origin::Shared(p) => format!("copied from the shared cache {p}"),
            Origin::Downloaded(u) => format!("downloaded from {u}"),
            Origin::Rebuilt {
                recipe,
                same_archive,
            } => format!(
                "rebuilt from the recipe models/{recipe} (no artifact location answered); content hash matches the signed index{}",
                if *same_archive {
                    ", archive byte-identical"
                } else {
                    ""
                }
            ),
        }
    }
}

/// The result of installing one version.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub installed: Installed,
    pub origin: Origin,
    /// It was installed before this call.
    pub already: bool,
    /// Files placed in (or already in) the JAX compilation cache for this platform.
    pub jax_files: usize,
    /// phasic's own elimination artifacts placed in (or already in) `$PHASIC_CACHE_DIR`.
    pub phasic_files: usize,
    /// Why some of the version's platform archives (JAX, phasic) were not installed.
    pub jax_note: Option<String>,
    /// Tier 1 already held other bytes under this graph's hash; they were left in place.
    pub tier1_note: Option<String>,
}

/// Platform archive files to place, and why others were not.
#[derive(Default)]
struct Extras {
    jax: bundle::Files,
    phasic: bundle::Files,
    notes: Vec<String>,
}

impl Extras {
    fn note(&self) -> Option<String> {
        (!self.notes.is_empty()).then(|| self.notes.join("; "))
    }
}

pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// A file to download and verify against its signature.
struct Signed<'a> {
    url: &'a str,
    /// The location `url` was expanded from (endpoint and region of `s3://` locations).
    location: &'a crate::index::ArtifactLocation,
    /// Another client and signature URL for `url` (private GitHub release assets).
    via: Option<(&'a Http, &'a str)>,
    sha256: &'a str,
    size: u64,
    trusted_comment: &'a str,
}

/// The trusted comment signed into a platform archive's `.minisig`.
pub fn platform_trusted_comment(
    name: &str,
    version: &semver::Version,
    platform: &str,
    content_hash: &str,
) -> String {
    format!("ptd-jax name={name} version={version} platform={platform} content_hash={content_hash}")
}

/// The release tag of a version: `<namespace>-<name>-v<version>`.
pub fn release_tag(e: &IndexEntry) -> String {
    let (ns, model) = e.name.split_once('/').unwrap_or(("", &e.name));
    format!("{ns}-{model}-v{}", e.version)
}

/// Expands an artifact URL template for an index entry.
pub fn expand_url(template: &str, e: &IndexEntry, file: &str) -> String {
    let (ns, model) = e.name.split_once('/').unwrap_or(("", &e.name));
    template
        .replace("{file}", file)
        .replace("{tag}", &release_tag(e))
        .replace("{name}", &e.name)
        .replace("{namespace}", ns)
        .replace("{model}", model)
        .replace("{version}", &e.version.to_string())
}

/// Installs index entries of one registry.
pub struct Installer<'a> {
    pub home: &'a Home,
    pub http: &'a Http,
    pub registry: &'a Registry,
    /// How the user named the registry (`default`, a configured name, a URL or a directory):
    /// recorded in the database and in lockfiles.
    pub label: &'a str,
    pub offline: bool,
    /// Which JAX archives fit this machine.
    pub jax: &'a crate::platform::Target,
}

/// An archive in the store that is signed but not what the index says: it is removed (the
/// caller holds its lock) and the mismatch reported.
fn refuse_stored(path: &Path, e: &IndexEntry, message: String) -> InstallError {
    let _ = std::fs::remove_file(path);
    InstallError::Mismatch {
        name: e.name.clone(),
        version: e.version.to_string(),
        message,
    }
}

pub use crate::lock::enabled as locks_enabled;

/// Opens `path` and takes an exclusive lock on it (released when the file is dropped), unless
/// locks are off ([`crate::lock::exclusive`]).
pub fn lock_file(path: &Path) -> Result<std::fs::File, InstallError> {
    crate::lock::exclusive(path).map_err(|e| InstallError::io(path, e))
}

impl Installer<'_> {
    /// Installs one version (idempotent).
    pub async fn install(&self, entry: &IndexEntry) -> Result<Outcome, InstallError> {
        let mut db = self.home.open_db()?;
        // One process at a time installs (or evicts) a given archive; the others wait and
        // then find it installed.
        let lock_path = self.home.locks().join(format!("{}.lock", entry.sha256));
        let _lock = tokio::task::spawn_blocking(move || lock_file(&lock_path))
            .await
            .expect("lock task")?;
        if entry.kind == crate::index::ArchiveKind::PhasicArtifact {
            return self.install_phasic_artifact(entry).await;
        }
        let registry = self.label.to_string();
        let version = entry.version.to_string();
        let now = now_rfc3339();
        if let Some(i) = db.get(&entry.name, &version, &registry)?
            && i.content_hash == entry.content_hash
            && self
                .home
                .bundle_dir(&i.content_hash)
                .join("manifest.json")
                .is_file()
            && self.home.archive_path(&i.archive_sha256).is_file()
        {
            let extras = self.obtain_platform(entry).await?;
            let dir = self.home.bundle_dir(&i.content_hash);
            refresh_evaluator(&dir)?;
            let tier1_note = self.place_tier1(&i, &dir)?;
            let jax_files = self.place_tier2(&extras.jax)?;
            let phasic_files = self.place_phasic(&extras.phasic)?;
            let jax_note = extras.note();
            db.record_hits(
                &[(entry.name.clone(), version.clone(), registry.clone())],
                &now,
                None,
            )?;
            return Ok(Outcome {
                jax_files,
                phasic_files,
                jax_note,
                tier1_note,
                installed: i,
                origin: Origin::Store,
                already: true,
            });
        }
        let (archive_sha, origin) = self.obtain(entry).await?;
        let path = self.home.archive_path(&archive_sha);
        // Decompressing, hashing and checking run on the blocking pool, so that several
        // bundles are verified at once. Nothing the manifest claims is taken on trust: the
        // graph's hashes are computed here and the DAG is checked against the graph.
        let (size, manifest, files) = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || -> Result<_, InstallError> {
                let bytes = std::fs::read(&path).map_err(|e| InstallError::io(&path, e))?;
                match checked_files(&bytes, &path.display().to_string()) {
                    Ok((m, f)) => Ok((bytes.len() as u64, m, f)),
                    Err(err) => {
                        // Signed but not a valid bundle: it must not stay in the store. The
                        // caller holds the archive's lock.
                        let _ = std::fs::remove_file(&path);
                        Err(err)
                    }
                }
            })
            .await
            .expect("verify task")?
        };
        let installed = Installed {
            name: entry.name.clone(),
            version,
            registry,
            archive_sha256: archive_sha,
            content_hash: entry.content_hash.clone(),
            phasic_hash: entry.phasic_hash.clone(),
            canonical_hash: entry.canonical_hash.clone(),
            size,
            installed_at: now,
            origin: origin.describe(),
        };
        check_manifest(&installed, &manifest)?;
        // Everything is verified before anything is placed.
        let extras = self.obtain_platform(entry).await?;
        let bundle_bytes: u64 = files.iter().map(|(_, d)| d.len() as u64).sum();
        let dir = {
            let home = self.home.clone();
            let content_hash = manifest.content_hash.clone();
            tokio::task::spawn_blocking(move || extract(&home, &content_hash, &files))
                .await
                .expect("extract task")?
        };
        let tier1_note = self.place_tier1(&installed, &dir)?;
        let jax_files = self.place_tier2(&extras.jax)?;
        let phasic_files = self.place_phasic(&extras.phasic)?;
        let jax_note = extras.note();
        record_installed(&db, &installed, bundle_bytes)?;
        db.count("store", false)?;
        Ok(Outcome {
            jax_files,
            phasic_files,
            jax_note,
            tier1_note,
            installed,
            origin,
            already: false,
        })
    }

    /// Gets the archive into the store; returns its SHA-256 and origin. The caller holds the
    /// archive's lock, so concurrent installs of the same archive download it once.
    async fn obtain(&self, e: &IndexEntry) -> Result<(String, Origin), InstallError> {
        // The caller holds the archive's lock.
        let dest = self.home.archive_path(&e.sha256);
        if dest.is_file()
            && crate::fetch::verify_file(&dest, &dest.display().to_string(), &e.sha256, e.size)
                .is_ok()
        {
            return Ok((e.sha256.clone(), Origin::Store));
        }
        if let Some(layer) = &self.home.shared {
            let part = self
                .home
                .tmp()
                .join(format!("{}.{}.part", e.sha256, std::process::id()));
            std::fs::create_dir_all(self.home.tmp())
                .map_err(|err| InstallError::io(&self.home.tmp(), err))?;
            let key = layer.key(&format!("archives/{}.ptd.tar.zst", e.sha256));
            // Read-only and unlocked: a missing, damaged or partial copy there is simply not used.
            let copied = match layer {
                SharedLayer::Dir(_) => {
                    let src = PathBuf::from(&key);
                    src.is_file() && copy_local(&src, &part, &e.sha256, e.size).is_ok()
                }
                SharedLayer::S3 { .. } => match layer.bucket() {
                    Some(Ok(bucket)) => bucket
                        .download(&key, &part, &e.sha256, e.size)
                        .await
                        .is_ok(),
                    _ => false,
                },
            };
            if copied {
                std::fs::rename(&part, &dest).map_err(|err| InstallError::io(&dest, err))?;
                return Ok((e.sha256.clone(), Origin::Shared(layer.describe())));
            }
            let _ = std::fs::remove_file(&part);
        }
        let mut tried = Vec::new();
        if !self.offline {
            for loc in &self.registry.config.artifacts {
                let url = expand_url(&loc.url, e, &e.file);
                let mut result = self.fetch_verified(e, &url, loc, &dest).await;
                // A private repository's assets: through the API, with GITHUB_TOKEN.
                if loc.kind == "github-releases"
                    && matches!(
                        &result,
                        Err(InstallError::Fetch(FetchError::Status {
                            status: 404 | 401 | 403,
                            ..
                        }))
                    )
                    && let Some(private) =
                        crate::fetch::github::PrivateAssets::new(&loc.url, self.http.options())?
                {
                    let tag = release_tag(e);
                    match private.asset_urls(&tag, &e.file).await {
                        Ok((asset, sig)) => {
                            let want =
                                archive_trusted_comment(&e.name, &e.version, &e.content_hash);
                            let item = Signed {
                                url: &asset,
                                location: loc,
                                via: Some((&private.http, &sig)),
                                sha256: &e.sha256,
                                size: e.size,
                                trusted_comment: &want,
                            };
                            result = self.fetch_signed(e, &item, &dest).await;
                            if result.is_ok() {
                                return Ok((e.sha256.clone(), Origin::Downloaded(asset)));
                            }
                        }
                        Err(f) => result = Err(InstallError::Fetch(f)),
                    }
                }
                match result {
                    Ok(()) => return Ok((e.sha256.clone(), Origin::Downloaded(url))),
                    Err(InstallError::Fetch(f)) if f.is_transport() => tried.push(f.to_string()),
                    Err(InstallError::Fetch(FetchError::Io { path, source }))
                        if url.starts_with("file://")
                            && source.kind() == std::io::ErrorKind::NotFound =>
                    {
                        tried.push(format!("{path}: not found"))
                    }
                    Err(err) => return Err(err),
                }
            }
        }
        if let Some(recipe) = &e.recipe
            && self.registry.source.is_embedded()
        {
            return self.rebuild(e, recipe).await;
        }
        Err(InstallError::Unavailable {
            name: e.name.clone(),
            version: e.version.to_string(),
            offline: if self.offline {
                " (--offline: nothing is downloaded)"
            } else {
                ""
            },
            tried: if tried.is_empty() {
                "no location was tried".into()
            } else {
                tried.join("\n  ")
            },
        })
    }

    /// Downloads archive and signature, verifies both, then moves the archive into the store.
    async fn fetch_verified(
        &self,
        e: &IndexEntry,
        url: &str,
        location: &crate::index::ArtifactLocation,
        dest: &Path,
    ) -> Result<(), InstallError> {
        let want = archive_trusted_comment(&e.name, &e.version, &e.content_hash);
        let item = Signed {
            url,
            location,
            via: None,
            sha256: &e.sha256,
            size: e.size,
            trusted_comment: &want,
        };
        self.fetch_signed(e, &item, dest).await
    }

    /// Downloads `item.url` and `item.url.minisig`; checks size, SHA-256, the signer (the key
    /// the index names, among the registry's keys), the signature and its trusted comment; only
    /// then renames the file to `dest`. On any failure nothing is left behind.
    async fn fetch_signed(
        &self,
        e: &IndexEntry,
        item: &Signed<'_>,
        dest: &Path,
    ) -> Result<(), InstallError> {
        let url = item.url;
        // With locks, one process at a time writes the partial file and a later attempt can
        // resume it; without them each process writes its own.
        let part = if locks_enabled() {
            self.home.tmp().join(format!("{}.part", item.sha256))
        } else {
            self.home
                .tmp()
                .join(format!("{}.{}.part", item.sha256, std::process::id()))
        };
        let sig_url = format!("{url}.minisig");
        let mismatch = |message: String| InstallError::Mismatch {
            name: e.name.clone(),
            version: e.version.to_string(),
            message,
        };
        let sig_text = if let Some(p) = url.strip_prefix("file://") {
            copy_local(Path::new(p), &part, item.sha256, item.size)?;
            let sp = PathBuf::from(format!("{p}.minisig"));
            let limits = self.http.options().limits;
            match limits.read_file(crate::fetch::Metadata::Signature, &sp) {
                Ok(Some(t)) => String::from_utf8_lossy(&t).into_owned(),
                Err(err @ FetchError::TooLarge { .. }) => {
                    let _ = std::fs::remove_file(&part);
                    return Err(err.into());
                }
                _ => {
                    let _ = std::fs::remove_file(&part);
                    return Err(mismatch(format!(
                        "{sig_url}: no signature beside the archive"
                    )));
                }
            }
        } else if url.starts_with("s3://") {
            let target = crate::fetch::s3::S3Url::parse(url)?;
            let bucket = crate::fetch::s3::Bucket::new(
                &target.bucket,
                item.location.endpoint.as_deref(),
                item.location.region.as_deref(),
            )?;
            bucket
                .download(&target.key, &part, item.sha256, item.size)
                .await?;
            let sig_key = format!("{}.minisig", target.key);
            let limits = self.http.options().limits;
            match bucket
                .get_limited(&sig_key, crate::fetch::Metadata::Signature, &limits)
                .await
            {
                Ok(Some(b)) => String::from_utf8_lossy(&b).into_owned(),
                other => {
                    let _ = std::fs::remove_file(&part);
                    return Err(mismatch(match other {
                        Err(err) => format!("{err}: the signature could not be fetched"),
                        _ => format!("{sig_url}: no signature beside the archive"),
                    }));
                }
            }
        } else {
            let (http, sig_url) = match item.via {
                Some((h, s)) => (h, s.to_string()),
                None => (self.http, sig_url.clone()),
            };
            http.download(
                url,
                &part,
                item.sha256,
                item.size,
                &format!("{} {}", e.name, e.version),
            )
            .await?;
            match http
                .get_conditional(&sig_url, None, None, crate::fetch::Metadata::Signature)
                .await
            {
                Ok(crate::fetch::Conditional::Body { bytes, .. }) => {
                    String::from_utf8_lossy(&bytes).into_owned()
                }
                other => {
                    let _ = std::fs::remove_file(&part);
                    return Err(mismatch(match other {
                        Err(err) => format!("{err}: the signature could not be fetched"),
                        _ => format!("{sig_url}: no signature beside the archive"),
                    }));
                }
            }
        };
        let verified = {
            let (part, keys) = (part.clone(), self.registry.keys.clone());
            let (key_id, want) = (e.key_id.clone(), item.trusted_comment.to_string());
            let (url, sig_url) = (url.to_string(), sig_url.clone());
            let what = (e.name.clone(), e.version.to_string());
            tokio::task::spawn_blocking(move || {
                check_signature(
                    &part, &sig_text, &sig_url, &url, &key_id, &keys, &want, what,
                )
            })
            .await
            .expect("signature task")
        };
        if let Err(err) = verified {
            let _ = std::fs::remove_file(&part);
            return Err(err);
        }
        if let Some(d) = dest.parent() {
            std::fs::create_dir_all(d).map_err(|err| InstallError::io(d, err))?;
        }
        std::fs::rename(&part, dest).map_err(|err| InstallError::io(dest, err))?;
        Ok(())
    }

    /// The version's platform archives that fit this machine: the JAX compilation-cache entries
    /// built for this machine's tag, and phasic's own elimination artifact in the newest format
    /// revision the user's phasic reads. Each is downloaded and verified like the bundle (size,
    /// SHA-256, signature and its trusted comment), then its description must name this
    /// version's content hash and the tag, and every file match it. When nothing fits, a note
    /// says why.
    async fn obtain_platform(&self, e: &IndexEntry) -> Result<Extras, InstallError> {
        let mut x = Extras::default();
        let (phasic, jax): (Vec<&PlatformArtifact>, Vec<&PlatformArtifact>) = e
            .artifacts
            .iter()
            .partition(|a| crate::phasic::tag_revision(&a.platform).is_some());
        let what = format!("{} {}", e.name, e.version);
        if !jax.is_empty() {
            match self.jax.tag() {
                Err(why) => x.notes.push(format!(
                    "{what} has JAX cache archives, but {why}; installed the symbolic DAG only"
                )),
                Ok(tag) => match jax.iter().find(|a| a.platform == tag) {
                    None => {
                        let have: Vec<&str> = jax.iter().map(|a| a.platform.as_str()).collect();
                        x.notes.push(format!(
                            "{what} has no JAX cache archive for this machine ({tag}; it has {}); installed the symbolic DAG only, and `ptd cache prewarm {}@={}` compiles here",
                            have.join(", "),
                            e.name,
                            e.version
                        ));
                    }
                    Some(a) => {
                        x.jax = self
                            .fetch_artifact(e, a, "JAX cache", |bytes| {
                                let (m, files) = crate::jax::archive::read(bytes, &a.file)
                                    .map_err(|err| err.to_string())?;
                                if m.content_hash != e.content_hash || m.tag != a.platform {
                                    return Err(format!(
                                        "{}: jax.json names content hash {} and tag {}, the index {} and {}",
                                        a.file, m.content_hash, m.tag, e.content_hash, a.platform
                                    ));
                                }
                                Ok(files)
                            })
                            .await?;
                    }
                },
            }
        }
        if !phasic.is_empty() {
            match self.jax.phasic() {
                Err(why) => x.notes.push(format!(
                    "{what} has phasic elimination artifacts, but {why}; installed ptd's symbolic DAG only"
                )),
                Ok(env) => match crate::phasic::choose(
                    phasic.iter().map(|a| a.platform.as_str()),
                    env.max_format_revision,
                ) {
                    None => x.notes.push(format!(
                        "{what} has phasic artifacts only in formats newer than phasic {} reads (revision {}); installed ptd's symbolic DAG only",
                        env.phasic, env.max_format_revision
                    )),
                    Some(tag) => {
                        let a = phasic.iter().find(|a| a.platform == tag).expect("chosen");
                        x.phasic = self
                            .fetch_artifact(e, a, "phasic artifact", |bytes| {
                                let (m, files) = crate::phasic::read(bytes, &a.file)
                                    .map_err(|err| err.to_string())?;
                                if m.content_hash != e.content_hash
                                    || m.tag != a.platform
                                    || m.phasic_hash != e.phasic_hash
                                {
                                    return Err(format!(
                                        "{}: phasic.json names content hash {}, tag {} and phasic hash {}, the index {}, {} and {}",
                                        a.file,
                                        m.content_hash,
                                        m.tag,
                                        m.phasic_hash,
                                        e.content_hash,
                                        a.platform,
                                        e.phasic_hash
                                    ));
                                }
                                Ok(files)
                            })
                            .await?;
                    }
                },
            }
        }
        Ok(x)
    }

    /// A version that is phasic's artifact alone (mirrored from a phasic-traces registry): the
    /// archive is obtained and verified like a bundle (size, SHA-256, signature naming model,
    /// version and content hash), its files must give the content hash, and they are placed
    /// where phasic looks. There is no graph or DAG, so nothing goes to tier 1 and the version
    /// is not recorded for `ptd list`, `gc` or `verify`.
    async fn install_phasic_artifact(&self, e: &IndexEntry) -> Result<Outcome, InstallError> {
        let (sha, origin) = self.obtain(e).await?;
        let path = self.home.archive_path(&sha);
        let bytes = std::fs::read(&path).map_err(|err| InstallError::io(&path, err))?;
        let checked = crate::phasic::read(&bytes, &e.file)
            .map_err(|err| err.to_string())
            .and_then(|(m, files)| {
                let own = bundle::content_hash(&m.files).unwrap_or_default();
                if m.content_hash != e.content_hash
                    || own != e.content_hash
                    || m.phasic_hash != e.phasic_hash
                    || m.name != e.name
                    || m.version != e.version
                {
                    return Err(format!(
                        "{}: phasic.json describes {} {} (content hash {}, files {}, phasic hash {}), the index {} {} ({}, {})",
                        e.file,
                        m.name,
                        m.version,
                        m.content_hash,
                        own,
                        m.phasic_hash,
                        e.name,
                        e.version,
                        e.content_hash,
                        e.phasic_hash
                    ));
                }
                Ok(files)
            });
        let files = checked.map_err(|message| refuse_stored(&path, e, message))?;
        let phasic_files = self.place_phasic(&files)?;
        Ok(Outcome {
            installed: Installed {
                name: e.name.clone(),
                version: e.version.to_string(),
                registry: self.label.to_string(),
                archive_sha256: sha,
                content_hash: e.content_hash.clone(),
                phasic_hash: e.phasic_hash.clone(),
                canonical_hash: e.canonical_hash.clone(),
                size: bytes.len() as u64,
                installed_at: now_rfc3339(),
                origin: origin.describe(),
            },
            origin,
            already: false,
            jax_files: 0,
            phasic_files,
            jax_note: None,
            tier1_note: None,
        })
    }

    /// Gets a platform archive into the store (verified against the index and its signature)
    /// and reads it with `read`, holding the archive's lock; an archive `read` refuses is
    /// removed from the store.
    async fn fetch_artifact<T>(
        &self,
        e: &IndexEntry,
        a: &PlatformArtifact,
        kind: &str,
        read: impl FnOnce(&[u8]) -> Result<T, String>,
    ) -> Result<T, InstallError> {
        let lock_path = self.home.locks().join(format!("{}.lock", a.sha256));
        let _lock = tokio::task::spawn_blocking(move || lock_file(&lock_path))
            .await
            .expect("lock task")?;
        let dest = self.home.archive_path(&a.sha256);
        let cached = dest.is_file()
            && crate::fetch::verify_file(&dest, &dest.display().to_string(), &a.sha256, a.size)
                .is_ok();
        if !cached {
            let want = platform_trusted_comment(&e.name, &e.version, &a.platform, &e.content_hash);
            let mut tried = Vec::new();
            let mut done = false;
            if !self.offline {
                for loc in &self.registry.config.artifacts {
                    let url = expand_url(&loc.url, e, &a.file);
                    let item = Signed {
                        url: &url,
                        location: loc,
                        via: None,
                        sha256: &a.sha256,
                        size: a.size,
                        trusted_comment: &want,
                    };
                    match self.fetch_signed(e, &item, &dest).await {
                        Ok(()) => {
                            done = true;
                            break;
                        }
                        Err(InstallError::Fetch(f)) if f.is_transport() => {
                            tried.push(f.to_string())
                        }
                        Err(InstallError::Fetch(FetchError::Io { path, .. }))
                            if url.starts_with("file://") =>
                        {
                            tried.push(format!("{path}: not found"))
                        }
                        Err(err) => return Err(err),
                    }
                }
            }
            if !done {
                return Err(InstallError::Unavailable {
                    name: e.name.clone(),
                    version: format!("{} ({kind} for {})", e.version, a.platform),
                    offline: if self.offline {
                        " (--offline: nothing is downloaded)"
                    } else {
                        ""
                    },
                    tried: tried.join("\n  "),
                });
            }
        }
        let bytes = std::fs::read(&dest).map_err(|err| InstallError::io(&dest, err))?;
        read(&bytes).map_err(|message| refuse_stored(&dest, e, message))
    }

    /// phasic's elimination artifacts, into `$PHASIC_CACHE_DIR/parameterized_reward_compute/`
    /// where phasic looks for them under the graph's phasic hash.
    fn place_phasic(&self, files: &bundle::Files) -> Result<usize, InstallError> {
        crate::phasic::place(&self.home.phasic_cache, files)
            .map_err(|err| InstallError::io(&self.home.phasic_cache, err))?;
        Ok(files.len())
    }

    /// Tier 2: writes the platform archive's files into the JAX cache directory, each through a
    /// temporary name and a rename.
    fn place_tier2(&self, files: &[(String, Vec<u8>)]) -> Result<usize, InstallError> {
        if files.is_empty() {
            return Ok(0);
        }
        let jax = &self.home.jax_cache;
        std::fs::create_dir_all(jax).map_err(|err| InstallError::io(jax, err))?;
        for (name, data) in files {
            let p = jax.join(name);
            let same = std::fs::metadata(&p).is_ok_and(|m| m.len() == data.len() as u64);
            if !same {
                write_atomic(&p, data).map_err(|err| InstallError::io(&p, err))?;
            }
        }
        Ok(files.len())
    }

    async fn rebuild(
        &self,
        e: &IndexEntry,
        recipe_path: &str,
    ) -> Result<(String, Origin), InstallError> {
        let mismatch = |message: String| InstallError::Mismatch {
            name: e.name.clone(),
            version: e.version.to_string(),
            message,
        };
        let file = EMBEDDED_MODELS.get_file(recipe_path).ok_or_else(|| {
            mismatch(format!(
                "the recipe models/{recipe_path} is not in this ptd"
            ))
        })?;
        let text = file
            .contents_utf8()
            .ok_or_else(|| mismatch("recipe is not UTF-8".into()))?;
        let recipe = Recipe::parse(text, &Path::new("models").join(recipe_path))
            .map_err(|err| mismatch(err.to_string()))?;
        let read = |p: &Path| {
            let rel = Path::new(recipe_path)
                .parent()
                .unwrap_or(Path::new(""))
                .join(p);
            EMBEDDED_MODELS
                .get_file(&rel)
                .and_then(|f| f.contents_utf8())
                .map(str::to_string)
                .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "not embedded"))
        };
        let graph = recipe
            .graph_with(&read)
            .map_err(|err| mismatch(err.to_string()))?;
        let rewards = recipe
            .reward_sets_with(&read, &graph)
            .map_err(|err| mismatch(err.to_string()))?;
        let want = e.content_hash.clone();
        let built = tokio::task::spawn_blocking(move || {
            let symbolic = crate::eliminate::eliminate(&graph);
            let mut b = bundle::build_with_rewards(&recipe.meta, &graph, &symbolic, &rewards);
            if b.manifest.content_hash != want && !rewards.is_empty() {
                // A bundle built before models carried named reward sets holds none.
                let without = bundle::build_with(&recipe.meta, &graph, &symbolic);
                if without.manifest.content_hash == want {
                    b = without;
                }
            }
            let bytes = b.pack();
            (b.manifest, bytes)
        })
        .await
        .expect("build task");
        let (manifest, bytes) = built;
        if manifest.content_hash != e.content_hash {
            return Err(mismatch(format!(
                "rebuilding from models/{recipe_path} gave content hash {}, but the signed index records {}: refusing to install an unreproduced bundle",
                manifest.content_hash, e.content_hash
            )));
        }
        let sha = crate::index::sha256_hex(&bytes);
        let dest = self.home.archive_path(&sha);
        write_atomic(&dest, &bytes).map_err(|err| InstallError::io(&dest, err))?;
        Ok((
            sha.clone(),
            Origin::Rebuilt {
                recipe: recipe_path.into(),
                same_archive: sha == e.sha256,
            },
        ))
    }

    /// Tier 1: `symbolic/<phasic hash>.json` + `.meta`, and its row in `index.db`.
    fn place_tier1(
        &self,
        i: &Installed,
        bundle_dir: &Path,
    ) -> Result<Option<String>, InstallError> {
        place_tier1(self.home, i, bundle_dir)
    }
}

/// Puts `src`'s bytes at the new path `dst` as cheaply as the filesystem allows: a reflink
/// (copy-on-write clone: shares blocks, but the files stay independent), else a hard link
/// (shares the file itself), else a copy.
pub fn place_copy(src: &Path, dst: &Path) -> std::io::Result<()> {
    if reflink_copy::reflink(src, dst).is_ok() {
        return Ok(());
    }
    let _ = std::fs::remove_file(dst);
    std::fs::hard_link(src, dst).or_else(|_| std::fs::copy(src, dst).map(drop))
}

/// How [`place_new`] left a name.
#[derive(Debug, PartialEq)]
enum Placed {
    /// The file was placed.
    New,
    /// The name already held the same bytes.
    Same,
    /// The name already held other bytes; they were left alone.
    Other,
}

/// Puts a copy (reflink, hard link or copy) of `src` at `target` unless `target` exists, never
/// replacing what is there: the copy is made under a temporary name beside `target`, then linked
/// to `target`, which fails if the name exists (a rename would replace it). A failed copy leaves
/// no temporary behind, and the error names `target`.
fn place_new(src: &Path, target: &Path, sha256: &str) -> Result<Placed, InstallError> {
    let dir = target.parent().unwrap_or(Path::new("."));
    let existing = |target: &Path| -> Result<Placed, InstallError> {
        if same_file(src, target) {
            return Ok(Placed::Same);
        }
        let size = std::fs::metadata(src)
            .map_err(|e| InstallError::io(src, e))?
            .len();
        let same = std::fs::metadata(target).is_ok_and(|m| m.len() == size)
            && crate::fetch::hash_file(target).is_ok_and(|h| h == sha256);
        Ok(if same { Placed::Same } else { Placed::Other })
    };
    if target.exists() {
        return existing(target);
    }
    let tmp = dir.join(format!(
        ".link-{}-{:016x}",
        std::process::id(),
        bundle::random_seed()
    ));
    if let Err(e) = place_copy(src, &tmp) {
        let _ = std::fs::remove_file(&tmp);
        return Err(InstallError::io(target, e));
    }
    let linked = std::fs::hard_link(&tmp, target);
    let result = match linked {
        Ok(()) => Ok(Placed::New),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => existing(target),
        // A filesystem without hard links: rename, having just seen the name free.
        Err(_) if !target.exists() => std::fs::rename(&tmp, target)
            .map(|()| Placed::New)
            .map_err(|e| InstallError::io(target, e)),
        Err(_) => existing(target),
    };
    let _ = std::fs::remove_file(&tmp);
    result
}

/// Whether two paths are the same file (one inode).
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return x.dev() == y.dev() && x.ino() == y.ino();
        }
    }
    let _ = (a, b);
    false
}

/// Places an installed bundle's DAG into the symbolic tier under the graph's phasic hash (which
/// installing computed from the graph, and whose DAG it checked against the graph). A tier-1
/// name is never replaced: when it already holds other bytes they stay, and the returned note
/// says so (`ptd cache verify --repair` settles it).
pub fn place_tier1(
    home: &Home,
    i: &Installed,
    bundle_dir: &Path,
) -> Result<Option<String>, InstallError> {
    let sym = home.symbolic();
    std::fs::create_dir_all(&sym).map_err(|e| InstallError::io(&sym, e))?;
    let dag_src = bundle_dir.join("dag.json");
    let target = sym.join(format!("{}.json", i.phasic_hash));
    let meta_path = sym.join(format!("{}.meta", i.phasic_hash));
    let manifest_path = bundle_dir.join("manifest.json");
    let manifest: bundle::Manifest = serde_json::from_slice(
        &std::fs::read(&manifest_path).map_err(|e| InstallError::io(&manifest_path, e))?,
    )
    .map_err(|e| InstallError::io(&manifest_path, std::io::Error::other(e)))?;
    let dag_sha = manifest
        .files
        .iter()
        .find(|f| f.path == "dag.json")
        .map(|f| f.sha256.clone())
        .unwrap_or_default();
    let placed = place_new(&dag_src, &target, &dag_sha)?;
    if placed == Placed::Other {
        return Ok(Some(format!(
            "{} already holds other bytes for this graph; they were left in place (a tier-1 entry is never replaced by an install): `ptd verify` tells whether they belong to the graph, `ptd cache verify --repair` replaces them if not",
            target.display()
        )));
    }
    if placed == Placed::Same && meta_path.is_file() {
        return Ok(None);
    }
    let size = std::fs::metadata(&target)
        .map_err(|e| InstallError::io(&target, e))?
        .len();
    let meta = serde_json::json!({
        "name": i.name,
        "version": i.version,
        "registry": i.registry,
        "content_hash": i.content_hash,
        "phasic_hash": i.phasic_hash,
        "canonical_hash": i.canonical_hash,
        "parameters": manifest.parameters,
        "vertices": manifest.graph.vertices,
        "edges": manifest.graph.edges,
        "dag_format": manifest.dag_format,
        "dag_format_version": manifest.dag_format_version,
        "bundle": bundle_dir.display().to_string(),
    });
    let meta_bytes = serde_json::to_vec_pretty(&meta).expect("meta");
    write_atomic(&meta_path, &meta_bytes).map_err(|e| InstallError::io(&meta_path, e))?;
    let idx = SymbolicIndex::open(&sym.join("index.db"))?;
    idx.record(
        &i.phasic_hash,
        &target,
        &now_rfc3339(),
        size,
        manifest.graph.vertices,
        manifest.graph.edges,
        &String::from_utf8_lossy(&meta_bytes),
    )?;
    Ok(None)
}

/// Verifies and checks a bundle archive ([`bundle::check`]) and adds ptd's evaluator, derived
/// from the checked DAG, to the files to extract.
fn checked_files(
    bytes: &[u8],
    name: &str,
) -> Result<(bundle::Manifest, bundle::Files), InstallError> {
    let c = bundle::check(bytes, name, bundle::random_seed())?;
    let mut files = c.files;
    files.extend(
        evaluator_files(&c.manifest, &c.graph, &c.symbolic)
            .into_iter()
            .map(|(n, b)| (n.to_string(), b)),
    );
    Ok((c.manifest, files))
}

/// ptd's evaluator module and the tables derived from a checked DAG and its graph (which gives
/// the atom at 0).
pub fn evaluator_files(
    m: &bundle::Manifest,
    g: &crate::graph::Graph,
    s: &crate::eliminate::Symbolic,
) -> [(&'static str, Vec<u8>); 2] {
    crate::jax::emit::evaluator_files(
        s,
        &crate::jax::emit::Header {
            name: &m.name,
            version: &m.version,
            parameters: &m.parameters,
            graph_hash: &m.hashes.canonical,
            atom0: crate::eliminate::start_atom(g),
        },
    )
}

/// Rewrites an installed bundle's evaluator (module and tables, from its graph and DAG) when
/// the module is not this ptd's, or the tables are missing or in another format version: a
/// bundle directory installed by an older ptd.
pub fn refresh_evaluator(dir: &Path) -> Result<(), InstallError> {
    let module = dir.join(crate::jax::EVALUATOR);
    let tables = dir.join(crate::jax::EVALUATOR_TABLES);
    let current = std::fs::read(&module).is_ok_and(|b| b == crate::jax::emit::MODULE.as_bytes());
    if current && tables_current(&tables) {
        return Ok(());
    }
    let read = |name: &str| {
        let p = dir.join(name);
        std::fs::read(&p).map_err(|e| InstallError::io(&p, e))
    };
    let manifest: bundle::Manifest = serde_json::from_slice(&read("manifest.json")?)
        .map_err(|e| InstallError::io(&dir.join("manifest.json"), std::io::Error::other(e)))?;
    let dag = dir.join("dag.json");
    let s = crate::eliminate::Symbolic::from_bytes(&read("dag.json")?, &dag.display().to_string())
        .map_err(bundle::BundleError::from)?;
    let graph = dir.join("graph.json");
    let text = String::from_utf8(read("graph.json")?)
        .map_err(|e| InstallError::io(&graph, std::io::Error::other(e)))?;
    let g = crate::graph::GraphFile::parse(&text, &graph.display().to_string())
        .map_err(bundle::BundleError::from)?;
    let files = evaluator_files(&manifest, &g, &s);
    write_evaluator(dir, files.iter().map(|(n, b)| (*n, b.as_slice())))
}

/// Whether a tables file is there in this ptd's format version (its first 16 bytes say).
fn tables_current(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 16];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| {
            crate::jax::emit::tables_version(&head) == Some(crate::jax::emit::TABLES_FORMAT_VERSION)
        })
}

/// Writes ptd's evaluator files into an installed bundle's directory, each (atomically) only
/// where it differs from what is there.
fn write_evaluator<'a>(
    dir: &Path,
    files: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Result<(), InstallError> {
    for (name, data) in files {
        let p = dir.join(name);
        if std::fs::read(&p).ok().as_deref() != Some(data) {
            write_atomic(&p, data).map_err(|e| InstallError::io(&p, e))?;
        }
    }
    Ok(())
}

/// Copies a local archive into `part`, checking size and SHA-256.
fn copy_local(src: &Path, part: &Path, sha: &str, size: u64) -> Result<(), InstallError> {
    // An error names the file it concerns: the source when reading fails, the partial file
    // when writing does (a full disk).
    crate::fetch::copy_file(src, part)?;
    crate::fetch::verify_file(part, &format!("file://{}", src.display()), sha, size)?;
    Ok(())
}

/// Checks a downloaded file's minisign signature: made by `key_id`, one of `keys`, over these
/// bytes, with the trusted comment `want`.
#[allow(clippy::too_many_arguments)]
fn check_signature(
    part: &Path,
    sig_text: &str,
    sig_url: &str,
    url: &str,
    key_id: &str,
    keys: &[crate::sign::TrustedKey],
    want: &str,
    (name, version): (String, String),
) -> Result<(), InstallError> {
    let mismatch = |message: String| InstallError::Mismatch {
        name: name.clone(),
        version: version.clone(),
        message,
    };
    let data = std::fs::read(part).map_err(|err| InstallError::io(part, err))?;
    let sig = Signature::parse(sig_text, sig_url)?;
    if sig.key_id != key_id {
        return Err(mismatch(format!(
            "{sig_url} was made by key {}, the index says {key_id}",
            sig.key_id
        )));
    }
    let comment = sig.verify(&data, keys, url)?;
    if comment != want {
        return Err(mismatch(format!(
            "{sig_url}: the signed comment '{comment}' is not '{want}' (a signature of another file)"
        )));
    }
    Ok(())
}

/// Writes the verified files into `bundles/<content hash>/`, renaming a complete directory
/// into place.
fn extract(
    home: &Home,
    content_hash: &str,
    files: &[(String, Vec<u8>)],
) -> Result<PathBuf, InstallError> {
    let dir = home.bundle_dir(content_hash);
    if dir.join("manifest.json").is_file() {
        // The bundle's files are immutable once placed; ptd's evaluator beside them is
        // rewritten when it is not what this ptd derives.
        write_evaluator(
            &dir,
            files
                .iter()
                .filter(|(n, _)| n == crate::jax::EVALUATOR || n == crate::jax::EVALUATOR_TABLES)
                .map(|(n, b)| (n.as_str(), b.as_slice())),
        )?;
        return Ok(dir);
    }
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        // Renamed into place whole: readable by others as the umask allows, not 0700.
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o777));
    }
    let tmp = builder
        .prefix("extract-")
        .tempdir_in(home.tmp())
        .map_err(|e| InstallError::io(&home.tmp(), e))?;
    for (name, data) in files {
        // The reader admits only the bundle's own file names; a name that could leave the
        // directory is refused here too.
        if !bundle::plain_name(name) {
            return Err(InstallError::Mismatch {
                name: content_hash.to_string(),
                version: String::new(),
                message: format!("bundle entry '{name}' is not a plain file name"),
            });
        }
        let p = tmp.path().join(name);
        std::fs::write(&p, data).map_err(|e| InstallError::io(&p, e))?;
    }
    let staged = tmp.keep();
    match std::fs::rename(&staged, &dir) {
        Ok(()) => Ok(dir),
        Err(_) if dir.join("manifest.json").is_file() => {
            // Another process won the race with identical content.
            let _ = std::fs::remove_dir_all(&staged);
            Ok(dir)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staged);
            Err(InstallError::io(&dir, e))
        }
    }
}

/// Checks a verified archive's manifest against the record it is to be installed under: model,
/// version, content hash and graph hashes.
fn check_manifest(expect: &Installed, m: &bundle::Manifest) -> Result<(), InstallError> {
    let mismatch = |message: String| InstallError::Mismatch {
        name: expect.name.clone(),
        version: expect.version.clone(),
        message,
    };
    if m.name != expect.name || m.version.to_string() != expect.version {
        return Err(mismatch(format!(
            "the archive holds {} {}",
            m.name, m.version
        )));
    }
    if m.content_hash != expect.content_hash {
        return Err(mismatch(format!(
            "the archive's content hash {} differs from the record's {}",
            m.content_hash, expect.content_hash
        )));
    }
    if m.hashes.phasic != expect.phasic_hash || m.hashes.canonical != expect.canonical_hash {
        return Err(mismatch(
            "the archive's graph hashes differ from the record's".into(),
        ));
    }
    Ok(())
}

/// Records an installed version, its bundle's size and its first use.
fn record_installed(db: &Db, i: &Installed, bundle_bytes: u64) -> Result<(), InstallError> {
    db.record(i)?;
    db.record_size(&i.content_hash, bundle_bytes)?;
    db.touch(&i.name, &i.version, &i.registry, &i.installed_at)?;
    Ok(())
}

/// Installs a verified archive that did not come from a registry download (an import): checks
/// it against the expected hashes, stores it, extracts it, places tier 1 and records it, like
/// [`Installer::install`] after its download. `expect` holds the name, version, archive SHA-256,
/// content and graph hashes the archive must have; `label` is the registry it is recorded under.
pub fn install_archive(
    home: &Home,
    expect: &Installed,
    bytes: &[u8],
) -> Result<Installed, InstallError> {
    let mismatch = |message: String| InstallError::Mismatch {
        name: expect.name.clone(),
        version: expect.version.clone(),
        message,
    };
    let db = home.open_db()?;
    let _lock = lock_file(&home.locks().join(format!("{}.lock", expect.archive_sha256)))?;
    let sha = crate::index::sha256_hex(bytes);
    if sha != expect.archive_sha256 {
        return Err(mismatch(format!(
            "the archive has SHA-256 {sha}, expected {}",
            expect.archive_sha256
        )));
    }
    let (m, files) = checked_files(bytes, &format!("{} {}", expect.name, expect.version))?;
    check_manifest(expect, &m)?;
    let dest = home.archive_path(&sha);
    if !dest.is_file() {
        write_atomic(&dest, bytes).map_err(|e| InstallError::io(&dest, e))?;
    }
    let dir = extract(home, &m.content_hash, &files)?;
    let installed = Installed {
        size: bytes.len() as u64,
        installed_at: now_rfc3339(),
        ..expect.clone()
    };
    place_tier1(home, &installed, &dir)?;
    record_installed(
        &db,
        &installed,
        files.iter().map(|(_, d)| d.len() as u64).sum(),
    )?;
    Ok(installed)
}
