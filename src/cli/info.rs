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
        let mut shown: Vec<&semver::Version> = Vec::new();
        for e in &self.versions {
            let mark = if Some(&e.version) == self.selected.as_ref() {
                "*"
            } else {
                " "
            };
            if e.family.is_some() {
                // A family version: one line, however many members are prebuilt.
                if shown.contains(&&e.version) {
                    continue;
                }
                shown.push(&e.version);
                let Some(f) = ptd::ops::query::FamilyInfo::of(&self.versions, &e.version) else {
                    continue;
                };
                let yanked = if f.yanked == f.prebuilt.len() {
                    "(yanked) ".to_string()
                } else if f.yanked > 0 {
                    format!("({} members yanked) ", f.yanked)
                } else {
                    String::new()
                };
                println!(
                    "  {mark} {:<10} {yanked}family, {} prebuilt: {}",
                    e.version.to_string(),
                    f.prebuilt.len(),
                    ptd::ops::family::compact(&f.prebuilt)
                );
                continue;
            }
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
        if let Some(f) = &self.variants {
            println!("  variants of {}:", f.version);
            for (name, d) in &f.declarations.0 {
                let about = d
                    .description
                    .as_deref()
                    .map_or(String::new(), |t| format!(" ({t})"));
                println!("    {name}: {}, default {}{about}", d.allowed(), d.default);
            }
            println!(
                "  prebuilt: {}; other members are built from the version's signed recipe",
                ptd::ops::family::compact(&f.prebuilt)
            );
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
