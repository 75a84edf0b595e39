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
//!
//! Installing goes in stages, a module each: [`home`] (the directories and the shared cache
//! layer), [`obtain`] (the one loop over the store, the shared layer and the registry's
//! artifact locations, each reached through its [`crate::transport::Transport`]), [`verify`]
//! (signatures, the bundle's files, the manifest), [`place`] (the bundle directory, tiers 1
//! and 2, phasic's artifacts, the database), with [`platform`] for a version's platform
//! archives, [`rebuild`] for bundles rebuilt from an embedded recipe and [`evaluator`] for ptd's
//! evaluator beside each bundle.

pub mod build;
pub mod db;
pub mod evaluator;
pub mod home;
pub mod obtain;
pub mod place;
pub mod platform;
pub mod rebuild;
pub mod verify;

use crate::bundle;
use crate::fetch::{FetchError, Http};
use crate::fs::write_atomic;
use crate::index::registry::Registry;
use crate::index::{IndexEntry, archive_trusted_comment};
use db::{DbError, Installed};
use obtain::Wanted;
use place::{extract, record_installed};
use std::path::Path;
use verify::{check_manifest, checked_files};

pub use crate::transport::{expand_url, release_tag};
pub use build::{Builds, Progress};
pub use evaluator::{derive_evaluator, evaluator_files, refresh_evaluator};
pub use home::{Home, SharedLayer};
pub use place::place_tier1;

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
    #[error(transparent)]
    Io(#[from] crate::fs::IoError),
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
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        InstallError::Io(crate::fs::IoError {
            path: path.display().to_string(),
            source,
        })
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
    /// A member of a family the registry had not prebuilt, built here from the recipe named.
    Built(String),
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
            Origin::Built(recipe) => format!("built locally from {recipe}"),
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

/// The trusted comment signed into a platform archive's `.minisig`.
pub fn platform_trusted_comment(
    name: &str,
    version: &semver::Version,
    platform: &str,
    content_hash: &str,
) -> String {
    format!("ptd-jax name={name} version={version} platform={platform} content_hash={content_hash}")
}

/// What the installs of one command share: the home's database and the symbolic tier's index,
/// each opened once (closing a connection checkpoints its journal, with syncs) and used by one
/// thread at a time (threads of one process then never meet SQLite's busy handler, which sleeps).
pub struct Shared {
    db: std::sync::Mutex<db::Db>,
    tier1: place::Tier1Index,
    /// Bundles checked or placed at once: one per core. More would only take turns on the
    /// cores, hold more bundles in memory, and starve the thread that receives the downloads.
    cpus: std::sync::OnceLock<tokio::sync::Semaphore>,
}

impl Shared {
    /// Opens the home's database (making the home's directories).
    pub fn open(home: &Home) -> Result<std::sync::Arc<Shared>, InstallError> {
        Ok(std::sync::Arc::new(Shared {
            db: std::sync::Mutex::new(home.open_db()?),
            tier1: place::Tier1Index::default(),
            cpus: std::sync::OnceLock::new(),
        }))
    }

    /// A turn on a core (the count is read on first use: an install that finds everything in
    /// place never asks).
    async fn cpu(&self) -> tokio::sync::SemaphorePermit<'_> {
        let cpus = self.cpus.get_or_init(|| {
            tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
        });
        cpus.acquire().await.expect("never closed")
    }

    /// The database, for this thread alone until the guard is dropped.
    fn db(&self) -> std::sync::MutexGuard<'_, db::Db> {
        self.db
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
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
    /// Whether and how members of families that were not prebuilt are built.
    pub builds: &'a Builds,
    /// The connections the installs share ([`Shared::open`]).
    pub shared: std::sync::Arc<Shared>,
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

pub use crate::fs::lock::enabled as locks_enabled;

/// Opens `path` and takes an exclusive lock on it (released when the file is dropped), unless
/// locks are off ([`crate::fs::lock::exclusive`]).
pub fn lock_file(path: &Path) -> Result<std::fs::File, InstallError> {
    crate::fs::lock::exclusive(path).map_err(|e| InstallError::io(path, e))
}

/// [`lock_file`] from async code: taken at once when free, else waited for on the blocking pool
/// (so that the other installs of this process go on meanwhile).
async fn lock_file_async(path: std::path::PathBuf) -> Result<std::fs::File, InstallError> {
    if let Some(f) =
        crate::fs::lock::try_exclusive(&path).map_err(|e| InstallError::io(&path, e))?
    {
        return Ok(f);
    }
    tokio::task::spawn_blocking(move || lock_file(&path))
        .await
        .expect("lock task")
}

impl Installer<'_> {
    /// Installs one version (idempotent). A member of a family to build here
    /// ([`IndexEntry::needs_build`]) is found installed, or built and installed.
    pub async fn install(&self, entry: &IndexEntry) -> Result<Outcome, InstallError> {
        if !entry.needs_build() {
            return self.install_obtained(entry, None).await;
        }
        // One process at a time builds a given member; the others wait and find it installed.
        let key = format!(
            "build-{}.lock",
            crate::fs::sha256_hex(
                format!(
                    "{}\n{}\n{}\n{}",
                    entry.name,
                    entry.version,
                    entry.variants.key(),
                    self.label
                )
                .as_bytes()
            )
        );
        let _lock = lock_file_async(self.home.locks().join(key)).await?;
        let found = self.shared.db().get(
            &entry.name,
            &entry.version.to_string(),
            &entry.variants.key(),
            self.label,
        )?;
        if let Some(i) = found
            && (entry.content_hash.is_empty() || entry.content_hash == i.content_hash)
            && (entry.sha256.is_empty() || entry.sha256 == i.archive_sha256)
        {
            let found = IndexEntry {
                sha256: i.archive_sha256.clone(),
                size: i.size,
                content_hash: i.content_hash.clone(),
                phasic_hash: i.phasic_hash.clone(),
                canonical_hash: i.canonical_hash.clone(),
                ..entry.clone()
            };
            if self.home.archive_path(&i.archive_sha256).is_file() {
                return self.install_obtained(&found, None).await;
            }
        }
        let (built, origin) = self.build_member(entry).await?;
        self.install_obtained(&built, Some(origin)).await
    }

    /// Installs one version whose archive is to be obtained, or (`obtained`) is in the store
    /// already, obtained as said.
    async fn install_obtained(
        &self,
        entry: &IndexEntry,
        obtained: Option<Origin>,
    ) -> Result<Outcome, InstallError> {
        // One process at a time installs (or evicts) a given archive; the others wait and
        // then find it installed.
        let _lock =
            lock_file_async(self.home.locks().join(format!("{}.lock", entry.sha256))).await?;
        if entry.kind == crate::index::ArchiveKind::PhasicArtifact {
            return self.install_phasic_artifact(entry).await;
        }
        let registry = self.label.to_string();
        let version = entry.version.to_string();
        let now = now_rfc3339();
        let found =
            (self.shared.db()).get(&entry.name, &version, &entry.variants.key(), &registry)?;
        if let Some(i) = found
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
            let tier1_note = place::place_tier1_in(self.home, &i, &dir, &self.shared.tier1)?;
            let jax_files = place::place_tier2(self.home, &extras.jax)?;
            let phasic_files = place::place_phasic(self.home, &extras.phasic)?;
            let jax_note = extras.note();
            self.shared.db().log_hits(&[i.use_key()], &now, None)?;
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
        let (archive_sha, origin) = match obtained {
            Some(origin) => (entry.sha256.clone(), origin),
            None => self.obtain(entry).await?,
        };
        let path = self.home.archive_path(&archive_sha);
        // Decompressing, hashing and checking run on the blocking pool, so that several
        // bundles are verified at once. Nothing the manifest claims is taken on trust: the
        // graph's hashes are computed here and the DAG is checked against the graph.
        let cpu = self.shared.cpu().await;
        let (size, manifest, variants, files) = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || -> Result<_, InstallError> {
                let bytes = std::fs::read(&path).map_err(|e| InstallError::io(&path, e))?;
                match checked_files(&bytes, &path.display().to_string()) {
                    Ok((m, v, f)) => Ok((bytes.len() as u64, m, v, f)),
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
            version: entry.version.clone(),
            registry,
            archive_sha256: archive_sha,
            content_hash: entry.content_hash.clone(),
            phasic_hash: entry.phasic_hash.clone(),
            canonical_hash: entry.canonical_hash.clone(),
            size,
            installed_at: now,
            built: matches!(origin, Origin::Built(_)),
            origin: origin.describe(),
            variants: entry.variants.clone(),
        };
        drop(cpu);
        check_manifest(&installed, &manifest, &variants)?;
        // Everything is verified before anything is placed.
        let extras = self.obtain_platform(entry).await?;
        let cpu = self.shared.cpu().await;
        let jax_note = extras.note();
        let bundle_bytes: u64 = files.iter().map(|(_, d)| d.len() as u64).sum();
        // Placing runs on the blocking pool too, so that the async thread only moves bytes
        // and several bundles are placed at once.
        let (installed, tier1_note, jax_files, phasic_files) = {
            let home = self.home.clone();
            let shared = self.shared.clone();
            let content_hash = manifest.content_hash.clone();
            tokio::task::spawn_blocking(move || -> Result<_, InstallError> {
                let dir = extract(&home, &content_hash, &files)?;
                let tier1_note =
                    place::place_tier1_with(&home, &installed, &dir, &manifest, &shared.tier1)?;
                let jax_files = place::place_tier2(&home, &extras.jax)?;
                let phasic_files = place::place_phasic(&home, &extras.phasic)?;
                let db = shared.db();
                record_installed(&db, &installed, bundle_bytes)?;
                db.count("store", false)?;
                Ok((installed, tier1_note, jax_files, phasic_files))
            })
            .await
            .expect("place task")?
        };
        drop(cpu);
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

    /// Gets the bundle's archive into the store ([`Installer::obtain_archive`]); when no
    /// location has it and the registry carries its recipes, rebuilds it. Returns the archive's
    /// SHA-256 and origin. The caller holds the archive's lock.
    async fn obtain(&self, e: &IndexEntry) -> Result<(String, Origin), InstallError> {
        let wanted = Wanted {
            entry: e,
            file: &e.file,
            sha256: &e.sha256,
            size: e.size,
            trusted_comment: archive_trusted_comment(&e.name, &e.version, &e.content_hash),
        };
        let tried = match self.obtain_archive(&wanted).await? {
            Ok(origin) => return Ok((e.sha256.clone(), origin)),
            Err(tried) => tried,
        };
        if let Some(recipe) = &e.recipe
            && self.registry.source.is_embedded()
        {
            return self.rebuild(e, recipe).await;
        }
        Err(self.unavailable(e, e.version.to_string(), tried))
    }
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
        version: expect.version.to_string(),
        message,
    };
    let db = home.open_db()?;
    let _lock = lock_file(&home.locks().join(format!("{}.lock", expect.archive_sha256)))?;
    let sha = crate::fs::sha256_hex(bytes);
    if sha != expect.archive_sha256 {
        return Err(mismatch(format!(
            "the archive has SHA-256 {sha}, expected {}",
            expect.archive_sha256
        )));
    }
    let (m, variants, files) =
        checked_files(bytes, &format!("{} {}", expect.name, expect.version))?;
    check_manifest(expect, &m, &variants)?;
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
