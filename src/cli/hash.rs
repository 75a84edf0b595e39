//! `ptd hash`: a graph's phasic-compatible and canonical content hashes.

use super::Cx;
use ptd::Result;
use ptd::hash::GraphHashes;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// A graph file, a binary graph (a bundle's graph.bin), a model directory (or its
    /// model.toml), or a bundle.
    input: PathBuf,
    /// Print {"phasic": ..., "canonical": ...}.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args, cx: &Cx) -> Result<ExitCode> {
    let input = ptd::ops::build::open_input(&a.input, cx.out.quiet)?;
    let h = GraphHashes::of(input.graph()?);
    if a.json {
        println!("{}", serde_json::to_string(&h).expect("hashes serialize"));
    } else {
        println!("phasic     {}\ncanonical  {}", h.phasic, h.canonical);
    }
    // A large graph's arrays go back to the system with the process, not one by one.
    std::mem::forget(input);
    Ok(ExitCode::SUCCESS)
}
