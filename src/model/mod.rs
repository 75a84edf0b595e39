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
//! ```

pub mod generators;

use crate::graph::{Graph, GraphFile, GraphFileError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use generators::{Exploration, GENERATORS, GeneratorError, generate, generate_with};

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
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecipe {
    model: ModelMeta,
    #[serde(default)]
    dependencies: BTreeMap<String, semver::VersionReq>,
    generator: Option<RawGenerator>,
    graph: Option<RawGraph>,
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

/// A parsed `model.toml`.
#[derive(Clone, Debug, PartialEq)]
pub struct Recipe {
    pub meta: ModelMeta,
    pub source: Source,
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
        Ok(Recipe {
            meta,
            source,
            path: file.to_path_buf(),
        })
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
