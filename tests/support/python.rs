//! The test environment's Python (made by scripts/test-all.sh, with phasic, jax, jaxlib and
//! ruff): `PTD_TEST_PYTHON`, else `.venv/bin/python`. Missing, a test fails rather than skips.

use std::path::{Path, PathBuf};

/// The repository's root.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn python() -> PathBuf {
    let p = std::env::var_os("PTD_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv/bin/python"));
    assert!(
        p.is_file(),
        "{} is missing: run scripts/test-all.sh, which makes the test environment",
        p.display()
    );
    p
}
