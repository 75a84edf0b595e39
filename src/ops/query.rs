//! Looking at registries and at what is installed: `list`, `info`, `search`, `verify`.

use super::Context;
use crate::bundle::Manifest;
use crate::fs::sha256_file;
use crate::index::IndexEntry;
use crate::install::db::{Db, Installed};
use crate::resolve::Requirement;
use crate::{Error, Result};
use serde::Serialize;

/// Everything installed, by name and version.
pub fn list(ctx: &Context) -> Result<Vec<Installed>> {
    if !ctx.home.db_path().is_file() {
        return Ok(Vec::new());
    }
    Ok(Db::open(&ctx.home.db_path())?.list()?)
}

/// A model in a registry.
#[derive(Clone, Debug, Serialize)]
pub struct Info {
    pub registry: String,
    pub name: String,
    /// The newest version matching the requirement (yanked ones excluded).
    pub selected: Option<semver::Version>,
    /// The requirement asked about.
    #[serde(skip)]
    pub requirement: semver::VersionReq,
    pub versions: Vec<IndexEntry>,
    /// The selected version's named reward sets, when that version is installed (a bundle
    /// carries them; the index does not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reward_sets: Option<Vec<crate::model::rewards::Summary>>,
    /// For a family: the variants of the selected version (else of the newest family
    /// version) and which of its members are prebuilt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variants: Option<FamilyInfo>,
}

/// A family version's variants, as `ptd info` shows them.
#[derive(Clone, Debug, Serialize)]
pub struct FamilyInfo {
    pub version: semver::Version,
    /// What each variant takes (`{ "samples": { "default": 10, "min": 2, "max": 200 } }`).
    pub declarations: crate::model::VariantDecls,
    /// The values of each prebuilt member (an index line), in order; other members are built
    /// by the installer from the signed recipe.
    pub prebuilt: Vec<crate::model::Variants>,
    /// How many of them are yanked.
    pub yanked: usize,
}

impl FamilyInfo {
    /// The family of `version` in `versions`, if its lines declare one.
    pub fn of(versions: &[IndexEntry], version: &semver::Version) -> Option<FamilyInfo> {
        let lines: Vec<&IndexEntry> = versions.iter().filter(|e| &e.version == version).collect();
        let family = lines.first()?.family.as_ref()?;
        let mut prebuilt: Vec<crate::model::Variants> =
            lines.iter().map(|e| e.variants.clone()).collect();
        prebuilt.sort_by(|a, b| a.cmp_values(b));
        Some(FamilyInfo {
            version: version.clone(),
            declarations: family.variants.clone(),
            prebuilt,
            yanked: lines.iter().filter(|e| e.yanked).count(),
        })
    }
}

/// A model read from a path: a model directory or `model.toml`, a bundle, or a graph file.
#[derive(Clone, Debug, Serialize)]
pub struct LocalInfo {
    pub path: String,
    /// `recipe`, `bundle` or `graph-file`.
    pub kind: &'static str,
    pub name: String,
    pub version: semver::Version,
    pub description: String,
    pub parameters: Vec<String>,
    pub vertices: usize,
    pub edges: usize,
    pub state_length: usize,
    /// The model's named reward sets (`ptd eval --rewards NAME`).
    pub reward_sets: Vec<crate::model::rewards::Summary>,
}

/// `ptd info PATH`: what a model directory, bundle or graph file holds, its reward sets
/// included.
pub fn local_info(path: &std::path::Path, quiet: bool) -> Result<LocalInfo> {
    use crate::input::Input;
    let input = super::build::open_input(path, quiet)?;
    let kind = match &input {
        Input::Recipe { .. } => "recipe",
        Input::Bundle(_) | Input::Installed(_) => "bundle",
        Input::Graph { .. } => "graph-file",
    };
    let meta = input.meta();
    let g = input.graph()?;
    Ok(LocalInfo {
        path: path.display().to_string(),
        kind,
        name: meta.name.clone(),
        version: meta.version.clone(),
        description: meta.description.clone(),
        parameters: meta.parameters.clone(),
        vertices: g.vertex_count(),
        edges: g.edge_count() + g.start_edges().len(),
        state_length: g.state_length(),
        reward_sets: input.reward_sets()?.summaries(),
    })
}

/// `ptd info NAME[@REQ]`.
pub async fn info(ctx: &Context, req: &Requirement, registry: Option<&str>) -> Result<Info> {
    let o = ctx.open(registry).await?;
    let versions = o.registry.entries(&req.name).await?;
    let selected = versions
        .iter()
        .filter(|e| !e.yanked && req.req.matches(&e.version))
        .map(|e| &e.version)
        .max()
        .cloned();
    let reward_sets = match &selected {
        Some(v) => installed_reward_sets(ctx, &req.name, v, &versions)?,
        None => None,
    };
    let family_version = selected.clone().or_else(|| {
        versions
            .iter()
            .filter(|e| e.family.is_some())
            .map(|e| e.version.clone())
            .max()
    });
    let variants = family_version.and_then(|v| FamilyInfo::of(&versions, &v));
    Ok(Info {
        registry: o.label,
        name: req.name.clone(),
        selected,
        requirement: req.req.clone(),
        versions,
        reward_sets,
        variants,
    })
}

/// The reward sets of version `version` of `name` in `versions`, if that very bundle (its
/// content hash) is installed.
fn installed_reward_sets(
    ctx: &Context,
    name: &str,
    version: &semver::Version,
    versions: &[IndexEntry],
) -> Result<Option<Vec<crate::model::rewards::Summary>>> {
    // A family's version has a line per prebuilt member: any of them installed will do.
    let lines: Vec<&IndexEntry> = versions.iter().filter(|e| &e.version == version).collect();
    if lines.is_empty() {
        return Ok(None);
    }
    let found = crate::cache::find(&ctx.home, &format!("{name}@={version}"))?;
    let Some(f) = found
        .into_iter()
        .find(|f| lines.iter().any(|e| e.content_hash == f.content_hash))
    else {
        return Ok(None);
    };
    let sets = crate::bundle::read_installed_rewards(std::path::Path::new(&f.bundle))?;
    Ok(Some(sets.summaries()))
}

/// One search hit.
#[derive(Clone, Debug, Serialize)]
pub struct Hit {
    pub name: String,
    pub version: semver::Version,
    pub description: String,
}

/// `ptd search WORD`: models whose name, description or keywords contain every word
/// (case-insensitive), with their newest version that is not yanked: one hit per model, a
/// family's member lines counting as its version.
pub async fn search(ctx: &Context, query: &str, registry: Option<&str>) -> Result<Vec<Hit>> {
    let o = ctx.open(registry).await?;
    let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
    let mut hits = Vec::new();
    for name in o.registry.model_names() {
        let entries = o.registry.entries(&name).await?;
        let Some(newest) = entries
            .iter()
            .filter(|e| !e.yanked)
            .max_by(|a, b| a.version.cmp(&b.version))
        else {
            continue;
        };
        let text = format!(
            "{} {} {}",
            name,
            newest.description,
            newest.keywords.join(" ")
        )
        .to_lowercase();
        if words.iter().all(|w| text.contains(w.as_str())) {
            hits.push(Hit {
                name,
                version: newest.version.clone(),
                description: newest.description.clone(),
            });
        }
    }
    Ok(hits)
}

/// A problem `ptd verify` found.
#[derive(Clone, Debug, Serialize)]
pub struct Problem {
    pub name: String,
    pub version: String,
    pub path: String,
    pub message: String,
}

/// The result of `ptd verify`.
#[derive(Clone, Debug, Serialize)]
pub struct Verified {
    pub checked: usize,
    pub files: usize,
    pub problems: Vec<Problem>,
}

/// `ptd verify`: re-hashes every installed archive, every extracted file (against its
/// manifest and the content hash) and every symbolic DAG in the cache tier; parses each bundle's
/// graph and DAG and checks them as installing does (the graph gives the recorded hashes, the DAG
/// belongs to the graph); checks that the evaluator beside them is ptd's module with the tables
/// of that DAG; and that tier 1 holds, under each installed graph's hash, the DAG of a version
/// installed with that graph.
pub fn verify(ctx: &Context) -> Result<Verified> {
    let installed = list(ctx)?;
    let mut problems = Vec::new();
    let mut files = 0;
    // The DAGs installed versions hold, by graph: what tier 1 may hold under each hash.
    let mut dags: std::collections::HashMap<String, std::collections::HashSet<String>> =
        Default::default();
    let mut manifests = Vec::new();
    for i in &installed {
        let mpath = ctx.home.bundle_dir(&i.content_hash).join("manifest.json");
        let manifest = std::fs::read(&mpath)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice::<Manifest>(&b).map_err(|e| e.to_string()));
        if let Ok(m) = &manifest
            && let Some(f) = m
                .files
                .iter()
                .find(|f| f.path == crate::bundle::dag_file(m))
        {
            dags.entry(i.phasic_hash.clone())
                .or_default()
                .insert(f.sha256.clone());
        }
        manifests.push((mpath, manifest));
    }
    for (i, (mpath, manifest)) in installed.iter().zip(manifests) {
        let mut problem = |path: &std::path::Path, message: String| {
            problems.push(Problem {
                name: i.name.clone(),
                version: i.version.to_string(),
                path: path.display().to_string(),
                message,
            })
        };
        let archive = ctx.home.archive_path(&i.archive_sha256);
        files += 1;
        match sha256_file(&archive) {
            Ok(h) if h == i.archive_sha256 => {}
            Ok(h) => problem(
                &archive,
                format!("SHA-256 is {h}, expected {}", i.archive_sha256),
            ),
            Err(e) => problem(&archive, e.to_string()),
        }
        let dir = ctx.home.bundle_dir(&i.content_hash);
        let manifest = match manifest {
            Ok(m) => m,
            Err(e) => {
                problem(&mpath, e);
                continue;
            }
        };
        if crate::bundle::content_hash(&manifest.files).as_deref() != Some(&i.content_hash) {
            problem(
                &mpath,
                "the manifest's files do not give the installed content hash".into(),
            );
        }
        // The data files (an older bundle's generated module is neither kept nor run).
        let mut data = vec![("manifest.json".to_string(), Vec::new())];
        let mut whole = true;
        for f in manifest
            .files
            .iter()
            .filter(|f| crate::bundle::is_data_file(&f.path))
        {
            let p = dir.join(&f.path);
            files += 1;
            match std::fs::read(&p) {
                Ok(b) if crate::fs::sha256_hex(&b) == f.sha256 => data.push((f.path.clone(), b)),
                Ok(b) => {
                    whole = false;
                    problem(
                        &p,
                        format!(
                            "SHA-256 is {}, the manifest says {}",
                            crate::fs::sha256_hex(&b),
                            f.sha256
                        ),
                    )
                }
                Err(e) => {
                    whole = false;
                    problem(&p, e.to_string())
                }
            }
        }
        let paths: Vec<&str> = data[1..].iter().map(|(p, _)| p.as_str()).collect();
        let payload = [crate::bundle::PAYLOAD, crate::bundle::PAYLOAD_JSON];
        if whole
            && payload.iter().any(|p| paths.starts_with(p))
            && paths.len() <= crate::bundle::PAYLOAD.len() + 1
        {
            let name = dir.display().to_string();
            match crate::bundle::check_files(&manifest, &data, &name, crate::fs::random_u64()) {
                Ok((_, graph, symbolic, _)) => {
                    // The evaluator is derived on first use: none is fine, any file of it there
                    // must be what this ptd derives.
                    let derived = [crate::jax::EVALUATOR, crate::jax::EVALUATOR_TABLES]
                        .iter()
                        .any(|f| dir.join(f).exists());
                    let evaluator = if derived {
                        Vec::from(crate::install::evaluator_files(
                            &manifest, &graph, &symbolic,
                        ))
                    } else {
                        Vec::new()
                    };
                    for (file, want) in evaluator {
                        let p = dir.join(file);
                        files += 1;
                        if std::fs::read(&p).ok().as_deref() != Some(want.as_slice()) {
                            problem(
                                &p,
                                "not ptd's evaluator for this DAG (missing, altered, or written by another ptd); `ptd cache verify --repair` rewrites it".into(),
                            );
                        }
                    }
                    if manifest.hashes.phasic != i.phasic_hash {
                        problem(
                            &mpath,
                            "the graph's phasic hash is not the one the version was recorded under"
                                .into(),
                        );
                    }
                }
                Err(e) => problem(&dir, e.to_string()),
            }
        }
        let dag_file = crate::bundle::dag_file(&manifest);
        let sym = ctx.home.tier1_dag_for(&i.phasic_hash, dag_file);
        files += 1;
        let owned = dags.get(&i.phasic_hash);
        match sha256_file(&sym) {
            Ok(h) if owned.is_some_and(|o| o.contains(&h)) => {}
            Ok(h) => problem(
                &sym,
                format!(
                    "SHA-256 is {h}: not the DAG of any installed version of this graph (the bundle's is {})",
                    manifest
                        .files
                        .iter()
                        .find(|f| f.path == dag_file)
                        .map_or("missing", |f| f.sha256.as_str())
                ),
            ),
            Err(e) => problem(&sym, e.to_string()),
        }
    }
    // What no installed version owns must still be whole: archives are renamed into the store
    // only after their SHA-256 was checked, bundle directories only once complete.
    let owned_archives: std::collections::HashSet<&str> = installed
        .iter()
        .map(|i| i.archive_sha256.as_str())
        .collect();
    let owned_bundles: std::collections::HashSet<&str> =
        installed.iter().map(|i| i.content_hash.as_str()).collect();
    let mut stray = |path: &std::path::Path, message: String| {
        problems.push(Problem {
            name: String::new(),
            version: String::new(),
            path: path.display().to_string(),
            message,
        })
    };
    for e in std::fs::read_dir(ctx.home.archives())
        .into_iter()
        .flatten()
        .flatten()
    {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(sha) = name.strip_suffix(".ptd.tar.zst") else {
            continue;
        };
        if owned_archives.contains(sha) {
            continue;
        }
        files += 1;
        match sha256_file(&p) {
            Ok(h) if h == sha => {}
            Ok(h) => stray(
                &p,
                format!("a stored archive whose SHA-256 is {h}, not its name"),
            ),
            Err(e) => stray(&p, e.to_string()),
        }
    }
    for e in std::fs::read_dir(ctx.home.bundles())
        .into_iter()
        .flatten()
        .flatten()
    {
        let dir = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if owned_bundles.contains(name.as_str()) || !dir.is_dir() {
            continue;
        }
        let whole = std::fs::read(dir.join("manifest.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Manifest>(&b).ok())
            .filter(|m| m.content_hash == name)
            .is_some_and(|m| {
                m.files
                    .iter()
                    .filter(|f| crate::bundle::is_data_file(&f.path))
                    .all(|f| {
                        files += 1;
                        sha256_file(&dir.join(&f.path)).is_ok_and(|h| h == f.sha256)
                    })
            });
        if !whole {
            stray(
                &dir,
                "a partial bundle directory that no installed version owns".into(),
            );
        }
    }
    Ok(Verified {
        checked: installed.len(),
        files,
        problems,
    })
}

/// Installed versions matching `query`: `NAME[@REQ]` (the name validated like every model
/// name) or a hash prefix of at least 8 hex digits; newest first.
/// For a family, `variants` keeps the members with those values.
pub fn find_installed(
    ctx: &Context,
    query: &str,
    variants: &crate::model::Requested,
) -> Result<Vec<crate::cache::Found>> {
    let is_hash = query.len() >= 8 && query.chars().all(|c| c.is_ascii_hexdigit());
    if !is_hash {
        requirement(query)?;
    }
    Ok(crate::cache::find_member(&ctx.home, query, variants)?)
}

/// Parses `NAME[@REQ]` for commands.
pub fn requirement(spec: &str) -> Result<Requirement> {
    Requirement::parse(spec).map_err(Error::from)
}
