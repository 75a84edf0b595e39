//! Phase-type graphs: vertices with integer state vectors, rate edges that are constant or
//! linear in a parameter vector theta, and a starting vertex (index 0) whose out-edges give the
//! initial distribution.
//!
//! The in-memory form is compressed sparse rows sorted by target, the order phasic's content hash
//! and ptd's elimination both walk. Files are read and written by [`file`].
//!
//! A graph is built by [`GraphBuilder`] (`builder`) within [`SizeLimits`] (`limits`).

mod binary;
mod builder;
pub mod file;
mod limits;

use std::fmt;

pub use binary::MAGIC as BINARY_MAGIC;
pub use builder::GraphBuilder;
pub use file::{GraphFile, GraphFileError};
pub use limits::{SizeLimit, SizeLimits, TooLarge};

/// A validated phase-type graph.
#[derive(Clone, Debug, PartialEq)]
pub struct Graph {
    state_length: usize,
    /// Number of parameters theta; 0 for a graph whose edges carry constant rates.
    param_length: usize,
    states: Vec<i32>,
    /// Out-edges of the starting vertex: target and (constant) weight, sorted by target.
    start: Vec<(u32, f64)>,
    /// CSR row offsets into `targets`, one row per vertex (row 0, the start, is empty).
    offsets: Vec<usize>,
    targets: Vec<u32>,
    /// `coef_width()` coefficients per edge, in edge order.
    coeffs: Vec<f64>,
    /// A discrete phase-type graph (phasic's `was_dph`): edge weights are one-step
    /// probabilities (normalised per vertex when parameterized), the rest of a vertex's mass
    /// an implicit self-loop.
    discrete: bool,
}

/// A structural problem found while assembling a graph.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum GraphError {
    #[error("vertex {from} has two edges to vertex {to}; merge them into one edge")]
    ParallelEdge { from: usize, to: usize },
    #[error(
        "vertex {0} has an edge to itself; phasic rejects self-loops (drop it: it does not change the distribution)"
    )]
    SelfLoop(usize),
    #[error("edge {from} -> {to} points at the starting vertex; nothing may enter vertex 0")]
    IntoStart { from: usize, to: usize },
    #[error("edge {from} -> {to}: vertex index out of range (the graph has {n} vertices)")]
    OutOfRange { from: usize, to: usize, n: usize },
    #[error("edge {from} -> {to} has {got} coefficients, expected {expected}")]
    CoefficientLength {
        from: usize,
        to: usize,
        got: usize,
        expected: usize,
    },
    #[error("edge {from} -> {to}: {what} is {value}, which is not a finite number")]
    NotFinite {
        from: usize,
        to: usize,
        what: &'static str,
        value: f64,
    },
    #[error("edge {from} -> {to} has the negative constant rate {value}; rates must be >= 0")]
    NegativeRate { from: usize, to: usize, value: f64 },
    #[error(
        "the starting vertex has no edge with a positive weight, so there is no initial distribution"
    )]
    NoStart,
    #[error(
        "vertices {first} and {second} have the same state {state:?}; states identify vertices and must be unique"
    )]
    DuplicateState {
        first: usize,
        second: usize,
        state: Vec<i32>,
    },
    #[error(
        "vertex {vertex} (state {state:?}) is reachable from the start but cannot reach an absorbing vertex (one without out-edges): the chain would never end"
    )]
    NotAbsorbing { vertex: usize, state: Vec<i32> },
    #[error("state of vertex {vertex} has length {got}, expected state_length {expected}")]
    StateLength {
        vertex: usize,
        got: usize,
        expected: usize,
    },
}

impl GraphError {
    /// The `states[i]` row a whole-model problem is about (a repeated state, a vertex that
    /// cannot reach absorption), for file readers' error places.
    pub(crate) fn state_row(&self) -> Option<String> {
        match self {
            GraphError::DuplicateState { second, .. } => Some(format!("states[{second}]")),
            GraphError::NotAbsorbing { vertex, .. } => Some(format!("states[{vertex}]")),
            _ => None,
        }
    }
}

/// One out-edge of a vertex.
#[derive(Clone, Copy, Debug)]
pub struct EdgeRef<'a> {
    pub to: usize,
    /// `param_length` coefficients, or one constant rate.
    pub coeffs: &'a [f64],
}

impl Graph {
    pub fn state_length(&self) -> usize {
        self.state_length
    }

    /// Number of parameters; 0 when all rates are constants.
    pub fn param_length(&self) -> usize {
        self.param_length
    }

    pub fn is_parameterized(&self) -> bool {
        self.param_length > 0
    }

    /// A discrete phase-type graph (phasic's `was_dph`): the absorption time counts steps, edge
    /// weights are one-step probabilities (for a parameterized graph, `c . theta` divided by the
    /// vertex's total, as phasic's `update_weights` does), and what a vertex's weights leave
    /// to 1 is an implicit self-loop.
    pub fn is_discrete(&self) -> bool {
        self.discrete
    }

    /// Coefficients stored per edge: `param_length`, or 1 for a constant graph.
    pub fn coef_width(&self) -> usize {
        self.param_length.max(1)
    }

    pub fn vertex_count(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Edges between vertices, not counting the start edges.
    pub fn edge_count(&self) -> usize {
        self.targets.len()
    }

    pub fn state(&self, v: usize) -> &[i32] {
        &self.states[v * self.state_length..(v + 1) * self.state_length]
    }

    /// Start edges (target, weight), sorted by target.
    pub fn start_edges(&self) -> &[(u32, f64)] {
        &self.start
    }

    pub fn out_degree(&self, v: usize) -> usize {
        self.offsets[v + 1] - self.offsets[v]
    }

    /// Out-edges of `v` (not the start vertex), sorted by target.
    pub fn edges(&self, v: usize) -> impl ExactSizeIterator<Item = EdgeRef<'_>> + '_ {
        let w = self.coef_width();
        (self.offsets[v]..self.offsets[v + 1]).map(move |k| EdgeRef {
            to: self.targets[k] as usize,
            coeffs: &self.coeffs[k * w..(k + 1) * w],
        })
    }

    /// A vertex other than the start with no out-edges.
    pub fn is_absorbing(&self, v: usize) -> bool {
        v != 0 && self.out_degree(v) == 0
    }

    /// True when an edge's rate can be positive for some theta (any nonzero coefficient).
    fn edge_live(coeffs: &[f64]) -> bool {
        coeffs.iter().any(|&c| c != 0.0)
    }

    /// No two vertices other than the start share a state. Reports the earliest vertex whose
    /// state an earlier vertex has, with the first vertex that has it.
    ///
    /// Vertices are sorted by a hash of their state, so equal states meet as neighbours; only
    /// within a run of equal hashes are states compared.
    pub(crate) fn check_unique_states(&self) -> Result<(), GraphError> {
        let n = self.vertex_count();
        let mut keyed: Vec<(u64, usize)> = (1..n).map(|v| (state_hash(self.state(v)), v)).collect();
        keyed.sort_unstable();
        let mut found: Option<(usize, usize)> = None;
        let mut run: Vec<usize> = Vec::new();
        for group in keyed.chunk_by(|a, b| a.0 == b.0) {
            if group.len() < 2 {
                continue;
            }
            // In vertex order; a stable sort by state keeps the earliest of equal states first.
            run.clear();
            run.extend(group.iter().map(|&(_, v)| v));
            run.sort_by(|&a, &b| self.state(a).cmp(self.state(b)));
            for p in run.windows(2) {
                if self.state(p[0]) == self.state(p[1])
                    && found.is_none_or(|(_, second)| p[1] < second)
                {
                    found = Some((p[0], p[1]));
                }
            }
        }
        match found {
            Some((first, second)) => Err(GraphError::DuplicateState {
                first,
                second,
                state: self.state(second).to_vec(),
            }),
            None => Ok(()),
        }
    }

    /// The checks of the whole model: [`Self::check_unique_states`], then
    /// [`Self::check_absorbing`]. A large graph runs the two side by side; the error is the
    /// one the checks in that order would give.
    pub(crate) fn check_model(&self) -> Result<(), GraphError> {
        if self.vertex_count() + self.edge_count() < PARALLEL_CHECKS_FROM {
            return self
                .check_unique_states()
                .and_then(|()| self.check_absorbing());
        }
        std::thread::scope(|s| {
            let absorbing = s.spawn(|| self.check_absorbing());
            let unique = self.check_unique_states();
            let absorbing = match absorbing.join() {
                Ok(r) => r,
                Err(panic) => std::panic::resume_unwind(panic),
            };
            unique.and(absorbing)
        })
    }

    /// Whether every edge points at a vertex of higher index, as in a graph whose vertices
    /// were numbered in the order they were discovered from the start: then reachability and
    /// absorption are one sweep over the rows in index order.
    pub(crate) fn edges_go_forward(&self) -> bool {
        (1..self.vertex_count()).all(|v| {
            let row = &self.targets[self.offsets[v]..self.offsets[v + 1]];
            row.first().is_none_or(|&to| to as usize > v)
        })
    }

    /// Vertices reachable from the start through edges that can carry a positive rate.
    pub fn reachable(&self) -> Vec<bool> {
        self.reachable_with(self.edges_go_forward())
    }

    /// [`Self::reachable`], `forward` telling whether [`Self::edges_go_forward`].
    fn reachable_with(&self, forward: bool) -> Vec<bool> {
        let n = self.vertex_count();
        let mut seen = vec![false; n];
        seen[0] = true;
        let mut stack: Vec<usize> = Vec::new();
        for &(to, w) in &self.start {
            if w > 0.0 && !seen[to as usize] {
                seen[to as usize] = true;
                stack.push(to as usize);
            }
        }
        if forward {
            // Every edge into v comes from a lower index, so v's flag is final when reached.
            let w = self.coef_width();
            for v in 1..n {
                if !seen[v] {
                    continue;
                }
                for k in self.offsets[v]..self.offsets[v + 1] {
                    if Self::edge_live(&self.coeffs[k * w..(k + 1) * w]) {
                        seen[self.targets[k] as usize] = true;
                    }
                }
            }
            return seen;
        }
        while let Some(v) = stack.pop() {
            for e in self.edges(v) {
                if Self::edge_live(e.coeffs) && !seen[e.to] {
                    seen[e.to] = true;
                    stack.push(e.to);
                }
            }
        }
        seen
    }

    /// Every vertex reachable from the start must be able to reach an absorbing vertex.
    fn check_absorbing(&self) -> Result<(), GraphError> {
        let forward = self.edges_go_forward();
        let dead = if forward {
            self.cannot_absorb_forward()
        } else {
            self.cannot_absorb(|_, e| Self::edge_live(e.coeffs))
        };
        let reach = self.reachable_with(forward);
        match (1..self.vertex_count()).find(|&v| reach[v] && dead[v]) {
            Some(v) => Err(GraphError::NotAbsorbing {
                vertex: v,
                state: self.state(v).to_vec(),
            }),
            None => Ok(()),
        }
    }

    /// [`Self::cannot_absorb`] over the live edges of a graph whose edges go forward: each
    /// vertex's flag follows from those of higher index, so one sweep from the last vertex
    /// down settles them all.
    fn cannot_absorb_forward(&self) -> Vec<bool> {
        let n = self.vertex_count();
        let w = self.coef_width();
        let mut dead = vec![true; n];
        for v in (1..n).rev() {
            let (a, b) = (self.offsets[v], self.offsets[v + 1]);
            dead[v] = a < b
                && (a..b).all(|k| {
                    dead[self.targets[k] as usize]
                        || !Self::edge_live(&self.coeffs[k * w..(k + 1) * w])
                });
        }
        dead
    }

    /// For each vertex, true when no absorbing vertex can be reached from it over the edges
    /// `live` accepts. An absorbing vertex is one with no out-edges at all.
    pub(crate) fn cannot_absorb(&self, live: impl Fn(usize, EdgeRef<'_>) -> bool) -> Vec<bool> {
        let n = self.vertex_count();
        // Reverse adjacency over accepted edges.
        let mut rev_off = vec![0usize; n + 1];
        for v in 1..n {
            for e in self.edges(v) {
                if live(v, e) {
                    rev_off[e.to + 1] += 1;
                }
            }
        }
        for v in 0..n {
            rev_off[v + 1] += rev_off[v];
        }
        let mut fill = rev_off.clone();
        let mut rev = vec![0u32; rev_off[n]];
        for v in 1..n {
            for e in self.edges(v) {
                if live(v, e) {
                    rev[fill[e.to]] = v as u32;
                    fill[e.to] += 1;
                }
            }
        }
        let mut dead = vec![true; n];
        let mut stack: Vec<usize> = (1..n).filter(|&v| self.is_absorbing(v)).collect();
        for &v in &stack {
            dead[v] = false;
        }
        while let Some(v) = stack.pop() {
            for &u in &rev[rev_off[v]..rev_off[v + 1]] {
                if dead[u as usize] {
                    dead[u as usize] = false;
                    stack.push(u as usize);
                }
            }
        }
        dead
    }
}

/// Vertices plus edges from which [`Graph::check_model`] runs its two checks in two threads.
const PARALLEL_CHECKS_FROM: usize = 200_000;

/// A 64-bit hash of a state vector (not for storing: it only groups equal states).
fn state_hash(state: &[i32]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mix = |h: u64, x: u64| {
        let p = u128::from(h ^ x) * u128::from(K);
        (p as u64) ^ ((p >> 64) as u64)
    };
    let mut h = state.len() as u64;
    let mut pairs = state.chunks_exact(2);
    for p in &mut pairs {
        h = mix(h, u64::from(p[0] as u32) | (u64::from(p[1] as u32) << 32));
    }
    if let [last] = pairs.remainder() {
        h = mix(h, u64::from(*last as u32) | (1 << 63));
    }
    h
}

impl fmt::Display for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} vertices, {} edges, state length {}, {} parameter(s)",
            self.vertex_count(),
            self.edge_count(),
            self.state_length,
            self.param_length
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain() -> GraphBuilder {
        let mut b = GraphBuilder::new(1, 1);
        let (a, _) = b.find_or_create(&[3]);
        let (c, _) = b.find_or_create(&[2]);
        let (d, _) = b.find_or_create(&[1]);
        b.add_start_edge(a, 1.0);
        b.add_edge(a, c, &[3.0]);
        b.add_edge(c, d, &[1.0]);
        b
    }

    #[test]
    fn builds_sorted_rows() {
        let g = chain().build().unwrap();
        assert_eq!(g.vertex_count(), 4);
        assert_eq!(g.edge_count(), 2);
        assert!(g.is_absorbing(3));
        let e: Vec<usize> = g.edges(1).map(|e| e.to).collect();
        assert_eq!(e, vec![2]);
    }

    #[test]
    fn zero_state_is_distinct_from_start() {
        let mut b = GraphBuilder::new(1, 0);
        let (z, created) = b.find_or_create(&[0]);
        assert!(created);
        assert_eq!(z, 1);
    }

    #[test]
    fn rejects_structural_errors() {
        let mut b = chain();
        b.add_edge(2, 1, &[0.0]);
        b.add_edge(2, 1, &[1.0]);
        assert!(matches!(
            b.build(),
            Err(GraphError::ParallelEdge { from: 2, to: 1 })
        ));
        let mut b = chain();
        b.add_edge(2, 2, &[1.0]);
        assert_eq!(b.build(), Err(GraphError::SelfLoop(2)));
        let mut b = chain();
        b.add_edge(2, 9, &[1.0]);
        assert!(matches!(b.build(), Err(GraphError::OutOfRange { .. })));
        let mut b = chain();
        b.add_edge(2, 1, &[1.0, 2.0]);
        assert!(matches!(
            b.build(),
            Err(GraphError::CoefficientLength { got: 2, .. })
        ));
        let mut b = chain();
        b.add_edge(2, 1, &[f64::NAN]);
        assert!(matches!(b.build(), Err(GraphError::NotFinite { .. })));
    }

    #[test]
    fn rejects_trap() {
        // 1 -> 2 -> 1 with no way out, although 3 is absorbing.
        let mut b = GraphBuilder::new(1, 1);
        for s in 1..=3 {
            b.find_or_create(&[s]);
        }
        b.add_start_edge(1, 1.0);
        b.add_edge(1, 2, &[1.0]);
        b.add_edge(2, 1, &[1.0]);
        let err = b.build().unwrap_err();
        assert!(matches!(err, GraphError::NotAbsorbing { .. }), "{err}");
    }

    #[test]
    fn zero_coefficient_edges_do_not_count_as_exits() {
        let mut b = GraphBuilder::new(1, 1);
        for s in 1..=3 {
            b.find_or_create(&[s]);
        }
        b.add_start_edge(1, 1.0);
        b.add_edge(1, 2, &[1.0]);
        b.add_edge(2, 3, &[0.0]);
        assert!(matches!(
            b.build(),
            Err(GraphError::NotAbsorbing { vertex: 1, .. })
        ));
    }

    #[test]
    fn rejects_duplicate_states_and_negative_constant_rates() {
        let mut b = GraphBuilder::new(1, 0);
        let a = b.push_vertex(&[1]);
        let c = b.push_vertex(&[1]);
        b.add_start_edge(a, 1.0);
        b.add_edge(a, c, &[1.0]);
        assert!(matches!(
            b.build(),
            Err(GraphError::DuplicateState {
                first: 1,
                second: 2,
                ..
            })
        ));
        let mut b = GraphBuilder::new(1, 0);
        let a = b.push_vertex(&[1]);
        let c = b.push_vertex(&[2]);
        b.add_start_edge(a, 1.0);
        b.add_edge(a, c, &[-1.0]);
        assert!(matches!(b.build(), Err(GraphError::NegativeRate { .. })));
    }

    /// A small xorshift generator for the randomized tests.
    fn rng(mut seed: u64) -> impl FnMut() -> u64 {
        move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        }
    }

    #[test]
    fn forward_sweeps_agree_with_the_general_search() {
        let mut next = rng(11);
        for round in 0..400 {
            let n = 2 + round % 30;
            let mut start = vec![(1 + (next() as u32) % (n as u32 - 1), 1.0)];
            if round % 3 == 0 {
                start.push((1 + (next() as u32) % (n as u32 - 1), 0.0));
                start.sort_by_key(|e| e.0);
                start.dedup_by_key(|e| e.0);
            }
            let (mut offsets, mut targets, mut coeffs) = (vec![0, 0], Vec::new(), Vec::new());
            for v in 1..n {
                for to in v + 1..n {
                    if next().is_multiple_of(4) {
                        targets.push(to as u32);
                        coeffs.push((next() % 3) as f64);
                    }
                }
                offsets.push(targets.len());
            }
            let g = Graph {
                state_length: 1,
                param_length: 1,
                states: (0..n).collect(),
                start,
                offsets,
                targets,
                coeffs,
                discrete: false,
            };
            assert!(g.edges_go_forward());
            let general = g.cannot_absorb(|_, e| Graph::edge_live(e.coeffs));
            assert_eq!(
                g.cannot_absorb_forward()[1..],
                general[1..],
                "round {round}"
            );
            assert_eq!(
                g.reachable_with(true),
                g.reachable_with(false),
                "round {round}"
            );
        }
    }

    #[test]
    fn duplicate_states_name_the_earliest_repeat_and_its_first() {
        let mut next = rng(7);
        let mut found = 0;
        for round in 0..300 {
            let (n, len) = (2 + round % 40, 1 + round % 3);
            let states: Vec<Vec<i32>> = (0..n)
                .map(|_| (0..len).map(|_| (next() % 4) as i32 - 1).collect())
                .collect();
            let mut b = GraphBuilder::new(len, 0);
            for s in &states {
                b.push_vertex(s);
            }
            b.add_start_edge(1, 1.0);
            for v in 1..n {
                b.add_edge(v, v + 1, &[1.0]);
            }
            let mut seen = std::collections::HashMap::new();
            let expected = states
                .iter()
                .enumerate()
                .find_map(|(i, s)| match seen.get(s) {
                    Some(&first) => Some((first, i + 1)),
                    None => {
                        seen.insert(s.clone(), i + 1);
                        None
                    }
                });
            match (b.build(), expected) {
                (
                    Err(GraphError::DuplicateState {
                        first,
                        second,
                        state,
                    }),
                    Some(e),
                ) => {
                    assert_eq!((first, second), e);
                    assert_eq!(state, states[second - 1]);
                    found += 1;
                }
                (Ok(_), None) => {}
                (got, expected) => panic!("{got:?}, expected {expected:?}"),
            }
        }
        assert!(found > 100, "{found}");
    }

    #[test]
    fn edges_added_in_any_order_build_the_same_graph() {
        let mut next = rng(11);
        let n = 30;
        let mut edges: Vec<(usize, usize)> = Vec::new();
        for from in 1..n {
            for to in from + 1..=n {
                if next().is_multiple_of(3) || to == from + 1 {
                    edges.push((from, to));
                }
            }
        }
        let build = |edges: &[(usize, usize)], extra: Option<(usize, usize)>| {
            let mut b = GraphBuilder::new(1, 2);
            for s in 1..=n {
                b.push_vertex(&[s as i32]);
            }
            b.add_start_edge(1, 1.0);
            for &(from, to) in edges.iter().chain(&extra) {
                b.add_edge(from, to, &[from as f64, to as f64]);
            }
            b.build()
        };
        let sorted = build(&edges, None).unwrap();
        for from in 1..n {
            let to: Vec<usize> = sorted.edges(from).map(|e| e.to).collect();
            assert!(to.is_sorted() && !to.is_empty());
            for (e, &t) in sorted.edges(from).zip(&to) {
                assert_eq!(e.coeffs, &[from as f64, t as f64]);
            }
        }
        let mut shuffled = edges.clone();
        for k in (1..shuffled.len()).rev() {
            shuffled.swap(k, next() as usize % (k + 1));
        }
        assert_eq!(build(&shuffled, None).unwrap(), sorted);
        // Two repeated pairs: the smaller one is reported.
        let mut twice = shuffled.clone();
        twice.push((9, 10));
        assert_eq!(
            build(&twice, Some((2, 3))),
            Err(GraphError::ParallelEdge { from: 2, to: 3 })
        );
    }
}
