//! `ptd eval`: moments, reward moments and covariances, zero atoms, densities and sojourn
//! times of a model for one parameter vector.

use super::Cx;
use ptd::{Error, Result};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// A graph file, a model directory (or its model.toml), a bundle, or an installed
    /// model's NAME[@REQ].
    input: PathBuf,
    /// For a family (an installed model or a recipe): the member's variant settings, e.g.
    /// samples=30.
    #[arg(value_name = "NAME=VALUE")]
    variants: Vec<String>,
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

/// The `i`-th (0-based) value of the list given to `what`.
fn number(i: usize, x: &str, what: &str) -> Result<f64> {
    x.trim().parse::<f64>().map_err(|_| {
        Error::Usage(format!(
            "{what}: value {} ('{}') is not a number",
            i + 1,
            x.trim()
        ))
    })
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
        .map(|(i, x)| number(i, x, "--theta"))
        .collect()
}

fn parse_times(s: &str) -> Result<Vec<f64>> {
    s.split(',')
        .enumerate()
        .map(|(i, x)| {
            let t = number(i, x, "--times")?;
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

pub fn run(args: Args, cx: &Cx) -> Result<ExitCode> {
    let times = args.times.as_deref().map(parse_times).transpose()?;
    let variants = super::variant_words(&args.variants)?;
    let input = ptd::ops::build::open_member(&args.input, &variants, cx.out.quiet)?;
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
