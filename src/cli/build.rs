//! `ptd build`: a bundle from a model directory or graph file, and optionally its JAX and
//! phasic platform archives.

use super::Cx;
use ptd::{Error, Result};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// A model directory (or its model.toml), or a graph file.
    input: PathBuf,
    /// Directory to write the archive into.
    #[arg(short = 'o', long = "out-dir", value_name = "DIR", default_value = ".")]
    out_dir: PathBuf,
    /// Print the manifest as JSON.
    #[arg(long)]
    json: bool,
    /// Also compile the evaluator with the user's Python and JAX, and write the
    /// persistent-cache entries as a platform archive beside the bundle.
    #[arg(long)]
    jax: bool,
    /// With --jax: batch sizes to compile for, e.g. 1,64,1024.
    #[arg(long, value_name = "LIST", default_value = "1", requires = "jax")]
    batch: String,
    /// With --jax: the k of moments_jit to compile.
    #[arg(long, value_name = "K", default_value_t = 2, requires = "jax")]
    moments: usize,
    /// Also let the user's phasic eliminate the graph and write its own artifact, packed
    /// as an archive beside the bundle (installed where phasic looks).
    #[arg(long)]
    with_phasic: bool,
}

/// `--batch 1,64,1024` and `--moments K`, checked.
pub fn parse_batch_arg(batch: &str, moments: usize) -> Result<Vec<u64>> {
    if moments == 0 {
        return Err(Error::Usage("--moments must be at least 1".into()));
    }
    ptd::jax::parse_batches(batch).map_err(|e| Error::Usage(format!("--batch: {e}")))
}

pub fn run(a: Args, cx: &Cx) -> Result<ExitCode> {
    let (out, json) = (cx.out, a.json);
    let batches = if a.jax {
        parse_batch_arg(&a.batch, a.moments)?
    } else {
        Vec::new()
    };
    let input = ptd::ops::build::open_input(&a.input, out.quiet)?;
    let built = ptd::ops::build::build_bundle(&input)?;
    let path = built.write_to(&a.out_dir)?;
    let m = &built.manifest;
    if !json {
        eprintln!(
            "    Built {} {} ({} vertices, {} DAG nodes)",
            m.name, m.version, m.graph.vertices, m.graph.dag_nodes
        );
        println!("{}", path.display());
        eprintln!(
            "  content {}\n  phasic  {}",
            m.content_hash, m.hashes.phasic
        );
    }
    let jax = if a.jax {
        let j = ptd::ops::jax::build_jax(&cx.ctx()?, &built, &a.out_dir, &batches, a.moments)?;
        for c in &j.compiled {
            out.status(
                "Compiled",
                &format!("batch {} in {:.2}s ({})", c.batch, c.seconds, j.tag),
            );
        }
        if !json {
            println!("{}", j.path.display());
        }
        Some(j)
    } else {
        None
    };
    let phasic = if a.with_phasic {
        let p = ptd::ops::jax::build_phasic(&cx.ctx()?, &built, &a.out_dir)?;
        if !json {
            println!("{}", p.display());
        }
        Some(p)
    } else {
        None
    };
    if json {
        let mut v = serde_json::to_value(m).expect("manifest serializes");
        if let Some(j) = jax {
            v["jax_archive"] = serde_json::to_value(j).expect("report serializes");
        }
        if let Some(p) = phasic {
            v["phasic_archive"] = serde_json::json!(p);
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&v).expect("manifest serializes")
        );
    }
    Ok(ExitCode::SUCCESS)
}
