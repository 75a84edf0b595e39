//! Replays every fuzz corpus input (`tests/fuzz/corpus/<target>.tar.zst`, the minimised corpus
//! kept compressed) and every crash the fuzzers ever found (`tests/fuzz/regressions/<target>/`)
//! through the fuzz targets' code: none may panic. The fuzzers themselves run with `cargo +nightly fuzz run --fuzz-dir tests/fuzz`.

#[path = "fuzz/targets.rs"]
mod targets;

use std::path::Path;

#[test]
fn every_corpus_input_and_regression_runs_without_panicking() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz");
    let mut total = 0;
    for (name, run) in targets::TARGETS {
        let mut n = 0;
        let mut inputs: Vec<(String, Vec<u8>)> = Vec::new();
        // The corpus, kept compressed: one tar + zstd per target.
        let packed = root.join("corpus").join(format!("{name}.tar.zst"));
        let bytes = std::fs::read(&packed).unwrap();
        let tar = zstd::decode_all(bytes.as_slice()).unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        for e in archive.entries().unwrap() {
            let mut e = e.unwrap();
            if e.header().entry_type() != tar::EntryType::Regular {
                continue;
            }
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            inputs.push((
                format!("{}:{}", packed.display(), e.path().unwrap().display()),
                data,
            ));
        }
        // Every crash the fuzzers found, as plain files.
        for e in std::fs::read_dir(root.join("regressions").join(name))
            .into_iter()
            .flatten()
            .flatten()
        {
            inputs.push((
                e.path().display().to_string(),
                std::fs::read(e.path()).unwrap(),
            ));
        }
        for (what, data) in &inputs {
            let result = std::panic::catch_unwind(|| run(data));
            assert!(result.is_ok(), "{name}: {what} panics");
            n += 1;
        }
        assert!(n > 0, "{name}: no corpus");
        total += n;
    }
    eprintln!("{total} inputs replayed");
}
