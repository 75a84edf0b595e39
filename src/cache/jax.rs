//! The JAX compilation cache (tier 2): its files by last use, and vacuuming old ones.

use super::remove::remove_file;
use super::{CacheError, rfc3339};
use crate::install::Home;
use serde::Serialize;

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
