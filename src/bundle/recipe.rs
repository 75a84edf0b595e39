//! Recipe archives: a family's `model.toml` and the files it names (rewards files), packed
//! like a bundle (deterministic tar + zstd) so that a registry can carry, sign and serve the
//! recipe from which any member of the family is built. Entries: `model.toml` first, then the
//! named files by their paths relative to it, in name order. Data only: a recipe names a
//! built-in generator and its arguments, never code.

use super::BundleError;
use crate::archive::{Files, pack_entries, read_tar_zst};
use crate::model::{DeclaredValues, Recipe, Source};
use std::path::Path;

/// The recipe file, the archive's first entry.
pub const RECIPE_FILE: &str = "model.toml";

/// The file name of a version's recipe archive: `namespace-name-version.recipe.tar.zst`.
pub fn recipe_archive_name(name: &str, version: &semver::Version) -> String {
    format!("{}-{version}.recipe.tar.zst", name.replace('/', "-"))
}

/// The files a recipe names besides `model.toml`, as relative paths: its `[graph]` file and
/// its rewards files, sorted, without repeats.
fn named_files(recipe: &Recipe) -> Vec<String> {
    let mut out: Vec<String> = recipe
        .rewards
        .values()
        .filter_map(|d| match &d.values {
            DeclaredValues::File(p) => Some(p.to_string_lossy().into_owned()),
            DeclaredValues::Columns(_) => None,
        })
        .collect();
    if let Source::File(p) = &recipe.source {
        out.push(p.to_string_lossy().into_owned());
    }
    out.sort();
    out.dedup();
    out
}

/// Packs a recipe read from disk ([`Recipe::read`]) with `read` giving the bytes of
/// `model.toml` and of each file it names (paths relative to `model.toml`).
pub fn pack_recipe(
    recipe: &Recipe,
    read: &dyn Fn(&Path) -> std::io::Result<Vec<u8>>,
) -> Result<Vec<u8>, BundleError> {
    let dir = recipe.path.parent().unwrap_or(Path::new("."));
    let io = |p: &Path, source| BundleError::Io {
        file: dir.join(p).display().to_string(),
        source,
    };
    let mut files: Files = vec![(
        RECIPE_FILE.to_string(),
        read(Path::new(RECIPE_FILE)).map_err(|e| io(Path::new(RECIPE_FILE), e))?,
    )];
    for name in named_files(recipe) {
        let bytes = read(Path::new(&name)).map_err(|e| io(Path::new(&name), e))?;
        files.push((name, bytes));
    }
    Ok(pack_entries(
        files.iter().map(|(n, b)| (n.as_str(), b.as_slice())),
    )?)
}

/// A recipe archive's contents, in memory.
pub struct RecipeFiles {
    pub recipe: Recipe,
    files: Files,
}

impl RecipeFiles {
    /// A file the recipe names, by its path relative to `model.toml`.
    pub fn read(&self, p: &Path) -> std::io::Result<String> {
        let want = p.to_string_lossy();
        self.files
            .iter()
            .find(|(n, _)| *n == want)
            .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("'{want}' is not in the recipe archive"),
                )
            })
    }
}

/// Reads a recipe archive (already checked against its signature and hash): `model.toml`
/// first, then exactly the files it names. `label` names the archive in errors, and the
/// recipe's path is shown as `label/model.toml`.
pub fn open_recipe(bytes: &[u8], label: &str) -> Result<RecipeFiles, BundleError> {
    let invalid = |message: String| BundleError::Invalid {
        file: label.to_string(),
        message,
    };
    let mut files = read_tar_zst(bytes, label, |path, files| {
        if files.is_empty() && path != RECIPE_FILE {
            return Err(format!(
                "the first entry must be {RECIPE_FILE}, not '{path}': not a recipe archive"
            ));
        }
        if files.iter().any(|(p, _)| p == path) {
            return Err(format!("entry '{path}' appears twice"));
        }
        Ok(())
    })?;
    if files.is_empty() {
        return Err(invalid(format!("empty archive: {RECIPE_FILE} is missing")));
    }
    let (_, toml) = files.remove(0);
    let text =
        String::from_utf8(toml).map_err(|_| invalid(format!("{RECIPE_FILE} is not UTF-8")))?;
    let recipe = Recipe::parse(&text, &Path::new(label).join(RECIPE_FILE))
        .map_err(|e| invalid(e.to_string()))?;
    let named = named_files(&recipe);
    let held: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
    let mut sorted = held.clone();
    sorted.sort();
    if sorted != named || held != sorted {
        return Err(invalid(format!(
            "holds {} but its recipe names {}",
            if held.is_empty() {
                "no other file".to_string()
            } else {
                held.join(", ")
            },
            if named.is_empty() {
                "no file".to_string()
            } else {
                named.join(", ")
            }
        )));
    }
    Ok(RecipeFiles { recipe, files })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAMILY: &str = r#"
[model]
name = "coalescent/kingman"
version = "1.3.0"
description = "Kingman"
license = "CC0-1.0"
parameters = ["theta"]

[generator]
name = "coalescent/kingman"

[variants]
samples = { default = 10, min = 2, max = 500 }

[rewards.twice]
file = "twice.json"
"#;

    #[test]
    fn packs_and_opens_deterministically() {
        let recipe = Recipe::parse(FAMILY, Path::new("m/model.toml")).unwrap();
        let read = |p: &Path| -> std::io::Result<Vec<u8>> {
            match p.to_str().unwrap() {
                "model.toml" => Ok(FAMILY.as_bytes().to_vec()),
                "twice.json" => Ok(b"{\"twice\": [2]}".to_vec()),
                other => panic!("{other}"),
            }
        };
        let a = pack_recipe(&recipe, &read).unwrap();
        assert_eq!(a, pack_recipe(&recipe, &read).unwrap());
        let opened = open_recipe(&a, "kingman-1.3.0.recipe").unwrap();
        assert_eq!(opened.recipe.variants, recipe.variants);
        assert_eq!(
            opened.read(Path::new("twice.json")).unwrap(),
            "{\"twice\": [2]}"
        );
        assert!(opened.read(Path::new("other.json")).is_err());
        // A member other than the default builds from it.
        let member = opened
            .recipe
            .with_variants(&crate::model::variants::parse_words(["samples=4"]).unwrap())
            .unwrap();
        assert_eq!(member.graph().unwrap().vertex_count(), 5);
        // Files it does not name, or missing ones, are refused.
        let extra = pack_entries([
            ("model.toml", FAMILY.as_bytes()),
            ("twice.json", b"{}".as_slice()),
            ("run.sh", b"echo".as_slice()),
        ])
        .unwrap();
        let e = open_recipe(&extra, "x").err().unwrap().to_string();
        assert!(
            e.contains("holds twice.json, run.sh but its recipe names twice.json"),
            "{e}"
        );
        let missing = pack_entries([("model.toml", FAMILY.as_bytes())]).unwrap();
        assert!(open_recipe(&missing, "x").is_err());
        let wrong = pack_entries([("graph.json", b"{}".as_slice())]).unwrap();
        let e = open_recipe(&wrong, "x").err().unwrap().to_string();
        assert!(e.contains("not a recipe archive"), "{e}");
    }
}
