//! `ptd cache`: info, gc with the configured defaults, verify and repair.

use super::Context;
use super::query::{Problem, verify};
use crate::cache::{self, GcReport, Limits};
use crate::install::db::Db;
use crate::{Error, Result};
use serde::Serialize;

/// Limits from the command line, else from `[cache]` in `$PTD_HOME/config.toml`.
pub fn limits(
    ctx: &Context,
    max_size: Option<&str>,
    max_age: Option<&str>,
    force: bool,
    dry_run: bool,
) -> Result<Limits> {
    let size = max_size.or(ctx.config.cache.max_size.as_deref());
    let age = max_age.or(ctx.config.cache.max_age.as_deref());
    if size.is_none() && age.is_none() {
        return Err(Error::Usage(
            "give --max-size and/or --max-age (or set [cache] max-size / max-age in $PTD_HOME/config.toml)"
                .into(),
        ));
    }
    Ok(Limits {
        max_size: size.map(cache::parse_size).transpose()?,
        max_age: age
            .map(|a| {
                humantime::parse_duration(a)
                    .map_err(|e| Error::Usage(format!("max-age '{a}': {e} (e.g. 30days, 12h)")))
            })
            .transpose()?,
        force,
        dry_run,
    })
}

pub fn gc(ctx: &Context, limits: &Limits) -> Result<GcReport> {
    Ok(cache::gc(&ctx.home, limits)?)
}

/// What `ptd cache verify` found and, with repair, did.
#[derive(Clone, Debug, Serialize)]
pub struct VerifyReport {
    pub checked: usize,
    pub files: usize,
    pub problems: Vec<Problem>,
    /// Versions removed and installed again.
    pub repaired: Vec<String>,
    /// Stale temporaries that interrupted writes left (removed with repair): they damage
    /// nothing installed, so they are not problems.
    pub leftovers: Vec<cache::leftovers::Leftover>,
}

/// Re-hashes everything; with `repair`, evicts each damaged version and installs it again from
/// its registry (downloaded, or rebuilt for the default registry), verified as any install.
/// Stale temporaries are listed, and removed with `repair`.
pub async fn verify_and_repair(ctx: &Context, repair: bool) -> Result<VerifyReport> {
    let leftovers = cache::leftovers::clean(&ctx.home, !repair)?;
    let v = verify(ctx)?;
    let mut repaired = Vec::new();
    if repair {
        for l in &leftovers {
            repaired.push(format!("removed {} (a stale temporary)", l.path));
        }
    }
    if repair && !v.problems.is_empty() {
        let db = Db::open(&ctx.home.db_path())?;
        let mut damaged: Vec<(String, String)> = v
            .problems
            .iter()
            .map(|p| (p.name.clone(), p.version.clone()))
            .collect();
        damaged.sort();
        damaged.dedup();
        // A tier-1 DAG that is not an installed version's, and an evaluator that is not ptd's,
        // are removed: installing again places the version's own (an install never replaces a
        // tier-1 entry by itself).
        let sym = ctx.home.symbolic();
        for p in &v.problems {
            let path = std::path::Path::new(&p.path);
            let derived = path
                .file_name()
                .is_some_and(|f| f == crate::jax::EVALUATOR || f == crate::jax::EVALUATOR_TABLES);
            if path.parent() == Some(sym.as_path()) {
                cache::remove_path(&ctx.home, path)?;
                cache::remove_path(&ctx.home, &path.with_extension("meta"))?;
            } else if derived {
                cache::remove_path(&ctx.home, path)?;
            }
        }
        // What no installed version owns is removed: a later install fetches it again.
        for p in v.problems.iter().filter(|p| p.name.is_empty()) {
            cache::remove_path(&ctx.home, std::path::Path::new(&p.path))?;
            repaired.push(format!("removed {}", p.path));
        }
        for (name, version) in damaged.into_iter().filter(|(n, _)| !n.is_empty()) {
            let rows: Vec<_> = db
                .list()?
                .into_iter()
                .filter(|i| i.name == name && i.version.to_string() == version)
                .collect();
            for i in rows {
                cache::evict(&ctx.home, &db, &i)?;
                // The exact version, yanked or not, from the registry it came from.
                let opened = ctx.open(Some(&i.registry)).await?;
                let lines = opened.registry.entries(&i.name).await?;
                // A member built here is built again, and must give the same bytes.
                let entry = if i.built {
                    crate::index::IndexEntry::to_rebuild(
                        &lines,
                        &i.version,
                        &i.variants,
                        (&i.archive_sha256, i.size, &i.content_hash, &i.phasic_hash),
                    )
                } else {
                    lines
                        .iter()
                        .find(|e| e.version == i.version && e.content_hash == i.content_hash)
                        .cloned()
                };
                let entry = entry.ok_or_else(|| {
                        Error::Usage(format!(
                            "{} {} is damaged and registry {} no longer lists it with the same content: it was removed; install another version",
                            i.name, i.version, i.registry
                        ))
                    })?;
                super::install::install_entries(ctx, &opened, &[entry]).await?;
                repaired.push(i.label());
            }
        }
    }
    let after = if repaired.is_empty() { v } else { verify(ctx)? };
    Ok(VerifyReport {
        checked: after.checked,
        files: after.files,
        problems: after.problems,
        repaired,
        leftovers,
    })
}

/// `ptd cache export FILE [QUERY...]`.
pub fn export(
    ctx: &Context,
    file: &std::path::Path,
    queries: &[String],
    signer: &crate::sign::Signer,
) -> Result<cache::transfer::ExportManifest> {
    let mut chosen = Vec::new();
    if !queries.is_empty() {
        let db = Db::open(&ctx.home.db_path())?;
        let all = db.list()?;
        for q in queries {
            let found = super::query::find_installed(ctx, q, &Default::default())?;
            if found.is_empty() {
                return Err(Error::Usage(format!("nothing installed matches '{q}'")));
            }
            for f in found {
                if let Some(i) = all.iter().find(|i| {
                    i.name == f.name
                        && i.version == f.version
                        && i.variants == f.variants
                        && i.registry == f.registry
                }) && !chosen.contains(i)
                {
                    chosen.push(i.clone());
                }
            }
        }
    }
    Ok(cache::transfer::export(&ctx.home, &chosen, file, signer)?)
}

/// `ptd cache import FILE --trust KEY...`.
pub fn import(
    ctx: &Context,
    file: &std::path::Path,
    trust: &[String],
) -> Result<Vec<crate::install::db::Installed>> {
    let mut keys = Vec::new();
    for t in trust {
        let text = if std::path::Path::new(t).is_file() {
            std::fs::read_to_string(t).map_err(|e| Error::io(t, e))?
        } else {
            t.clone()
        };
        keys.push(crate::sign::TrustedKey::parse(&text)?);
    }
    Ok(cache::transfer::import(&ctx.home, file, &keys)?)
}

/// `ptd cache sync FROM`: FROM is another ptd home (a directory), or `s3://bucket/prefix`
/// holding one (its `ptd.db` is read from the bucket; the endpoint and region default to
/// `[cache] shared-endpoint` / `shared-region`). S3 requests run on `rt`.
pub fn sync(
    ctx: &Context,
    rt: &tokio::runtime::Runtime,
    from: &str,
    endpoint: Option<&str>,
    region: Option<&str>,
) -> Result<cache::transfer::SyncReport> {
    let layer = crate::install::SharedLayer::parse(
        from,
        endpoint.or(ctx.config.cache.shared_endpoint.as_deref()),
        region.or(ctx.config.cache.shared_region.as_deref()),
    );
    let bucket = match (&layer, layer.bucket()) {
        (crate::install::SharedLayer::Dir(d), _) => {
            return Ok(cache::transfer::sync(&ctx.home, d)?);
        }
        (_, Some(b)) => b?,
        (_, None) => unreachable!("an s3 layer has a bucket"),
    };
    let db_key = layer.key("ptd.db");
    let db_bytes = rt.block_on(bucket.get(&db_key))?.ok_or_else(|| {
        Error::Usage(format!(
            "{}: not a ptd home (no ptd.db)",
            bucket.describe(&db_key)
        ))
    })?;
    let tmp = tempfile::NamedTempFile::new().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    std::fs::write(tmp.path(), &db_bytes).map_err(|e| Error::io(tmp.path(), e))?;
    let theirs = Db::open(tmp.path())?.list()?;
    Ok(cache::transfer::sync_from(
        &ctx.home,
        theirs,
        &layer.describe(),
        |i| {
            let key = layer.key(&format!("archives/{}.ptd.tar.zst", i.archive_sha256));
            match rt.block_on(bucket.get(&key)) {
                Ok(Some(b)) => Ok(b),
                Ok(None) => Err(format!("{}: not found", bucket.describe(&key))),
                Err(e) => Err(e.to_string()),
            }
        },
    )?)
}
