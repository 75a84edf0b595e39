//! Model recipes: `models/<namespace>/<name>/model.toml`.
//!
//! ```toml
//! [model]
//! name = "coalescent/kingman"
//! version = "1.2.1"
//! description = "..."
//! license = "CC0-1.0"
//! parameters = ["theta"]
//!
//! [generator]                # a built-in generator and its arguments ...
//! name = "coalescent/kingman"
//! args = { samples = 10 }
//! # ... or, instead of [generator], a graph file beside model.toml:
//! # [graph]
//! # file = "graph.json"
//!
//! [rewards.sfs]              # named reward sets (optional): state columns ...
//! columns = [0, 1, 2]
//! labels = ["xi_1", "xi_2", "xi_3"]
//! [rewards.custom]           # ... or a rewards file beside model.toml
//! file = "rewards.json"
//! ```

pub mod generators;
pub mod rewards;
pub mod variants;

use crate::graph::{Graph, GraphFile, GraphFileError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use generators::{Exploration, GENERATORS, GeneratorError, generate, generate_with};
pub use rewards::{RewardSet, RewardSets, Rewards, RewardsError};
pub use variants::{Requested, VariantDecl, VariantDecls, VariantError, VariantValue, Variants};

/// Metadata of a model, as written in `[model]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelMeta {
    pub name: String,
    pub version: semver::Version,
    pub description: String,
    pub license: String,
    pub parameters: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authors: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    /// Other models this one needs, with semver requirements (`[dependencies]` in the recipe).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dependencies: BTreeMap<String, semver::VersionReq>,
    /// For a member of a family: the values of its variants (`[variants]` in the recipe).
    #[serde(default, skip_serializing_if = "Variants::is_empty")]
    pub variants: Variants,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecipe {
    model: ModelMeta,
    #[serde(default)]
    dependencies: BTreeMap<String, semver::VersionReq>,
    #[serde(default)]
    variants: VariantDecls,
    generator: Option<RawGenerator>,
    graph: Option<RawGraph>,
    #[serde(default)]
    rewards: BTreeMap<String, RawRewards>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRewards {
    columns: Option<Vec<i64>>,
    file: Option<PathBuf>,
    labels: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGenerator {
    name: String,
    #[serde(default)]
    args: toml::Table,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGraph {
    file: PathBuf,
}

/// Where a recipe's graph comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    Generator { name: String, args: toml::Table },
    File(PathBuf),
}

/// A reward set a recipe declares (`[rewards.NAME]`).
#[derive(Clone, Debug, PartialEq)]
pub struct DeclaredRewards {
    /// `labels`, when given: one per vector.
    pub labels: Option<Vec<String>>,
    pub values: DeclaredValues,
}

/// Where a declared reward set's vectors come from.
#[derive(Clone, Debug, PartialEq)]
pub enum DeclaredValues {
    /// `columns = [...]`: state columns.
    Columns(Vec<usize>),
    /// `file = "..."`: a rewards file (the `ptd eval --rewards` format), relative to
    /// `model.toml`.
    File(PathBuf),
}

/// A parsed `model.toml`.
#[derive(Clone, Debug, PartialEq)]
pub struct Recipe {
    pub meta: ModelMeta,
    pub source: Source,
    /// Reward sets declared in `[rewards.NAME]` tables, by name.
    pub rewards: BTreeMap<String, DeclaredRewards>,
    /// The variants the family declares (`[variants]`); empty for a single model.
    pub variants: VariantDecls,
    /// The `model.toml` the recipe was read from.
    pub path: PathBuf,
}

/// A problem with a recipe.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{file}: cannot read it: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Toml { file: String, message: String },
    #[error("{file}: field '{field}': {message}")]
    Field {
        file: String,
        field: String,
        message: String,
    },
    #[error("{file}: [generator] {source}")]
    Generator {
        file: String,
        source: GeneratorError,
    },
    #[error(transparent)]
    GraphFile(#[from] GraphFileError),
}

/// Checks a model name: `namespace/name`, each part of lowercase letters, digits, `-` and `_`.
pub fn check_name(name: &str) -> Result<(), String> {
    let parts: Vec<&str> = name.split('/').collect();
    let ok_part = |p: &str| {
        !p.is_empty()
            && p.len() <= 64
            && p.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    };
    if parts.len() == 2 && parts.iter().all(|p| ok_part(p)) {
        Ok(())
    } else {
        Err(format!(
            "'{name}' is not of the form namespace/name (lowercase letters, digits, '-' and '_')"
        ))
    }
}

impl Recipe {
    /// Reads `dir/model.toml` (or the file itself, if `path` is one).
    pub fn read(path: &Path) -> Result<Recipe, ModelError> {
        let file = if path.is_dir() {
            path.join("model.toml")
        } else {
            path.to_path_buf()
        };
        let name = file.display().to_string();
        let text = std::fs::read_to_string(&file).map_err(|source| ModelError::Io {
            file: name.clone(),
            source,
        })?;
        Self::parse(&text, &file)
    }

    pub fn parse(text: &str, file: &Path) -> Result<Recipe, ModelError> {
        let name = file.display().to_string();
        let raw: RawRecipe = toml::from_str(text).map_err(|e| ModelError::Toml {
            file: name.clone(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let field = |field: &str, message: String| ModelError::Field {
            file: name.clone(),
            field: field.to_string(),
            message,
        };
        check_name(&raw.model.name).map_err(|m| field("model.name", m))?;
        for dep in raw.dependencies.keys() {
            check_name(dep).map_err(|m| field(&format!("dependencies.{dep}"), m))?;
        }
        if !raw.model.dependencies.is_empty() {
            return Err(field(
                "model.dependencies",
                "write dependencies in a [dependencies] table".into(),
            ));
        }
        if !raw.model.variants.is_empty() {
            return Err(field(
                "model.variants",
                "declare variants in a [variants] table".into(),
            ));
        }
        let mut meta = raw.model;
        meta.dependencies = raw.dependencies;
        if meta.parameters.iter().any(|p| p.trim().is_empty()) {
            return Err(field(
                "model.parameters",
                "parameter names must not be empty".into(),
            ));
        }
        let source = match (raw.generator, raw.graph) {
            (Some(g), None) => Source::Generator {
                name: g.name,
                args: g.args,
            },
            (None, Some(g)) => Source::File(g.file),
            _ => {
                return Err(field(
                    "generator",
                    "give exactly one of [generator] (a built-in generator) or [graph] (a graph file)".into(),
                ));
            }
        };
        raw.variants
            .check()
            .map_err(|e| field(&format!("variants.{}", e.variant), e.message))?;
        if !raw.variants.is_empty() {
            let Source::Generator { name, args } = &source else {
                return Err(field(
                    "variants",
                    "variants are arguments of a generator; a [graph] file is one fixed graph"
                        .into(),
                ));
            };
            let takes = GENERATORS
                .iter()
                .find(|g| g.name == name)
                .map(|g| g.args)
                .unwrap_or(&[]);
            for v in raw.variants.0.keys() {
                if !takes.iter().any(|(a, _)| a == v) {
                    return Err(field(
                        &format!("variants.{v}"),
                        format!(
                            "not an argument of the generator '{name}' (it takes {})",
                            takes.iter().map(|a| a.0).collect::<Vec<_>>().join(", ")
                        ),
                    ));
                }
                if args.contains_key(v) {
                    return Err(field(
                        &format!("variants.{v}"),
                        "also given in [generator] args; a variant's value comes from its default or the request".into(),
                    ));
                }
            }
        }
        let mut rewards = BTreeMap::new();
        for (set, raw) in raw.rewards {
            let at = |what: &str| format!("rewards.{set}{what}");
            rewards::check_name(&set).map_err(|m| field(&at(""), m))?;
            if let Some(labels) = &raw.labels {
                rewards::check_labels(labels).map_err(|m| field(&at(".labels"), m))?;
            }
            let values = match (raw.columns, raw.file) {
                (Some(cs), None) => {
                    if cs.is_empty() {
                        return Err(field(&at(".columns"), "lists no column".into()));
                    }
                    let cs = cs
                        .iter()
                        .map(|&c| {
                            usize::try_from(c).map_err(|_| {
                                field(
                                    &at(".columns"),
                                    format!("{c} is not a state column (columns count from 0)"),
                                )
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    if let Some(labels) = &raw.labels
                        && labels.len() != cs.len()
                    {
                        return Err(field(
                            &at(".labels"),
                            format!("{} label(s) for {} column(s)", labels.len(), cs.len()),
                        ));
                    }
                    DeclaredValues::Columns(cs)
                }
                (None, Some(f)) => DeclaredValues::File(f),
                _ => {
                    return Err(field(
                        &at(""),
                        "give exactly one of columns (state columns) or file (a rewards file)"
                            .into(),
                    ));
                }
            };
            rewards.insert(
                set,
                DeclaredRewards {
                    labels: raw.labels,
                    values,
                },
            );
        }
        let r = Recipe {
            meta,
            source,
            rewards,
            variants: raw.variants,
            path: file.to_path_buf(),
        };
        // A family's recipe stands for its default member until asked for another.
        r.with_variants(&Requested::new())
    }

    /// The family member with variant values `requested` (the rest at their defaults): the
    /// values are checked, passed to the generator and recorded in its metadata. A recipe
    /// without variants accepts only an empty request.
    pub fn with_variants(&self, requested: &Requested) -> Result<Recipe, ModelError> {
        let values = self
            .variants
            .settle(requested)
            .map_err(|e| ModelError::Field {
                file: self.path.display().to_string(),
                field: format!("variants.{}", e.variant),
                message: e.message,
            })?;
        let mut r = self.clone();
        if let Source::Generator { args, .. } = &mut r.source {
            for (k, v) in &values.0 {
                args.insert(k.clone(), v.to_toml());
            }
        }
        r.meta.variants = values;
        Ok(r)
    }

    /// Builds the recipe's graph and checks that it has one parameter per declared name.
    pub fn graph(&self) -> Result<Graph, ModelError> {
        self.graph_explored(&Exploration::default())
    }

    /// Like [`Self::graph`], a generator exploring as `how` says (its limits and progress).
    pub fn graph_explored(&self, how: &Exploration<'_>) -> Result<Graph, ModelError> {
        let dir = self.path.parent().unwrap_or(Path::new(".")).to_path_buf();
        self.graph_with_explored(&|p: &Path| std::fs::read_to_string(dir.join(p)), how)
    }

    /// Like [`Self::graph`], reading a `[graph]` file (path relative to `model.toml`) with `read`.
    pub fn graph_with(
        &self,
        read: &dyn Fn(&Path) -> std::io::Result<String>,
    ) -> Result<Graph, ModelError> {
        self.graph_with_explored(read, &Exploration::default())
    }

    /// [`Self::graph_with`] and [`Self::graph_explored`] together.
    pub fn graph_with_explored(
        &self,
        read: &dyn Fn(&Path) -> std::io::Result<String>,
        how: &Exploration<'_>,
    ) -> Result<Graph, ModelError> {
        let file = self.path.display().to_string();
        let g = match &self.source {
            Source::Generator { name, args } => {
                generate_with(name, args, how).map_err(|source| ModelError::Generator {
                    file: file.clone(),
                    source,
                })?
            }
            Source::File(p) => {
                let dir = self.path.parent().unwrap_or(Path::new("."));
                let shown = dir.join(p).display().to_string();
                let text = read(p).map_err(|source| ModelError::Io {
                    file: shown.clone(),
                    source,
                })?;
                GraphFile::parse(&text, &shown)?
            }
        };
        if g.param_length() != self.meta.parameters.len() {
            return Err(ModelError::Field {
                file,
                field: "model.parameters".into(),
                message: format!(
                    "names {} parameter(s) but the graph has {}",
                    self.meta.parameters.len(),
                    g.param_length()
                ),
            });
        }
        Ok(g)
    }
}

impl Recipe {
    /// The recipe's reward sets over its graph `graph`: the generator's own
    /// ([`generators::reward_sets`]), then those declared in `[rewards.NAME]` tables in name
    /// order, each checked against the graph. Rewards files are read relative to `model.toml`.
    pub fn reward_sets(&self, graph: &Graph) -> Result<RewardSets, ModelError> {
        let dir = self.path.parent().unwrap_or(Path::new(".")).to_path_buf();
        self.reward_sets_with(&|p: &Path| std::fs::read_to_string(dir.join(p)), graph)
    }

    /// Like [`Self::reward_sets`], reading a rewards file (path relative to `model.toml`) with
    /// `read`.
    pub fn reward_sets_with(
        &self,
        read: &dyn Fn(&Path) -> std::io::Result<String>,
        graph: &Graph,
    ) -> Result<RewardSets, ModelError> {
        let file = self.path.display().to_string();
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let field = |field: String, message: String| ModelError::Field {
            file: file.clone(),
            field,
            message,
        };
        let mut sets = match &self.source {
            Source::Generator { name, .. } => generators::reward_sets(name, graph),
            Source::File(_) => RewardSets::default(),
        };
        for (name, declared) in &self.rewards {
            if sets.get(name).is_some() {
                let generator = match &self.source {
                    Source::Generator { name, .. } => name.as_str(),
                    Source::File(_) => "",
                };
                return Err(field(
                    format!("rewards.{name}"),
                    format!(
                        "the generator '{generator}' provides a reward set of this name already; choose another name"
                    ),
                ));
            }
            let values = match &declared.values {
                DeclaredValues::Columns(cs) => {
                    for &c in cs {
                        rewards::check_column(graph, c)
                            .map_err(|m| field(format!("rewards.{name}.columns"), m))?;
                    }
                    let labels = declared
                        .labels
                        .clone()
                        .unwrap_or_else(|| default_labels(name, cs.len()));
                    (labels, rewards::Values::Columns(cs.clone()))
                }
                DeclaredValues::File(p) => {
                    let at = format!("rewards.{name}.file");
                    let shown = dir.join(p).display().to_string();
                    let text = read(p)
                        .map_err(|e| field(at.clone(), format!("{shown}: cannot read it: {e}")))?;
                    let parsed = rewards::parse_vectors(text.as_bytes())
                        .map_err(|m| field(at.clone(), format!("{shown}: {m}")))?;
                    let count = parsed.vectors.len();
                    let labels = match (&declared.labels, parsed.shape) {
                        (Some(labels), _) => {
                            if labels.len() != count {
                                return Err(field(
                                    format!("rewards.{name}.labels"),
                                    format!(
                                        "{} label(s) for the {count} vector(s) of {shown}",
                                        labels.len()
                                    ),
                                ));
                            }
                            labels.clone()
                        }
                        (None, rewards::Shape::Named(names)) => {
                            rewards::check_labels(&names)
                                .map_err(|m| field(at.clone(), format!("{shown}: {m}")))?;
                            names
                        }
                        (None, _) => default_labels(name, count),
                    };
                    for (label, v) in labels.iter().zip(&parsed.vectors) {
                        rewards::check_vector(graph, v).map_err(|m| {
                            field(at.clone(), format!("{shown}: vector '{label}': {m}"))
                        })?;
                    }
                    (labels, rewards::Values::Vectors(parsed.vectors))
                }
            };
            sets.sets.push(RewardSet {
                name: name.clone(),
                labels: values.0,
                values: values.1,
            });
        }
        // What a bundle's reader checks holds for every set built here.
        sets.check(graph).map_err(|m| field("rewards".into(), m))?;
        Ok(sets)
    }
}

/// Labels of a declared set that gives none: the set's name for one vector, else
/// `NAME_1`, `NAME_2`, ...
fn default_labels(name: &str, count: usize) -> Vec<String> {
    if count == 1 {
        vec![name.to_string()]
    } else {
        (1..=count).map(|i| format!("{name}_{i}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KINGMAN: &str = r#"
[model]
name = "coalescent/kingman"
version = "1.2.1"
description = "Kingman"
license = "CC0-1.0"
parameters = ["theta"]

[generator]
name = "coalescent/kingman"
args = { samples = 5 }
"#;

    #[test]
    fn reads_recipe() {
        let r = Recipe::parse(KINGMAN, Path::new("m/model.toml")).unwrap();
        assert_eq!(r.meta.version, semver::Version::new(1, 2, 1));
        assert_eq!(r.graph().unwrap().vertex_count(), 6);
    }

    #[test]
    fn reward_set_declarations_parse_and_fit_the_graph() {
        let text = format!(
            "{KINGMAN}\n[rewards.k]\ncolumns = [0, 0]\nlabels = [\"first\", \"again\"]\n[rewards.b]\ncolumns = [0]\n"
        );
        let r = Recipe::parse(&text, Path::new("m/model.toml")).unwrap();
        let g = r.graph().unwrap();
        let sets = r.reward_sets(&g).unwrap();
        assert_eq!(
            sets.names(),
            ["lineages", "b", "k"],
            "the generator's first"
        );
        assert_eq!(sets.get("k").unwrap().labels, ["first", "again"]);
        assert_eq!(sets.get("b").unwrap().labels, ["b"]);
        let text = format!("{KINGMAN}\n[rewards.k]\ncolumns = [0, 1]\n");
        let r = Recipe::parse(&text, Path::new("m/model.toml")).unwrap();
        assert_eq!(r.rewards["k"].labels, None);
        let e = r.reward_sets(&g).unwrap_err().to_string();
        assert!(
            e.starts_with("m/model.toml: field 'rewards.k.columns': column 1 is out of range"),
            "{e}"
        );
        let e = Recipe::parse(
            &format!("{KINGMAN}\n[rewards.k]\nfile = \"r.json\"\nextra = 1\n"),
            Path::new("m/model.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("m/model.toml: ") && e.contains("extra"),
            "{e}"
        );
        // Rewards files are read relative to the recipe, through the reader given.
        let text = format!("{KINGMAN}\n[rewards.f]\nfile = \"r.json\"\n");
        let r = Recipe::parse(&text, Path::new("m/model.toml")).unwrap();
        let n = g.vertex_count();
        let json = format!(
            "[[{}], [{}]]",
            vec!["1"; n].join(","),
            vec!["2"; n].join(",")
        );
        let sets = r
            .reward_sets_with(
                &|p: &Path| {
                    assert_eq!(p, Path::new("r.json"));
                    Ok(json.clone())
                },
                &g,
            )
            .unwrap();
        let f = sets.get("f").unwrap();
        assert_eq!(f.labels, ["f_1", "f_2"]);
        assert_eq!(f.resolve(&g).vectors[1], vec![2.0; n]);
    }

    #[test]
    fn errors_name_file_and_field() {
        let e =
            Recipe::parse(&KINGMAN.replace("1.2.1", "1.2"), Path::new("m/model.toml")).unwrap_err();
        assert!(
            e.to_string().starts_with("m/model.toml: ") && e.to_string().contains("version"),
            "{e}"
        );
        let e = Recipe::parse(
            &KINGMAN.replace("coalescent/kingman\"\nversion", "Kingman\"\nversion"),
            Path::new("m/model.toml"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("field 'model.name'"), "{e}");
        let r = Recipe::parse(
            &KINGMAN.replace("[\"theta\"]", "[\"a\", \"b\"]"),
            Path::new("m/model.toml"),
        )
        .unwrap();
        let e = r.graph().unwrap_err();
        assert!(
            e.to_string()
                .contains("names 2 parameter(s) but the graph has 1"),
            "{e}"
        );
        let r = Recipe::parse(
            &KINGMAN.replace("samples = 5", "samples = 0"),
            Path::new("m/model.toml"),
        )
        .unwrap();
        let e = r.graph().unwrap_err();
        assert!(
            e.to_string()
                .contains("m/model.toml: [generator] argument 'samples'"),
            "{e}"
        );
    }
}
