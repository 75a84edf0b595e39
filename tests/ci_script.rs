//! The README's test command (`scripts/test-all.sh`, which `.ci/run` calls) must install or
//! check every external tool the tests and benchmarks start, and must run the same format and
//! lint checks as the CI workflow, so that a clean machine fails loudly rather than skipping.

use std::collections::BTreeSet;
use std::path::Path;

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Program names of every `Command::new("NAME")` in the Rust files under `dir`.
fn commands_started(dir: &Path, out: &mut BTreeSet<String>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name()
                .is_some_and(|n| n == "fuzz" || n == "fixtures")
            {
                continue;
            }
            commands_started(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") && !p.ends_with("ci_script.rs") {
            let text = read(&p);
            for piece in text.split("Command::new(\"").skip(1) {
                if let Some(end) = piece.find('"') {
                    out.insert(piece[..end].to_string());
                }
            }
        }
    }
}

#[test]
fn the_test_script_provides_every_tool_the_tests_start() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = read(&root.join("scripts/test-all.sh"));
    let mut tools = BTreeSet::new();
    commands_started(&root.join("tests"), &mut tools);
    commands_started(&root.join("benches"), &mut tools);
    assert!(
        tools.contains("minisign"),
        "the scan found no tool: {tools:?}"
    );
    // Always present on a machine that runs the script: the shell itself, and python3, with
    // which the script makes the virtual environment.
    let given = ["sh", "python3"];
    let listed = script
        .lines()
        .find_map(|l| l.trim().strip_prefix("for tool in "))
        .and_then(|l| l.strip_suffix("; do"))
        .expect("test-all.sh installs missing tools in a `for tool in ...; do` loop");
    let installed: BTreeSet<&str> = listed.split_whitespace().collect();
    for t in &tools {
        if given.contains(&t.as_str()) {
            continue;
        }
        let built = script.contains(&format!(".tools/bin/{t}"));
        assert!(
            installed.contains(t.as_str()) || built,
            "tests or benchmarks start `{t}`, but scripts/test-all.sh neither installs it (its tool list is: {listed}) nor builds it into .tools/bin"
        );
        assert!(
            script.contains(&format!("{t} --version"))
                || script.contains(&format!("{t} -v"))
                || script.contains(&format!("{t} -V"))
                || script.contains(&format!("{t} --help"))
                || script.contains(&format!("{t} version")),
            "scripts/test-all.sh must check that `{t}` runs, so that a missing tool fails the run"
        );
    }
}

#[test]
fn the_test_script_runs_the_format_and_lint_checks_before_the_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = read(&root.join("scripts/test-all.sh"));
    let ci_run = read(&root.join(".ci/run"));
    assert!(
        ci_run.contains("exec ./scripts/test-all.sh"),
        ".ci/run must call the README's test command"
    );
    let at = |needle: &str| {
        script
            .lines()
            .position(|l| l.trim() == needle)
            .unwrap_or_else(|| panic!("scripts/test-all.sh must run `{needle}`"))
    };
    let fmt = at("cargo fmt --all -- --check");
    let clippy = at("cargo clippy --all-targets -- -D warnings");
    let test = at("cargo test --all-targets");
    assert!(
        fmt < test && clippy < test,
        "format and lint checks come before the tests"
    );
}
