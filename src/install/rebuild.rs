//! The last resort for a registry that carries its recipes (the index built into ptd): when no
//! artifact location answers, the bundle is rebuilt from the recipe, and installed only if its
//! content hash is the one the signed index records.

use super::{InstallError, Installer, Origin};
use crate::bundle;
use crate::fs::write_atomic;
use crate::index::IndexEntry;
use std::path::Path;

impl Installer<'_> {
    pub(super) async fn rebuild(
        &self,
        e: &IndexEntry,
        recipe_path: &str,
    ) -> Result<(String, Origin), InstallError> {
        let mismatch = |message: String| InstallError::Mismatch {
            name: e.name.clone(),
            version: e.version.to_string(),
            message,
        };
        // A family's member: the recipe with the line's variant values.
        let recipe = super::build::embedded_recipe(recipe_path)
            .map_err(mismatch)?
            .with_variants(&e.variants.0)
            .map_err(|err| mismatch(err.to_string()))?;
        let read = |p: &Path| super::build::embedded_file(recipe_path, p);
        let graph = recipe
            .graph_with(&read)
            .map_err(|err| mismatch(err.to_string()))?;
        let rewards = recipe
            .reward_sets_with(&read, &graph)
            .map_err(|err| mismatch(err.to_string()))?;
        let want = e.content_hash.clone();
        let built = tokio::task::spawn_blocking(move || {
            let symbolic = crate::eliminate::eliminate(&graph);
            // The index may record a bundle built in an earlier format, or before models
            // carried named reward sets.
            let b = bundle::build_matching(&recipe.meta, &graph, &symbolic, &rewards, &want);
            let bytes = b.pack();
            (b.manifest, bytes)
        })
        .await
        .expect("build task");
        let (manifest, bytes) = built;
        if manifest.content_hash != e.content_hash {
            return Err(mismatch(format!(
                "rebuilding from models/{recipe_path} gave content hash {}, but the signed index records {}: refusing to install an unreproduced bundle",
                manifest.content_hash, e.content_hash
            )));
        }
        let sha = crate::fs::sha256_hex(&bytes);
        let dest = self.home.archive_path(&sha);
        write_atomic(&dest, &bytes).map_err(|err| InstallError::io(&dest, err))?;
        Ok((
            sha.clone(),
            Origin::Rebuilt {
                recipe: recipe_path.into(),
                same_archive: sha == e.sha256,
            },
        ))
    }
}
