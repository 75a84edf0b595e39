//! Projects: resolving `ptd.toml` into `ptd.lock` and installing exactly what the lock pins.

use super::install::{Item, install_entries};
use super::{Context, Opened};
use crate::index::IndexEntry;
use crate::install::db::Db;
use crate::project::{LockedModel, Lockfile, Project};
use crate::resolve::{Requirement, resolve};
use crate::{Error, Result};
use serde::Serialize;
use std::collections::BTreeMap;

/// What to re-resolve.
#[derive(Clone, Debug, PartialEq)]
pub enum Update {
    /// Keep every locked version that still satisfies `ptd.toml`.
    Nothing,
    /// Pick the newest versions of these models (and of everything if the list is empty).
    Models(Vec<String>),
}

/// A change between two lockfiles.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Change {
    pub name: String,
    pub registry: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.from, &self.to) {
            (None, Some(t)) => write!(f, "add {} {t}", self.name),
            (Some(o), None) => write!(f, "remove {} {o}", self.name),
            (Some(o), Some(t)) if o == t => write!(f, "re-pin {} {t}", self.name),
            (Some(o), Some(t)) => write!(f, "{} {o} -> {t}", self.name),
            (None, None) => write!(f, "{}", self.name),
        }
    }
}

/// The result of locking.
#[derive(Clone, Debug)]
pub struct Locked {
    pub lock: Lockfile,
    pub changes: Vec<Change>,
    /// The lock was re-resolved (as opposed to read and found fresh).
    pub resolved: bool,
}

fn changes(old: Option<&Lockfile>, new: &Lockfile) -> Vec<Change> {
    let key = |m: &LockedModel| (m.name.clone(), m.registry.clone());
    let before: BTreeMap<_, _> = old
        .map(|l| l.models.iter().map(|m| (key(m), m)).collect())
        .unwrap_or_default();
    let after: BTreeMap<_, _> = new.models.iter().map(|m| (key(m), m)).collect();
    let mut out = Vec::new();
    for (k, m) in &after {
        match before.get(k) {
            Some(o) if o == m => {}
            o => out.push(Change {
                name: k.0.clone(),
                registry: k.1.clone(),
                from: o.map(|o| o.version.to_string()),
                to: Some(m.version.to_string()),
            }),
        }
    }
    for (k, o) in &before {
        if !after.contains_key(k) {
            out.push(Change {
                name: k.0.clone(),
                registry: k.1.clone(),
                from: Some(o.version.to_string()),
                to: None,
            });
        }
    }
    out
}

/// Whether a lock was made from exactly these requirements (then it needs no resolution).
pub fn is_fresh(project: &Project, lock: &Lockfile) -> bool {
    lock.requirements == project.requirements()
}

/// Checks that every model `ptd update NAME...` names is required by `ptd.toml` or locked.
pub fn check_update_names(project: &Project, names: &[String]) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let locked = Lockfile::read(&project.lock_path())?;
    for n in names {
        if !project.dependencies.contains_key(n)
            && !locked
                .as_ref()
                .is_some_and(|l| l.models.iter().any(|m| &m.name == n))
        {
            return Err(Error::Usage(format!(
                "{n} is neither required by ptd.toml nor in ptd.lock"
            )));
        }
    }
    Ok(())
}

/// Resolves the project (keeping locked versions unless asked to update them) and writes
/// `ptd.lock` if it changed. With `locked`, a lock that would change is an error and nothing is
/// written. Returns the registries it opened, for installing.
pub async fn lock(
    ctx: &Context,
    project: &Project,
    update: &Update,
    locked: bool,
) -> Result<(Locked, Vec<Opened>)> {
    let path = project.lock_path();
    let old = Lockfile::read(&path)?;
    if let Some(old) = &old
        && *update == Update::Nothing
        && is_fresh(project, old)
    {
        return Ok((
            Locked {
                lock: old.clone(),
                changes: Vec::new(),
                resolved: false,
            },
            Vec::new(),
        ));
    }
    // Group the requirements by registry; each registry is resolved on its own.
    let mut groups: BTreeMap<String, Vec<Requirement>> = BTreeMap::new();
    for (name, d) in &project.dependencies {
        let label = ctx.registry_label(Some(&d.registry))?;
        groups.entry(label).or_default().push(Requirement {
            name: name.clone(),
            req: d.req.clone(),
            variants: d.variants.clone(),
        });
    }
    let mut models: Vec<LockedModel> = Vec::new();
    let mut opened = Vec::new();
    let mut owner: BTreeMap<String, String> = BTreeMap::new();
    for (label, roots) in &groups {
        let o = ctx.open(Some(label)).await?;
        let mut prefs = old.as_ref().map(|l| l.versions(label)).unwrap_or_default();
        match update {
            Update::Nothing => {}
            Update::Models(names) if names.is_empty() => prefs.clear(),
            Update::Models(names) => {
                for n in names {
                    prefs.remove(n);
                }
            }
        }
        let resolved = resolve(&o.registry, roots, &prefs).await?;
        for (name, mut e) in resolved {
            if let Some(other) = owner.insert(name.clone(), label.clone()) {
                return Err(Error::Usage(format!(
                    "{name} would come from two registries ({other} and {label}); a project takes each model from one registry"
                )));
            }
            // A version that stays locked must still be the same bytes.
            let prev = old.as_ref().and_then(|l| {
                l.models.iter().find(|m| {
                    m.name == name
                        && m.registry == *label
                        && m.version == e.version
                        && m.variants == e.variants
                })
            });
            if let Some(prev) = prev
                && !prev.matches(&e)
            {
                return Err(Error::Usage(format!(
                    "{name} {} in registry {label} no longer matches ptd.lock (archive {} there, {} locked): the registry changed a published version; investigate before trusting it",
                    e.version, e.sha256, prev.sha256
                )));
            }
            if e.needs_build() {
                // A member built here is pinned by the bytes its build gives: those the lock
                // holds, or else those of building it now.
                let pinned = match prev {
                    Some(p) => p.clone(),
                    None => {
                        let item = super::install::install_entries(ctx, &o, &[e.clone()])
                            .await?
                            .remove(0);
                        e.sha256 = item.archive_sha256;
                        e.content_hash = item.content_hash;
                        e.phasic_hash = item.phasic_hash;
                        let path = ctx.home.archive_path(&e.sha256);
                        e.size = std::fs::metadata(&path)
                            .map_err(|err| Error::io(&path, err))?
                            .len();
                        LockedModel::from_entry(&e, label)
                    }
                };
                models.push(pinned);
                continue;
            }
            models.push(LockedModel::from_entry(&e, label));
        }
        opened.push(o);
    }
    let new = Lockfile::new(project.requirements(), models);
    let ch = changes(old.as_ref(), &new);
    let differs = old.as_ref() != Some(&new);
    if differs && locked {
        let what = if ch.is_empty() {
            "its requirements section".to_string()
        } else {
            ch.iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(Error::Usage(format!(
            "{} needs to change ({what}) but --locked was given; run `ptd lock` and commit the result",
            path.display()
        )));
    }
    if differs {
        new.write(&path)?;
    }
    Ok((
        Locked {
            lock: new,
            changes: ch,
            resolved: true,
        },
        opened,
    ))
}

/// Whether everything the lock pins is installed and in place (no registry is consulted); if
/// so, the uses are recorded with the project's lockfile (one line in the log of uses).
fn all_installed(ctx: &Context, lock: &Lockfile, lock_path: &str) -> Result<Option<Vec<Item>>> {
    if lock.models.is_empty() {
        return Ok(Some(Vec::new()));
    }
    if !ctx.home.db_path().is_file() {
        return Ok(None);
    }
    let db = Db::open(&ctx.home.db_path())?;
    let mut items = Vec::new();
    let mut uses = Vec::new();
    for m in &lock.models {
        let Some(i) = db.get(
            &m.name,
            &m.version.to_string(),
            &m.variants.key(),
            &m.registry,
        )?
        else {
            return Ok(None);
        };
        let symbolic = ctx.home.tier1_dag(&m.phasic_hash);
        let in_place = i.archive_sha256 == m.sha256
            && i.content_hash == m.content_hash
            && ctx.home.archive_path(&m.sha256).is_file()
            && ctx
                .home
                .bundle_dir(&m.content_hash)
                .join("manifest.json")
                .is_file()
            && symbolic.is_file();
        if !in_place {
            return Ok(None);
        }
        uses.push(i.use_key());
        items.push(Item {
            name: i.name,
            version: i.version,
            variants: i.variants,
            built: i.built,
            registry: i.registry,
            archive_sha256: i.archive_sha256,
            content_hash: i.content_hash,
            phasic_hash: i.phasic_hash,
            action: super::install::Action::Installed,
            origin: "already installed".into(),
            symbolic: symbolic.display().to_string(),
            jax_files: 0,
            jax_note: None,
            tier1_note: None,
            phasic_files: 0,
        });
    }
    db.log_hits(&uses, &crate::install::now_rfc3339(), Some(lock_path))?;
    Ok(Some(items))
}

/// `ptd install` in a project: lock (see [`lock`]), then install exactly the locked versions.
/// With a fresh lock and everything installed, no registry is opened.
pub async fn install(
    ctx: &Context,
    project: &Project,
    locked: bool,
) -> Result<(Locked, Vec<Item>)> {
    let (l, mut opened) = lock(ctx, project, &Update::Nothing, locked).await?;
    let lock_path = std::fs::canonicalize(project.lock_path())
        .unwrap_or_else(|_| project.lock_path())
        .display()
        .to_string();
    if let Some(items) = all_installed(ctx, &l.lock, &lock_path)? {
        return Ok((l, items));
    }
    let mut by_registry: BTreeMap<&str, Vec<&LockedModel>> = BTreeMap::new();
    for m in &l.lock.models {
        by_registry.entry(&m.registry).or_default().push(m);
    }
    let mut items = Vec::new();
    for (label, models) in by_registry {
        let pos = match opened.iter().position(|o| o.label == label) {
            Some(p) => p,
            None => {
                opened.push(ctx.open(Some(label)).await?);
                opened.len() - 1
            }
        };
        let o = &opened[pos];
        let mut entries: Vec<IndexEntry> = Vec::new();
        for m in models {
            let all = o.registry.entries(&m.name).await?;
            let e = m
                .entry(all)
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "ptd.lock pins {} {} but registry {label} no longer lists it; run `ptd update {}`",
                        m.name, m.version, m.name
                    ))
                })?;
            if !m.matches(&e) {
                return Err(Error::Usage(format!(
                    "{} {} in registry {label} no longer matches ptd.lock (archive {} there, {} locked): refusing to install different bytes",
                    m.name, m.version, e.sha256, m.sha256
                )));
            }
            entries.push(e);
        }
        items.extend(install_entries(ctx, o, &entries).await?);
    }
    ctx.home
        .open_db()?
        .note_project(&lock_path, &crate::install::now_rfc3339())?;
    Ok((l, items))
}
