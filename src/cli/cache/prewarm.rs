//! `ptd cache prewarm`: compile an installed model's JAX evaluator into the JAX cache.

use super::super::output::{Out, Show, emit};
use crate::cli::Cx;
use ptd::Result;
use ptd::ops::jax::Prewarmed;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// NAME[@REQ] or a hash prefix.
    query: String,
    /// For a family: the member's variant settings, e.g. samples=30.
    #[arg(value_name = "NAME=VALUE")]
    variants: Vec<String>,
    /// Batch sizes, e.g. 1,64,1024.
    #[arg(long, value_name = "LIST", default_value = "1")]
    batch: String,
    /// The k of moments_jit to compile.
    #[arg(long, value_name = "K", default_value_t = 2)]
    moments: usize,
    #[arg(long)]
    json: bool,
}

impl Show for Prewarmed {
    fn show(&self, out: &Out) {
        for c in &self.compiled {
            out.status(
                "Compiled",
                &format!(
                    "{} {} for batch {} in {:.2}s",
                    self.name, self.version, c.batch, c.seconds
                ),
            );
        }
        out.status(
            "Cached",
            &format!("{} new entries in {}", self.new_entries, self.jax_cache),
        );
    }
}

pub fn run(a: Args, cx: &Cx) -> Result<ExitCode> {
    let batches = crate::cli::build::parse_batch_arg(&a.batch, a.moments)?;
    let variants = crate::cli::variant_words(&a.variants)?;
    let done = ptd::ops::jax::prewarm(&cx.ctx()?, &a.query, &variants, &batches, a.moments)?;
    emit(&cx.out, &done, a.json);
    Ok(ExitCode::SUCCESS)
}
