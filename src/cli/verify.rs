//! `ptd verify`: `ptd cache verify` without repairing.

use super::Cx;
use ptd::Result;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args, cx: &Cx) -> Result<ExitCode> {
    super::cache::verify::run(false, a.json, cx)
}
