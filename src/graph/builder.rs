//! [`GraphBuilder`]: builds a graph vertex by vertex and edge by edge, within [`SizeLimits`],
//! and validates it into a [`Graph`].

use super::{Graph, GraphError, SizeLimit, SizeLimits, TooLarge};
use rustc_hash::FxHashMap;

/// Builds a graph vertex by vertex, like phasic's `find_or_create_vertex` / `add_edge`.
///
/// Vertex 0 is the starting vertex with an all-zero state; it is not found by state lookups, so
/// another vertex may also carry the all-zero state (as in phasic).
#[derive(Debug)]
pub struct GraphBuilder {
    state_length: usize,
    param_length: usize,
    states: Vec<i32>,
    index: FxHashMap<Vec<i32>, u32>,
    start: Vec<(u32, f64)>,
    edges: Vec<(u32, u32, usize, usize)>,
    coeffs: Vec<f64>,
    discrete: bool,
}

impl GraphBuilder {
    /// `param_length` 0 makes a graph of constant rates; otherwise every edge carries
    /// `param_length` coefficients.
    pub fn new(state_length: usize, param_length: usize) -> Self {
        GraphBuilder {
            state_length,
            param_length,
            states: vec![0; state_length],
            index: FxHashMap::default(),
            start: Vec::new(),
            edges: Vec::new(),
            coeffs: Vec::new(),
            discrete: false,
        }
    }

    /// Makes the graph a discrete phase-type graph (see [`Graph::is_discrete`]).
    pub fn set_discrete(&mut self, discrete: bool) {
        self.discrete = discrete;
    }

    pub fn vertex_count(&self) -> usize {
        self.states.len() / self.state_length.max(1)
    }

    /// State of vertex `v`.
    pub fn state(&self, v: usize) -> &[i32] {
        &self.states[v * self.state_length..(v + 1) * self.state_length]
    }

    /// The vertex with this state, created (with the next index) if there is none.
    /// Returns the index and whether it was created.
    pub fn find_or_create(&mut self, state: &[i32]) -> (usize, bool) {
        assert_eq!(state.len(), self.state_length, "state length");
        if let Some(&i) = self.index.get(state) {
            return (i as usize, false);
        }
        let i = self.vertex_count();
        self.states.extend_from_slice(state);
        self.index.insert(state.to_vec(), i as u32);
        (i, true)
    }

    /// Edges added so far (start edges not counted).
    pub fn edge_count(&self) -> usize {
        self.edges.len()
    }

    /// About how many bytes the builder holds: its vectors' allocations and the state index's
    /// table and keys.
    pub fn approx_bytes(&self) -> u64 {
        let key = (self.state_length * 4).next_multiple_of(8) as u64;
        let table = self.index.capacity() as u64 * (24 + 4 + 4 + 1);
        self.states.capacity() as u64 * 4
            + table
            + self.index.len() as u64 * key
            + self.edges.capacity() as u64 * 24
            + self.coeffs.capacity() as u64 * 8
            + self.start.capacity() as u64 * 16
    }

    /// Whether the graph is still within `limits`.
    pub fn check(&self, limits: &SizeLimits) -> Result<(), TooLarge> {
        let (vertices, edges, bytes) =
            (self.vertex_count(), self.edge_count(), self.approx_bytes());
        let passed = if vertices > limits.max_vertices {
            Some((SizeLimit::Vertices, limits.max_vertices as u64))
        } else if edges > limits.max_edges {
            Some((SizeLimit::Edges, limits.max_edges as u64))
        } else if bytes > limits.max_bytes {
            Some((SizeLimit::Bytes, limits.max_bytes))
        } else {
            None
        };
        match passed {
            None => Ok(()),
            Some((limit, max)) => Err(TooLarge {
                limit,
                max,
                vertices,
                edges,
                bytes,
            }),
        }
    }

    /// Adds a vertex without a state lookup, so that duplicate states reach validation (as
    /// they do when a graph file is read).
    #[cfg(test)]
    pub(crate) fn push_vertex(&mut self, state: &[i32]) -> usize {
        let i = self.vertex_count();
        self.states.extend_from_slice(state);
        i
    }

    pub fn add_start_edge(&mut self, to: usize, weight: f64) {
        self.start.push((to as u32, weight));
    }

    /// Adds an edge whose rate is `dot(coeffs, theta)` (or the constant `coeffs[0]` in a
    /// constant graph).
    pub fn add_edge(&mut self, from: usize, to: usize, coeffs: &[f64]) {
        self.edges
            .push((from as u32, to as u32, self.coeffs.len(), coeffs.len()));
        self.coeffs.extend_from_slice(coeffs);
    }

    /// Sorts, checks and freezes the graph.
    pub fn build(self) -> Result<Graph, GraphError> {
        let n = self.vertex_count();
        let width = self.param_length.max(1);
        let mut start = self.start;
        for &(to, w) in &start {
            let to = to as usize;
            if to >= n {
                return Err(GraphError::OutOfRange { from: 0, to, n });
            }
            if to == 0 {
                return Err(GraphError::SelfLoop(0));
            }
            if !w.is_finite() {
                return Err(GraphError::NotFinite {
                    from: 0,
                    to,
                    what: "the weight",
                    value: w,
                });
            }
            if w < 0.0 {
                return Err(GraphError::NegativeRate {
                    from: 0,
                    to,
                    value: w,
                });
            }
        }
        start.sort_by_key(|e| e.0);
        for pair in start.windows(2) {
            if pair[0].0 == pair[1].0 {
                return Err(GraphError::ParallelEdge {
                    from: 0,
                    to: pair[0].0 as usize,
                });
            }
        }
        if !start.iter().any(|&(_, w)| w > 0.0) {
            return Err(GraphError::NoStart);
        }
        let edges = self.edges;
        for &(from, to, at, got) in &edges {
            let (from, to) = (from as usize, to as usize);
            if from >= n || to >= n {
                return Err(GraphError::OutOfRange { from, to, n });
            }
            if to == 0 {
                return Err(GraphError::IntoStart { from, to });
            }
            if from == to {
                return Err(GraphError::SelfLoop(from));
            }
            if got != width {
                return Err(GraphError::CoefficientLength {
                    from,
                    to,
                    got,
                    expected: width,
                });
            }
            for &c in &self.coeffs[at..at + width] {
                if !c.is_finite() {
                    return Err(GraphError::NotFinite {
                        from,
                        to,
                        what: "a coefficient",
                        value: c,
                    });
                }
                if self.param_length == 0 && c < 0.0 {
                    return Err(GraphError::NegativeRate { from, to, value: c });
                }
            }
        }
        // Edges by source, each source's by target: a counting sort by source keeps insertion
        // order within a source, so only sources whose targets came out of order are sorted.
        let mut offsets = vec![0usize; n + 1];
        for &(from, ..) in &edges {
            offsets[from as usize + 1] += 1;
        }
        for v in 0..n {
            offsets[v + 1] += offsets[v];
        }
        let in_order = edges.is_sorted_by_key(|e| e.0);
        let mut order: Vec<usize> = Vec::new();
        if !in_order {
            let mut fill = offsets.clone();
            order = vec![0; edges.len()];
            for (k, &(from, ..)) in edges.iter().enumerate() {
                order[fill[from as usize]] = k;
                fill[from as usize] += 1;
            }
        }
        let mut targets = Vec::with_capacity(edges.len());
        let mut coeffs = Vec::with_capacity(edges.len() * width);
        let mut run: Vec<(u32, usize)> = Vec::new();
        for v in 0..n {
            run.clear();
            let (a, b) = (offsets[v], offsets[v + 1]);
            if in_order {
                run.extend(edges[a..b].iter().map(|e| (e.1, e.2)));
            } else {
                run.extend(order[a..b].iter().map(|&k| {
                    let e = edges[k];
                    (e.1, e.2)
                }));
            }
            if !run.is_sorted_by_key(|e| e.0) {
                run.sort_unstable_by_key(|e| e.0);
            }
            for (k, &(to, at)) in run.iter().enumerate() {
                if k > 0 && run[k - 1].0 == to {
                    return Err(GraphError::ParallelEdge {
                        from: v,
                        to: to as usize,
                    });
                }
                targets.push(to);
                coeffs.extend_from_slice(&self.coeffs[at..at + width]);
            }
        }
        if offsets[1] != 0 {
            // Edges out of vertex 0 belong in the start list.
            return Err(GraphError::IntoStart {
                from: 0,
                to: targets[0] as usize,
            });
        }
        let graph = Graph {
            state_length: self.state_length,
            param_length: self.param_length,
            states: self.states,
            start,
            offsets,
            targets,
            coeffs,
            discrete: self.discrete,
        };
        graph.check_model()?;
        Ok(graph)
    }
}
