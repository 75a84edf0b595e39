//! Building a member of a family that the registry has not prebuilt: from the version's recipe
//! (the registry's signed recipe archive, verified like any download, or the recipe built into
//! ptd for the embedded registry), with the member's variant values. The build is deterministic,
//! so a pinned content hash or archive SHA-256 (from a lockfile) must be reproduced exactly, or
//! nothing is installed.

use super::obtain::Wanted;
use super::{InstallError, Installer, Origin};
use crate::bundle;
use crate::bundle::recipe::{RecipeFiles, open_recipe};
use crate::fs::write_atomic;
use crate::graph::SizeLimits;
use crate::index::source::EMBEDDED_MODELS;
use crate::index::{IndexEntry, recipe_trusted_comment};
use crate::model::{Exploration, Recipe};
use std::path::Path;
use std::sync::Arc;

/// Reports a build's progress: the member (`name version values`), then vertices and edges
/// explored so far.
pub type Progress = Arc<dyn Fn(&str, usize, usize) + Send + Sync>;

/// Whether and how members that were not prebuilt are built.
#[derive(Clone)]
pub struct Builds {
    /// False: refuse to build (`--no-build`).
    pub allowed: bool,
    /// Bounds on exploring the state space.
    pub limits: SizeLimits,
    pub progress: Option<Progress>,
}

impl Default for Builds {
    fn default() -> Self {
        Builds {
            allowed: true,
            limits: SizeLimits::DEFAULT,
            progress: None,
        }
    }
}

/// A recipe and a reader for the files it names.
enum Source {
    Embedded { recipe: Recipe, path: String },
    Archive(RecipeFiles),
}

impl Source {
    fn recipe(&self) -> &Recipe {
        match self {
            Source::Embedded { recipe, .. } => recipe,
            Source::Archive(f) => &f.recipe,
        }
    }

    fn read(&self, p: &Path) -> std::io::Result<String> {
        match self {
            Source::Embedded { path, .. } => embedded_file(path, p),
            Source::Archive(f) => f.read(p),
        }
    }
}

/// The recipe built into ptd at `recipe_path` (relative to `models/`); the message says why
/// it cannot be read.
pub(super) fn embedded_recipe(recipe_path: &str) -> Result<Recipe, String> {
    let file = EMBEDDED_MODELS
        .get_file(recipe_path)
        .ok_or_else(|| format!("the recipe models/{recipe_path} is not in this ptd"))?;
    let text = file
        .contents_utf8()
        .ok_or_else(|| "recipe is not UTF-8".to_string())?;
    Recipe::parse(text, &Path::new("models").join(recipe_path)).map_err(|err| err.to_string())
}

/// A file beside the embedded recipe `recipe_path` (relative to `models/`).
pub(super) fn embedded_file(recipe_path: &str, p: &Path) -> std::io::Result<String> {
    let rel = Path::new(recipe_path)
        .parent()
        .unwrap_or(Path::new(""))
        .join(p);
    EMBEDDED_MODELS
        .get_file(&rel)
        .and_then(|f| f.contents_utf8())
        .map(str::to_string)
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "not embedded"))
}

impl Installer<'_> {
    /// Builds the member `e` ([`IndexEntry::needs_build`]) into the store; returns `e` with the
    /// built archive's hashes, and how it was obtained.
    pub(super) async fn build_member(
        &self,
        e: &IndexEntry,
    ) -> Result<(IndexEntry, Origin), InstallError> {
        let refuse = |message: String| InstallError::Mismatch {
            name: e.name.clone(),
            version: format!("{} {}", e.version, e.variants),
            message,
        };
        if !self.builds.allowed {
            return Err(refuse(format!(
                "the registry has not prebuilt this member and --no-build refuses to build it{}",
                match &e.family {
                    Some(_) => "; `ptd info` lists the prebuilt ones",
                    None => "",
                }
            )));
        }
        let (source, described) = self.recipe_of(e).await?;
        let member = source
            .recipe()
            .with_variants(&e.variants.0)
            .map_err(|err| refuse(err.to_string()))?;
        if member.meta.name != e.name || member.meta.version != e.version {
            return Err(refuse(format!(
                "the recipe {described} is of {} {}, not of this version",
                member.meta.name, member.meta.version
            )));
        }
        let limits = self.builds.limits;
        let progress = self.builds.progress.clone();
        let label = format!("{} {} {}", e.name, e.version, e.variants);
        let want = e.content_hash.clone();
        let built = tokio::task::spawn_blocking(move || -> Result<_, String> {
            let tell = |v: usize, ed: usize| {
                if let Some(p) = &progress {
                    p(&label, v, ed);
                }
            };
            let how = Exploration {
                limits,
                progress: Some(&tell),
            };
            let graph = member
                .graph_with_explored(&|p: &Path| source.read(p), &how)
                .map_err(|err| err.to_string())?;
            let rewards = member
                .reward_sets_with(&|p: &Path| source.read(p), &graph)
                .map_err(|err| err.to_string())?;
            let symbolic = crate::eliminate::eliminate(&graph);
            // A lock may pin a member built in an earlier format.
            let b = bundle::build_matching(&member.meta, &graph, &symbolic, &rewards, &want);
            let bytes = b.pack();
            Ok((b.manifest, bytes))
        })
        .await
        .expect("build task")
        .map_err(refuse)?;
        let (manifest, bytes) = built;
        let sha = crate::fs::sha256_hex(&bytes);
        for (what, pinned, got) in [
            ("content hash", &e.content_hash, &manifest.content_hash),
            ("archive SHA-256", &e.sha256, &sha),
        ] {
            if !pinned.is_empty() && pinned != got {
                return Err(refuse(format!(
                    "building it from {described} gave {what} {got}, but ptd.lock pins {pinned}: refusing to install bytes that differ from the locked ones"
                )));
            }
        }
        let dest = self.home.archive_path(&sha);
        if !dest.is_file() {
            write_atomic(&dest, &bytes).map_err(|err| InstallError::io(&dest, err))?;
        }
        let filled = IndexEntry {
            sha256: sha,
            size: bytes.len() as u64,
            content_hash: manifest.content_hash.clone(),
            phasic_hash: manifest.hashes.phasic.clone(),
            canonical_hash: manifest.hashes.canonical.clone(),
            ..e.clone()
        };
        Ok((filled, Origin::Built(described)))
    }

    /// The version's recipe: built into ptd for the embedded registry, else the family's
    /// signed recipe archive, obtained and verified like any archive. Also says where it came
    /// from.
    async fn recipe_of(&self, e: &IndexEntry) -> Result<(Source, String), InstallError> {
        let refuse = |message: String| InstallError::Mismatch {
            name: e.name.clone(),
            version: format!("{} {}", e.version, e.variants),
            message,
        };
        if let Some(path) = &e.recipe
            && self.registry.source.is_embedded()
        {
            let recipe = embedded_recipe(path).map_err(refuse)?;
            return Ok((
                Source::Embedded {
                    recipe,
                    path: path.clone(),
                },
                format!("the recipe models/{path} built into ptd"),
            ));
        }
        let Some(archive) = e.family.as_ref().and_then(|f| f.recipe.as_ref()) else {
            return Err(refuse(
                "the registry has not prebuilt this member and publishes no recipe to build it from"
                    .into(),
            ));
        };
        let wanted = Wanted {
            entry: e,
            file: &archive.file,
            sha256: &archive.sha256,
            size: archive.size,
            trusted_comment: recipe_trusted_comment(&e.name, &e.version, &archive.sha256),
        };
        let lock_path = self.home.locks().join(format!("{}.lock", archive.sha256));
        let _lock = tokio::task::spawn_blocking(move || super::lock_file(&lock_path))
            .await
            .expect("lock task")?;
        if let Err(tried) = self.obtain_archive(&wanted).await? {
            return Err(self.unavailable(e, format!("{} (its recipe)", e.version), tried));
        }
        let path = self.home.archive_path(&archive.sha256);
        let bytes = std::fs::read(&path).map_err(|err| InstallError::io(&path, err))?;
        let label = archive.file.trim_end_matches(".tar.zst").to_string();
        let files = open_recipe(&bytes, &label).map_err(InstallError::Bundle)?;
        Ok((
            Source::Archive(files),
            format!("the signed recipe {}", archive.file),
        ))
    }
}
