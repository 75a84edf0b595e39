//! The SQLite database of what is installed (`$PTD_HOME/ptd.db`), in WAL mode so that several
//! `ptd` processes can read while one writes, and the log of uses beside it
//! (`$PTD_HOME/uses.log`).
//!
//! An install that finds everything in place only reads the database: its uses go to the log, a
//! small append without any sync, and are folded into the database (`usage`, `stats`,
//! `projects`) by the next command that reads them ([`Db::with_last_use`], [`Db::summary`],
//! [`Db::stats`], [`Db::projects`]) or removes a version ([`Db::remove`]). A use lost in a crash
//! only makes a version look older to garbage collection; an install is always a database
//! transaction.

use crate::model::Variants;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};
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
    /// The log of uses (`uses.log` beside the database).
    log: PathBuf,
}

/// The log of uses, beside the database.
pub const USE_LOG: &str = "uses.log";

/// A log grown past this many bytes is folded by the process that appended to it.
const USE_LOG_FOLD_BYTES: u64 = 1 << 20;

/// The name a fold gives the log while it reads it (left behind if the fold was interrupted,
/// and folded first by the next one).
const USE_LOG_FOLDING: &str = "uses.log.folding";

/// One line of the log: uses of installed versions found in place at `at`, and the project
/// lockfile that asked for them. Each use also counts as a store hit.
#[derive(Serialize, serde::Deserialize)]
struct UseLine {
    at: String,
    uses: Vec<UseKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    project: Option<String>,
}

/// The stamp written into `ptd.db` (`PRAGMA user_version`) once its tables exist and its
/// migrations ran: a database that carries it is opened without running them again. It is a
/// hash of the schema (and of the migrated tables' columns), so that any change to them runs the
/// setup once more on every existing database.
const SCHEMA_VERSION: i64 = schema_stamp(&[SCHEMA, KEYED_BY_VERSION[0].1, KEYED_BY_VERSION[1].1]);

/// FNV-1a over the texts, kept positive and non-zero (0 is a database never stamped).
const fn schema_stamp(texts: &[&str]) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut t = 0;
    while t < texts.len() {
        let b = texts[t].as_bytes();
        let mut i = 0;
        while i < b.len() {
            h ^= b[i] as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
            i += 1;
        }
        t += 1;
    }
    ((h >> 33) as i64) | 1
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

/// Whether `f` is still the file at `path` (a fold may have renamed it away since it was
/// opened).
fn still_at(f: &std::fs::File, path: &Path) -> std::io::Result<bool> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let (ours, now) = match (f.metadata(), std::fs::metadata(path)) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) => return Err(e),
            (_, Err(e)) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            (_, Err(e)) => return Err(e),
        };
        Ok(ours.dev() == now.dev() && ours.ino() == now.ino())
    }
    #[cfg(not(unix))]
    {
        let _ = (f, path);
        Ok(true)
    }
}

/// Appends `line` to the log at `path` in one write, holding a shared lock on the file (a fold
/// takes it exclusively before reading, so it never misses a line being written). A log that a
/// fold renamed between opening and locking is let go and the new one opened.
/// Returns the log's size after the write.
fn append_line(path: &Path, line: &[u8]) -> std::io::Result<u64> {
    loop {
        let f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)?;
        if crate::install::locks_enabled() {
            f.lock_shared()?;
            if !still_at(&f, path)? {
                continue;
            }
        }
        (&f).write_all(line)?;
        return Ok(f.metadata()?.len());
    }
}

/// Reads a renamed log once every process that was writing to it has finished (it takes the
/// exclusive lock; writers that come later find the file renamed and write to a new log).
fn read_when_written(path: &Path) -> std::io::Result<Vec<u8>> {
    let f = std::fs::File::open(path)?;
    if crate::install::locks_enabled() {
        f.lock()?;
    }
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut &f, &mut out)?;
    Ok(out)
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
///
/// With `version`, a database whose `user_version` is that already has its schema (and WAL
/// mode, which persists in the file): it is opened without the lock file and without running
/// the schema. Returns whether the setup ran.
fn connect(
    path: &Path,
    schema: &str,
    version: Option<i64>,
) -> Result<(Connection, String, bool), DbError> {
    let p = path.display().to_string();
    let err = |source| DbError {
        path: p.clone(),
        source,
    };
    if let Some(v) = version
        && path.is_file()
    {
        let conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(Duration::from_secs(60)).map_err(err)?;
        let current: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(err)?;
        if current == v {
            conn.pragma_update(None, "synchronous", "NORMAL")
                .map_err(err)?;
            return Ok((conn, p, false));
        }
    }
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
    Ok((conn, p, true))
}

impl Drop for Db {
    /// A connection that changed nothing, over an empty journal, closes without a checkpoint:
    /// there is nothing to checkpoint, and the last connection to close otherwise deletes the
    /// journal files (`-wal`, `-shm`), which the next command then creates again. A journal that
    /// holds anything is checkpointed as before, so `ptd.db` alone always holds every change
    /// once the last connection is closed.
    fn drop(&mut self) {
        let wal = Path::new(&self.path).with_extension("db-wal");
        let empty = std::fs::metadata(&wal).is_ok_and(|m| m.len() == 0);
        if empty && self.conn.total_changes() == 0 {
            let _ = self.conn.set_db_config(
                rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
                true,
            );
        }
    }
}

impl Db {
    pub fn open(path: &Path) -> Result<Db, DbError> {
        let log = path.with_file_name(USE_LOG);
        let (conn, path, setup) = connect(path, SCHEMA, Some(SCHEMA_VERSION))?;
        if setup {
            let err = |source| DbError {
                path: path.clone(),
                source,
            };
            add_variant_column(&conn).map_err(err)?;
            conn.pragma_update(None, "user_version", SCHEMA_VERSION)
                .map_err(err)?;
        }
        Ok(Db { conn, path, log })
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> DbError + '_ {
        |source| DbError {
            path: self.path.clone(),
            source,
        }
    }

    /// Records an installed version (folding the log of uses first: a writing command takes
    /// them into the database).
    pub fn record(&self, i: &Installed) -> Result<(), DbError> {
        self.fold_uses()?;
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
    /// and the oldest and newest use, from the database (the log of uses folded in first).
    pub fn summary(&self) -> Result<Summary, DbError> {
        self.fold_uses()?;
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

    /// Records uses of installed versions found in the store (hits) and the project lockfile
    /// that asked for them: one line appended to the log of uses, without any sync (see the
    /// module's documentation). Several processes append at once safely: each line is one
    /// write to a file opened for appending.
    pub fn log_hits(
        &self,
        uses: &[UseKey],
        now: &str,
        project: Option<&str>,
    ) -> Result<(), DbError> {
        let mut line = serde_json::to_vec(&UseLine {
            at: now.to_string(),
            uses: uses.to_vec(),
            project: project.map(str::to_string),
        })
        .expect("a use line serialises");
        line.push(b'\n');
        let size = append_line(&self.log, &line).map_err(|e| DbError {
            path: self.log.display().to_string(),
            source: rusqlite::Error::InvalidPath(format!("{}: {e}", self.log.display()).into()),
        })?;
        // A home whose uses nobody reads for long folds its log now and then. The uses are in
        // the log already: a fold that fails here leaves them for the next one.
        if size > USE_LOG_FOLD_BYTES {
            let _ = self.fold_uses();
        }
        Ok(())
    }

    /// Folds the log of uses into the database: `usage` (the latest use and one more use per
    /// line naming a version that is still installed), `stats` (a store hit per use) and
    /// `projects`. Folds run one at a time (each inside a write transaction); the log is renamed
    /// away first, so that later uses go to a new log, then read once every process still
    /// writing to it has finished, and removed just before its uses are committed (so a fold
    /// waiting for the write lock never counts them again). A fold interrupted between the
    /// removal and the commit loses those uses; one interrupted before the removal leaves the
    /// renamed log, which the next fold takes first.
    pub fn fold_uses(&self) -> Result<(), DbError> {
        let folding = self.log.with_file_name(USE_LOG_FOLDING);
        let io_err = |p: &Path, e: std::io::Error| DbError {
            path: p.display().to_string(),
            source: rusqlite::Error::InvalidPath(format!("{}: {e}", p.display()).into()),
        };
        loop {
            if !folding.exists() && !self.log.exists() {
                return Ok(());
            }
            self.conn
                .execute_batch("BEGIN IMMEDIATE")
                .map_err(self.err())?;
            let run = || -> Result<bool, DbError> {
                // A log that an interrupted fold renamed comes first; then the current one.
                let leftover = folding.exists();
                if !leftover {
                    match std::fs::rename(&self.log, &folding) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
                        Err(e) => return Err(io_err(&self.log, e)),
                    }
                }
                let text = read_when_written(&folding).map_err(|e| io_err(&folding, e))?;
                self.apply_uses(&text)?;
                // Removed before the commit, while this transaction holds the write lock: a
                // fold waiting for the lock must not find the file and count it again. A crash
                // between the two loses these uses, which is allowed; counting them twice is not.
                match std::fs::remove_file(&folding) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err(&folding, e)),
                }
                Ok(true)
            };
            match run() {
                Ok(folded) => {
                    self.conn.execute_batch("COMMIT").map_err(self.err())?;
                    if !folded {
                        return Ok(());
                    }
                }
                Err(e) => {
                    let _ = self.conn.execute_batch("ROLLBACK");
                    return Err(e);
                }
            }
        }
    }

    /// Applies the lines of a log of uses (inside the caller's transaction). A line that does
    /// not parse (a write cut short by a crash) is passed over.
    fn apply_uses(&self, text: &[u8]) -> Result<(), DbError> {
        let mut hits = 0i64;
        for raw in text.split(|b| *b == b'\n') {
            let Ok(line) = serde_json::from_slice::<UseLine>(raw) else {
                continue;
            };
            for (name, version, variant, registry) in &line.uses {
                self.conn
                    .prepare_cached(
                        "INSERT INTO usage (name, version, registry, last_used, uses, variant)
                         SELECT ?1, ?2, ?3, ?4, 1, ?5 WHERE EXISTS (SELECT 1 FROM installed
                           WHERE name = ?1 AND version = ?2 AND registry = ?3 AND variant = ?5)
                         ON CONFLICT(name, version, variant, registry)
                         DO UPDATE SET last_used = MAX(last_used, ?4), uses = uses + 1",
                    )
                    .and_then(|mut st| {
                        st.execute(params![name, version, registry, line.at, variant])
                    })
                    .map_err(self.err())?;
                hits += 1;
            }
            if let Some(p) = &line.project {
                self.conn
                    .execute(
                        "INSERT INTO projects (lock_path, last_used) VALUES (?1, ?2)
                         ON CONFLICT(lock_path) DO UPDATE SET last_used = MAX(last_used, ?2)",
                        params![p, line.at],
                    )
                    .map_err(self.err())?;
            }
        }
        if hits > 0 {
            self.conn
                .execute(
                    "INSERT INTO stats (tier, hits, misses) VALUES ('store', ?1, 0)
                     ON CONFLICT(tier) DO UPDATE SET hits = hits + ?1",
                    params![hits],
                )
                .map_err(self.err())?;
        }
        Ok(())
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

    /// Hits and misses per tier (the log of uses folded in first).
    pub fn stats(&self) -> Result<Vec<(String, u64, u64)>, DbError> {
        self.fold_uses()?;
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

    /// Lockfiles of the projects seen, most recent first (the log of uses folded in first).
    pub fn projects(&self) -> Result<Vec<String>, DbError> {
        self.fold_uses()?;
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

    /// Every installed version with its last use (its install time if never used since; the log
    /// of uses folded in first).
    pub fn with_last_use(&self) -> Result<Vec<(Installed, String)>, DbError> {
        self.fold_uses()?;
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

    /// Removes an installed version's rows (after folding the log of uses, so that no use of it
    /// is left to fold).
    pub fn remove(&self, i: &Installed) -> Result<(), DbError> {
        self.fold_uses()?;
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

/// The stamp of the symbolic index's schema (see [`SCHEMA_VERSION`]).
const SYMBOLIC_SCHEMA_VERSION: i64 = schema_stamp(&[SYMBOLIC_SCHEMA]);

impl SymbolicIndex {
    pub fn open(path: &Path) -> Result<SymbolicIndex, DbError> {
        let (conn, path, setup) = connect(path, SYMBOLIC_SCHEMA, Some(SYMBOLIC_SCHEMA_VERSION))?;
        if setup {
            conn.pragma_update(None, "user_version", SYMBOLIC_SCHEMA_VERSION)
                .map_err(|source| DbError {
                    path: path.clone(),
                    source,
                })?;
        }
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

    #[test]
    fn uses_go_to_the_log_and_are_folded_by_the_readers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ptd.db");
        let db = Db::open(&path).unwrap();
        let a = row("a/m", "");
        let b = row("b/m", "");
        db.record(&a).unwrap();
        db.record(&b).unwrap();
        db.log_hits(&[a.use_key()], "2026-03-01T00:00:00Z", None)
            .unwrap();
        db.log_hits(
            &[a.use_key(), b.use_key()],
            "2026-03-02T00:00:00Z",
            Some("/p/ptd.lock"),
        )
        .unwrap();
        // A use of a version no longer installed, and a line cut short by a crash.
        db.log_hits(&[row("gone/m", "").use_key()], "2026-03-03T00:00:00Z", None)
            .unwrap();
        let log = dir.path().join(USE_LOG);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .unwrap()
            .write_all(b"{\"at\":\"2026-")
            .unwrap();
        // Nothing reached the database yet.
        let uses: i64 = db
            .conn
            .query_row("SELECT COUNT(*) FROM usage", [], |r| r.get(0))
            .unwrap();
        assert_eq!(uses, 0);
        drop(db);
        // Another process reads them.
        let db = Db::open(&path).unwrap();
        let last: Vec<(String, String)> = db
            .with_last_use()
            .unwrap()
            .into_iter()
            .map(|(i, t)| (i.name, t))
            .collect();
        assert!(!log.exists(), "the log was folded and removed");
        assert!(!dir.path().join(USE_LOG_FOLDING).exists());
        assert_eq!(
            last,
            [
                ("a/m".to_string(), "2026-03-02T00:00:00Z".to_string()),
                ("b/m".to_string(), "2026-03-02T00:00:00Z".to_string())
            ]
        );
        let count = |name: &str| -> i64 {
            db.conn
                .query_row("SELECT uses FROM usage WHERE name = ?1", [name], |r| {
                    r.get(0)
                })
                .unwrap()
        };
        assert_eq!((count("a/m"), count("b/m")), (2, 1));
        let gone: i64 = db
            .conn
            .query_row(
                "SELECT COUNT(*) FROM usage WHERE name = 'gone/m'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            gone, 0,
            "no use is kept for a version that is not installed"
        );
        assert_eq!(db.stats().unwrap(), [("store".to_string(), 4, 0)]);
        assert_eq!(db.projects().unwrap(), ["/p/ptd.lock"]);
        // An older use folded later does not move the latest use back.
        db.log_hits(&[a.use_key()], "2026-01-01T00:00:00Z", None)
            .unwrap();
        assert_eq!(
            db.summary().unwrap().3.as_deref(),
            Some("2026-03-02T00:00:00Z")
        );
        assert_eq!(count("a/m"), 3);
    }

    #[test]
    fn a_fold_cut_short_is_finished_by_the_next_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ptd.db");
        let db = Db::open(&path).unwrap();
        let a = row("a/m", "");
        db.record(&a).unwrap();
        db.log_hits(&[a.use_key()], "2026-03-01T00:00:00Z", None)
            .unwrap();
        // A fold renamed the log and stopped before its commit; a new log was started since.
        std::fs::rename(dir.path().join(USE_LOG), dir.path().join(USE_LOG_FOLDING)).unwrap();
        db.log_hits(&[a.use_key()], "2026-03-05T00:00:00Z", None)
            .unwrap();
        assert_eq!(db.stats().unwrap(), [("store".to_string(), 2, 0)]);
        assert!(!dir.path().join(USE_LOG).exists());
        assert!(!dir.path().join(USE_LOG_FOLDING).exists());
        assert_eq!(db.with_last_use().unwrap()[0].1, "2026-03-05T00:00:00Z");
    }

    #[test]
    fn uses_logged_while_others_fold_are_all_counted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ptd.db");
        let a = row("a/m", "");
        Db::open(&path).unwrap().record(&a).unwrap();
        let (writers, each) = (4, 200);
        std::thread::scope(|s| {
            for w in 0..writers {
                let (path, key) = (path.clone(), a.use_key());
                s.spawn(move || {
                    let db = Db::open(&path).unwrap();
                    for k in 0..each {
                        db.log_hits(
                            std::slice::from_ref(&key),
                            &format!("2026-03-01T00:{w:02}:{k:03}Z"),
                            None,
                        )
                        .unwrap();
                    }
                });
            }
            for _ in 0..2 {
                let path = path.clone();
                s.spawn(move || {
                    let db = Db::open(&path).unwrap();
                    for _ in 0..50 {
                        db.fold_uses().unwrap();
                    }
                });
            }
        });
        let db = Db::open(&path).unwrap();
        assert_eq!(
            db.stats().unwrap(),
            [("store".to_string(), (writers * each) as u64, 0)]
        );
        let uses: i64 = db
            .conn
            .query_row("SELECT uses FROM usage", [], |r| r.get(0))
            .unwrap();
        assert_eq!(uses, (writers * each) as i64);
    }

    #[test]
    fn a_current_database_opens_without_its_setup() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ptd.db");
        Db::open(&path).unwrap().record(&row("a/m", "")).unwrap();
        let (conn, _, setup) = connect(&path, SCHEMA, Some(SCHEMA_VERSION)).unwrap();
        assert!(!setup);
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        drop(conn);
        // An older stamp runs the setup (and the migrations) again.
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", 1)
            .unwrap();
        assert!(connect(&path, SCHEMA, Some(SCHEMA_VERSION)).unwrap().2);
        assert_eq!(Db::open(&path).unwrap().list().unwrap().len(), 1);
        let v: i64 = Connection::open(&path)
            .unwrap()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
    }
}
