//! ptd: a package manager and registry for precomputed phase-type models.
//!
//! The modules follow the data: a model recipe ([`model`]) generates a [`graph`], which is
//! hashed ([`hash`]) and eliminated into a symbolic DAG ([`eliminate`]); both are packed into a
//! deterministic [`bundle`].

pub mod bundle;
pub mod eliminate;
pub mod error;
pub mod graph;
pub mod hash;
pub mod input;
pub mod model;

pub use error::{Error, Result};
