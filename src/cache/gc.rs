//! Least-recently-used eviction down to a size or age ([`gc`]), never of what a project's
//! lockfile pins, and eviction of one installed version ([`evict`]).

use super::remove::{remove_dir_atomically, remove_file};
use super::{CacheError, disk_bytes, leftovers, rfc3339};
use crate::install::db::{Db, SymbolicIndex};
use crate::install::{Home, lock_file};
use crate::project::Lockfile;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

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
    pub version: semver::Version,
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

/// The use key ([`crate::install::db::UseKey`]: name, version, variant values, registry) of
/// every version a known project's lockfile pins; lockfiles that no longer exist are forgotten.
fn pinned(db: &Db) -> Result<BTreeSet<crate::install::db::UseKey>, CacheError> {
    let mut out = BTreeSet::new();
    for path in db.projects()? {
        match Lockfile::read(Path::new(&path)) {
            Ok(Some(l)) => {
                for m in l.models {
                    out.insert((m.name, m.version.to_string(), m.variants.key(), m.registry));
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

/// The DAG files of tier 1 (`*.dag`, `*.json`) whose hash no installed version has, with their modification
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
        let Some(hash) = (name.strip_suffix(".dag"))
            .or_else(|| name.strip_suffix(".json"))
            .filter(|h| !h.starts_with('.'))
        else {
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
    for f in home.tier1_files(hash) {
        remove_file(&f)?;
    }
    if sym.join("index.db").is_file() {
        SymbolicIndex::open(&sym.join("index.db"))?.remove(hash)?;
    }
    Ok(true)
}

/// Something gc may evict: an installed version (with its last use) or an unowned tier-1 file.
enum Candidate {
    Version(Box<crate::install::db::Installed>, String),
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
            (t, Candidate::Version(Box::new(i), last_used))
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
        if pins.contains(&i.use_key()) {
            report.kept_pinned.push(i.label());
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
    db.remove(i)?;
    if db.users("content_hash", &i.content_hash)? == 0 {
        remove_dir_atomically(home, &home.bundle_dir(&i.content_hash))?;
        remove_file(&home.archive_path(&i.archive_sha256))?;
    }
    if db.users("phasic_hash", &i.phasic_hash)? == 0 {
        let sym = home.symbolic();
        for f in home.tier1_files(&i.phasic_hash) {
            remove_file(&f)?;
        }
        if sym.join("index.db").is_file() {
            SymbolicIndex::open(&sym.join("index.db"))?.remove(&i.phasic_hash)?;
        }
    }
    Ok(())
}
