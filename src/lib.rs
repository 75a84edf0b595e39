//! ptd: a package manager and registry for precomputed phase-type models.
//!
//! The modules follow the data: a model recipe ([`model`]) generates a [`graph`], which is
//! hashed ([`hash`]) and eliminated into a symbolic DAG ([`eliminate`]), from which a JAX
//! evaluator is generated ([`jax`]); all are packed into a deterministic [`bundle`] (a tar + zstd
//! [`archive`]), signed ([`sign`]), published ([`publish`]) and listed in a registry [`index`].
//! Installing resolves requirements against the index ([`resolve`]), reaches each artifact
//! location through one [`transport`] per kind (over the clients of [`fetch`]), verifies what
//! arrives and places it in the store and the cache tiers ([`install`]: home, obtain, verify,
//! place); [`cache`] sees, bounds and repairs them. [`fs`] (atomic writes, locks, placement,
//! SHA-256, the I/O error that names its path) is at the bottom, used by all; [`ops`] holds
//! what each command does, which the command line only calls.

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
pub mod layout;
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
