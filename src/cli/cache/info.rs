//! `ptd cache info`: entries, bytes, hits and misses per tier.

use super::super::output::{Out, Show, emit, human_size};
use crate::cli::Cx;
use ptd::Result;
use ptd::cache::Info;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    json: bool,
}

impl Show for Info {
    fn show(&self, _: &Out) {
        for (tier, t) in [
            ("store", &self.store),
            ("symbolic (tier 1)", &self.symbolic),
            ("jax (tier 2)", &self.jax),
        ] {
            println!(
                "{tier:<18} {:>6} entries {:>10}  hits {} misses {}  used {} .. {}  {}",
                t.entries,
                human_size(t.bytes),
                t.hits,
                t.misses,
                t.oldest_use.as_deref().unwrap_or("-"),
                t.newest_use.as_deref().unwrap_or("-"),
                t.dir
            );
        }
        println!(
            "{:<18} {:>6} entries {:>10}  stale temporaries (ptd cache gc removes them)",
            "leftovers",
            self.leftovers.entries,
            human_size(self.leftovers.bytes)
        );
        for p in &self.projects {
            println!("project            {p}");
        }
    }
}

pub fn run(a: Args, cx: &Cx) -> Result<ExitCode> {
    let info = ptd::cache::info(&cx.ctx()?.home)?;
    emit(&cx.out, &info, a.json);
    Ok(ExitCode::SUCCESS)
}
