//! `ptd yank`: mark a published version yanked (or not) and re-sign.

use super::Cx;
use ptd::{Error, Result};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// NAME@VERSION
    spec: String,
    #[arg(long)]
    registry: PathBuf,
    #[arg(long)]
    undo: bool,
    #[arg(long)]
    key: Option<PathBuf>,
}

pub fn run(a: Args, cx: &Cx) -> Result<ExitCode> {
    let spec = &a.spec;
    let (name, version) = spec.split_once('@').ok_or_else(|| {
        Error::Usage(format!(
            "'{spec}': give NAME@VERSION, e.g. coalescent/kingman@1.1.0"
        ))
    })?;
    let version = semver::Version::parse(version).map_err(|e| {
        Error::Usage(format!(
            "'{spec}': '{version}' is not an exact version ({e})"
        ))
    })?;
    let signer = ptd::ops::registry::registry_signer(a.key.as_deref(), Some(&a.registry))?;
    ptd::ops::registry::yank(&a.registry, name, &version, a.undo, &signer)?;
    cx.out.status(
        if a.undo { "Unyanked" } else { "Yanked" },
        &format!("{name} {version}"),
    );
    Ok(ExitCode::SUCCESS)
}
