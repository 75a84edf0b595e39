//! `ptd eval`: what a model's symbolic form computes for one theta (`docs/evaluation.md`).

use crate::eliminate::Symbolic;
use crate::{Error, Result};
use serde::Serialize;
use std::path::Path;

/// Reward vectors, each one value per vertex id, with names.
#[derive(Clone, Debug, PartialEq)]
pub struct Rewards {
    pub names: Vec<String>,
    pub vectors: Vec<Vec<f64>>,
}

impl Rewards {
    /// A rewards file: JSON, either one vector (`[r_0, r_1, ...]`), a list of vectors (named
    /// `0`, `1`, ...) or an object of named vectors (`{"xi_1": [...], ...}`, in name order).
    pub fn parse(bytes: &[u8], file: &str) -> Result<Rewards> {
        let bad = |m: String| Error::Usage(format!("{file}: {m}"));
        let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
            bad(format!(
                "line {} column {}: not JSON: {e}",
                e.line(),
                e.column()
            ))
        })?;
        let vector = |x: &serde_json::Value, what: &str| -> Result<Vec<f64>> {
            let items = x.as_array().ok_or_else(|| {
                bad(format!(
                    "{what} must be a list of numbers, one per vertex id"
                ))
            })?;
            items
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    n.as_f64()
                        .ok_or_else(|| bad(format!("{what}[{i}] = {n} is not a number")))
                })
                .collect()
        };
        let (names, vectors) = match &v {
            serde_json::Value::Array(items)
                if !items.is_empty() && items.iter().all(|x| x.is_number()) =>
            {
                (
                    vec!["rewards".to_string()],
                    vec![vector(&v, "the rewards")?],
                )
            }
            serde_json::Value::Array(items) => {
                let vs = items
                    .iter()
                    .enumerate()
                    .map(|(i, x)| vector(x, &format!("vector {i}")))
                    .collect::<Result<Vec<_>>>()?;
                ((0..vs.len()).map(|i| i.to_string()).collect(), vs)
            }
            serde_json::Value::Object(map) => {
                let mut names = Vec::new();
                let mut vs = Vec::new();
                for (k, x) in map {
                    names.push(k.clone());
                    vs.push(vector(x, &format!("'{k}'"))?);
                }
                (names, vs)
            }
            _ => {
                return Err(bad(
                    "expected a list of numbers, a list of lists, or an object of named lists"
                        .into(),
                ));
            }
        };
        if vectors.is_empty() {
            return Err(bad("no reward vector".into()));
        }
        Ok(Rewards { names, vectors })
    }

    /// Reads a rewards file.
    pub fn read(path: &Path) -> Result<Rewards> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Rewards::parse(&bytes, &path.display().to_string())
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewards_files_in_three_shapes_and_their_errors() {
        let one = Rewards::parse(b"[0, 1, 2.5]", "r.json").unwrap();
        assert_eq!(one.vectors, vec![vec![0.0, 1.0, 2.5]]);
        let two = Rewards::parse(b"[[0, 1], [1, 0]]", "r.json").unwrap();
        assert_eq!(two.names, ["0", "1"]);
        let named = Rewards::parse(br#"{"b": [1, 2], "a": [3, 4]}"#, "r.json").unwrap();
        assert_eq!(named.names, ["a", "b"], "name order");
        assert_eq!(named.vectors[0], [3.0, 4.0]);
        let e = Rewards::parse(br#"{"a": [1, "x"]}"#, "r.json").unwrap_err();
        assert!(e.to_string().contains("r.json: 'a'[1]"), "{e}");
        let e = Rewards::parse(b"[1, 2", "r.json").unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
        assert!(Rewards::parse(b"[]", "r.json").is_err());
        assert!(Rewards::parse(b"3", "r.json").is_err());
    }
}
