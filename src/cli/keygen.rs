//! `ptd keygen`: a minisign key pair.

use super::Cx;
use ptd::Result;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Path without extension.
    #[arg(short = 'o', long = "output", default_value = "ptd-signing")]
    base: PathBuf,
    /// Do not encrypt the secret key (otherwise the password comes from
    /// PTD_SIGNING_KEY_PASSWORD or is asked for).
    #[arg(long)]
    unencrypted: bool,
    /// Replace existing files.
    #[arg(long)]
    force: bool,
}

pub fn run(a: Args, cx: &Cx) -> Result<ExitCode> {
    let password = if a.unencrypted {
        None
    } else {
        Some(super::registry::key_password()?)
    };
    let k = ptd::ops::keys::keygen(&a.base, password.as_deref(), a.force)?;
    cx.out.status("Created", &format!("key {}", k.key_id));
    println!("secret key: {}", k.secret.display());
    println!("public key: {}  ({})", k.public.display(), k.public_key);
    Ok(ExitCode::SUCCESS)
}
