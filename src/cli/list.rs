//! `ptd list`: the installed models.

use super::Cx;
use super::output::{Out, Show, emit};
use ptd::Result;
use ptd::install::db::Installed;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    json: bool,
}

impl Show for Vec<Installed> {
    fn show(&self, _: &Out) {
        for i in self {
            let member = if i.variants.is_empty() {
                String::new()
            } else {
                format!(" {}", i.variants)
            };
            let built = if i.built { "  (built locally)" } else { "" };
            println!(
                "{} {}{member}  [{}]  {}{built}",
                i.name,
                i.version,
                i.registry,
                &i.content_hash[..16]
            );
        }
    }
}

pub fn run(a: Args, cx: &Cx) -> Result<ExitCode> {
    let list = ptd::ops::query::list(&cx.ctx()?)?;
    emit(&cx.out, &list, a.json);
    Ok(ExitCode::SUCCESS)
}
