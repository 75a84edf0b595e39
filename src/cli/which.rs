//! `ptd which`: where an installed model's JAX evaluator module is.

use super::Cx;
use ptd::Result;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    query: String,
}

pub fn run(a: Args, cx: &Cx) -> Result<ExitCode> {
    println!("{}", ptd::ops::jax::which(&cx.ctx()?, &a.query)?.display());
    Ok(ExitCode::SUCCESS)
}
