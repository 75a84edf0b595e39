//! `ptd sign`: a minisign signature of a file.

use super::Cx;
use ptd::Result;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    file: PathBuf,
    /// Secret key file (else PTD_SIGNING_KEY).
    #[arg(long)]
    key: Option<PathBuf>,
    /// The signed comment (default for bundles: model, version and content hash).
    #[arg(long)]
    trusted_comment: Option<String>,
}

pub fn run(a: Args, _: &Cx) -> Result<ExitCode> {
    let signer = ptd::ops::keys::signer(a.key.as_deref())?;
    let out = ptd::ops::keys::sign_file(&a.file, &signer, a.trusted_comment.as_deref())?;
    println!("{}", out.display());
    Ok(ExitCode::SUCCESS)
}
