//! `ptd cache import`: the models of an export, checked against a trusted key.

use super::super::output::{Out, Show, emit};
use crate::cli::Cx;
use ptd::Result;
use ptd::install::db::Installed;
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    file: PathBuf,
    /// The exporter's public key: a .pub file or its RW... line (repeatable).
    #[arg(long = "trust", value_name = "KEY", required = true)]
    trust: Vec<String>,
    #[arg(long)]
    json: bool,
}

/// `{"imported": [...]}`.
#[derive(Serialize)]
struct Imported {
    imported: Vec<Installed>,
}

impl Show for Imported {
    fn show(&self, out: &Out) {
        for i in &self.imported {
            out.status("Imported", &i.label());
        }
    }
}

pub fn run(a: Args, cx: &Cx) -> Result<ExitCode> {
    let imported = ptd::ops::cache::import(&cx.ctx()?, &a.file, &a.trust)?;
    emit(&cx.out, &Imported { imported }, a.json);
    Ok(ExitCode::SUCCESS)
}
