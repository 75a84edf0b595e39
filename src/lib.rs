//! ptd: a package manager and registry for precomputed phase-type models.
//!
//! The modules follow the data: a model recipe ([`model`]) generates a [`graph`], which is
//! hashed ([`hash`]) and eliminated into a symbolic DAG ([`eliminate`]), from which a JAX
//! evaluator is generated ([`jax`]); all are packed into a deterministic [`bundle`] (a tar + zstd
//! [`archive`]), signed ([`sign`]) and listed in a registry [`index`]. Installing
//! resolves requirements against the index ([`resolve`]), downloads archives ([`fetch`]),
//! verifies them and places them in the store and the cache tiers ([`install`]).

pub mod archive;
pub mod bundle;
pub mod cache;
pub mod config;
pub mod eliminate;
pub mod error;
pub mod fetch;
pub mod fs;
pub mod graph;
pub mod hash;
pub mod index;
pub mod input;
pub mod install;
pub mod jax;
pub mod model;
pub mod ops;
pub mod phasic;
pub mod platform;
pub mod project;
pub mod publish;
pub mod resolve;
pub mod sign;
pub mod transport;

pub use error::{Error, Result};
