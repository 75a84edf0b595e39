//! Reward vectors and named reward sets.
//!
//! A reward vector has one value per vertex id: the rewarded total is `Y = integral of r(X_t)
//! dt` (the start vertex's and absorbing vertices' values are ignored). A *reward set* is a
//! named, ordered list of such vectors, each with a label, stored compactly: either as state
//! columns (vector `i` is `r_v = state_v[columns[i]]`, so a set costs a few bytes whatever the
//! graph's size) or as explicit vectors. Generators provide sets of their own
//! ([`super::generators::reward_sets`]), recipes declare more (`[rewards.NAME]`), bundles carry
//! them in `rewards.json` (`docs/bundle-format.md`), and `ptd eval --rewards NAME` resolves one
//! ([`resolve`]).

use crate::graph::Graph;
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const FORMAT: &str = "ptd-rewards";
pub const FORMAT_VERSION: u32 = 1;
/// Longest set name.
pub const MAX_NAME: usize = 64;
/// Longest label.
pub const MAX_LABEL: usize = 128;

/// A problem with reward vectors or reward sets.
#[derive(Debug, thiserror::Error)]
pub enum RewardsError {
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    #[error("{file}: cannot read it: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error(
        "'{name}' is neither a rewards file nor a reward set of {model} ({})",
        if available.is_empty() {
            "it has no named reward sets".to_string()
        } else {
            format!("its reward sets: {}", available.join(", "))
        }
    )]
    Unknown {
        name: String,
        model: String,
        available: Vec<String>,
    },
}

/// Reward vectors, each one value per vertex id, with names.
#[derive(Clone, Debug, PartialEq)]
pub struct Rewards {
    pub names: Vec<String>,
    pub vectors: Vec<Vec<f64>>,
}

/// The vectors of a rewards file, and their names when the file gives them.
pub struct Parsed {
    /// One vector (`[r_0, r_1, ...]`), a list of vectors, or named vectors.
    pub shape: Shape,
    pub vectors: Vec<Vec<f64>>,
}

/// How a rewards file lists its vectors.
pub enum Shape {
    /// One list of numbers.
    One,
    /// A list of lists.
    List,
    /// An object of named lists, in name order.
    Named(Vec<String>),
}

/// Reads a rewards file's JSON: one vector (`[r_0, r_1, ...]`), a list of vectors, or an object
/// of named vectors (`{"xi_1": [...], ...}`, in name order). Errors are messages without the
/// file's name.
pub fn parse_vectors(bytes: &[u8]) -> Result<Parsed, String> {
    let v: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| format!("line {} column {}: not JSON: {e}", e.line(), e.column()))?;
    let vector = |x: &serde_json::Value, what: &str| -> Result<Vec<f64>, String> {
        let items = x
            .as_array()
            .ok_or_else(|| format!("{what} must be a list of numbers, one per vertex id"))?;
        items
            .iter()
            .enumerate()
            .map(|(i, n)| {
                n.as_f64()
                    .ok_or_else(|| format!("{what}[{i}] = {n} is not a number"))
            })
            .collect()
    };
    let (shape, vectors) = match &v {
        serde_json::Value::Array(items)
            if !items.is_empty() && items.iter().all(|x| x.is_number()) =>
        {
            (Shape::One, vec![vector(&v, "the rewards")?])
        }
        serde_json::Value::Array(items) => {
            let vs = items
                .iter()
                .enumerate()
                .map(|(i, x)| vector(x, &format!("vector {i}")))
                .collect::<Result<Vec<_>, _>>()?;
            (Shape::List, vs)
        }
        serde_json::Value::Object(map) => {
            let mut names = Vec::new();
            let mut vs = Vec::new();
            for (k, x) in map {
                names.push(k.clone());
                vs.push(vector(x, &format!("'{k}'"))?);
            }
            (Shape::Named(names), vs)
        }
        _ => {
            return Err(
                "expected a list of numbers, a list of lists, or an object of named lists".into(),
            );
        }
    };
    if vectors.is_empty() {
        return Err("no reward vector".into());
    }
    Ok(Parsed { shape, vectors })
}

impl Rewards {
    /// A rewards file: JSON, either one vector (`[r_0, r_1, ...]`, named `rewards`), a list of
    /// vectors (named `0`, `1`, ...) or an object of named vectors (`{"xi_1": [...], ...}`, in
    /// name order).
    pub fn parse(bytes: &[u8], file: &str) -> Result<Rewards, RewardsError> {
        let p = parse_vectors(bytes).map_err(|message| RewardsError::Invalid {
            file: file.to_string(),
            message,
        })?;
        let names = match p.shape {
            Shape::One => vec!["rewards".to_string()],
            Shape::List => (0..p.vectors.len()).map(|i| i.to_string()).collect(),
            Shape::Named(names) => names,
        };
        Ok(Rewards {
            names,
            vectors: p.vectors,
        })
    }

    /// Reads a rewards file.
    pub fn read(path: &Path) -> Result<Rewards, RewardsError> {
        let file = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| RewardsError::Io {
            file: file.clone(),
            source,
        })?;
        Rewards::parse(&bytes, &file)
    }
}

/// Where a reward set's vectors come from.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    /// Vector `i` is the state column `columns[i]`: `r_v = state_v[columns[i]]`.
    Columns(Vec<usize>),
    /// Explicit vectors, one value per vertex id.
    Vectors(Vec<Vec<f64>>),
}

/// A named, ordered list of reward vectors, one label per vector.
#[derive(Clone, Debug, PartialEq)]
pub struct RewardSet {
    pub name: String,
    pub labels: Vec<String>,
    pub values: Values,
}

/// What `ptd info` shows of a reward set.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub name: String,
    pub count: usize,
    pub labels: Vec<String>,
    /// The state columns, for a set given by columns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<usize>>,
}

impl RewardSet {
    /// A set of state columns.
    pub fn columns(name: &str, columns: &[(String, usize)]) -> RewardSet {
        RewardSet {
            name: name.to_string(),
            labels: columns.iter().map(|(l, _)| l.clone()).collect(),
            values: Values::Columns(columns.iter().map(|&(_, c)| c).collect()),
        }
    }

    /// How many vectors the set has.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The set's vectors over `graph`'s vertex ids, named by their labels. The set must fit
    /// the graph ([`Self::check`]; a bundle's and a recipe's sets are checked when read).
    pub fn resolve(&self, graph: &Graph) -> Rewards {
        let vectors = match &self.values {
            Values::Columns(cs) => cs
                .iter()
                .map(|&c| {
                    (0..graph.vertex_count())
                        .map(|v| f64::from(graph.state(v)[c]))
                        .collect()
                })
                .collect(),
            Values::Vectors(vs) => vs.clone(),
        };
        Rewards {
            names: self.labels.clone(),
            vectors,
        }
    }

    pub fn summary(&self) -> Summary {
        Summary {
            name: self.name.clone(),
            count: self.len(),
            labels: self.labels.clone(),
            columns: match &self.values {
                Values::Columns(c) => Some(c.clone()),
                Values::Vectors(_) => None,
            },
        }
    }

    /// Checks the set against `graph`: its name and labels, each column within the graph's
    /// states and non-negative at every transient vertex, each vector one finite, non-negative
    /// value per vertex id. The message names what is wrong.
    pub fn check(&self, graph: &Graph) -> Result<(), String> {
        check_name(&self.name)?;
        check_labels(&self.labels)?;
        match &self.values {
            Values::Columns(cs) => {
                if cs.len() != self.labels.len() {
                    return Err(format!(
                        "{} label(s) for {} column(s)",
                        self.labels.len(),
                        cs.len()
                    ));
                }
                // Each distinct column once: at most the state length, however long the list.
                let distinct: std::collections::BTreeSet<usize> = cs.iter().copied().collect();
                check_columns(graph, &distinct)?;
            }
            Values::Vectors(vs) => {
                if vs.len() != self.labels.len() {
                    return Err(format!(
                        "{} label(s) for {} vector(s)",
                        self.labels.len(),
                        vs.len()
                    ));
                }
                for (label, v) in self.labels.iter().zip(vs) {
                    check_vector(graph, v).map_err(|m| format!("vector '{label}': {m}"))?;
                }
            }
        }
        Ok(())
    }
}

/// A reward set name: 1 to [`MAX_NAME`] ASCII letters, digits, `_` and `-`, starting with a
/// letter (it is given on the command line, as `--rewards NAME`).
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{name}' is not a reward set name: 1 to {MAX_NAME} ASCII letters, digits, '_' and '-', starting with a letter"
        ))
    }
}

/// Labels: at least one, each 1 to [`MAX_LABEL`] characters without control characters, no two
/// the same.
pub fn check_labels(labels: &[String]) -> Result<(), String> {
    if labels.is_empty() {
        return Err("a reward set needs at least one vector".into());
    }
    let mut seen = std::collections::BTreeSet::new();
    for l in labels {
        if l.is_empty() || l.chars().count() > MAX_LABEL || l.chars().any(char::is_control) {
            return Err(format!(
                "label {l:?}: labels are 1 to {MAX_LABEL} characters without control characters"
            ));
        }
        if !seen.insert(l.as_str()) {
            return Err(format!("label '{l}' appears twice"));
        }
    }
    Ok(())
}

/// A state column: within the states, non-negative at every transient vertex.
pub fn check_column(graph: &Graph, c: usize) -> Result<(), String> {
    let n = graph.state_length();
    if c >= n {
        return Err(format!(
            "column {c} is out of range: the graph's states have {n} entries (columns 0 to {})",
            n.saturating_sub(1)
        ));
    }
    for v in 1..graph.vertex_count() {
        let x = graph.state(v)[c];
        if x < 0 && !graph.is_absorbing(v) {
            return Err(format!(
                "column {c} is {x} at vertex {v}: rewards must be non-negative"
            ));
        }
    }
    Ok(())
}

/// [`check_column`] for several columns in one pass over the states (row by row, as they lie
/// in memory); an error is the one the first failing column gives.
pub fn check_columns(
    graph: &Graph,
    columns: &std::collections::BTreeSet<usize>,
) -> Result<(), String> {
    let cols: Vec<usize> = columns.iter().copied().collect();
    let fits = cols.last().is_none_or(|&c| c < graph.state_length());
    let negative = || {
        (1..graph.vertex_count())
            .any(|v| !graph.is_absorbing(v) && cols.iter().any(|&c| graph.state(v)[c] < 0))
    };
    if !fits || negative() {
        for &c in &cols {
            check_column(graph, c)?;
        }
    }
    Ok(())
}

/// A reward vector: one finite, non-negative value per vertex id.
pub fn check_vector(graph: &Graph, v: &[f64]) -> Result<(), String> {
    if v.len() != graph.vertex_count() {
        return Err(format!(
            "{} values, but the graph has {} vertex ids (one value per vertex id)",
            v.len(),
            graph.vertex_count()
        ));
    }
    if let Some((i, x)) = v
        .iter()
        .enumerate()
        .find(|(_, x)| !x.is_finite() || **x < 0.0)
    {
        return Err(format!(
            "[{i}] = {x}: rewards must be finite and non-negative"
        ));
    }
    Ok(())
}

/// A model's reward sets, in order; empty when it has none.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RewardSets {
    pub sets: Vec<RewardSet>,
}

/// `rewards.json`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    format: String,
    format_version: u32,
    sets: Vec<RawSet>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSet {
    name: String,
    labels: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    columns: Option<Vec<usize>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    vectors: Option<Vec<Vec<f64>>>,
}

impl RewardSets {
    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    pub fn get(&self, name: &str) -> Option<&RewardSet> {
        self.sets.iter().find(|s| s.name == name)
    }

    pub fn names(&self) -> Vec<String> {
        self.sets.iter().map(|s| s.name.clone()).collect()
    }

    pub fn summaries(&self) -> Vec<Summary> {
        self.sets.iter().map(RewardSet::summary).collect()
    }

    /// Checks every set against `graph` ([`RewardSet::check`]) and that no two share a name.
    pub fn check(&self, graph: &Graph) -> Result<(), String> {
        for (i, s) in self.sets.iter().enumerate() {
            if self.sets[..i].iter().any(|t| t.name == s.name) {
                return Err(format!("reward set '{}' appears twice", s.name));
            }
            s.check(graph)
                .map_err(|m| format!("reward set '{}': {m}", s.name))?;
        }
        Ok(())
    }

    /// `rewards.json`: deterministic bytes, one set per line.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!(
            "{{\n  \"format\": \"{FORMAT}\",\n  \"format_version\": {FORMAT_VERSION},\n  \"sets\": ["
        );
        for (i, s) in self.sets.iter().enumerate() {
            let (columns, vectors) = match &s.values {
                Values::Columns(c) => (Some(c.clone()), None),
                Values::Vectors(v) => (None, Some(v.clone())),
            };
            let raw = RawSet {
                name: s.name.clone(),
                labels: s.labels.clone(),
                columns,
                vectors,
            };
            out.push_str(if i == 0 { "\n    " } else { ",\n    " });
            out.push_str(&serde_json::to_string(&raw).expect("reward sets serialize"));
        }
        out.push_str(if self.sets.is_empty() {
            "]\n}\n"
        } else {
            "\n  ]\n}\n"
        });
        out.into_bytes()
    }

    /// Reads `rewards.json`, checking its form (not yet against a graph: [`Self::check`]).
    pub fn from_bytes(bytes: &[u8], file: &str) -> Result<RewardSets, RewardsError> {
        let invalid = |message: String| RewardsError::Invalid {
            file: file.to_string(),
            message,
        };
        let raw: RawFile = serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
        if raw.format != FORMAT || raw.format_version != FORMAT_VERSION {
            return Err(invalid(format!(
                "format {} version {} is not {FORMAT} version {FORMAT_VERSION}",
                raw.format, raw.format_version
            )));
        }
        let mut sets = Vec::with_capacity(raw.sets.len());
        for s in raw.sets {
            let values = match (s.columns, s.vectors) {
                (Some(c), None) => Values::Columns(c),
                (None, Some(v)) => Values::Vectors(v),
                _ => {
                    return Err(invalid(format!(
                        "reward set '{}' must give exactly one of columns or vectors",
                        s.name
                    )));
                }
            };
            sets.push(RewardSet {
                name: s.name,
                labels: s.labels,
                values,
            });
        }
        Ok(RewardSets { sets })
    }
}

/// What `--rewards ARG` names: an existing rewards file, else the reward set `ARG` of the model
/// (`sets`, over `graph`'s vertex ids). `model` names the model in the error, which lists the
/// model's set names.
pub fn resolve(
    arg: &Path,
    sets: &RewardSets,
    graph: &Graph,
    model: &str,
) -> Result<Rewards, RewardsError> {
    if arg.is_file() {
        return Rewards::read(arg);
    }
    let name = arg.to_string_lossy();
    match sets.get(&name) {
        Some(set) => Ok(set.resolve(graph)),
        None => Err(RewardsError::Unknown {
            name: name.into_owned(),
            model: model.to_string(),
            available: sets.names(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph() -> Graph {
        crate::model::generate(
            "coalescent/two-island",
            &"samples1 = 2\nsamples2 = 1".parse().unwrap(),
        )
        .unwrap()
    }

    fn sets(g: &Graph) -> RewardSets {
        let n = g.vertex_count();
        RewardSets {
            sets: vec![
                RewardSet::columns("lineages", &[("a".into(), 0), ("b".into(), 1)]),
                RewardSet {
                    name: "custom".into(),
                    labels: vec!["x".into()],
                    values: Values::Vectors(vec![(0..n).map(|i| i as f64 * 0.5).collect()]),
                },
            ],
        }
    }

    #[test]
    fn rewards_files_in_three_shapes_and_their_errors() {
        let one = Rewards::parse(b"[0, 1, 2.5]", "r.json").unwrap();
        assert_eq!(one.vectors, vec![vec![0.0, 1.0, 2.5]]);
        assert_eq!(one.names, ["rewards"]);
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

    #[test]
    fn sets_round_trip_through_rewards_json_and_resolve_by_state() {
        let g = graph();
        let s = sets(&g);
        s.check(&g).unwrap();
        let bytes = s.to_bytes();
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(
            text.contains(r#"{"name":"lineages","labels":["a","b"],"columns":[0,1]}"#),
            "{text}"
        );
        assert_eq!(RewardSets::from_bytes(&bytes, "rewards.json").unwrap(), s);
        assert_eq!(
            RewardSets::from_bytes(&RewardSets::default().to_bytes(), "r").unwrap(),
            RewardSets::default()
        );
        let r = s.get("lineages").unwrap().resolve(&g);
        assert_eq!(r.names, ["a", "b"]);
        for v in 0..g.vertex_count() {
            assert_eq!(r.vectors[0][v], f64::from(g.state(v)[0]));
            assert_eq!(r.vectors[1][v], f64::from(g.state(v)[1]));
        }
        assert_eq!(
            r.vectors[0][0], 0.0,
            "the start vertex's state is all zeros"
        );
        let summary = serde_json::to_value(s.summaries()).unwrap();
        assert_eq!(summary[0]["count"], 2);
        assert_eq!(summary[0]["columns"], serde_json::json!([0, 1]));
        assert!(summary[1].get("columns").is_none());
    }

    #[test]
    fn sets_that_do_not_fit_the_graph_are_named() {
        let g = graph();
        let bad = |f: &dyn Fn(&mut RewardSets)| {
            let mut s = sets(&g);
            f(&mut s);
            s.check(&g).unwrap_err()
        };
        let e = bad(&|s| s.sets[0].values = Values::Columns(vec![0, 2]));
        assert!(
            e.contains("reward set 'lineages': column 2 is out of range"),
            "{e}"
        );
        let e = bad(&|s| s.sets[1].values = Values::Vectors(vec![vec![1.0; 3]]));
        assert!(e.contains("vector 'x': 3 values, but the graph has"), "{e}");
        let e = bad(&|s| {
            if let Values::Vectors(v) = &mut s.sets[1].values {
                v[0][2] = -1.0;
            }
        });
        assert!(e.contains("[2] = -1: rewards must be finite"), "{e}");
        let e = bad(&|s| {
            if let Values::Vectors(v) = &mut s.sets[1].values {
                v[0][1] = f64::NAN;
            }
        });
        assert!(e.contains("[1] = NaN"), "{e}");
        let e = bad(&|s| s.sets[0].labels = vec!["a".into()]);
        assert!(e.contains("1 label(s) for 2 column(s)"), "{e}");
        let e = bad(&|s| s.sets[0].labels[1] = "a".into());
        assert!(e.contains("label 'a' appears twice"), "{e}");
        let e = bad(&|s| s.sets[1].name = "lineages".into());
        assert!(e.contains("'lineages' appears twice"), "{e}");
        let e = bad(&|s| s.sets[1].name = "1x".into());
        assert!(e.contains("not a reward set name"), "{e}");
        let e = RewardSets::from_bytes(
            br#"{"format":"ptd-rewards","format_version":1,"sets":[{"name":"a","labels":["x"]}]}"#,
            "rewards.json",
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("exactly one of columns or vectors"),
            "{e}"
        );
        let e = RewardSets::from_bytes(
            br#"{"format":"ptd-rewards","format_version":2,"sets":[]}"#,
            "rewards.json",
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("rewards.json: format"), "{e}");
    }

    #[test]
    fn an_unknown_name_lists_the_sets() {
        let g = graph();
        let e = resolve(Path::new("nope"), &sets(&g), &g, "m/x").unwrap_err();
        assert_eq!(
            e.to_string(),
            "'nope' is neither a rewards file nor a reward set of m/x (its reward sets: lineages, custom)"
        );
        let e = resolve(Path::new("nope"), &RewardSets::default(), &g, "m/x").unwrap_err();
        assert!(e.to_string().contains("it has no named reward sets"), "{e}");
        let r = resolve(Path::new("custom"), &sets(&g), &g, "m/x").unwrap();
        assert_eq!(r.vectors[0][2], 1.0);
    }
}
