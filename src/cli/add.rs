//! `ptd add`: a requirement into `ptd.toml`, then re-lock.

use super::{Cx, current_dir};
use ptd::Result;
use ptd::project::{DEFAULT_REGISTRY, Project};
use ptd::resolve::Requirement;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// NAME[@REQ]; without a requirement, ^ the newest version.
    spec: String,
    /// For a family: the member's variant settings, e.g. samples=30 (kept in ptd.toml).
    #[arg(value_name = "NAME=VALUE")]
    variants: Vec<String>,
    #[arg(long)]
    registry: Option<String>,
}

pub fn run(a: Args, cx: &Cx) -> Result<ExitCode> {
    let ctx = cx.ctx()?;
    let mut project = Project::find(&current_dir()?)?;
    let mut req = Requirement::parse(&a.spec)?;
    req.variants = super::variant_words(&a.variants)?;
    let label = a.registry.unwrap_or_else(|| DEFAULT_REGISTRY.into());
    ctx.registry_label(Some(&label))?;
    project.add(&req, &label);
    super::lock::relock_and_save(cx, &ctx, &project, "Adding", &format!("{req} to ptd.toml"))
}
