//! Command-line parsing. Each command parses its arguments and calls the library.

mod pkg;

use clap::{Parser, Subcommand};
use ptd::bundle;
use ptd::hash::GraphHashes;
use ptd::{Error, Result};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "ptd",
    version,
    about = "Package manager and registry for precomputed phase-type models"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Use only what is cached locally: fetch no index file and no archive.
    #[arg(long, global = true)]
    offline: bool,
    /// No progress bars and no status lines.
    #[arg(long, short = 'q', global = true)]
    quiet: bool,
}

/// `ptd eval`'s arguments.
#[derive(clap::Args)]
struct EvalArgs {
    /// A graph file, a model directory (or its model.toml), a bundle, or an installed
    /// model's NAME[@REQ].
    input: PathBuf,
    /// Comma-separated parameter values, e.g. 1.0,0.5.
    #[arg(long, value_name = "LIST", allow_hyphen_values = true)]
    theta: Option<String>,
    /// How many moments: E[T], E[T^2], ..., E[T^K].
    #[arg(long, value_name = "K", default_value_t = 2)]
    moments: usize,
    /// A JSON file of reward vectors, one value per vertex id (>= 0): one list, a list of
    /// lists, or an object of named lists; or the name of one of the model's reward sets (see
    /// `ptd info`). Prints each rewarded total's moments, its zero atom P(Y = 0) and the
    /// covariance matrix of the totals.
    #[arg(long, value_name = "FILE.json|NAME")]
    rewards: Option<PathBuf>,
    /// Comma-separated times t >= 0: adds the density and distribution function of the
    /// absorption time (and of each rewarded total) at each.
    #[arg(long, value_name = "LIST", allow_hyphen_values = true)]
    times: Option<String>,
    /// Also print the expected time spent in each vertex (by vertex id).
    #[arg(long)]
    sojourn: bool,
    /// Print {"moments": [...], ...} as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Work with graph files.
    #[command(subcommand)]
    Graph(GraphCommand),
    /// Print a graph's phasic-compatible and canonical content hashes.
    Hash {
        /// A graph file, a model directory (or its model.toml), or a bundle.
        input: PathBuf,
        /// Print {"phasic": ..., "canonical": ...}.
        #[arg(long)]
        json: bool,
    },
    /// Evaluate a model for a parameter vector: moments of the absorption time, and of rewarded
    /// totals with their covariances and zero atoms, densities and distribution functions at
    /// times, and expected sojourn times (docs/evaluation.md).
    Eval(EvalArgs),
    /// Build a bundle (graph, symbolic DAG, manifest) from a model directory or graph file.
    Build {
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
    },
    #[command(flatten)]
    Pkg(pkg::PkgCommand),
}

#[derive(Subcommand)]
enum GraphCommand {
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

pub fn run() -> Result<ExitCode> {
    let cli = Cli::parse();
    let global = pkg::Global {
        offline: cli.offline,
        quiet: cli.quiet,
    };
    match cli.command {
        Command::Pkg(c) => pkg::run(c, global),
        Command::Graph(GraphCommand::Export { input, output }) => {
            graph_export(input, output, cli.quiet)
        }
        Command::Graph(GraphCommand::Generators) => {
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
            Ok(ExitCode::SUCCESS)
        }
        Command::Hash { input, json } => {
            let input = ptd::ops::build::open_input(&input, cli.quiet)?;
            let h = GraphHashes::of(input.graph());
            if json {
                println!("{}", serde_json::to_string(&h).expect("hashes serialize"));
            } else {
                println!("phasic     {}\ncanonical  {}", h.phasic, h.canonical);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Eval(args) => eval(args, cli.quiet),
        Command::Build {
            input,
            out_dir,
            json,
            jax,
            batch,
            moments,
            with_phasic,
        } => {
            let batches = if jax {
                pkg::parse_batch_arg(&batch, moments)?
            } else {
                Vec::new()
            };
            let input = ptd::ops::build::open_input(&input, cli.quiet)?;
            let built = ptd::ops::build::build_bundle(&input)?;
            let path = built.write_to(&out_dir)?;
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
            let jax = if jax {
                let ctx = ptd::ops::Context::from_env(cli.offline, cli.quiet)?;
                let j = ptd::ops::jax::build_jax(&ctx, &built, &out_dir, &batches, moments)?;
                if !cli.quiet {
                    for c in &j.compiled {
                        eprintln!(
                            "    Compiled batch {} in {:.2}s ({})",
                            c.batch, c.seconds, j.tag
                        );
                    }
                }
                if !json {
                    println!("{}", j.path.display());
                }
                Some(j)
            } else {
                None
            };
            let phasic = if with_phasic {
                let ctx = ptd::ops::Context::from_env(cli.offline, cli.quiet)?;
                let p = ptd::ops::jax::build_phasic(&ctx, &built, &out_dir)?;
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
    }
}

fn graph_export(input: PathBuf, output: Option<PathBuf>, quiet: bool) -> Result<ExitCode> {
    let input = ptd::ops::build::open_input(&input, quiet)?;
    let bytes = ptd::graph::GraphFile::to_bytes(input.graph());
    match output {
        Some(path) => bundle::write_output(&path, &bytes).map_err(|e| Error::io(&path, e))?,
        None => std::io::stdout()
            .write_all(&bytes)
            .map_err(|e| Error::io("<stdout>", e))?,
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_theta(s: Option<&str>, expected: usize) -> Result<Vec<f64>> {
    let Some(s) = s else {
        if expected == 0 {
            return Ok(Vec::new());
        }
        return Err(Error::Usage(format!(
            "--theta is required: the model has {expected} parameter(s), e.g. --theta {}",
            vec!["1.0"; expected].join(",")
        )));
    };
    if s.trim().is_empty() {
        return Ok(Vec::new());
    }
    s.split(',')
        .enumerate()
        .map(|(i, x)| {
            x.trim().parse::<f64>().map_err(|_| {
                Error::Usage(format!(
                    "--theta: value {} ('{}') is not a number",
                    i + 1,
                    x.trim()
                ))
            })
        })
        .collect()
}

fn parse_times(s: &str) -> Result<Vec<f64>> {
    s.split(',')
        .enumerate()
        .map(|(i, x)| {
            let t = x.trim().parse::<f64>().map_err(|_| {
                Error::Usage(format!(
                    "--times: value {} ('{}') is not a number",
                    i + 1,
                    x.trim()
                ))
            })?;
            if !(t.is_finite() && t >= 0.0) {
                return Err(Error::Usage(format!(
                    "--times: value {} ({t}) must be a finite time >= 0",
                    i + 1
                )));
            }
            Ok(t)
        })
        .collect()
}

fn eval(args: EvalArgs, quiet: bool) -> Result<ExitCode> {
    let times = args.times.as_deref().map(parse_times).transpose()?;
    let input = ptd::ops::build::open_input(&args.input, quiet)?;
    let rewards = args.rewards.map(|r| input.rewards(&r)).transpose()?;
    let symbolic = input.symbolic();
    let theta = parse_theta(args.theta.as_deref(), symbolic.param_length())?;
    let q = ptd::ops::eval::Query {
        theta: &theta,
        k: args.moments,
        rewards: rewards.as_ref(),
        times: times.as_deref(),
        sojourn: args.sojourn,
    };
    let e = ptd::ops::eval::evaluate(&symbolic, &q, &ptd::install::Home::from_env())?;
    if args.json {
        println!("{}", serde_json::to_string(&e).expect("serializes"));
    } else {
        print!("{}", ptd::ops::eval::render(&e));
    }
    Ok(ExitCode::SUCCESS)
}
