//! `ptd eval`: what a model's symbolic form computes for one theta (`docs/evaluation.md`).

use crate::eliminate::Symbolic;
use crate::{Error, Result};
use serde::Serialize;

/// Reward vectors, read from a rewards file or resolved from a named reward set
/// ([`crate::model::rewards::resolve`]).
pub use crate::model::rewards::Rewards;

/// One reward vector's moments.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RewardMoments {
    pub name: String,
    /// `E[Y], ..., E[Y^K]`.
    pub moments: Vec<f64>,
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
    /// Expected time in each vertex (by vertex id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sojourn: Option<Vec<f64>>,
}

/// Evaluates the moments of `T`, and with `rewards` each vector's moments and their covariance
/// matrix, and with `sojourn` the expected time in each vertex.
pub fn evaluate(
    symbolic: &Symbolic,
    theta: &[f64],
    k: usize,
    rewards: Option<&Rewards>,
    sojourn: bool,
) -> Result<Evaluation> {
    if k == 0 {
        return Err(Error::Usage("--moments must be at least 1".into()));
    }
    let moments = symbolic.moments(theta, k)?;
    let mut out = Evaluation {
        moments,
        rewards: Vec::new(),
        covariance: None,
        sojourn: None,
    };
    if let Some(r) = rewards {
        for (name, v) in r.names.iter().zip(&r.vectors) {
            let moments = symbolic
                .reward_moments(theta, v, k)
                .map_err(|e| Error::Usage(format!("rewards '{name}': {e}")))?;
            out.rewards.push(RewardMoments {
                name: name.clone(),
                moments,
            });
        }
        out.covariance = Some(symbolic.reward_covariance(theta, &r.vectors)?);
    }
    if sojourn {
        out.sojourn = Some(symbolic.expected_sojourn_time(theta)?);
    }
    Ok(out)
}
