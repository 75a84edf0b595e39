//! Managing what is installed: a summary of the store and both cache tiers, and eviction of the
//! least recently used versions down to a size or age, never of what a project's lockfile pins.
//!
//! Eviction of a version takes the same per-archive lock as installing it, removes its database
//! rows first, then its files, each directory renamed away before it is deleted, so a reader
//! sees an entry either whole or not at all.

//!
//! Here: the error type and size helpers; [`info`](info::info) and [`find`](info::find) in
//! `info`, the JAX tier in `jax`, [`gc`](gc::gc) and [`evict`](gc::evict) in `gc`, removal in
//! `remove`.

mod gc;
mod info;
mod jax;
pub mod leftovers;
mod remove;
pub mod transfer;
pub mod transforms;

pub use gc::{Evicted, GcReport, Limits, UNOWNED_GRACE, Unowned, evict, gc};
pub use info::{Found, Info, TierInfo, find, find_member, info, newest_one, query_words};
pub use jax::{JaxEntry, jax_entries, vacuum_jax};
pub use remove::remove_path;

use crate::install::InstallError;
use crate::install::db::DbError;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Install(#[from] InstallError),
    #[error(transparent)]
    Io(#[from] crate::fs::IoError),
    #[error("{0}")]
    Invalid(String),
}

pub(crate) fn io(path: &Path) -> impl Fn(std::io::Error) -> CacheError + '_ {
    move |source| {
        CacheError::Io(crate::fs::IoError {
            path: path.display().to_string(),
            source,
        })
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

fn rfc3339(t: std::time::SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
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
