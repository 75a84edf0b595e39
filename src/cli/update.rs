//! `ptd update`: move locked versions to the newest that `ptd.toml` allows.

use super::{Cx, current_dir};
use ptd::Result;
use ptd::ops::project::Update;
use ptd::project::Project;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    names: Vec<String>,
}

pub fn run(a: Args, cx: &Cx) -> Result<ExitCode> {
    let ctx = cx.ctx()?;
    let project = Project::find(&current_dir()?)?;
    ptd::ops::project::check_update_names(&project, &a.names)?;
    let (l, _) = cx.block_on(ptd::ops::project::lock(
        &ctx,
        &project,
        &Update::Models(a.names),
        false,
    ))?;
    super::lock::show_changes(&cx.out, &l);
    if l.changes.is_empty() {
        cx.out.status(
            "Locked",
            "everything is already at the newest allowed version",
        );
    }
    Ok(ExitCode::SUCCESS)
}
