//! `ptd lock`: resolve `ptd.toml` and write `ptd.lock`.

use super::output::Out;
use super::{Cx, current_dir};
use ptd::Result;
use ptd::ops::Context;
use ptd::ops::project::{Locked, Update};
use ptd::project::Project;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Fail if ptd.lock would change.
    #[arg(long)]
    locked: bool,
}

/// One `Locking` line per change of the lockfile.
pub fn show_changes(out: &Out, l: &Locked) {
    for c in &l.changes {
        out.status("Locking", &c.to_string());
    }
}

/// After an edit of `ptd.toml` in memory: re-lock, and save the edit only if locking worked.
pub fn relock_and_save(
    cx: &Cx,
    ctx: &Context,
    project: &Project,
    verb: &str,
    what: &str,
) -> Result<ExitCode> {
    let (l, _) = cx.block_on(ptd::ops::project::lock(
        ctx,
        project,
        &Update::Nothing,
        false,
    ))?;
    project.save()?;
    cx.out.status(verb, what);
    show_changes(&cx.out, &l);
    Ok(ExitCode::SUCCESS)
}

pub fn run(a: Args, cx: &Cx) -> Result<ExitCode> {
    let ctx = cx.ctx()?;
    let project = Project::find(&current_dir()?)?;
    let (l, _) = cx.block_on(ptd::ops::project::lock(
        &ctx,
        &project,
        &Update::Nothing,
        a.locked,
    ))?;
    show_changes(&cx.out, &l);
    if l.changes.is_empty() {
        cx.out.status(
            "Locked",
            &format!("{} models, unchanged", l.lock.models.len()),
        );
    }
    Ok(ExitCode::SUCCESS)
}
