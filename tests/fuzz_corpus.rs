//! Replays every fuzz corpus input (`tests/fuzz/corpus/<target>/`) and every crash the fuzzers
//! ever found (`tests/fuzz/regressions/<target>/`) through the fuzz targets' code: none may
//! panic. The fuzzers themselves run with `cargo +nightly fuzz run --fuzz-dir tests/fuzz`.

#[path = "fuzz/targets.rs"]
mod targets;

use std::path::Path;

#[test]
fn every_corpus_input_and_regression_runs_without_panicking() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz");
    let mut total = 0;
    for (name, run) in targets::TARGETS {
        let mut n = 0;
        for dir in ["corpus", "regressions"] {
            let Ok(rd) = std::fs::read_dir(root.join(dir).join(name)) else {
                continue;
            };
            for e in rd.flatten() {
                let data = std::fs::read(e.path()).unwrap();
                let result = std::panic::catch_unwind(|| run(&data));
                assert!(result.is_ok(), "{name}: {} panics", e.path().display());
                n += 1;
            }
        }
        assert!(n > 0, "{name}: no corpus");
        total += n;
    }
    eprintln!("{total} inputs replayed");
}
