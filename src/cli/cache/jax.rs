//! `ptd cache jax`: list or vacuum the JAX compilation cache (tier 2).

use super::super::output::{Out, Show, emit, human_size};
use crate::cli::Cx;
use ptd::cache::JaxEntry;
use ptd::{Error, Result};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Remove entries unused for this long (e.g. 30days).
    #[arg(long, value_name = "AGE")]
    vacuum: Option<String>,
    /// Remove every entry (clear the tier).
    #[arg(long, conflicts_with = "vacuum")]
    clear: bool,
    #[arg(long)]
    dry_run: bool,
    #[arg(long)]
    json: bool,
}

impl Show for Vec<JaxEntry> {
    fn show(&self, _: &Out) {
        for e in self {
            println!("{}  {:>10}  {}", e.last_used, human_size(e.bytes), e.name);
        }
    }
}

pub fn run(a: Args, cx: &Cx) -> Result<ExitCode> {
    let ctx = cx.ctx()?;
    let entries = if a.vacuum.is_some() || a.clear {
        let age = a
            .vacuum
            .map(|v| {
                humantime::parse_duration(&v)
                    .map_err(|e| Error::Usage(format!("--vacuum '{v}': {e} (e.g. 30days, 12h)")))
            })
            .transpose()?;
        ptd::cache::vacuum_jax(&ctx.home, age, a.dry_run)?
    } else {
        ptd::cache::jax_entries(&ctx.home)
    };
    emit(&cx.out, &entries, a.json);
    Ok(ExitCode::SUCCESS)
}
