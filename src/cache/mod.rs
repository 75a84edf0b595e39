//! Managing what is installed: a summary of the store and both cache tiers, and eviction of the
//! least recently used versions down to a size or age, never of what a project's lockfile pins.
//!
//! Eviction of a version takes the same per-archive lock as installing it, removes its database
//! rows first, then its files, each directory renamed away before it is deleted, so a reader
//! sees an entry either whole or not at all.

pub mod leftovers;
pub mod transfer;
pub mod transforms;

use crate::install::db::{Db, DbError, SymbolicIndex};
use crate::install::{Home, InstallError, lock_file};
use crate::project::Lockfile;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Install(#[from] InstallError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

pub(crate) fn io(path: &Path) -> impl Fn(std::io::Error) -> CacheError + '_ {
    move |source| CacheError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Bytes of a file or of everything under a directory (0 if missing).
pub fn disk_bytes(p: &Path) -> u64 {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => std::fs::read_dir(p)
            .map(|rd| rd.flatten().map(|e| disk_bytes(&e.path())).sum())
            .unwrap_or(0),
        Ok(m) => m.len(),
        Err(_) => 0,
    }
}

/// Parses a size: `500M`, `10GB`, `1.5GiB`, `123` (bytes). Decimal (kB, MB, GB, TB) and binary
/// (KiB, MiB, GiB, TiB; K, M, G, T) units.
pub fn parse_size(text: &str) -> Result<u64, CacheError> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| {
        CacheError::Invalid(format!(
            "size '{text}': expected a number and a unit, e.g. 500M or 10GB"
        ))
    })?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        "k" | "kib" => 1024.0,
        "m" | "mib" => 1024.0 * 1024.0,
        "g" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tib" => 1024f64.powi(4),
        u => {
            return Err(CacheError::Invalid(format!(
                "size '{text}': unknown unit '{u}' (use B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)"
            )));
        }
    };
    Ok((n * mult).round() as u64)
}

/// One tier's figures.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TierInfo {
    pub dir: String,
    pub entries: u64,
    pub bytes: u64,
    pub hits: u64,
    pub misses: u64,
    pub oldest_use: Option<String>,
    pub newest_use: Option<String>,
}

/// `ptd cache info`.
#[derive(Clone, Debug, Serialize)]
pub struct Info {
    /// Archives and extracted bundles under `$PTD_HOME`.
    pub store: TierInfo,
    /// Tier 1: symbolic DAGs under `$PHASIC_CACHE_DIR/symbolic`.
    pub symbolic: TierInfo,
    /// Tier 2: `$JAX_COMPILATION_CACHE_DIR`.
    pub jax: TierInfo,
    /// Projects whose lockfiles pin versions.
    pub projects: Vec<String>,
    /// The read-only shared layer, if configured.
    pub shared: Option<String>,
    /// Temporaries that interrupted writes left and no process is using
    /// ([`leftovers`]); `ptd cache gc` and `ptd cache verify --repair` remove them.
    pub leftovers: leftovers::LeftoverSummary,
}

fn rfc3339(t: std::time::SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Summarises the store and both tiers.
pub fn info(home: &Home) -> Result<Info, CacheError> {
    let mut store = TierInfo {
        dir: home.root.display().to_string(),
        ..Default::default()
    };
    let mut projects = Vec::new();
    let mut stats = Vec::new();
    if home.db_path().is_file() {
        let db = Db::open(&home.db_path())?;
        (
            store.entries,
            store.bytes,
            store.oldest_use,
            store.newest_use,
        ) = db.summary()?;
        projects = db.projects()?;
        stats = db.stats()?;
    }
    let stat = |tier: &str| {
        stats
            .iter()
            .find(|(t, ..)| t == tier)
            .map(|(_, h, m)| (*h, *m))
            .unwrap_or((0, 0))
    };
    (store.hits, store.misses) = stat("store");
    let sym_dir = home.symbolic();
    let mut symbolic = TierInfo {
        dir: sym_dir.display().to_string(),
        ..Default::default()
    };
    if sym_dir.join("index.db").is_file() {
        let idx = SymbolicIndex::open(&sym_dir.join("index.db"))?;
        let (n, bytes, oldest, newest) = idx.summary()?;
        (symbolic.entries, symbolic.bytes) = (n, bytes);
        (symbolic.oldest_use, symbolic.newest_use) = (oldest, newest);
    }
    (symbolic.hits, symbolic.misses) = stat("symbolic");
    let mut jax = TierInfo {
        dir: home.jax_cache.display().to_string(),
        ..Default::default()
    };
    if let Ok(rd) = std::fs::read_dir(&home.jax_cache) {
        let mut times = Vec::new();
        for e in rd.flatten() {
            if let Ok(m) = e.metadata()
                && m.is_file()
            {
                jax.entries += 1;
                jax.bytes += m.len();
                if let Ok(t) = m.accessed().or_else(|_| m.modified()) {
                    times.push(t);
                }
            }
        }
        jax.oldest_use = times.iter().min().map(|t| rfc3339(*t));
        jax.newest_use = times.iter().max().map(|t| rfc3339(*t));
    }
    (jax.hits, jax.misses) = stat("jax");
    Ok(Info {
        store,
        symbolic,
        jax,
        projects,
        shared: home.shared.as_ref().map(|l| l.describe()),
        leftovers: leftovers::summary(home)?,
    })
}

/// An installed version found by [`find`].
#[derive(Clone, Debug, Serialize)]
pub struct Found {
    pub name: String,
    pub version: String,
    pub registry: String,
    pub content_hash: String,
    pub phasic_hash: String,
    /// The symbolic DAG in tier 1.
    pub dag: String,
    /// The extracted bundle.
    pub bundle: String,
}

/// Finds installed versions by `NAME`, `NAME@REQ`, or a hash prefix (content or phasic hash, at
/// least 8 hex digits); newest version first.
pub fn find(home: &Home, query: &str) -> Result<Vec<Found>, CacheError> {
    if !home.db_path().is_file() {
        return Ok(Vec::new());
    }
    let db = Db::open(&home.db_path())?;
    let is_hash = query.len() >= 8 && query.chars().all(|c| c.is_ascii_hexdigit());
    let rows = if is_hash {
        db.find(None, Some(query))?
    } else {
        let (name, req) = match query.split_once('@') {
            Some((n, r)) => (
                n,
                Some(semver::VersionReq::parse(r).map_err(|e| {
                    CacheError::Invalid(format!(
                        "'{query}': '{r}' is not a version requirement ({e})"
                    ))
                })?),
            ),
            None => (query, None),
        };
        db.find(Some(name), None)?
            .into_iter()
            .filter(|i| {
                req.as_ref()
                    .is_none_or(|r| semver::Version::parse(&i.version).is_ok_and(|v| r.matches(&v)))
            })
            .collect()
    };
    Ok(rows
        .into_iter()
        .map(|i| Found {
            dag: home
                .symbolic()
                .join(format!("{}.json", i.phasic_hash))
                .display()
                .to_string(),
            bundle: home.bundle_dir(&i.content_hash).display().to_string(),
            name: i.name,
            version: i.version,
            registry: i.registry,
            content_hash: i.content_hash,
            phasic_hash: i.phasic_hash,
        })
        .collect())
}

/// One file of the JAX compilation cache (tier 2).
#[derive(Clone, Debug, Serialize)]
pub struct JaxEntry {
    pub name: String,
    pub bytes: u64,
    /// Last access (or modification, where access times are not kept).
    pub last_used: String,
}

/// The JAX tier's files, least recently used first.
pub fn jax_entries(home: &Home) -> Vec<JaxEntry> {
    let mut out: Vec<(std::time::SystemTime, JaxEntry)> = Vec::new();
    if let Ok(rd) = std::fs::read_dir(&home.jax_cache) {
        for e in rd.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if !m.is_file() {
                continue;
            }
            let t = m
                .accessed()
                .or_else(|_| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH);
            out.push((
                t,
                JaxEntry {
                    name: e.file_name().to_string_lossy().into_owned(),
                    bytes: m.len(),
                    last_used: rfc3339(t),
                },
            ));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.name.cmp(&b.1.name)));
    out.into_iter().map(|(_, e)| e).collect()
}

/// Removes JAX cache files unused for `max_age` (all of them when `None`); returns them.
pub fn vacuum_jax(
    home: &Home,
    max_age: Option<std::time::Duration>,
    dry_run: bool,
) -> Result<Vec<JaxEntry>, CacheError> {
    let now = std::time::SystemTime::now();
    let mut removed = Vec::new();
    for e in jax_entries(home) {
        let old = match max_age {
            None => true,
            Some(age) => humantime::parse_rfc3339(&e.last_used)
                .map(|t| now.duration_since(t).unwrap_or_default() >= age)
                .unwrap_or(true),
        };
        if old {
            if !dry_run {
                remove_file(&home.jax_cache.join(&e.name))?;
            }
            removed.push(e);
        }
    }
    Ok(removed)
}

/// Limits for [`gc`].
#[derive(Clone, Debug, Default)]
pub struct Limits {
    /// Evict least recently used versions and unowned tier-1 files until the store and those
    /// files hold at most this much.
    pub max_size: Option<u64>,
    /// Evict versions not used, and unowned tier-1 files not modified, for this long.
    pub max_age: Option<std::time::Duration>,
    /// Also evict what lockfiles pin.
    pub force: bool,
    pub dry_run: bool,
}

/// One evicted (or, in a dry run, evictable) version.
#[derive(Clone, Debug, Serialize)]
pub struct Evicted {
    pub name: String,
    pub version: String,
    pub registry: String,
    pub last_used: String,
    pub bytes: u64,
}

/// A tier-1 DAG that no installed version owns: `symbolic/<hash>.json` that phasic wrote itself
/// (with its `<hash>.meta`, if there is one).
#[derive(Clone, Debug, Serialize)]
pub struct Unowned {
    pub path: String,
    /// The DAG's bytes and its `.meta`'s.
    pub bytes: u64,
    /// When the DAG was last modified.
    pub modified: String,
}

/// Tier-1 files modified more recently than this are never evicted as unowned: an install may
/// have placed one and not yet recorded the version that owns it.
pub const UNOWNED_GRACE: std::time::Duration = std::time::Duration::from_secs(600);

/// What [`gc`] did.
#[derive(Clone, Debug, Serialize)]
pub struct GcReport {
    pub evicted: Vec<Evicted>,
    /// Bytes freed by evicting versions.
    pub freed: u64,
    pub kept_pinned: Vec<String>,
    /// Tier-1 files no installed version owns that were removed (in a dry run, would be),
    /// least recently modified first.
    pub unowned: Vec<Unowned>,
    /// Bytes freed by removing them.
    pub unowned_freed: u64,
    /// Stale temporaries that were removed (in a dry run, would be), whatever the limits:
    /// see [`leftovers`]. Not counted in `bytes_before` and `bytes_after`.
    pub leftovers: Vec<leftovers::Leftover>,
    /// Bytes freed by removing them.
    pub leftovers_freed: u64,
    /// The store's bytes plus those of the unowned tier-1 files: what `max_size` bounds.
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub dry_run: bool,
}

/// (name, version, registry) of every version a known project's lockfile pins; lockfiles that no
/// longer exist are forgotten.
fn pinned(db: &Db) -> Result<BTreeSet<(String, String, String)>, CacheError> {
    let mut out = BTreeSet::new();
    for path in db.projects()? {
        match Lockfile::read(Path::new(&path)) {
            Ok(Some(l)) => {
                for m in l.models {
                    out.insert((m.name, m.version.to_string(), m.registry));
                }
            }
            Ok(None) => db.forget_project(&path)?,
            // A lockfile that cannot be read pins nothing it can name; keep remembering it.
            Err(_) => {}
        }
    }
    Ok(out)
}

/// Adds to `known` the bytes of the extracted bundles of `rows` it lacks, by content hash: from
/// the database's `sizes` table, measured on disk only for a bundle the table has no row for.
fn bundle_bytes(
    home: &Home,
    db: &Db,
    rows: &[crate::install::db::Installed],
    known: &mut HashMap<String, u64>,
) -> Result<(), CacheError> {
    if rows.iter().all(|i| known.contains_key(&i.content_hash)) {
        return Ok(());
    }
    let recorded = db.bundle_sizes()?;
    for i in rows {
        if !known.contains_key(&i.content_hash) {
            let bytes = recorded
                .get(&i.content_hash)
                .copied()
                .unwrap_or_else(|| disk_bytes(&home.bundle_dir(&i.content_hash)));
            known.insert(i.content_hash.clone(), bytes);
        }
    }
    Ok(())
}

/// The store's bytes used by `rows`: each archive (its recorded size) and each extracted bundle
/// counted once.
fn store_bytes<'a>(
    rows: impl IntoIterator<Item = &'a crate::install::db::Installed>,
    bundles: &HashMap<String, u64>,
) -> u64 {
    let mut archives = HashMap::new();
    let mut contents = BTreeSet::new();
    for i in rows {
        archives.insert(i.archive_sha256.as_str(), i.size);
        contents.insert(i.content_hash.as_str());
    }
    archives.values().sum::<u64>()
        + contents
            .iter()
            .map(|c| bundles.get(*c).copied().unwrap_or(0))
            .sum::<u64>()
}

/// The `*.json` files of tier 1 whose hash no installed version has, with their modification
/// times, least recently modified first.
fn unowned_tier1(
    home: &Home,
    owned: &BTreeSet<&str>,
) -> Vec<(String, std::time::SystemTime, Unowned)> {
    let sym = home.symbolic();
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(&sym) else {
        return out;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        // Names starting with a dot are files being written.
        let Some(hash) = name.strip_suffix(".json").filter(|h| !h.starts_with('.')) else {
            continue;
        };
        if owned.contains(hash) {
            continue;
        }
        let Ok(m) = e.metadata() else { continue };
        if !m.is_file() {
            continue;
        }
        let modified = m.modified().unwrap_or(std::time::UNIX_EPOCH);
        let meta = std::fs::metadata(sym.join(format!("{hash}.meta"))).map_or(0, |m| m.len());
        out.push((
            hash.to_string(),
            modified,
            Unowned {
                path: e.path().display().to_string(),
                bytes: m.len() + meta,
                modified: rfc3339(modified),
            },
        ));
    }
    out.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    out
}

/// Removes an unowned tier-1 DAG, its `.meta` and its `index.db` row, unless an installed version
/// owns its hash by now. Returns whether it was removed.
fn remove_unowned(home: &Home, db: Option<&Db>, hash: &str) -> Result<bool, CacheError> {
    if let Some(db) = db
        && db.users("phasic_hash", hash)? > 0
    {
        return Ok(false);
    }
    let sym = home.symbolic();
    remove_file(&sym.join(format!("{hash}.json")))?;
    remove_file(&sym.join(format!("{hash}.meta")))?;
    if sym.join("index.db").is_file() {
        SymbolicIndex::open(&sym.join("index.db"))?.remove(hash)?;
    }
    Ok(true)
}

/// Something gc may evict: an installed version (with its last use) or an unowned tier-1 file.
enum Candidate {
    Version(crate::install::db::Installed, String),
    File(String, Unowned),
}

/// Least-recently-used eviction of installed versions and of the tier-1 files no installed
/// version owns (phasic's own results), in one order: a version by its last use, a file by its
/// modification time. Unowned files modified within [`UNOWNED_GRACE`] are kept.
///
/// Sizes come from the database (archive sizes from `installed`, bundle sizes from `sizes`);
/// only a bundle without a recorded size is measured on disk. A version's bytes are what
/// evicting it frees: its archive and bundle unless another installed version still uses them.
pub fn gc(home: &Home, limits: &Limits) -> Result<GcReport, CacheError> {
    let db = if home.db_path().is_file() {
        Some(Db::open(&home.db_path())?)
    } else {
        None
    };
    let (pins, rows) = match &db {
        Some(db) if !limits.force => (pinned(db)?, db.with_last_use()?),
        Some(db) => (BTreeSet::new(), db.with_last_use()?),
        None => (BTreeSet::new(), Vec::new()),
    };
    let installed: Vec<_> = rows.iter().map(|(i, _)| i.clone()).collect();
    let mut bundles = HashMap::new();
    if let Some(db) = &db {
        bundle_bytes(home, db, &installed, &mut bundles)?;
    }
    // How many installed versions use each archive and each bundle.
    let mut archive_users: HashMap<&str, usize> = HashMap::new();
    let mut bundle_users: HashMap<&str, usize> = HashMap::new();
    for i in &installed {
        *archive_users.entry(&i.archive_sha256).or_default() += 1;
        *bundle_users.entry(&i.content_hash).or_default() += 1;
    }
    let owned: BTreeSet<&str> = installed.iter().map(|i| i.phasic_hash.as_str()).collect();
    let files = unowned_tier1(home, &owned);
    let unowned_before: u64 = files.iter().map(|(_, _, f)| f.bytes).sum();
    let before = store_bytes(&installed, &bundles) + unowned_before;
    let now = std::time::SystemTime::now();
    let age_of = |t: std::time::SystemTime| now.duration_since(t).unwrap_or_default();

    let mut order: Vec<(std::time::SystemTime, Candidate)> = rows
        .into_iter()
        .map(|(i, last_used)| {
            let t = humantime::parse_rfc3339(&last_used).unwrap_or(std::time::UNIX_EPOCH);
            (t, Candidate::Version(i, last_used))
        })
        .collect();
    for (hash, t, f) in files {
        if age_of(t) >= UNOWNED_GRACE {
            order.push((t, Candidate::File(hash, f)));
        }
    }
    order.sort_by_key(|(t, _)| *t);

    let mut total = before;
    let mut report = GcReport {
        evicted: Vec::new(),
        freed: 0,
        kept_pinned: Vec::new(),
        unowned: Vec::new(),
        unowned_freed: 0,
        leftovers: Vec::new(),
        leftovers_freed: 0,
        bytes_before: before,
        bytes_after: 0,
        dry_run: limits.dry_run,
    };
    for (t, candidate) in order {
        let too_old = limits.max_age.is_some_and(|age| age_of(t) >= age);
        let too_big = limits.max_size.is_some_and(|m| total > m);
        if !(too_old || too_big) {
            continue;
        }
        let (i, last_used) = match candidate {
            Candidate::File(hash, f) => {
                if limits.dry_run || remove_unowned(home, db.as_ref(), &hash)? {
                    total = total.saturating_sub(f.bytes);
                    report.unowned_freed += f.bytes;
                    report.unowned.push(f);
                }
                continue;
            }
            Candidate::Version(i, last_used) => (i, last_used),
        };
        if pins.contains(&(i.name.clone(), i.version.clone(), i.registry.clone())) {
            report
                .kept_pinned
                .push(format!("{} {} [{}]", i.name, i.version, i.registry));
            continue;
        }
        // Evicting frees the archive and the bundle once no other version uses them.
        let release = |users: &mut HashMap<&str, usize>, key: &str, b: u64| match users.get_mut(key)
        {
            Some(n) if *n > 1 => {
                *n -= 1;
                0
            }
            _ => {
                users.remove(key);
                b
            }
        };
        let bytes = release(&mut archive_users, &i.archive_sha256, i.size)
            + release(
                &mut bundle_users,
                &i.content_hash,
                bundles.get(&i.content_hash).copied().unwrap_or(0),
            );
        if !limits.dry_run
            && let Some(db) = &db
        {
            evict(home, db, &i)?;
        }
        total = total.saturating_sub(bytes);
        report.freed += bytes;
        report.evicted.push(Evicted {
            name: i.name,
            version: i.version,
            registry: i.registry,
            last_used,
            bytes,
        });
    }
    report.bytes_after = match &db {
        Some(db) if !limits.dry_run => {
            // What is installed now, other processes' installs included.
            let after = db.list()?;
            bundle_bytes(home, db, &after, &mut bundles)?;
            store_bytes(&after, &bundles) + unowned_before - report.unowned_freed
        }
        _ => total,
    };
    report.leftovers = leftovers::clean(home, limits.dry_run)?;
    report.leftovers_freed = report.leftovers.iter().map(|l| l.bytes).sum();
    Ok(report)
}

/// Removes one installed version: rows first, then files no other installed version uses.
pub fn evict(home: &Home, db: &Db, i: &crate::install::db::Installed) -> Result<(), CacheError> {
    let _lock = lock_file(&home.locks().join(format!("{}.lock", i.archive_sha256)))?;
    db.remove(&i.name, &i.version, &i.registry)?;
    if db.users("content_hash", &i.content_hash)? == 0 {
        remove_dir_atomically(home, &home.bundle_dir(&i.content_hash))?;
        remove_file(&home.archive_path(&i.archive_sha256))?;
    }
    if db.users("phasic_hash", &i.phasic_hash)? == 0 {
        let sym = home.symbolic();
        remove_file(&sym.join(format!("{}.json", i.phasic_hash)))?;
        remove_file(&sym.join(format!("{}.meta", i.phasic_hash)))?;
        if sym.join("index.db").is_file() {
            SymbolicIndex::open(&sym.join("index.db"))?.remove(&i.phasic_hash)?;
        }
    }
    Ok(())
}

fn remove_file(p: &Path) -> Result<(), CacheError> {
    match std::fs::remove_file(p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(p)(e)),
        _ => Ok(()),
    }
}

/// Removes a file, or a directory in one atomic step ([`remove_dir_atomically`]); a path that is
/// already gone is fine.
pub fn remove_path(home: &Home, p: &Path) -> Result<(), CacheError> {
    if p.is_dir() {
        remove_dir_atomically(home, p)
    } else {
        remove_file(p)
    }
}

/// Renames a directory into `tmp/` (one atomic step), then deletes it there.
fn remove_dir_atomically(home: &Home, dir: &Path) -> Result<(), CacheError> {
    if !dir.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(home.tmp()).map_err(io(&home.tmp()))?;
    let away = tempfile::Builder::new()
        .prefix("evict-")
        .tempdir_in(home.tmp())
        .map_err(io(&home.tmp()))?
        .keep();
    let target = away.join("bundle");
    std::fs::rename(dir, &target).map_err(io(dir))?;
    std::fs::remove_dir_all(&away).map_err(io(&away))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units_and_errors_name_the_value() {
        assert_eq!(parse_size("123").unwrap(), 123);
        assert_eq!(parse_size("500M").unwrap(), 500 << 20);
        assert_eq!(parse_size("10GB").unwrap(), 10_000_000_000);
        assert_eq!(parse_size("1.5GiB").unwrap(), 1_610_612_736);
        assert!(parse_size("ten").unwrap_err().to_string().contains("'ten'"));
        assert!(
            parse_size("5 parsecs")
                .unwrap_err()
                .to_string()
                .contains("parsecs")
        );
    }
}
