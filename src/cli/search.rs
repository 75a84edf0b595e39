//! `ptd search`: a registry's models by name, description and keywords.

use super::Cx;
use super::output::{Out, Show, emit};
use ptd::Result;
use ptd::ops::query::Hit;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    words: Vec<String>,
    #[arg(long)]
    registry: Option<String>,
    #[arg(long)]
    json: bool,
}

impl Show for Vec<Hit> {
    fn show(&self, _: &Out) {
        for h in self {
            println!("{} = \"{}\"    # {}", h.name, h.version, h.description);
        }
    }
}

pub fn run(a: Args, cx: &Cx) -> Result<ExitCode> {
    let ctx = cx.ctx()?;
    let words = a.words.join(" ");
    let hits = cx.block_on(ptd::ops::query::search(&ctx, &words, a.registry.as_deref()))?;
    emit(&cx.out, &hits, a.json);
    if hits.is_empty() && !a.json {
        eprintln!("no model matches '{words}'");
    }
    Ok(ExitCode::SUCCESS)
}
