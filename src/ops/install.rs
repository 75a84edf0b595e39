//! Installing resolved versions, in parallel, and reporting what happened.

use super::{Context, Opened};
use crate::Result;
use crate::index::IndexEntry;
use crate::install::{Installer, Origin, Outcome};
use crate::resolve::{Requirement, resolve};
use serde::Serialize;
use std::collections::BTreeMap;

/// One installed version, as reported to the user (`--json` prints a list of these).
#[derive(Clone, Debug, Serialize)]
pub struct Item {
    pub name: String,
    pub version: semver::Version,
    /// For a member of a family: its variant values.
    #[serde(skip_serializing_if = "crate::model::Variants::is_empty")]
    pub variants: crate::model::Variants,
    /// Built on this machine from its family's signed recipe.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub built: bool,
    pub registry: String,
    pub archive_sha256: String,
    pub content_hash: String,
    pub phasic_hash: String,
    /// What was done (serialised as `store`, `shared`, `downloaded`, `rebuilt` or
    /// `installed`).
    pub action: Action,
    /// Where the archive came from, in words.
    pub origin: String,
    /// The symbolic DAG in phasic's cache (tier 1).
    pub symbolic: String,
    /// Files placed in the JAX compilation cache (tier 2) for this machine.
    pub jax_files: usize,
    /// phasic's own elimination artifacts placed in `$PHASIC_CACHE_DIR`.
    pub phasic_files: usize,
    /// Why some of the version's platform archives (JAX, phasic) were not installed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jax_note: Option<String>,
    /// Tier 1 already held other bytes under this graph's hash; they were left in place.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier1_note: Option<String>,
}

/// What installing one version did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// It was installed before this call.
    Installed,
    /// Its archive was in the store; it was placed again.
    Store,
    /// Copied, verified, from the shared cache layer.
    Shared,
    Downloaded,
    /// Rebuilt from the registry's recipe.
    Rebuilt,
    /// A member of a family the registry had not prebuilt, built here from its recipe.
    Built,
}

impl Item {
    pub fn from_outcome(ctx: &Context, o: &Outcome) -> Item {
        let i = &o.installed;
        let action = match (&o.origin, o.already) {
            (_, true) => Action::Installed,
            (Origin::Store, false) => Action::Store,
            (Origin::Shared(_), false) => Action::Shared,
            (Origin::Downloaded(_), false) => Action::Downloaded,
            (Origin::Rebuilt { .. }, false) => Action::Rebuilt,
            (Origin::Built(_), false) => Action::Built,
        };
        Item {
            name: i.name.clone(),
            version: i.version.clone(),
            variants: i.variants.clone(),
            built: i.built,
            registry: i.registry.clone(),
            archive_sha256: i.archive_sha256.clone(),
            content_hash: i.content_hash.clone(),
            phasic_hash: i.phasic_hash.clone(),
            action,
            origin: if o.already {
                "already installed".into()
            } else {
                o.origin.describe()
            },
            symbolic: ctx.home.tier1_dag(&i.phasic_hash).display().to_string(),
            jax_files: o.jax_files,
            phasic_files: o.phasic_files,
            jax_note: o.jax_note.clone(),
            tier1_note: o.tier1_note.clone(),
        }
    }
}

/// Installs the given versions of one registry concurrently (downloads overlap). Every
/// version is installed atomically; the first error is returned after all have finished.
pub async fn install_entries(
    ctx: &Context,
    opened: &Opened,
    entries: &[IndexEntry],
) -> Result<Vec<Item>> {
    let installer = Installer {
        home: &ctx.home,
        http: &opened.http,
        registry: &opened.registry,
        label: &opened.label,
        offline: ctx.offline,
        jax: &ctx.jax,
        builds: &ctx.builds,
        shared: crate::install::Shared::open(&ctx.home)?,
    };
    let results =
        futures_util::future::join_all(entries.iter().map(|e| installer.install(e))).await;
    ctx.finish_progress();
    let mut items = Vec::new();
    for r in results {
        items.push(Item::from_outcome(ctx, &r?));
    }
    Ok(items)
}

/// `ptd install NAME@REQ ...` outside a project: resolve against one registry and install into
/// the user's cache.
pub async fn install_requirements(
    ctx: &Context,
    requirements: &[Requirement],
    registry: Option<&str>,
) -> Result<Vec<Item>> {
    let opened = ctx.open(registry).await?;
    let mut entries: Vec<IndexEntry> = Vec::new();
    for round in rounds(requirements) {
        for e in resolve(&opened.registry, &round, &BTreeMap::new())
            .await?
            .into_values()
        {
            let same = |o: &IndexEntry| {
                o.name == e.name && o.version == e.version && o.variants == e.variants
            };
            if !entries.iter().any(same) {
                entries.push(e);
            }
        }
    }
    install_entries(ctx, &opened, &entries).await
}

/// The requirements in rounds that each ask for a model at most once, with one set of variant
/// values: several members of one family (`coalescent/block-counting samples=20
/// coalescent/block-counting samples=30`) are resolved in rounds of their own, and installed
/// together.
fn rounds(requirements: &[Requirement]) -> Vec<Vec<Requirement>> {
    let mut rounds: Vec<Vec<Requirement>> = Vec::new();
    for r in requirements {
        let fits = |round: &&mut Vec<Requirement>| {
            round
                .iter()
                .all(|q| q.name != r.name || q.variants == r.variants)
        };
        match rounds.iter_mut().find(fits) {
            Some(round) => round.push(r.clone()),
            None => rounds.push(vec![r.clone()]),
        }
    }
    rounds
}
