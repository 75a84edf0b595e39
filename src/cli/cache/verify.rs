//! `ptd cache verify [--repair]` (and `ptd verify`): re-hash every entry.

use super::super::output::{human_size, print_json};
use crate::cli::Cx;
use ptd::Result;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    pub repair: bool,
    #[arg(long)]
    pub json: bool,
}

/// Exits with 1 when problems were found.
pub fn run(repair: bool, json: bool, cx: &Cx) -> Result<ExitCode> {
    let ctx = cx.ctx()?;
    let r = cx.block_on(ptd::ops::cache::verify_and_repair(&ctx, repair))?;
    if json {
        print_json(&r);
    } else {
        for p in &r.problems {
            eprintln!("{} {}: {}: {}", p.name, p.version, p.path, p.message);
        }
        if !repair {
            for l in &r.leftovers {
                eprintln!(
                    "leftover: {} ({}, modified {}): a stale temporary; `ptd cache verify --repair` or `ptd cache gc` removes it",
                    l.path,
                    human_size(l.bytes),
                    l.modified
                );
            }
        }
        for x in &r.repaired {
            cx.out.status("Repaired", x);
        }
        cx.out.status(
            "Verified",
            &format!(
                "{} installed models, {} files, {} problems",
                r.checked,
                r.files,
                r.problems.len()
            ),
        );
    }
    Ok(if r.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
