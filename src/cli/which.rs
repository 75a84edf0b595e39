//! `ptd which`: where an installed model's JAX evaluator module is.

use super::Cx;
use ptd::Result;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// NAME[@REQ] or a hash prefix.
    query: String,
    /// For a family: the member's variant settings, e.g. samples=30.
    #[arg(value_name = "NAME=VALUE")]
    variants: Vec<String>,
}

pub fn run(a: Args, cx: &Cx) -> Result<ExitCode> {
    let variants = super::variant_words(&a.variants)?;
    println!(
        "{}",
        ptd::ops::jax::which(&cx.ctx()?, &a.query, &variants)?.display()
    );
    Ok(ExitCode::SUCCESS)
}
