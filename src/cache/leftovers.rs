//! Temporaries that interrupted writes leave behind: partial downloads and extraction or
//! eviction directories under `$PTD_HOME/tmp/`, `.link-*` and `.tmp*` files in tier 1 (a DAG
//! being linked or copied into place, a `.meta` being written), and `.tmp*` files that an
//! atomic write (a temporary in the same directory, then a rename) left in the store, the
//! registry state or the JAX tier.
//!
//! A temporary is *stale*, and may be removed, when nothing has touched it for
//! [`TEMP_GRACE`] and no live process holds it: a partial download `tmp/<sha256>.part` is held
//! while its archive's lock (`locks/<sha256>.lock`) is, and is removed only with that lock
//! taken; a per-process partial download `tmp/<sha256>.<pid>.part` is held while that process
//! runs. Age is the newest modification of the file or of anything inside the directory, and
//! for a file with several links the time it was linked (its status change), since a hard link
//! keeps the modification time of the file it links to.

use super::{CacheError, io, rfc3339};
use crate::install::{Home, locks_enabled};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Temporaries touched more recently than this are never removed: a process may be writing
/// them. The same grace as for tier-1 files no installed version owns.
pub const TEMP_GRACE: Duration = super::UNOWNED_GRACE;

/// One stale temporary.
#[derive(Clone, Debug, Serialize)]
pub struct Leftover {
    pub path: String,
    /// Its bytes (everything inside, for a directory).
    pub bytes: u64,
    /// When it, or anything inside it, was last modified.
    pub modified: String,
}

/// Count and bytes of the stale temporaries, for `ptd cache info`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LeftoverSummary {
    pub entries: u64,
    pub bytes: u64,
}

/// Whether `name` is a temporary that `tempfile` makes with the given prefix: the prefix and
/// six random characters, no suffix.
fn tempfile_name(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix)
        .is_some_and(|rest| rest.len() == 6 && rest.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// Every temporary ptd may have left, stale or not, with the lock that guards it (if any).
fn candidates(home: &Home) -> Vec<(PathBuf, Option<PathBuf>, Option<u32>)> {
    let mut out = Vec::new();
    let entries = |dir: &Path| -> Vec<(PathBuf, String)> {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| (e.path(), e.file_name().to_string_lossy().into_owned()))
            .collect()
    };
    // Everything under tmp/ is temporary.
    for (path, name) in entries(&home.tmp()) {
        let (mut lock, mut pid) = (None, None);
        if let Some(stem) = name.strip_suffix(".part") {
            match stem.split_once('.') {
                // `<sha256>.<pid>.part`: one process's own partial download.
                Some((_, p)) => pid = p.parse().ok(),
                // `<sha256>.part`: written only under the archive's lock.
                None => lock = Some(home.locks().join(format!("{stem}.lock"))),
            }
        }
        out.push((path, lock, pid));
    }
    // Tier 1: a DAG being linked into place, a .meta being written.
    for (path, name) in entries(&home.symbolic()) {
        if tempfile_name(&name, ".link-") || tempfile_name(&name, ".tmp") {
            out.push((path, None, None));
        }
    }
    // Atomic writes elsewhere: `.tmpXXXXXX` beside the file being replaced.
    let mut dirs = vec![
        home.root.clone(),
        home.archives(),
        home.bundles(),
        home.python_state(),
        home.jax_cache.clone(),
        home.phasic_cache.join("parameterized_reward_compute"),
    ];
    let mut registries = vec![home.registries()];
    while let Some(d) = registries.pop() {
        for (path, _) in entries(&d) {
            if path.is_dir() && !path.is_symlink() {
                registries.push(path);
            }
        }
        dirs.push(d);
    }
    for d in dirs {
        for (path, name) in entries(&d) {
            if tempfile_name(&name, ".tmp") {
                out.push((path, None, None));
            }
        }
    }
    out
}

/// When `path` (or anything inside it) last changed, and its bytes; `None` if it is gone.
fn last_change(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::symlink_metadata(path).ok()?;
    let mut t = m.modified().unwrap_or(std::time::UNIX_EPOCH);
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // A hard link keeps its target's modification time; linking changes the status time.
        if m.is_file() && m.nlink() > 1 {
            let ctime = std::time::UNIX_EPOCH + Duration::from_secs(m.ctime().max(0) as u64);
            t = t.max(ctime);
        }
    }
    if !m.is_dir() {
        return Some((t, m.len()));
    }
    let mut bytes = 0;
    for e in std::fs::read_dir(path).into_iter().flatten().flatten() {
        if let Some((ti, b)) = last_change(&e.path()) {
            t = t.max(ti);
            bytes += b;
        }
    }
    Some((t, bytes))
}

/// Whether process `pid` is running (as far as this system can tell; `false` where it cannot).
fn alive(pid: u32) -> bool {
    Path::new("/proc/self").exists() && Path::new(&format!("/proc/{pid}")).exists()
}

/// Takes the lock at `lock` without waiting. `Ok(Some(file))` holds it; `Ok(None)` means a
/// live process holds it. With `create` false a missing lock file counts as free (and nothing
/// is written); with file locks off nothing is locked.
fn try_lock(lock: &Path, create: bool) -> Result<Option<Option<std::fs::File>>, CacheError> {
    if !locks_enabled() {
        return Ok(Some(None));
    }
    if !create && !lock.exists() {
        return Ok(Some(None));
    }
    if let Some(d) = lock.parent() {
        std::fs::create_dir_all(d).map_err(io(d))?;
    }
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock)
        .map_err(io(lock))?;
    match f.try_lock() {
        Ok(()) => Ok(Some(Some(f))),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(io(lock)(e)),
    }
}

/// Finds the stale temporaries and, unless `dry_run`, removes them, each while holding its
/// lock (if it has one) and after checking its age once more. Returns what was (or, in a dry
/// run, would be) removed, oldest first. A temporary that cannot be removed is an error naming
/// it.
pub fn clean(home: &Home, dry_run: bool) -> Result<Vec<Leftover>, CacheError> {
    sweep(home, !dry_run)
}

/// The stale temporaries, without removing anything.
pub fn find(home: &Home) -> Result<Vec<Leftover>, CacheError> {
    sweep(home, false)
}

/// Count and bytes of the stale temporaries.
pub fn summary(home: &Home) -> Result<LeftoverSummary, CacheError> {
    let found = find(home)?;
    Ok(LeftoverSummary {
        entries: found.len() as u64,
        bytes: found.iter().map(|l| l.bytes).sum(),
    })
}

fn sweep(home: &Home, remove: bool) -> Result<Vec<Leftover>, CacheError> {
    let now = SystemTime::now();
    let stale = |t: SystemTime| now.duration_since(t).unwrap_or_default() >= TEMP_GRACE;
    let mut out = Vec::new();
    for (path, lock, pid) in candidates(home) {
        if pid.is_some_and(alive) {
            continue;
        }
        let Some((t, _)) = last_change(&path) else {
            continue;
        };
        if !stale(t) {
            continue;
        }
        let _guard = match &lock {
            Some(l) => match try_lock(l, remove)? {
                Some(g) => g,
                None => continue,
            },
            None => None,
        };
        // Once more, now that the lock (if any) is held.
        let Some((t, bytes)) = last_change(&path) else {
            continue;
        };
        if !stale(t) {
            continue;
        }
        if remove {
            let gone = if path.is_dir() && !path.is_symlink() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            match gone {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(io(&path)(e));
                }
                _ => {}
            }
        }
        out.push((
            t,
            Leftover {
                path: path.display().to_string(),
                bytes,
                modified: rfc3339(t),
            },
        ));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.path.cmp(&b.1.path)));
    Ok(out.into_iter().map(|(_, l)| l).collect())
}
