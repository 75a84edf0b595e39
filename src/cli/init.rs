//! `ptd init`: start a project (`ptd.toml`).

use super::{Cx, current_dir};
use ptd::project::Project;
use ptd::{Error, Result};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    dir: Option<PathBuf>,
    /// Project name (default: the directory's name).
    #[arg(long)]
    name: Option<String>,
}

pub fn run(a: Args, cx: &Cx) -> Result<ExitCode> {
    let dir = match a.dir {
        Some(d) => d,
        None => current_dir()?,
    };
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let p = Project::init(&dir, a.name.as_deref())?;
    cx.out.status(
        "Created",
        &format!(
            "project '{}' ({})",
            p.name,
            p.root.join("ptd.toml").display()
        ),
    );
    Ok(ExitCode::SUCCESS)
}
