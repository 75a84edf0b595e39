//! `ptd install`: named models into the user's cache, or the current project's `ptd.toml`.

use super::output::{Out, Show, emit};
use super::{Cx, current_dir};
use ptd::ops::install::{Action, Item};
use ptd::project::Project;
use ptd::resolve::Requirement;
use ptd::{Error, Result};
use serde::Serialize;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Models to install, e.g. coalescent/kingman@1.2 (`@1.2` means ^1.2, as in cargo); a
    /// family's variant settings follow its name: coalescent/block-counting@1 samples=30.
    specs: Vec<String>,
    /// The registry: a name from $PTD_HOME/config.toml, a URL or a directory.
    #[arg(long)]
    registry: Option<String>,
    /// Fail if ptd.lock is missing or would change.
    #[arg(long)]
    locked: bool,
    /// Refuse to build members of families that the registry has not prebuilt.
    #[arg(long)]
    no_build: bool,
    /// Print what was installed as JSON on standard output.
    #[arg(long)]
    json: bool,
}

/// What was installed: `{"installed": [...]}`.
#[derive(Serialize)]
pub struct Installed<'a> {
    pub installed: &'a [Item],
}

impl Show for Installed<'_> {
    fn show(&self, out: &Out) {
        for i in self.installed {
            let fresh = i.action == Action::Installed;
            let verb = if fresh { "Fresh" } else { "Installed" };
            let how = if fresh {
                String::new()
            } else {
                format!(" ({})", i.origin)
            };
            let member = if i.variants.is_empty() {
                String::new()
            } else {
                format!(" {}", i.variants)
            };
            out.status(verb, &format!("{} {}{member}{how}", i.name, i.version));
            if i.jax_files > 0 {
                out.status(
                    "JAX",
                    &format!("{} compiled entries in the JAX cache", i.jax_files),
                );
            }
            if i.phasic_files > 0 {
                out.status(
                    "phasic",
                    &format!(
                        "{} elimination artifact(s) where phasic looks (with PHASIC_REWARD_COMPUTE_CACHE=1)",
                        i.phasic_files
                    ),
                );
            }
            if let Some(note) = &i.jax_note {
                out.status("Note", note);
            }
            if let Some(note) = &i.tier1_note {
                out.status("Note", note);
            }
        }
    }
}

pub fn run(a: Args, cx: &Cx) -> Result<ExitCode> {
    let mut ctx = cx.ctx()?;
    ctx.builds.allowed = !a.no_build;
    let items = if a.specs.is_empty() {
        if a.registry.is_some() {
            return Err(Error::Usage(
                "--registry with no model names: a project's registries are given per dependency in ptd.toml".into(),
            ));
        }
        let project = Project::find(&current_dir()?)?;
        let (l, items) = cx.block_on(ptd::ops::project::install(&ctx, &project, a.locked))?;
        super::lock::show_changes(&cx.out, &l);
        items
    } else {
        if a.locked {
            return Err(Error::Usage(
                "--locked applies to a project's ptd.lock; it cannot be combined with model names"
                    .into(),
            ));
        }
        let reqs = Requirement::parse_words(&a.specs)?;
        cx.block_on(ptd::ops::install::install_requirements(
            &ctx,
            &reqs,
            a.registry.as_deref(),
        ))?
    };
    emit(&cx.out, &Installed { installed: &items }, a.json);
    Ok(ExitCode::SUCCESS)
}
