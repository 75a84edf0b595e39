//! Model families on the publishing side: which members a `--variants` set names (the default
//! member always among them), building them in parallel, a CI shard's share, and reading back
//! members already built (`ptd publish --prebuilt DIR`).
//!
//! Building is deterministic: each member's bundle depends only on the recipe and its values,
//! and results are kept in the members' order, so the bytes and the order of what is written
//! do not depend on the number of workers.

use crate::bundle::{Manifest, archive_name};
use crate::graph::SizeLimits;
use crate::input::Input;
use crate::model::{Exploration, ModelMeta, Recipe, Variants};
use crate::{Error, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The recipe `input` names when it is a model directory (or its `model.toml`) whose recipe
/// declares `[variants]`; `None` for a recipe without variants, a graph file or a bundle.
pub fn family_recipe(input: &Path) -> Result<Option<Recipe>> {
    if !is_recipe_path(input) {
        return Ok(None);
    }
    let recipe = Recipe::read(input)?;
    Ok((!recipe.variants.is_empty()).then_some(recipe))
}

/// Whether `input` is read as a recipe: a directory or a `.toml` file.
fn is_recipe_path(input: &Path) -> bool {
    input.is_dir() || input.extension().is_some_and(|e| e == "toml")
}

/// The family recipe `--variants` is given for, or an error saying why there is none.
pub fn require_family(input: &Path) -> Result<Recipe> {
    if !is_recipe_path(input) {
        return Err(Error::Usage(format!(
            "--variants: {} is not a model directory; variants are built from a recipe whose model.toml declares [variants] (a graph file or a bundle is one fixed model)",
            input.display()
        )));
    }
    family_recipe(input)?.ok_or_else(|| {
        Error::Usage(format!(
            "--variants: the recipe {} declares no [variants]; it is a single model, publish it without --variants",
            input.display()
        ))
    })
}

/// The members a set of `NAME=SET` words names ([`crate::model::VariantDecls::expand`]), in
/// its order, followed by the default member when the set does not hold it. No words: the
/// default member alone.
pub fn members(recipe: &Recipe, words: &[String]) -> Result<Vec<Variants>> {
    let mut all = recipe.variants.expand(words).map_err(|e| {
        Error::Usage(format!(
            "--variants: {e} (recipe {})",
            recipe.path.display()
        ))
    })?;
    let default = recipe.variants.defaults();
    if !all.contains(&default) {
        all.push(default);
    }
    Ok(all)
}

/// `--shard I/N`: 1 <= I <= N.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    pub fn parse(text: &str) -> Result<Shard> {
        let bad = || {
            Error::Usage(format!(
                "--shard '{text}': write I/N with 1 <= I <= N, e.g. --shard 2/4"
            ))
        };
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, count): (usize, usize) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if count == 0 || index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// This shard's share of `members`: those at positions p with p % N == I - 1.
    pub fn select(&self, members: Vec<Variants>) -> Vec<Variants> {
        members
            .into_iter()
            .enumerate()
            .filter(|(p, _)| p % self.count == self.index - 1)
            .map(|(_, v)| v)
            .collect()
    }
}

/// The number of workers: `jobs` if given (at least 1), else the machine's cores.
pub fn workers(jobs: Option<usize>) -> Result<usize> {
    match jobs {
        Some(0) => Err(Error::Usage("--jobs must be at least 1".into())),
        Some(n) => Ok(n),
        None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
    }
}

/// One member's bundle: the archive's bytes and what they hold.
pub struct Member {
    pub variants: Variants,
    pub bytes: Vec<u8>,
    pub manifest: Manifest,
    pub meta: ModelMeta,
}

impl Member {
    /// The archive's file name (`ns-name-1.0.0_samples-30.ptd.tar.zst`).
    pub fn file_name(&self) -> String {
        archive_name(&self.manifest.name, &self.manifest.version, &self.variants)
    }

    /// Writes the archive into `dir` atomically and returns its path.
    pub fn write_to(&self, dir: &Path) -> Result<std::path::PathBuf> {
        let path = dir.join(self.file_name());
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        crate::fs::write_output(&path, &self.bytes).map_err(|e| Error::io(&path, e))?;
        Ok(path)
    }
}

/// One member written by [`build_family`].
#[derive(Clone, Debug, serde::Serialize)]
pub struct Written {
    pub variants: Variants,
    pub path: std::path::PathBuf,
    pub content_hash: String,
    pub vertices: usize,
}

/// `ptd build DIR --variants SET... [--shard I/N] -o OUT`: the members of the set (the default
/// member included; with a shard, only its share) built on `jobs` threads and written into
/// `out`, in the members' order.
pub fn build_family(
    input: &Path,
    words: &[String],
    shard: Option<Shard>,
    jobs: usize,
    out: &Path,
    progress: bool,
) -> Result<Vec<Written>> {
    let recipe = require_family(input)?;
    let mut all = members(&recipe, words)?;
    if let Some(s) = shard {
        all = s.select(all);
    }
    let limits = super::build::configured_limits(&crate::install::Home::from_env())?;
    let built = build_members(&recipe, &all, jobs, limits, progress)?;
    built
        .iter()
        .map(|m| {
            Ok(Written {
                variants: m.variants.clone(),
                path: m.write_to(out)?,
                content_hash: m.manifest.content_hash.clone(),
                vertices: m.manifest.graph.vertices,
            })
        })
        .collect()
}

/// Builds one member of `recipe` (its values `variants`) the way `ptd build` builds a recipe:
/// the graph explored within `limits`, eliminated, its reward sets checked, packed.
pub fn build_member(recipe: &Recipe, variants: &Variants, limits: SizeLimits) -> Result<Member> {
    let r = recipe.with_variants(&variants.0)?;
    let graph = r.graph_explored(&Exploration {
        limits,
        progress: None,
    })?;
    let built = super::build::build_bundle(&Input::Recipe { recipe: r, graph })?;
    Ok(Member {
        variants: variants.clone(),
        bytes: built.pack(),
        manifest: built.manifest,
        meta: built.meta,
    })
}

/// Builds `members` of `recipe` on `jobs` threads, each taking the next member not yet
/// taken; the result is in the members' order whatever the number of threads. After the
/// first failure no new member is started, and the failure of the earliest member is
/// returned. `progress` shows a bar on standard error when it is a terminal.
pub fn build_members(
    recipe: &Recipe,
    members: &[Variants],
    jobs: usize,
    limits: SizeLimits,
    progress: bool,
) -> Result<Vec<Member>> {
    let n = members.len();
    let bar = if progress && n > 0 && std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(n as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>12.cyan.bold} [{bar:30}] {pos}/{len} members ({elapsed}) {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix("Building");
        bar
    } else {
        ProgressBar::hidden()
    };
    let slots: Mutex<Vec<Option<Result<Member>>>> = Mutex::new((0..n).map(|_| None).collect());
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, n.max(1)) {
            s.spawn(|| {
                loop {
                    if failed.load(Ordering::Relaxed) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(v) = members.get(i) else { break };
                    let built = build_member(recipe, v, limits).map_err(|e| {
                        failed.store(true, Ordering::Relaxed);
                        Error::Usage(format!("{} {v}: {e}", recipe.meta.name))
                    });
                    bar.set_message(v.to_string());
                    bar.inc(1);
                    slots.lock().expect("no worker panicked")[i] = Some(built);
                }
            });
        }
    });
    bar.finish_and_clear();
    let slots = slots.into_inner().expect("no worker panicked");
    if let Some(e) = slots.iter().position(|s| matches!(s, Some(Err(_)))) {
        let Some(Some(Err(e))) = slots.into_iter().nth(e) else {
            unreachable!("position found an error")
        };
        return Err(e);
    }
    Ok(slots
        .into_iter()
        .map(|s| match s {
            Some(Ok(m)) => m,
            _ => unreachable!("every member was built when none failed"),
        })
        .collect())
}

/// Reads the member `variants` of `recipe` from `dir` (a directory of bundles written by
/// `ptd build --variants`), if its archive is there: the bundle is checked as installing
/// checks it ([`crate::bundle::check`]: hashes, graph, DAG belonging to the graph, reward
/// sets) and its metadata must be the recipe's for that member. The bundle is not rebuilt:
/// whoever publishes from `dir` trusts it to come from its own build (a CI job's artifacts).
pub fn read_prebuilt(recipe: &Recipe, variants: &Variants, dir: &Path) -> Result<Option<Member>> {
    let file = archive_name(&recipe.meta.name, &recipe.meta.version, variants);
    let path = dir.join(&file);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let label = path.display().to_string();
    let checked = crate::bundle::check(&bytes, &label, crate::fs::random_u64())?;
    let want = recipe.with_variants(&variants.0)?.meta;
    if checked.meta != want {
        let what = if checked.meta.name != want.name || checked.meta.version != want.version {
            format!(
                "it holds {} {}, not {} {}",
                checked.meta.name, checked.meta.version, want.name, want.version
            )
        } else if checked.meta.variants != want.variants {
            format!(
                "it holds the member '{}', not '{}'",
                checked.meta.variants, want.variants
            )
        } else {
            "its metadata (description, parameters, dependencies...) is not the recipe's: it was built from another recipe".to_string()
        };
        return Err(Error::Usage(format!(
            "--prebuilt: {label} is not the member {variants} of {}: {what}; build it again from this recipe",
            recipe.path.display()
        )));
    }
    Ok(Some(Member {
        variants: variants.clone(),
        bytes,
        manifest: checked.manifest,
        meta: checked.meta,
    }))
}

/// Compact text for a set of members: `samples=2..6` when there is one integer variant and
/// its values form ranges (`samples=2..6,10`), else the members' words, `; `-separated.
pub fn compact(members: &[Variants]) -> String {
    let single_int = members.iter().all(|m| {
        m.0.len() == 1
            && matches!(
                m.0.values().next(),
                Some(crate::model::VariantValue::Int(_))
            )
    }) && members.windows(2).all(|w| w[0].0.keys().eq(w[1].0.keys()));
    if !single_int || members.is_empty() {
        return members
            .iter()
            .map(|m| m.to_string())
            .collect::<Vec<_>>()
            .join("; ");
    }
    let name = members[0].0.keys().next().expect("one variant").clone();
    let mut values: Vec<i64> = members
        .iter()
        .filter_map(|m| match m.0.values().next() {
            Some(crate::model::VariantValue::Int(i)) => Some(*i),
            _ => None,
        })
        .collect();
    values.sort_unstable();
    values.dedup();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < values.len() {
        let mut j = i;
        while j + 1 < values.len() && values[j + 1] == values[j] + 1 {
            j += 1;
        }
        parts.push(if j > i {
            format!("{}..{}", values[i], values[j])
        } else {
            values[i].to_string()
        });
        i = j + 1;
    }
    format!("{name}={}", parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Variants {
        let d: crate::model::VariantDecls =
            toml::from_str("samples = { default = 4, min = 1 }\nk = { default = 1 }").unwrap();
        d.settle(&crate::model::variants::parse_words(text.split(' ')).unwrap())
            .unwrap()
    }

    #[test]
    fn shards_split_in_order_and_cover_the_set() {
        let all: Vec<Variants> = (1..=7).map(|i| v(&format!("samples={i}"))).collect();
        let s = Shard::parse("2/3").unwrap();
        let mine = s.select(all.clone());
        assert_eq!(mine, vec![all[1].clone(), all[4].clone()]);
        let mut union: Vec<Variants> = (1..=3)
            .flat_map(|i| Shard { index: i, count: 3 }.select(all.clone()))
            .collect();
        union.sort_by(|a, b| a.cmp_values(b));
        assert_eq!(union, all);
        for bad in ["0/3", "4/3", "1/0", "x/2", "2"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn compact_ranges() {
        let single = |xs: &[i64]| -> Vec<Variants> {
            let d: crate::model::VariantDecls =
                toml::from_str("samples = { default = 4, min = 1 }").unwrap();
            xs.iter()
                .map(|i| {
                    d.settle(
                        &crate::model::variants::parse_words([format!("samples={i}").as_str()])
                            .unwrap(),
                    )
                    .unwrap()
                })
                .collect()
        };
        assert_eq!(compact(&single(&[2, 3, 4, 5, 6])), "samples=2..6");
        assert_eq!(compact(&single(&[10, 2, 3, 4, 7])), "samples=2..4,7,10");
        assert_eq!(
            compact(&[v("samples=2 k=1"), v("samples=3 k=2")]),
            "k=1 samples=2; k=2 samples=3"
        );
    }
}
