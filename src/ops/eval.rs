//! `ptd eval`: what a model's symbolic form computes for one theta (`docs/evaluation.md`).

use crate::cache::transforms;
use crate::eliminate::{EvalError, Symbolic};
use crate::install::Home;
use crate::{Error, Result};
use serde::Serialize;

/// Reward vectors, read from a rewards file or resolved from a named reward set
/// ([`crate::model::rewards::resolve`]).
pub use crate::model::rewards::Rewards;

/// One reward vector's results.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RewardMoments {
    pub name: String,
    /// `E[Y], ..., E[Y^K]`.
    pub moments: Vec<f64>,
    /// `P(Y = 0)`.
    pub zero_atom: f64,
    /// With times: the density of `Y`'s continuous part and its distribution function.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pdf: Option<Vec<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cdf: Option<Vec<f64>>,
}

/// What `ptd eval` computed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Evaluation {
    /// `E[T], ..., E[T^K]`.
    pub moments: Vec<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rewards: Vec<RewardMoments>,
    /// The covariance matrix of the rewarded totals, in the order of `rewards`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub covariance: Option<Vec<Vec<f64>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub times: Option<Vec<f64>>,
    /// Density and distribution function of `T` at `times`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pdf: Option<Vec<f64>>,
    /// For a discrete graph: the probability mass function of the number of steps at `times`
    /// (whole step counts), in place of `pdf`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pmf: Option<Vec<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cdf: Option<Vec<f64>>,
    /// Expected time in each vertex (by vertex id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sojourn: Option<Vec<f64>>,
}

/// What to evaluate for one theta.
#[derive(Clone, Copy, Debug, Default)]
pub struct Query<'a> {
    pub theta: &'a [f64],
    /// How many moments.
    pub k: usize,
    pub rewards: Option<&'a Rewards>,
    pub times: Option<&'a [f64]>,
    pub sojourn: bool,
}

/// Evaluates the moments of `T`; with rewards each vector's moments, zero atom and their
/// covariance matrix; with times the density and distribution function of `T` (and of each
/// rewarded total); with `sojourn` the expected time in each vertex. Reward transforms come from
/// tier 1 of `home` when there, and are stored there when built.
pub fn evaluate(symbolic: &Symbolic, q: &Query<'_>, home: &Home) -> Result<Evaluation> {
    if q.k == 0 {
        return Err(Error::Usage("--moments must be at least 1".into()));
    }
    let theta = q.theta;
    let moments = symbolic.moments(theta, q.k)?;
    let mut out = Evaluation {
        moments,
        rewards: Vec::new(),
        covariance: None,
        times: None,
        pdf: None,
        pmf: None,
        cdf: None,
        sojourn: None,
    };
    if let Some(times) = q.times
        && symbolic.is_discrete()
    {
        let d = symbolic
            .pmf(theta, times)
            .map_err(|e| Error::Usage(format!("--times: {e}")))?;
        out.times = Some(times.to_vec());
        out.pmf = Some(d.pdf);
        out.cdf = Some(d.cdf);
    } else if let Some(times) = q.times {
        let d = symbolic
            .density(theta, times)
            .map_err(|e| Error::Usage(format!("--times: {e}")))?;
        out.times = Some(times.to_vec());
        out.pdf = Some(d.pdf);
        out.cdf = Some(d.cdf);
    }
    if let Some(r) = q.rewards {
        for (name, v) in r.names.iter().zip(&r.vectors) {
            let named = |e: EvalError| Error::Usage(format!("rewards '{name}': {e}"));
            let moments = symbolic.reward_moments(theta, v, q.k).map_err(named)?;
            let zero = symbolic.zero_pattern(v).map_err(named)?;
            let (transform, _) = transforms::load_or_build(home, symbolic, &zero);
            // A discrete graph's rewarded totals get their zero atom and moments only.
            let times = q.times.filter(|_| !symbolic.is_discrete());
            let (zero_atom, d) = symbolic
                .reward_distribution(theta, v, &transform, times.unwrap_or(&[]))
                .map_err(named)?;
            let with_times = times.is_some();
            out.rewards.push(RewardMoments {
                name: name.clone(),
                moments,
                zero_atom,
                pdf: with_times.then_some(d.pdf),
                cdf: with_times.then_some(d.cdf),
            });
        }
        out.covariance = Some(symbolic.reward_covariance(theta, &r.vectors)?);
    }
    if q.sojourn {
        out.sojourn = Some(symbolic.expected_sojourn_time(theta)?);
    }
    Ok(out)
}

/// The text report of an evaluation.
pub fn render(e: &Evaluation) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    for (k, x) in e.moments.iter().enumerate() {
        writeln!(o, "E[T^{}] = {x:?}", k + 1).expect("string write");
    }
    for r in &e.rewards {
        for (k, x) in r.moments.iter().enumerate() {
            writeln!(o, "E[Y_{}^{}] = {x:?}", r.name, k + 1).expect("string write");
        }
        writeln!(o, "P(Y_{} = 0) = {:?}", r.name, r.zero_atom).expect("string write");
    }
    if let Some(cov) = &e.covariance {
        let names: Vec<&str> = e.rewards.iter().map(|r| r.name.as_str()).collect();
        writeln!(
            o,
            "covariance of the rewarded totals ({}):",
            names.join(", ")
        )
        .expect("string write");
        for row in cov {
            let cells: Vec<String> = row.iter().map(|x| format!("{x:?}")).collect();
            writeln!(o, "  {}", cells.join("  ")).expect("string write");
        }
    }
    if let (Some(steps), Some(pmf), Some(cdf)) = (&e.times, &e.pmf, &e.cdf) {
        writeln!(o, "k\tpmf(K)\tcdf(K)").expect("string write");
        for (i, k) in steps.iter().enumerate() {
            writeln!(o, "{k}\t{:?}\t{:?}", pmf[i], cdf[i]).expect("string write");
        }
    }
    if let (Some(times), Some(pdf), Some(cdf)) = (&e.times, &e.pdf, &e.cdf) {
        let mut head = vec!["t".to_string(), "pdf(T)".into(), "cdf(T)".into()];
        for r in &e.rewards {
            head.push(format!("pdf({})", r.name));
            head.push(format!("cdf({})", r.name));
        }
        writeln!(o, "{}", head.join("\t")).expect("string write");
        for (i, t) in times.iter().enumerate() {
            let mut cells = vec![
                format!("{t:?}"),
                format!("{:?}", pdf[i]),
                format!("{:?}", cdf[i]),
            ];
            for r in &e.rewards {
                if let (Some(p), Some(c)) = (&r.pdf, &r.cdf) {
                    cells.push(format!("{:?}", p[i]));
                    cells.push(format!("{:?}", c[i]));
                }
            }
            writeln!(o, "{}", cells.join("\t")).expect("string write");
        }
    }
    if let Some(s) = &e.sojourn {
        for (v, x) in s.iter().enumerate() {
            writeln!(o, "sojourn[{v}] = {x:?}").expect("string write");
        }
    }
    o
}
