//! The SQLite database of what is installed (`$PTD_HOME/ptd.db`), in WAL mode so that several
//! `ptd` processes can read while one writes.

use crate::model::Variants;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct DbError {
    pub path: String,
    #[source]
    pub source: rusqlite::Error,
}

/// One installed model version.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Installed {
    pub name: String,
    pub version: semver::Version,
    /// For a member of a family: its variant values.
    #[serde(skip_serializing_if = "Variants::is_empty")]
    pub variants: Variants,
    pub registry: String,
    pub archive_sha256: String,
    pub content_hash: String,
    pub phasic_hash: String,
    pub canonical_hash: String,
    pub size: u64,
    pub installed_at: String,
    /// How the archive was obtained: a URL, or `rebuilt from <recipe>`.
    pub origin: String,
    /// Built on this machine from its family's signed recipe (the registry had not prebuilt
    /// it).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub built: bool,
}

/// What a use is recorded under: name, version, [`Variants::key`] and registry.
pub type UseKey = (String, String, String, String);

/// How an installed version is named in reports: `name version [registry]`, with a family
/// member's values after the version.
pub fn label(name: &str, version: &semver::Version, variants: &Variants, registry: &str) -> String {
    if variants.is_empty() {
        format!("{name} {version} [{registry}]")
    } else {
        format!("{name} {version} {variants} [{registry}]")
    }
}

impl Installed {
    /// How it is named in reports ([`label`]).
    pub fn label(&self) -> String {
        label(&self.name, &self.version, &self.variants, &self.registry)
    }

    /// The key its uses are recorded under.
    pub fn use_key(&self) -> UseKey {
        (
            self.name.clone(),
            self.version.to_string(),
            self.variants.key(),
            self.registry.clone(),
        )
    }
}

pub struct Db {
    conn: Connection,
    path: String,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS installed (
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    registry TEXT NOT NULL,
    archive_sha256 TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    phasic_hash TEXT NOT NULL,
    canonical_hash TEXT NOT NULL,
    size INTEGER NOT NULL,
    installed_at TEXT NOT NULL,
    origin TEXT NOT NULL,
    variant TEXT NOT NULL DEFAULT '',
    built INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (name, version, variant, registry)
);
CREATE INDEX IF NOT EXISTS installed_phasic ON installed(phasic_hash);
CREATE INDEX IF NOT EXISTS installed_content ON installed(content_hash);
CREATE INDEX IF NOT EXISTS installed_name ON installed(name);
CREATE TABLE IF NOT EXISTS usage (
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    registry TEXT NOT NULL,
    last_used TEXT NOT NULL,
    uses INTEGER NOT NULL,
    variant TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (name, version, variant, registry)
);
CREATE TABLE IF NOT EXISTS stats (
    tier TEXT PRIMARY KEY,
    hits INTEGER NOT NULL,
    misses INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sizes (
    content_hash TEXT PRIMARY KEY,
    bundle_bytes INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS projects (
    lock_path TEXT PRIMARY KEY,
    last_used TEXT NOT NULL
);
";

/// Tables whose rows are keyed by (name, version, registry) in databases written before
/// families: they gain a `variant` column (empty for every old row) and the key takes it.
const KEYED_BY_VERSION: [(&str, &str); 2] = [
    (
        "installed",
        "name, version, registry, archive_sha256, content_hash, phasic_hash, canonical_hash, size, installed_at, origin",
    ),
    ("usage", "name, version, registry, last_used, uses"),
];

/// Brings a database written before families to the current schema, in one transaction. A
/// no-op once done (and on a new database, which `SCHEMA` creates current).
fn add_variant_column(conn: &Connection) -> rusqlite::Result<()> {
    let has = |table: &str| -> rusqlite::Result<bool> {
        let mut st = conn.prepare(&format!("PRAGMA table_info({table})"))?;
        let names = st
            .query_map([], |r| r.get::<_, String>(1))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(names.iter().any(|n| n == "variant"))
    };
    if KEYED_BY_VERSION.iter().all(|(t, _)| has(t).unwrap_or(true)) {
        return Ok(());
    }
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let run = || -> rusqlite::Result<()> {
        for (table, _) in KEYED_BY_VERSION {
            if has(table)? {
                continue;
            }
            conn.execute_batch(&format!(
                "ALTER TABLE {table} RENAME TO {table}_before_variants;"
            ))?;
        }
        conn.execute_batch(SCHEMA)?;
        for (table, cols) in KEYED_BY_VERSION {
            let old = format!("{table}_before_variants");
            let exists: bool = conn.query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                params![old],
                |r| r.get::<_, i64>(0).map(|n| n > 0),
            )?;
            if exists {
                conn.execute_batch(&format!(
                    "INSERT INTO {table} ({cols}) SELECT {cols} FROM {old}; DROP TABLE {old};"
                ))?;
            }
        }
        Ok(())
    };
    match run() {
        Ok(()) => conn.execute_batch("COMMIT"),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// Entries, bytes, oldest and newest use.
pub type Summary = (u64, u64, Option<String>, Option<String>);

fn summary_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Summary> {
    Ok((
        r.get::<_, i64>(0)? as u64,
        r.get::<_, i64>(1)? as u64,
        r.get(2)?,
        r.get(3)?,
    ))
}

/// Opens a database shared by concurrent processes: WAL journal, a generous busy timeout, and
/// the schema created if missing. Switching a new database to WAL and creating its tables can
/// fail at once with "database is locked" when several processes do it together (SQLite does
/// not wait there), so that step holds a lock file beside the database.
fn connect(path: &Path, schema: &str) -> Result<(Connection, String), DbError> {
    let p = path.display().to_string();
    let err = |source| DbError {
        path: p.clone(),
        source,
    };
    let lock_path = path.with_extension("db.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .and_then(|f| {
            if crate::install::locks_enabled() {
                f.lock()?;
            }
            Ok(f)
        })
        .map_err(|e| {
            err(rusqlite::Error::InvalidPath(
                format!("{}: {e}", lock_path.display()).into(),
            ))
        })?;
    let conn = Connection::open(path).map_err(err)?;
    conn.busy_timeout(Duration::from_secs(60)).map_err(err)?;
    // Without the lock file, switching to WAL can meet "database is locked" at once: retry.
    let mut attempt = 0;
    loop {
        let setup = conn
            .pragma_update(None, "journal_mode", "WAL")
            .and_then(|()| conn.pragma_update(None, "synchronous", "NORMAL"))
            .and_then(|()| conn.execute_batch(schema));
        match setup {
            Ok(()) => break,
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy && attempt < 200 =>
            {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(err(e)),
        }
    }
    drop(lock);
    Ok((conn, p))
}

impl Db {
    pub fn open(path: &Path) -> Result<Db, DbError> {
        let (conn, path) = connect(path, SCHEMA)?;
        add_variant_column(&conn).map_err(|source| DbError {
            path: path.clone(),
            source,
        })?;
        Ok(Db { conn, path })
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> DbError + '_ {
        |source| DbError {
            path: self.path.clone(),
            source,
        }
    }

    pub fn record(&self, i: &Installed) -> Result<(), DbError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO installed (name, version, registry, archive_sha256, content_hash,
                 phasic_hash, canonical_hash, size, installed_at, origin, variant, built)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    i.name,
                    i.version.to_string(),
                    i.registry,
                    i.archive_sha256,
                    i.content_hash,
                    i.phasic_hash,
                    i.canonical_hash,
                    i.size as i64,
                    i.installed_at,
                    i.origin,
                    i.variants.key(),
                    i.built
                ],
            )
            .map_err(self.err())?;
        Ok(())
    }

    fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Installed> {
        Ok(Installed {
            name: r.get(0)?,
            version: {
                let text: String = r.get(1)?;
                semver::Version::parse(&text).map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(
                        1,
                        rusqlite::types::Type::Text,
                        e.into(),
                    )
                })?
            },
            registry: r.get(2)?,
            archive_sha256: r.get(3)?,
            content_hash: r.get(4)?,
            phasic_hash: r.get(5)?,
            canonical_hash: r.get(6)?,
            size: r.get::<_, i64>(7)? as u64,
            installed_at: r.get(8)?,
            origin: r.get(9)?,
            variants: {
                let text: String = r.get(10)?;
                Variants::from_key(&text).map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(
                        10,
                        rusqlite::types::Type::Text,
                        e.into(),
                    )
                })?
            },
            built: r.get(11)?,
        })
    }

    const COLS: &'static str = "name, version, registry, archive_sha256, content_hash, phasic_hash, canonical_hash, size, installed_at, origin, variant, built";

    pub fn list(&self) -> Result<Vec<Installed>, DbError> {
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT {} FROM installed ORDER BY name, version",
                Self::COLS
            ))
            .map_err(self.err())?;
        let rows = st.query_map([], Self::row).map_err(self.err())?;
        let mut out: Vec<Installed> = rows.collect::<Result<_, _>>().map_err(self.err())?;
        out.sort_by(|a, b| {
            a.name
                .cmp(&b.name)
                .then_with(|| a.version.cmp(&b.version))
                .then_with(|| a.variants.cmp_values(&b.variants))
        });
        Ok(out)
    }

    /// The installed version `name` `version` (the member `variant`, a [`Variants::key`], of a
    /// family) from `registry`.
    pub fn get(
        &self,
        name: &str,
        version: &str,
        variant: &str,
        registry: &str,
    ) -> Result<Option<Installed>, DbError> {
        self.conn
            .query_row(
                &format!(
                    "SELECT {} FROM installed WHERE name = ?1 AND version = ?2 AND registry = ?3 AND variant = ?4",
                    Self::COLS
                ),
                params![name, version, registry, variant],
                Self::row,
            )
            .optional()
            .map_err(self.err())
    }

    /// Records the bytes of an extracted bundle.
    pub fn record_size(&self, content_hash: &str, bundle_bytes: u64) -> Result<(), DbError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO sizes (content_hash, bundle_bytes) VALUES (?1, ?2)",
                params![content_hash, bundle_bytes as i64],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// The recorded bytes of every extracted bundle, by content hash.
    pub fn bundle_sizes(&self) -> Result<std::collections::HashMap<String, u64>, DbError> {
        let mut st = self
            .conn
            .prepare("SELECT content_hash, bundle_bytes FROM sizes")
            .map_err(self.err())?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// Installed versions, the store's bytes (archives + extracted bundles, each counted once),
    /// and the oldest and newest use, from the database alone.
    pub fn summary(&self) -> Result<Summary, DbError> {
        self.conn
            .query_row(
                "SELECT
                   (SELECT COUNT(*) FROM installed),
                   (SELECT COALESCE(SUM(size), 0) FROM (SELECT DISTINCT archive_sha256, size FROM installed))
                   + (SELECT COALESCE(SUM(s.bundle_bytes), 0) FROM sizes s
                      WHERE s.content_hash IN (SELECT content_hash FROM installed)),
                   (SELECT MIN(COALESCE(u.last_used, i.installed_at)) FROM installed i LEFT JOIN usage u
                      ON u.name = i.name AND u.version = i.version AND u.registry = i.registry AND u.variant = i.variant),
                   (SELECT MAX(COALESCE(u.last_used, i.installed_at)) FROM installed i LEFT JOIN usage u
                      ON u.name = i.name AND u.version = i.version AND u.registry = i.registry AND u.variant = i.variant)",
                [],
                summary_row,
            )
            .map_err(self.err())
    }

    /// The installed versions named `name` (newest first), or whose content, phasic or
    /// canonical hash starts with `hash_prefix`.
    pub fn find(
        &self,
        name: Option<&str>,
        hash_prefix: Option<&str>,
    ) -> Result<Vec<Installed>, DbError> {
        let (sql, arg) = match (name, hash_prefix) {
            (Some(n), _) => (
                format!("SELECT {} FROM installed WHERE name = ?1", Self::COLS),
                n.to_string(),
            ),
            (None, Some(h)) => (
                format!(
                    "SELECT {} FROM installed WHERE content_hash >= ?1 AND content_hash < ?1 || 'g'
                     UNION SELECT {} FROM installed WHERE phasic_hash >= ?1 AND phasic_hash < ?1 || 'g'",
                    Self::COLS,
                    Self::COLS
                ),
                h.to_ascii_lowercase(),
            ),
            (None, None) => return Ok(Vec::new()),
        };
        let mut st = self.conn.prepare_cached(&sql).map_err(self.err())?;
        let rows = st.query_map(params![arg], Self::row).map_err(self.err())?;
        let mut out: Vec<Installed> = rows.collect::<Result<_, _>>().map_err(self.err())?;
        out.sort_by(|a, b| b.version.cmp(&a.version));
        Ok(out)
    }

    /// Records a use of an installed version (for least-recently-used eviction).
    pub fn touch(&self, key: &UseKey, now: &str) -> Result<(), DbError> {
        let (name, version, variant, registry) = key;
        self.conn
            .execute(
                "INSERT INTO usage (name, version, registry, last_used, uses, variant) VALUES (?1, ?2, ?3, ?4, 1, ?5)
                 ON CONFLICT(name, version, variant, registry) DO UPDATE SET last_used = ?4, uses = uses + 1",
                params![name, version, registry, now, variant],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// Records, in one transaction, uses of installed versions found in the store (hits) and the
    /// project lockfile that asked for them.
    pub fn record_hits(
        &mut self,
        uses: &[UseKey],
        now: &str,
        project: Option<&str>,
    ) -> Result<(), DbError> {
        let path = self.path.clone();
        let err = |source| DbError {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        for (name, version, variant, registry) in uses {
            tx.execute(
                "INSERT INTO usage (name, version, registry, last_used, uses, variant) VALUES (?1, ?2, ?3, ?4, 1, ?5)
                 ON CONFLICT(name, version, variant, registry) DO UPDATE SET last_used = ?4, uses = uses + 1",
                params![name, version, registry, now, variant],
            )
            .map_err(err)?;
        }
        tx.execute(
            "INSERT INTO stats (tier, hits, misses) VALUES ('store', ?1, 0)
             ON CONFLICT(tier) DO UPDATE SET hits = hits + ?1",
            params![uses.len() as i64],
        )
        .map_err(err)?;
        if let Some(p) = project {
            tx.execute(
                "INSERT INTO projects (lock_path, last_used) VALUES (?1, ?2)
                 ON CONFLICT(lock_path) DO UPDATE SET last_used = ?2",
                params![p, now],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    /// Counts a hit (found in the cache) or a miss (fetched or rebuilt) for a tier.
    pub fn count(&self, tier: &str, hit: bool) -> Result<(), DbError> {
        let (h, m) = if hit { (1, 0) } else { (0, 1) };
        self.conn
            .execute(
                "INSERT INTO stats (tier, hits, misses) VALUES (?1, ?2, ?3)
                 ON CONFLICT(tier) DO UPDATE SET hits = hits + ?2, misses = misses + ?3",
                params![tier, h, m],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// Hits and misses per tier.
    pub fn stats(&self) -> Result<Vec<(String, u64, u64)>, DbError> {
        let mut st = self
            .conn
            .prepare("SELECT tier, hits, misses FROM stats ORDER BY tier")
            .map_err(self.err())?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get::<_, i64>(1)? as u64,
                    r.get::<_, i64>(2)? as u64,
                ))
            })
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// Remembers a project's lockfile, whose versions garbage collection keeps.
    pub fn note_project(&self, lock_path: &str, now: &str) -> Result<(), DbError> {
        self.conn
            .execute(
                "INSERT INTO projects (lock_path, last_used) VALUES (?1, ?2)
                 ON CONFLICT(lock_path) DO UPDATE SET last_used = ?2",
                params![lock_path, now],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// Lockfiles of the projects seen, most recent first.
    pub fn projects(&self) -> Result<Vec<String>, DbError> {
        let mut st = self
            .conn
            .prepare("SELECT lock_path FROM projects ORDER BY last_used DESC")
            .map_err(self.err())?;
        let rows = st.query_map([], |r| r.get(0)).map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// Forgets a project.
    pub fn forget_project(&self, lock_path: &str) -> Result<(), DbError> {
        self.conn
            .execute(
                "DELETE FROM projects WHERE lock_path = ?1",
                params![lock_path],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// Every installed version with its last use (its install time if never used since).
    pub fn with_last_use(&self) -> Result<Vec<(Installed, String)>, DbError> {
        let cols = Self::COLS
            .split(", ")
            .map(|c| format!("i.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT {cols}, COALESCE(u.last_used, i.installed_at) FROM installed i
                 LEFT JOIN usage u ON u.name = i.name AND u.version = i.version AND u.registry = i.registry AND u.variant = i.variant
                 ORDER BY 13, i.name"
            ))
            .map_err(self.err())?;
        let rows = st
            .query_map([], |r| Ok((Self::row(r)?, r.get::<_, String>(12)?)))
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// Removes an installed version's rows.
    pub fn remove(&self, i: &Installed) -> Result<(), DbError> {
        let (name, version, variant, registry) = i.use_key();
        for table in ["installed", "usage"] {
            self.conn
                .execute(
                    &format!(
                        "DELETE FROM {table} WHERE name = ?1 AND version = ?2 AND registry = ?3 AND variant = ?4"
                    ),
                    params![name, version, registry, variant],
                )
                .map_err(self.err())?;
        }
        Ok(())
    }

    /// How many installed versions use a content hash / a phasic hash.
    pub fn users(&self, column: &str, hash: &str) -> Result<u64, DbError> {
        let column = if column == "phasic_hash" {
            "phasic_hash"
        } else {
            "content_hash"
        };
        self.conn
            .query_row(
                &format!("SELECT COUNT(*) FROM installed WHERE {column} = ?1"),
                params![hash],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(self.err())
    }
}

const SYMBOLIC_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS cache_entries (
    hash_key TEXT PRIMARY KEY,
    file_path TEXT NOT NULL,
    created_at TEXT NOT NULL,
    accessed_at TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    vertices INTEGER,
    edges INTEGER,
    elimination_time_ms REAL,
    phasic_version TEXT,
    metadata TEXT
);
CREATE INDEX IF NOT EXISTS idx_accessed ON cache_entries(accessed_at);";

/// The symbolic tier's index (`$PHASIC_CACHE_DIR/symbolic/index.db`), with the schema of the
/// two-tier cache design.
pub struct SymbolicIndex {
    conn: Connection,
    path: String,
}

impl SymbolicIndex {
    pub fn open(path: &Path) -> Result<SymbolicIndex, DbError> {
        let (conn, path) = connect(path, SYMBOLIC_SCHEMA)?;
        Ok(SymbolicIndex { conn, path })
    }

    /// Removes an entry.
    pub fn remove(&self, hash: &str) -> Result<(), DbError> {
        self.conn
            .execute(
                "DELETE FROM cache_entries WHERE hash_key = ?1",
                params![hash],
            )
            .map_err(|source| DbError {
                path: self.path.clone(),
                source,
            })?;
        Ok(())
    }

    /// Entries, bytes, oldest and newest access.
    pub fn summary(&self) -> Result<Summary, DbError> {
        self.conn
            .query_row(
                "SELECT COUNT(*), COALESCE(SUM(size_bytes), 0), MIN(accessed_at), MAX(accessed_at) FROM cache_entries",
                [],
                summary_row,
            )
            .map_err(|source| DbError {
                path: self.path.clone(),
                source,
            })
    }

    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &self,
        hash: &str,
        file: &Path,
        now: &str,
        size: u64,
        vertices: usize,
        edges: usize,
        metadata: &str,
    ) -> Result<(), DbError> {
        self.conn
            .execute(
                "INSERT INTO cache_entries (hash_key, file_path, created_at, accessed_at, size_bytes,
                   vertices, edges, elimination_time_ms, phasic_version, metadata)
                 VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6, NULL, NULL, ?7)
                 ON CONFLICT(hash_key) DO UPDATE SET file_path = ?2, accessed_at = ?3, size_bytes = ?4,
                   vertices = ?5, edges = ?6, metadata = ?7",
                params![hash, file.display().to_string(), now, size as i64, vertices as i64, edges as i64, metadata],
            )
            .map_err(|source| DbError {
                path: self.path.clone(),
                source,
            })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, variants: &str) -> Installed {
        Installed {
            name: name.into(),
            version: semver::Version::new(1, 1, 0),
            variants: Variants::from_key(variants).unwrap(),
            registry: "default".into(),
            archive_sha256: "a".repeat(64),
            content_hash: "c".repeat(64),
            phasic_hash: "p".repeat(64),
            canonical_hash: "k".repeat(64),
            size: 7,
            installed_at: "2026-01-01T00:00:00Z".into(),
            origin: "test".into(),
            built: !variants.is_empty(),
        }
    }

    #[test]
    fn a_database_from_before_families_gains_variants_and_keeps_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ptd.db");
        {
            // The schema as it was: rows keyed by name, version and registry.
            let old = Connection::open(&path).unwrap();
            old.execute_batch(
                "CREATE TABLE installed (name TEXT NOT NULL, version TEXT NOT NULL, registry TEXT NOT NULL,
                   archive_sha256 TEXT NOT NULL, content_hash TEXT NOT NULL, phasic_hash TEXT NOT NULL,
                   canonical_hash TEXT NOT NULL, size INTEGER NOT NULL, installed_at TEXT NOT NULL,
                   origin TEXT NOT NULL, PRIMARY KEY (name, version, registry));
                 CREATE TABLE usage (name TEXT NOT NULL, version TEXT NOT NULL, registry TEXT NOT NULL,
                   last_used TEXT NOT NULL, uses INTEGER NOT NULL, PRIMARY KEY (name, version, registry));
                 INSERT INTO installed VALUES ('a/old', '1.0.0', 'default', 'x', 'y', 'z', 'w', 3, '2025-01-01T00:00:00Z', 'downloaded');
                 INSERT INTO usage VALUES ('a/old', '1.0.0', 'default', '2025-02-01T00:00:00Z', 4);",
            )
            .unwrap();
        }
        let db = Db::open(&path).unwrap();
        let all = db.with_last_use().unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].0.name, "a/old");
        assert!(all[0].0.variants.is_empty() && !all[0].0.built);
        assert_eq!(all[0].1, "2025-02-01T00:00:00Z", "uses are kept");
        // Two members of one version are two rows; each is found and removed on its own.
        db.record(&row("a/f", r#"{"samples":10}"#)).unwrap();
        db.record(&row("a/f", r#"{"samples":30}"#)).unwrap();
        db.touch(
            &row("a/f", r#"{"samples":30}"#).use_key(),
            "2026-02-01T00:00:00Z",
        )
        .unwrap();
        let got = db
            .get("a/f", "1.1.0", r#"{"samples":30}"#, "default")
            .unwrap()
            .unwrap();
        assert_eq!(got.variants.to_string(), "samples=30");
        assert!(got.built);
        assert!(db.get("a/f", "1.1.0", "", "default").unwrap().is_none());
        db.remove(&row("a/f", r#"{"samples":10}"#)).unwrap();
        let names: Vec<String> = db
            .list()
            .unwrap()
            .iter()
            .map(|i| format!("{} {}", i.name, i.variants))
            .collect();
        assert_eq!(names, ["a/f samples=30", "a/old "]);
        // Opening again changes nothing.
        drop(db);
        assert_eq!(Db::open(&path).unwrap().list().unwrap().len(), 2);
    }
}
