//! What is installed, summarised and looked up: `ptd cache info` ([`info`]) and finding
//! installed versions by name or hash ([`find`]).

use super::{CacheError, leftovers, rfc3339};
use crate::install::Home;
use crate::install::db::{Db, SymbolicIndex};
use crate::model::{Requested, Variants};
use serde::Serialize;

/// One tier's figures.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TierInfo {
    pub dir: String,
    pub entries: u64,
    pub bytes: u64,
    pub hits: u64,
    pub misses: u64,
    pub oldest_use: Option<String>,
    pub newest_use: Option<String>,
}

/// `ptd cache info`.
#[derive(Clone, Debug, Serialize)]
pub struct Info {
    /// Archives and extracted bundles under `$PTD_HOME`.
    pub store: TierInfo,
    /// Tier 1: symbolic DAGs under `$PHASIC_CACHE_DIR/symbolic`.
    pub symbolic: TierInfo,
    /// Tier 2: `$JAX_COMPILATION_CACHE_DIR`.
    pub jax: TierInfo,
    /// Projects whose lockfiles pin versions.
    pub projects: Vec<String>,
    /// The read-only shared layer, if configured.
    pub shared: Option<String>,
    /// Temporaries that interrupted writes left and no process is using
    /// ([`leftovers`]); `ptd cache gc` and `ptd cache verify --repair` remove them.
    pub leftovers: leftovers::LeftoverSummary,
}

/// Summarises the store and both tiers.
pub fn info(home: &Home) -> Result<Info, CacheError> {
    let mut store = TierInfo {
        dir: home.root.display().to_string(),
        ..Default::default()
    };
    let mut projects = Vec::new();
    let mut stats = Vec::new();
    if home.db_path().is_file() {
        let db = Db::open(&home.db_path())?;
        (
            store.entries,
            store.bytes,
            store.oldest_use,
            store.newest_use,
        ) = db.summary()?;
        projects = db.projects()?;
        stats = db.stats()?;
    }
    let stat = |tier: &str| {
        stats
            .iter()
            .find(|(t, ..)| t == tier)
            .map(|(_, h, m)| (*h, *m))
            .unwrap_or((0, 0))
    };
    (store.hits, store.misses) = stat("store");
    let sym_dir = home.symbolic();
    let mut symbolic = TierInfo {
        dir: sym_dir.display().to_string(),
        ..Default::default()
    };
    if sym_dir.join("index.db").is_file() {
        let idx = SymbolicIndex::open(&sym_dir.join("index.db"))?;
        let (n, bytes, oldest, newest) = idx.summary()?;
        (symbolic.entries, symbolic.bytes) = (n, bytes);
        (symbolic.oldest_use, symbolic.newest_use) = (oldest, newest);
    }
    (symbolic.hits, symbolic.misses) = stat("symbolic");
    let mut jax = TierInfo {
        dir: home.jax_cache.display().to_string(),
        ..Default::default()
    };
    if let Ok(rd) = std::fs::read_dir(&home.jax_cache) {
        let mut times = Vec::new();
        for e in rd.flatten() {
            if let Ok(m) = e.metadata()
                && m.is_file()
            {
                jax.entries += 1;
                jax.bytes += m.len();
                if let Ok(t) = m.accessed().or_else(|_| m.modified()) {
                    times.push(t);
                }
            }
        }
        jax.oldest_use = times.iter().min().map(|t| rfc3339(*t));
        jax.newest_use = times.iter().max().map(|t| rfc3339(*t));
    }
    (jax.hits, jax.misses) = stat("jax");
    Ok(Info {
        store,
        symbolic,
        jax,
        projects,
        shared: home.shared.as_ref().map(|l| l.describe()),
        leftovers: leftovers::summary(home)?,
    })
}

/// An installed version found by [`find`].
#[derive(Clone, Debug, Serialize)]
pub struct Found {
    pub name: String,
    pub version: semver::Version,
    /// For a member of a family: its variant values.
    #[serde(skip_serializing_if = "Variants::is_empty")]
    pub variants: Variants,
    pub registry: String,
    pub content_hash: String,
    pub phasic_hash: String,
    /// The symbolic DAG in tier 1.
    pub dag: String,
    /// The extracted bundle.
    pub bundle: String,
}

/// Finds installed versions by `NAME`, `NAME@REQ`, or a hash prefix (content or phasic hash, at
/// least 8 hex digits); newest version first.
pub fn find(home: &Home, query: &str) -> Result<Vec<Found>, CacheError> {
    find_member(home, query, &Requested::new())
}

/// `NAME[@REQ] k=v ...` as the user wrote it, for messages.
pub fn query_words(query: &str, variants: &Requested) -> String {
    let mut out = query.to_string();
    for (k, v) in variants {
        out.push_str(&format!(" {k}={v}"));
    }
    out
}

/// The newest of `found` (newest first, as [`find_member`] gives them), when one version has
/// one member found; several members of the newest version are ambiguous, and the error
/// lists them (`shown` is the query).
pub fn newest_one(found: Vec<Found>, shown: &str) -> Result<Option<Found>, CacheError> {
    let Some(first) = found.first() else {
        return Ok(None);
    };
    let same: Vec<&Found> = found
        .iter()
        .filter(|f| {
            f.name == first.name && f.version == first.version && f.registry == first.registry
        })
        .collect();
    if same.len() > 1 {
        return Err(CacheError::Invalid(format!(
            "'{shown}' names {} installed members of {} {}: {}; add the variant settings of the one you mean",
            same.len(),
            first.name,
            first.version,
            same.iter()
                .map(|f| f.variants.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(found.into_iter().next())
}

/// Like [`find`], keeping the members of families whose variant values include `variants`.
pub fn find_member(
    home: &Home,
    query: &str,
    variants: &Requested,
) -> Result<Vec<Found>, CacheError> {
    if !home.db_path().is_file() {
        return Ok(Vec::new());
    }
    let db = Db::open(&home.db_path())?;
    let is_hash = query.len() >= 8 && query.chars().all(|c| c.is_ascii_hexdigit());
    let rows = if is_hash {
        db.find(None, Some(query))?
    } else {
        let (name, req) = match query.split_once('@') {
            Some((n, r)) => (
                n,
                Some(semver::VersionReq::parse(r).map_err(|e| {
                    CacheError::Invalid(format!(
                        "'{query}': '{r}' is not a version requirement ({e})"
                    ))
                })?),
            ),
            None => (query, None),
        };
        db.find(Some(name), None)?
            .into_iter()
            .filter(|i| req.as_ref().is_none_or(|r| r.matches(&i.version)))
            .collect()
    };
    let rows: Vec<_> = rows
        .into_iter()
        .filter(|i| {
            variants
                .iter()
                .all(|(k, v)| i.variants.get(k).is_some_and(|have| have.same(v)))
        })
        .collect();
    Ok(rows
        .into_iter()
        .map(|i| Found {
            dag: home.tier1_dag(&i.phasic_hash).display().to_string(),
            bundle: home.bundle_dir(&i.content_hash).display().to_string(),
            name: i.name,
            version: i.version,
            variants: i.variants,
            registry: i.registry,
            content_hash: i.content_hash,
            phasic_hash: i.phasic_hash,
        })
        .collect())
}
