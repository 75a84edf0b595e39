//! Command-line parsing: one file per command, each holding its arguments and a call into
//! the library ([`ptd::ops`]), plus how its report prints ([`output`]). One async runtime is
//! built here, once, and lent to the commands that need it.

mod add;
mod build;
mod cache;
mod eval;
mod graph;
mod hash;
mod import;
mod info;
mod init;
mod install;
mod keygen;
mod list;
mod lock;
mod output;
mod publish;
mod registry;
mod remove;
mod search;
mod sign;
mod update;
mod verify;
mod which;
mod yank;

use clap::{Parser, Subcommand};
use output::Out;
use ptd::ops::Context;
use ptd::{Error, Result};
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

#[derive(Subcommand)]
enum Command {
    /// Work with graph files.
    #[command(subcommand)]
    Graph(graph::GraphCommand),
    /// Print a graph's phasic-compatible and canonical content hashes.
    Hash(hash::Args),
    /// Evaluate a model for a parameter vector: moments of the absorption time, and of rewarded
    /// totals with their covariances and zero atoms, densities and distribution functions at
    /// times, and expected sojourn times (docs/evaluation.md).
    Eval(eval::Args),
    /// Build a bundle (graph, symbolic DAG, manifest) from a model directory or graph file.
    Build(build::Args),
    /// Install models: `ptd install NAME@REQ ...` into the user's cache, or, with no names, the
    /// current project's `ptd.toml` (writing `ptd.lock`).
    Install(install::Args),
    /// Start a project: write ptd.toml in DIR (default: the current directory).
    Init(init::Args),
    /// Add a requirement to ptd.toml and update ptd.lock.
    Add(add::Args),
    /// Remove a requirement from ptd.toml and update ptd.lock.
    Remove(remove::Args),
    /// Resolve ptd.toml and write ptd.lock, keeping locked versions that still fit.
    Lock(lock::Args),
    /// Move locked versions to the newest that ptd.toml allows (all, or the named models).
    Update(update::Args),
    /// List installed models.
    List(list::Args),
    /// Show a model's versions in a registry, or what a model directory, bundle or graph file
    /// holds; with the model's named reward sets.
    Info(info::Args),
    /// Print where an installed model's JAX evaluator module is (NAME[@REQ] or a hash
    /// prefix; the newest match).
    Which(which::Args),
    /// Search a registry's models by name, description and keywords.
    Search(search::Args),
    /// Re-hash every installed archive, bundle file and cached DAG.
    Verify(verify::Args),
    /// Make a minisign key pair: BASE.key (secret) and BASE.pub.
    Keygen(keygen::Args),
    /// Sign a file with minisign: writes FILE.minisig.
    Sign(sign::Args),
    /// Registry maintenance.
    #[command(subcommand)]
    Registry(registry::RegistryCommand),
    /// See, bound and repair the store and the cache tiers.
    #[command(subcommand)]
    Cache(cache::CacheCommand),
    /// Bring in work shared elsewhere.
    #[command(subcommand)]
    Import(import::ImportCommand),
    /// Build, sign and publish a model into a registry whose index is a local directory.
    Publish(publish::Args),
    /// Mark a published version as yanked (or, with --undo, not yanked) and re-sign.
    Yank(yank::Args),
}

/// Where an `s3://` location is served: for S3-compatible services other than AWS.
#[derive(clap::Args)]
pub struct S3Args {
    /// Endpoint of the S3-compatible service for s3:// locations (not needed for AWS).
    #[arg(long, value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// Region of the bucket for s3:// locations.
    #[arg(long, value_name = "REGION")]
    pub s3_region: Option<String>,
}

/// What a command runs with: the global flags and the one async runtime.
pub struct Cx {
    pub out: Out,
    rt: tokio::runtime::Runtime,
}

impl Cx {
    /// The library's settings: `$PTD_HOME/config.toml` and the environment.
    pub fn ctx(&self) -> Result<Context> {
        Context::from_env(self.out.offline, self.out.quiet)
    }

    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// Makes the runtime current (clients that spawn tasks when built need one).
    pub fn enter(&self) -> tokio::runtime::EnterGuard<'_> {
        self.rt.enter()
    }
}

/// Variant settings given after a model (`samples=30`).
fn variant_words(words: &[String]) -> Result<ptd::model::Requested> {
    ptd::model::variants::parse_words(words.iter().map(String::as_str)).map_err(|e| {
        Error::Usage(format!(
            "{e} (variant settings are NAME=VALUE words, e.g. samples=30)"
        ))
    })
}

fn current_dir() -> Result<std::path::PathBuf> {
    std::env::current_dir().map_err(|e| Error::io(".", e))
}

pub fn run() -> Result<ExitCode> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Usage(format!("cannot start the async runtime: {e}")))?;
    let cx = Cx {
        out: Out {
            offline: cli.offline,
            quiet: cli.quiet,
        },
        rt,
    };
    match cli.command {
        Command::Graph(c) => graph::run(c, &cx),
        Command::Hash(a) => hash::run(a, &cx),
        Command::Eval(a) => eval::run(a, &cx),
        Command::Build(a) => build::run(a, &cx),
        Command::Install(a) => install::run(a, &cx),
        Command::Init(a) => init::run(a, &cx),
        Command::Add(a) => add::run(a, &cx),
        Command::Remove(a) => remove::run(a, &cx),
        Command::Lock(a) => lock::run(a, &cx),
        Command::Update(a) => update::run(a, &cx),
        Command::List(a) => list::run(a, &cx),
        Command::Info(a) => info::run(a, &cx),
        Command::Which(a) => which::run(a, &cx),
        Command::Search(a) => search::run(a, &cx),
        Command::Verify(a) => verify::run(a, &cx),
        Command::Keygen(a) => keygen::run(a, &cx),
        Command::Sign(a) => sign::run(a, &cx),
        Command::Registry(c) => registry::run(c, &cx),
        Command::Cache(c) => cache::run(c, &cx),
        Command::Import(c) => import::run(c, &cx),
        Command::Publish(a) => publish::run(a, &cx),
        Command::Yank(a) => yank::run(a, &cx),
    }
}
