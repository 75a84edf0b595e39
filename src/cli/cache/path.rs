//! `ptd cache path`: where an installed model's symbolic DAG and bundle are.

use super::super::output::{Out, Show, emit};
use crate::cli::Cx;
use ptd::cache::Found;
use ptd::{Error, Result};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// NAME[@REQ] or a hash prefix.
    query: String,
    /// For a family: variant settings the members shown must have, e.g. samples=30.
    #[arg(value_name = "NAME=VALUE")]
    variants: Vec<String>,
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
    let variants = crate::cli::variant_words(&a.variants)?;
    let found = ptd::ops::query::find_installed(&cx.ctx()?, &a.query, &variants)?;
    if found.is_empty() {
        return Err(Error::Usage(format!(
            "nothing installed matches '{}' (see `ptd list`)",
            ptd::cache::query_words(&a.query, &variants)
        )));
    }
    emit(&cx.out, &found, a.json);
    Ok(ExitCode::SUCCESS)
}
