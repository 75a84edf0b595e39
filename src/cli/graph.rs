//! `ptd graph export` and `ptd graph generators`.

use super::Cx;
use ptd::{Error, Result};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum GraphCommand {
    /// Write a model's graph as a graph file (phasic's Graph.serialize() layout).
    Export {
        /// A model directory (or its model.toml), a graph file or a bundle.
        input: PathBuf,
        /// Output file; standard output if absent.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// List the built-in graph generators.
    Generators,
}

pub fn run(c: GraphCommand, cx: &Cx) -> Result<ExitCode> {
    match c {
        GraphCommand::Export { input, output } => {
            let input = ptd::ops::build::open_input(&input, cx.out.quiet)?;
            let bytes = ptd::graph::GraphFile::to_bytes(input.graph()?);
            match output {
                Some(path) => {
                    ptd::fs::write_output(&path, &bytes).map_err(|e| Error::io(&path, e))?
                }
                None => std::io::stdout()
                    .write_all(&bytes)
                    .map_err(|e| Error::io("<stdout>", e))?,
            }
        }
        GraphCommand::Generators => {
            for g in ptd::model::GENERATORS {
                println!("{}  (parameters: {})", g.name, g.parameters.join(", "));
                println!("    {}", g.about);
                for (a, help) in g.args {
                    println!("    {a}: {help}");
                }
                for (set, what) in g.rewards {
                    println!("    reward set {set}: {what}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
