//! The library's error type: one variant per step of the pipeline.

use crate::bundle::BundleError;
use crate::eliminate::{EvalError, SymbolicFormatError};
use crate::graph::GraphFileError;
use crate::model::ModelError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Rewards(#[from] crate::model::RewardsError),
    #[error(transparent)]
    GraphFile(#[from] GraphFileError),
    #[error(transparent)]
    Symbolic(#[from] SymbolicFormatError),
    #[error(transparent)]
    Eval(#[from] EvalError),
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Sign(#[from] crate::sign::SignError),
    #[error(transparent)]
    Index(#[from] crate::index::IndexError),
    #[error(transparent)]
    Resolve(#[from] crate::resolve::ResolveError),
    #[error(transparent)]
    Fetch(#[from] crate::fetch::FetchError),
    #[error(transparent)]
    Install(#[from] crate::install::InstallError),
    #[error(transparent)]
    Publish(#[from] crate::publish::PublishError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Project(#[from] crate::project::ProjectError),
    #[error(transparent)]
    Db(#[from] crate::install::db::DbError),
    #[error(transparent)]
    Cache(#[from] crate::cache::CacheError),
    #[error(transparent)]
    Jax(#[from] crate::jax::JaxError),
    #[error(transparent)]
    Io(#[from] crate::fs::IoError),
    /// A command-line value that cannot be used; the message says which and why.
    #[error("{0}")]
    Usage(String),
}

impl Error {
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        Error::Io(crate::fs::IoError {
            path: path.as_ref().display().to_string(),
            source,
        })
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
