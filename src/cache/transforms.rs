//! Reward transforms kept in tier 1: `<tier 1>/transforms/<key>.bin`, one per symbolic
//! structure and zero pattern (`Symbolic::transform_key`), written atomically. A file that is
//! damaged or does not fit is rebuilt and replaced; losing one only costs its rebuild.

use crate::eliminate::{Symbolic, Transform};
use crate::install::Home;
use std::path::PathBuf;

/// Where a transform is kept.
pub fn path(home: &Home, key: &str) -> PathBuf {
    home.symbolic()
        .join("transforms")
        .join(format!("{key}.bin"))
}

/// Whether a transform came from tier 1 or was built (and stored) now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Cached,
    Built,
    /// Built, but tier 1 could not be written (read-only or full): used for this call only.
    Unstored,
}

/// The transform of `zero` for `s`: from tier 1 when an intact one is there, else built and
/// stored.
pub fn load_or_build(home: &Home, s: &Symbolic, zero: &[bool]) -> (Transform, Origin) {
    let p = path(home, &s.transform_key(zero));
    if let Ok(bytes) = std::fs::read(&p)
        && let Some(t) = Transform::from_bytes(&bytes, s, zero)
    {
        return (t, Origin::Cached);
    }
    let t = s.transform(zero);
    let origin = match crate::fs::write_atomic(&p, &t.to_bytes()) {
        Ok(()) => Origin::Built,
        Err(_) => Origin::Unstored,
    };
    (t, origin)
}
