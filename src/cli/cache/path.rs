//! `ptd cache path`: where an installed model's symbolic DAG and bundle are.

use super::super::output::{Out, Show, emit};
use crate::cli::Cx;
use ptd::cache::Found;
use ptd::{Error, Result};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    query: String,
    #[arg(long)]
    json: bool,
}

impl Show for Vec<Found> {
    fn show(&self, _: &Out) {
        for f in self {
            println!("{}", f.dag);
        }
    }
}

pub fn run(a: Args, cx: &Cx) -> Result<ExitCode> {
    let found = ptd::ops::query::find_installed(&cx.ctx()?, &a.query)?;
    if found.is_empty() {
        return Err(Error::Usage(format!(
            "nothing installed matches '{}' (see `ptd list`)",
            a.query
        )));
    }
    emit(&cx.out, &found, a.json);
    Ok(ExitCode::SUCCESS)
}
