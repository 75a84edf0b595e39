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
    #[arg(
        short = 'o',
        long = "out-dir",
        visible_alias = "out",
        value_name = "DIR",
        default_value = "."
    )]
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
    /// For a recipe with [variants]: build these members, NAME=SET words (samples=2..50,
    /// samples=10,20,30; several words: every combination), and the default member.
    #[arg(long, value_name = "NAME=SET", num_args = 1.., conflicts_with_all = ["jax", "with_phasic"])]
    variants: Vec<String>,
    /// With --variants: build only the I-th of N shares of the members (those at positions p
    /// with p % N == I - 1 in the set's order), for CI jobs whose outputs `ptd publish
    /// --prebuilt` gathers.
    #[arg(long, value_name = "I/N", requires = "variants")]
    shard: Option<String>,
    /// With --variants: threads building members (default: the machine's cores).
    #[arg(long, short = 'j', value_name = "N", requires = "variants")]
    jobs: Option<usize>,
    /// Bundle format version to write: 4 (binary graph and DAG, the default) or 3 (JSON
    /// graph and DAG, readable by ptd versions before the binary layouts).
    #[arg(long, value_name = "N", default_value_t = ptd::bundle::FORMAT_VERSION, conflicts_with_all = ["variants", "jax"])]
    bundle_format: u32,
}

/// `--batch 1,64,1024` and `--moments K`, checked.
pub fn parse_batch_arg(batch: &str, moments: usize) -> Result<Vec<u64>> {
    if moments == 0 {
        return Err(Error::Usage("--moments must be at least 1".into()));
    }
    ptd::jax::parse_batches(batch).map_err(|e| Error::Usage(format!("--batch: {e}")))
}

/// `ptd build DIR --variants SET... [--shard I/N]`: one archive per member.
fn run_family(a: &Args, cx: &Cx) -> Result<ExitCode> {
    let shard = a
        .shard
        .as_deref()
        .map(ptd::ops::family::Shard::parse)
        .transpose()?;
    let written = ptd::ops::family::build_family(
        &a.input,
        &a.variants,
        shard,
        ptd::ops::family::workers(a.jobs)?,
        &a.out_dir,
        !cx.out.quiet,
    )?;
    if a.json {
        super::output::print_json(&written);
        return Ok(ExitCode::SUCCESS);
    }
    for w in &written {
        cx.out.status(
            "Built",
            &format!(
                "{} ({} vertices, content {})",
                w.variants,
                w.vertices,
                &w.content_hash[..16]
            ),
        );
        println!("{}", w.path.display());
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run(a: Args, cx: &Cx) -> Result<ExitCode> {
    if !a.variants.is_empty() {
        return run_family(&a, cx);
    }
    let (out, json) = (cx.out, a.json);
    let batches = if a.jax {
        parse_batch_arg(&a.batch, a.moments)?
    } else {
        Vec::new()
    };
    let input = ptd::ops::build::open_input(&a.input, out.quiet)?;
    let built = ptd::ops::build::build_bundle_in(&input, a.bundle_format)?;
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
