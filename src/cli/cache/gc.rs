//! `ptd cache gc`: evict to the configured or given bounds.

use super::super::output::{Out, Show, emit, human_size};
use crate::cli::Cx;
use ptd::Result;
use ptd::cache::GcReport;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// e.g. 20GB, 500MiB.
    #[arg(long, value_name = "SIZE")]
    max_size: Option<String>,
    /// e.g. 90days, 12h.
    #[arg(long, value_name = "AGE")]
    max_age: Option<String>,
    #[arg(long)]
    dry_run: bool,
    /// Also evict versions that lockfiles pin.
    #[arg(long)]
    force: bool,
    #[arg(long)]
    json: bool,
}

impl Show for GcReport {
    fn show(&self, out: &Out) {
        let verb = if self.dry_run {
            "Would evict"
        } else {
            "Evicted"
        };
        for e in &self.evicted {
            out.status(
                verb,
                &format!(
                    "{} {} [{}] ({}, last used {})",
                    e.name,
                    e.version,
                    e.registry,
                    human_size(e.bytes),
                    e.last_used
                ),
            );
        }
        for k in &self.kept_pinned {
            out.status(
                "Kept",
                &format!("{k} (pinned by a ptd.lock; --force evicts it)"),
            );
        }
        let verb = if self.dry_run {
            "Would remove"
        } else {
            "Removed"
        };
        for f in &self.unowned {
            out.status(
                verb,
                &format!(
                    "{} (no installed version owns it; {}, modified {})",
                    f.path,
                    human_size(f.bytes),
                    f.modified
                ),
            );
        }
        for l in &self.leftovers {
            out.status(
                verb,
                &format!(
                    "{} (a stale temporary; {}, modified {})",
                    l.path,
                    human_size(l.bytes),
                    l.modified
                ),
            );
        }
        out.status(
            "Cache",
            &format!(
                "{} -> {}",
                human_size(self.bytes_before),
                human_size(self.bytes_after)
            ),
        );
    }
}

pub fn run(a: Args, cx: &Cx) -> Result<ExitCode> {
    let ctx = cx.ctx()?;
    let limits = ptd::ops::cache::limits(
        &ctx,
        a.max_size.as_deref(),
        a.max_age.as_deref(),
        a.force,
        a.dry_run,
    )?;
    let r = ptd::ops::cache::gc(&ctx, &limits)?;
    emit(&cx.out, &r, a.json);
    Ok(ExitCode::SUCCESS)
}
