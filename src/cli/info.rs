//! `ptd info`: a model's versions in a registry, or what a local model holds.

use super::Cx;
use super::output::{Out, Show, emit, human_size, print_reward_sets};
use ptd::Result;
use ptd::ops::query::{Info, LocalInfo};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// NAME[@REQ] in a registry, or the path of a model directory (or its model.toml), a
    /// bundle or a graph file.
    spec: String,
    #[arg(long)]
    registry: Option<String>,
    #[arg(long)]
    json: bool,
}

impl Show for LocalInfo {
    fn show(&self, _: &Out) {
        println!(
            "{} {} ({} {})",
            self.name, self.version, self.kind, self.path
        );
        if !self.description.is_empty() {
            println!("  {}", self.description);
        }
        println!("  parameters: {}", self.parameters.join(", "));
        println!(
            "  graph: {} vertices, {} edges, states of length {}",
            self.vertices, self.edges, self.state_length
        );
        print_reward_sets(&self.reward_sets);
    }
}

impl Show for Info {
    fn show(&self, _: &Out) {
        println!("{} (registry {})", self.name, self.registry);
        if let Some(newest) = self
            .versions
            .iter()
            .max_by(|a, b| a.version.cmp(&b.version))
        {
            if !newest.description.is_empty() {
                println!("  {}", newest.description);
            }
            println!("  parameters: {}", newest.parameters.join(", "));
        }
        for e in &self.versions {
            let mark = if Some(&e.version) == self.selected.as_ref() {
                "*"
            } else {
                " "
            };
            println!(
                "  {mark} {:<10} {}{}  content {}",
                e.version.to_string(),
                if e.yanked { "(yanked) " } else { "" },
                human_size(e.size),
                &e.content_hash[..16]
            );
        }
        if self.selected.is_none() {
            println!("  no version matches {}", self.requirement);
        }
        if let Some(sets) = &self.reward_sets {
            print_reward_sets(sets);
        }
    }
}

pub fn run(a: Args, cx: &Cx) -> Result<ExitCode> {
    let path = std::path::Path::new(&a.spec);
    if a.registry.is_none() && path.exists() {
        let info = ptd::ops::query::local_info(path, cx.out.quiet)?;
        emit(&cx.out, &info, a.json);
        return Ok(ExitCode::SUCCESS);
    }
    let ctx = cx.ctx()?;
    let req = ptd::ops::query::requirement(&a.spec)?;
    let info = cx.block_on(ptd::ops::query::info(&ctx, &req, a.registry.as_deref()))?;
    emit(&cx.out, &info, a.json);
    Ok(ExitCode::SUCCESS)
}
