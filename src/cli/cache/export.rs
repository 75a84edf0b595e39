//! `ptd cache export`: installed models into one signed archive.

use super::super::output::print_json;
use crate::cli::Cx;
use ptd::Result;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    file: PathBuf,
    /// NAME[@REQ] or hash prefixes.
    models: Vec<String>,
    /// Secret key to sign with (else PTD_SIGNING_KEY).
    #[arg(long)]
    key: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args, cx: &Cx) -> Result<ExitCode> {
    let ctx = cx.ctx()?;
    let signer = ptd::ops::keys::signer(a.key.as_deref())?;
    let manifest = ptd::ops::cache::export(&ctx, &a.file, &a.models, &signer)?;
    if a.json {
        print_json(&manifest);
    } else {
        for e in &manifest.entries {
            cx.out.status(
                "Exported",
                &ptd::install::db::label(&e.name, &e.version, &e.variants, &e.registry),
            );
        }
        println!("{}", a.file.display());
    }
    Ok(ExitCode::SUCCESS)
}
