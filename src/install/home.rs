//! The directories ptd uses (`$PTD_HOME`, the phasic and JAX caches) and the read-only shared
//! cache layer consulted before any download.

use super::InstallError;
use super::db::Db;
use crate::fetch::{FetchError, MetadataLimits};
use crate::transport::{self, Any, Location, Miss};
use std::path::PathBuf;

/// The directories ptd uses.
#[derive(Clone, Debug)]
pub struct Home {
    pub root: PathBuf,
    pub phasic_cache: PathBuf,
    pub jax_cache: PathBuf,
    /// A read-only second layer: another ptd home (for example on a cluster's shared
    /// filesystem, or copied into an S3 bucket) whose verified archives are used before
    /// anything is downloaded.
    pub shared: Option<SharedLayer>,
}

/// Where a shared cache layer is: a ptd home in a directory, or the same layout under an S3
/// prefix (`<prefix>/archives/<sha256>.ptd.tar.zst`, `<prefix>/ptd.db`).
#[derive(Clone, Debug, PartialEq)]
pub enum SharedLayer {
    Dir(PathBuf),
    S3 {
        bucket: String,
        prefix: String,
        endpoint: Option<String>,
        region: Option<String>,
    },
}

impl SharedLayer {
    /// `s3://bucket/prefix` (with an endpoint and region for S3-compatible services) or a
    /// directory (`file://DIR` or a path).
    pub fn parse(spec: &str, endpoint: Option<&str>, region: Option<&str>) -> SharedLayer {
        match Location::from_spec(spec, endpoint, region) {
            Location::S3 {
                bucket,
                key,
                endpoint,
                region,
            } => SharedLayer::S3 {
                bucket,
                prefix: key,
                endpoint,
                region,
            },
            Location::Dir { path } => SharedLayer::Dir(PathBuf::from(path)),
            // Not a kind of layer: taken as a directory name, which will hold nothing.
            _ => SharedLayer::Dir(PathBuf::from(spec)),
        }
    }

    /// The transport that reads the layer, its addresses given by [`SharedLayer::key`]. A
    /// layer that does not answer is passed over: an S3 layer's client retries at most twice
    /// within ten seconds.
    pub fn transport(&self, limits: MetadataLimits) -> Result<Any, Miss> {
        Ok(match self.bucket() {
            None => Any::Dir(transport::dir::Dir::new(limits)),
            Some(bucket) => Any::S3(transport::s3::S3::new(bucket.map_err(Miss::of)?, limits)),
        })
    }

    /// The object key (or path) of `rel` in the layer.
    pub fn key(&self, rel: &str) -> String {
        match self {
            SharedLayer::Dir(d) => d.join(rel).display().to_string(),
            SharedLayer::S3 { prefix, .. } if prefix.is_empty() => rel.to_string(),
            SharedLayer::S3 { prefix, .. } => format!("{prefix}/{rel}"),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            SharedLayer::Dir(d) => d.display().to_string(),
            SharedLayer::S3 {
                bucket,
                prefix,
                endpoint,
                ..
            } => match endpoint {
                Some(e) => format!("s3://{bucket}/{prefix} (at {e})"),
                None => format!("s3://{bucket}/{prefix}"),
            },
        }
    }

    /// A client for an S3 layer's bucket. A layer that does not answer is passed over: at most
    /// two retries within ten seconds.
    pub fn bucket(&self) -> Option<Result<crate::fetch::s3::Bucket, FetchError>> {
        match self {
            SharedLayer::Dir(_) => None,
            SharedLayer::S3 {
                bucket,
                endpoint,
                region,
                ..
            } => Some(crate::fetch::s3::Bucket::new_impatient(
                bucket,
                endpoint.as_deref(),
                region.as_deref(),
                std::time::Duration::from_secs(10),
            )),
        }
    }
}

fn home_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

impl Home {
    /// `$PTD_HOME`, `$PHASIC_CACHE_DIR`, `$JAX_COMPILATION_CACHE_DIR`, with their defaults.
    pub fn from_env() -> Home {
        let var = |k: &str, d: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| home_dir().join(d))
        };
        Home {
            root: var("PTD_HOME", ".ptd"),
            phasic_cache: var("PHASIC_CACHE_DIR", ".phasic_cache"),
            jax_cache: var("JAX_COMPILATION_CACHE_DIR", ".jax_cache"),
            shared: None,
        }
    }

    pub fn archives(&self) -> PathBuf {
        self.root.join("archives")
    }
    pub fn bundles(&self) -> PathBuf {
        self.root.join("bundles")
    }
    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }
    pub fn locks(&self) -> PathBuf {
        self.root.join("locks")
    }
    pub fn registries(&self) -> PathBuf {
        self.root.join("registries")
    }
    /// Answers cached about the user's Python (its JAX).
    pub fn python_state(&self) -> PathBuf {
        self.root.join("python")
    }
    pub fn index_cache(&self) -> PathBuf {
        self.root.join("registries").join("index-cache")
    }
    pub fn db_path(&self) -> PathBuf {
        self.root.join("ptd.db")
    }
    pub fn symbolic(&self) -> PathBuf {
        self.phasic_cache.join("symbolic")
    }
    /// The tier-1 file of a graph's DAG taken from a bundle whose DAG file is `dag_file`:
    /// `<phasic hash>.dag` for a binary `dag.bin`, `<phasic hash>.json` for a JSON `dag.json`
    /// (bundles of format version 3 and older). The file holds the bundle's DAG file as it is.
    pub fn tier1_dag_for(&self, phasic_hash: &str, dag_file: &str) -> PathBuf {
        let ext = if dag_file == crate::bundle::DAG_JSON {
            "json"
        } else {
            "dag"
        };
        self.symbolic().join(format!("{phasic_hash}.{ext}"))
    }
    /// The tier-1 DAG of a graph: `<phasic hash>.dag` when there, else `<phasic hash>.json`
    /// when there, else the name a binary DAG would have.
    pub fn tier1_dag(&self, phasic_hash: &str) -> PathBuf {
        let bin = self.tier1_dag_for(phasic_hash, crate::bundle::DAG_BIN);
        if bin.is_file() {
            return bin;
        }
        let json = self.tier1_dag_for(phasic_hash, crate::bundle::DAG_JSON);
        if json.is_file() { json } else { bin }
    }
    /// Every tier-1 file a graph's DAGs may have: `.dag`, `.json` and the `.meta` beside them.
    pub fn tier1_files(&self, phasic_hash: &str) -> [PathBuf; 3] {
        let sym = self.symbolic();
        ["dag", "json", "meta"].map(|ext| sym.join(format!("{phasic_hash}.{ext}")))
    }
    pub fn archive_path(&self, sha256: &str) -> PathBuf {
        self.archives().join(format!("{sha256}.ptd.tar.zst"))
    }
    pub fn bundle_dir(&self, content_hash: &str) -> PathBuf {
        self.bundles().join(content_hash)
    }

    /// Creates the directories and opens the database.
    pub fn open_db(&self) -> Result<Db, InstallError> {
        for d in [
            self.archives(),
            self.bundles(),
            self.tmp(),
            self.locks(),
            self.registries(),
        ] {
            std::fs::create_dir_all(&d).map_err(|e| InstallError::io(&d, e))?;
        }
        Ok(Db::open(&self.db_path())?)
    }
}
