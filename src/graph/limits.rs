//! Size limits on a graph being built ([`SizeLimits`]) and the error for passing one
//! ([`TooLarge`]).

/// Bounds on a graph being built: how many vertices and edges, and about how many bytes the
/// builder may hold ([`GraphBuilder::approx_bytes`]). Exploring a state space stops with
/// [`TooLarge`] once one is passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SizeLimits {
    pub max_vertices: usize,
    pub max_edges: usize,
    pub max_bytes: u64,
}

impl SizeLimits {
    /// 5,000,000 vertices, 50,000,000 edges, 4 GiB.
    pub const DEFAULT: SizeLimits = SizeLimits {
        max_vertices: 5_000_000,
        max_edges: 50_000_000,
        max_bytes: 4 << 30,
    };
}

impl Default for SizeLimits {
    fn default() -> Self {
        SizeLimits::DEFAULT
    }
}

/// Which bound of [`SizeLimits`] a graph passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SizeLimit {
    Vertices,
    Edges,
    Bytes,
}

/// A graph grew past one of its [`SizeLimits`]; how large it was when building stopped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "the state space grew past the limit of {} (at {vertices} vertices, {edges} edges, about {} in memory when exploration stopped)",
    limit_text(*.limit, *.max),
    bytes_text(*.bytes)
)]
pub struct TooLarge {
    pub limit: SizeLimit,
    /// The bound that was passed.
    pub max: u64,
    pub vertices: usize,
    pub edges: usize,
    /// Estimated bytes held by the builder.
    pub bytes: u64,
}

fn limit_text(limit: SizeLimit, max: u64) -> String {
    match limit {
        SizeLimit::Vertices => format!("{max} vertices"),
        SizeLimit::Edges => format!("{max} edges"),
        SizeLimit::Bytes => format!("{} of memory", bytes_text(max)),
    }
}

/// Bytes in MiB or GiB, for messages.
fn bytes_text(b: u64) -> String {
    if b >= 1 << 30 {
        format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64)
    } else {
        format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
    }
}
