//! `ptd remove`: a requirement out of `ptd.toml`, then re-lock.

use super::{Cx, current_dir};
use ptd::project::Project;
use ptd::{Error, Result};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    name: String,
}

pub fn run(a: Args, cx: &Cx) -> Result<ExitCode> {
    let ctx = cx.ctx()?;
    let mut project = Project::find(&current_dir()?)?;
    if !project.remove(&a.name)? {
        return Err(Error::Usage(format!(
            "{} is not a dependency in {}",
            a.name,
            project.root.join("ptd.toml").display()
        )));
    }
    let what = format!("{} from ptd.toml", a.name);
    super::lock::relock_and_save(cx, &ctx, &project, "Removing", &what)
}
