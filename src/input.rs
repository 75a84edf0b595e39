//! What a command-line path names: a model recipe (directory or `model.toml`), a bundle archive,
//! a graph file, or a binary graph.

use crate::bundle::{self, Bundle, InstalledBundle};
use crate::eliminate::{self, Symbolic};
use crate::error::{Error, Result};
use crate::graph::{BINARY_MAGIC, Graph, GraphFile};
use crate::model::{Exploration, ModelMeta, Recipe, Requested, RewardSets, Rewards};
use std::path::Path;

/// A loaded input.
pub enum Input {
    Recipe {
        recipe: Recipe,
        graph: Graph,
    },
    Graph {
        graph: Graph,
        meta: ModelMeta,
    },
    Bundle(Box<Bundle>),
    /// An installed model's bundle directory, its graph read when first needed.
    Installed(Box<InstalledBundle>),
}

impl Input {
    /// Opens `path`, deciding by what it is: a directory or `.toml` file is a recipe, a zstd
    /// stream is a bundle, bytes starting with `PTDGRAPH` are a binary graph (a bundle's
    /// `graph.bin`), anything else is read as a graph file.
    pub fn open(path: &Path) -> Result<Input> {
        Self::open_with(path, &Exploration::default())
    }

    /// Like [`Self::open`], a recipe's generator exploring as `how` says (its limits and
    /// progress).
    pub fn open_with(path: &Path, how: &Exploration<'_>) -> Result<Input> {
        Self::open_member(path, &Requested::new(), how)
    }

    /// Like [`Self::open_with`], for a family's recipe its member with the variant values
    /// `variants` (the rest at their defaults). Variant values for a bundle or a graph file,
    /// which are one fixed model, are an error.
    pub fn open_member(path: &Path, variants: &Requested, how: &Exploration<'_>) -> Result<Input> {
        if path.is_dir() || path.extension().is_some_and(|e| e == "toml") {
            let recipe = Recipe::read(path)?.with_variants(variants)?;
            let graph = recipe.graph_explored(how)?;
            return Ok(Input::Recipe { recipe, graph });
        }
        if !variants.is_empty() {
            return Err(Error::Usage(format!(
                "{}: variant settings apply to a family's recipe (a model directory) or an installed model, not to a bundle or a graph file",
                path.display()
            )));
        }
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        if bundle::looks_like_bundle(&bytes) {
            return Ok(Input::Bundle(Box::new(bundle::unpack(
                &bytes,
                &path.display().to_string(),
            )?)));
        }
        if bytes.starts_with(BINARY_MAGIC) {
            let graph = Graph::from_binary(&bytes, &path.display().to_string())?;
            let meta = graph_file_meta(path, &graph);
            return Ok(Input::Graph { graph, meta });
        }
        let text = String::from_utf8(bytes).map_err(|_| {
            Error::Usage(format!(
                "{}: neither a bundle (.ptd.tar.zst), a model directory, a binary graph (graph.bin), nor a UTF-8 graph file",
                path.display()
            ))
        })?;
        let graph = GraphFile::parse(&text, &path.display().to_string())?;
        let meta = graph_file_meta(path, &graph);
        Ok(Input::Graph { graph, meta })
    }

    /// The graph (an installed model's is read from its bundle on first use).
    pub fn graph(&self) -> Result<&Graph> {
        Ok(match self {
            Input::Recipe { graph, .. } | Input::Graph { graph, .. } => graph,
            Input::Bundle(b) => &b.graph,
            Input::Installed(b) => b.graph()?,
        })
    }

    pub fn meta(&self) -> &ModelMeta {
        match self {
            Input::Recipe { recipe, .. } => &recipe.meta,
            Input::Graph { meta, .. } => meta,
            Input::Bundle(b) => &b.meta,
            Input::Installed(b) => &b.meta,
        }
    }

    /// The model's named reward sets: a recipe's (its generator's and those it declares,
    /// checked against the graph), a bundle's, or none for a bare graph file.
    pub fn reward_sets(&self) -> Result<RewardSets> {
        match self {
            Input::Recipe { recipe, graph } => Ok(recipe.reward_sets(graph)?),
            Input::Graph { .. } => Ok(RewardSets::default()),
            Input::Bundle(b) => Ok(b.rewards.clone()),
            Input::Installed(b) => Ok(b.rewards.clone()),
        }
    }

    /// What `--rewards ARG` names for this model: an existing rewards file, else one of the
    /// model's reward sets by name, over its vertex ids (an error lists the set names).
    pub fn rewards(&self, arg: &Path) -> Result<Rewards> {
        if arg.is_file() {
            return Ok(Rewards::read(arg)?);
        }
        let sets = self.reward_sets()?;
        Ok(crate::model::rewards::resolve(
            arg,
            &sets,
            self.graph()?,
            &self.meta().name,
        )?)
    }

    /// The symbolic form: read from a bundle, or computed by elimination.
    pub fn symbolic(&self) -> std::borrow::Cow<'_, Symbolic> {
        match self {
            Input::Bundle(b) => std::borrow::Cow::Borrowed(&b.symbolic),
            Input::Installed(b) => std::borrow::Cow::Borrowed(&b.symbolic),
            Input::Recipe { graph, .. } | Input::Graph { graph, .. } => {
                std::borrow::Cow::Owned(eliminate::eliminate(graph))
            }
        }
    }
}

/// Metadata for a bare graph file: `local/<file stem>` version 0.0.0, parameters `theta1..`.
fn graph_file_meta(path: &Path, graph: &Graph) -> ModelMeta {
    let stem: String = path
        .file_stem()
        .map(|s| s.to_string_lossy().to_lowercase())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let stem = stem.trim_start_matches(['-', '_']);
    ModelMeta {
        name: format!("local/{}", if stem.is_empty() { "graph" } else { stem }),
        version: semver::Version::new(0, 0, 0),
        description: format!("built from the graph file {}", path.display()),
        license: "unknown".into(),
        parameters: (1..=graph.param_length())
            .map(|i| format!("theta{i}"))
            .collect(),
        authors: Vec::new(),
        keywords: Vec::new(),
        dependencies: Default::default(),
        variants: Default::default(),
    }
}
