//! The binary graph layout, `graph.bin` in a bundle (`docs/bundle-format.md`): the in-memory
//! compressed sparse rows written as little-endian arrays ([`crate::layout`]), read straight
//! back into them. Reading checks everything the graph file's reader checks (`docs/graph-file.md`)
//! and names the array and row of each problem.

use super::file::MAX_PARAM_LENGTH;
use super::{Graph, GraphError, GraphFileError};
use crate::layout::{LayoutError, Reader, Writer};

/// The layout's magic.
pub const MAGIC: &[u8; 8] = b"PTDGRAPH";
/// The layout version this ptd writes and reads.
pub const VERSION: u32 = 1;
/// Flag bit: a discrete phase-type graph.
const DISCRETE: u32 = 1;

impl From<LayoutError> for GraphFileError {
    fn from(e: LayoutError) -> Self {
        GraphFileError {
            file: e.file,
            place: e.place,
            message: e.message,
        }
    }
}

impl Graph {
    /// The graph in the binary layout; equal graphs give equal bytes.
    pub fn to_binary(&self) -> Vec<u8> {
        let flags = if self.discrete { DISCRETE } else { 0 };
        let size = self.states.len() * 4 + self.targets.len() * 4 + self.coeffs.len() * 8;
        let mut w = Writer::new(MAGIC, VERSION, flags, size + self.offsets.len() * 8 + 128);
        w.u64(self.state_length as u64);
        w.u64(self.param_length as u64);
        w.u64(self.vertex_count() as u64);
        w.ints(&self.states);
        w.uints(&self.start.iter().map(|e| e.0).collect::<Vec<_>>());
        w.f64s(self.start.iter().map(|e| e.1));
        w.u64s(self.offsets.iter().map(|&o| o as u64));
        w.uints(&self.targets);
        w.f64s(self.coeffs.iter().copied());
        w.finish()
    }

    /// Reads and validates a binary graph; `file` names it in errors.
    pub fn from_binary(bytes: &[u8], file: &str) -> Result<Graph, GraphFileError> {
        let g = Self::from_binary_installed(bytes, file)?;
        let err = |place: String, message: String| GraphFileError {
            file: file.into(),
            place,
            message,
        };
        if !g.start.iter().any(|&(_, w)| w > 0.0) {
            return Err(err("start_weights".into(), GraphError::NoStart.to_string()));
        }
        g.check_model().map_err(|e| {
            err(
                e.state_row().unwrap_or_else(|| "graph".into()),
                e.to_string(),
            )
        })?;
        Ok(g)
    }

    /// Reads a binary graph with every check that keeps its indices in bounds and its numbers
    /// finite, but not the checks of the whole model (unique states, a start, absorption):
    /// for a graph installing already validated, whose file still matches its manifest.
    pub fn from_binary_installed(bytes: &[u8], file: &str) -> Result<Graph, GraphFileError> {
        let mut r = Reader::open(
            bytes,
            MAGIC,
            (VERSION, DISCRETE),
            file,
            "a binary graph (graph.bin)",
        )?;
        let discrete = r.flags & DISCRETE != 0;
        let state_length = r.size("state_length", u32::MAX as u64)?;
        let param_length = r.size("param_length", MAX_PARAM_LENGTH as u64)?;
        let n = r.size("n_vertices", u32::MAX as u64)?;
        let states = r.ints("states")?;
        let start_to = r.uints("start_targets")?;
        let start_w = r.f64s("start_weights")?;
        let offsets = r.u64s("offsets")?;
        let targets = r.uints("targets")?;
        let coeffs = r.f64s("coefficients")?;
        let err = |place: String, message: String| GraphFileError {
            file: file.into(),
            place,
            message,
        };
        r.finish()?;
        if n == 0 {
            return Err(err(
                "n_vertices".into(),
                "must be at least 1 (the starting vertex)".into(),
            ));
        }
        if state_length == 0 {
            return Err(err("state_length".into(), "must be at least 1".into()));
        }
        if Some(states.len()) != n.checked_mul(state_length) {
            return Err(err(
                "states".into(),
                format!(
                    "has {} values, expected n_vertices x state_length = {n} x {state_length}",
                    states.len()
                ),
            ));
        }
        if states[..state_length].iter().any(|&s| s != 0) {
            return Err(err(
                "states[0]".into(),
                "the starting vertex must have the all-zero state".into(),
            ));
        }
        if start_to.len() != start_w.len() {
            return Err(err(
                "start_weights".into(),
                format!(
                    "{} weights for {} start targets",
                    start_w.len(),
                    start_to.len()
                ),
            ));
        }
        for (k, (&to, &w)) in start_to.iter().zip(&start_w).enumerate() {
            let place = || format!("start_targets[{k}]");
            if to == 0 || to as usize >= n {
                return Err(err(
                    place(),
                    format!("target {to} is not a vertex 1..{}", n - 1),
                ));
            }
            if k > 0 && start_to[k - 1] >= to {
                return Err(err(
                    place(),
                    "start targets must be strictly increasing (no two start edges to one vertex)"
                        .into(),
                ));
            }
            if !w.is_finite() || w < 0.0 {
                return Err(err(
                    format!("start_weights[{k}]"),
                    format!("weight {w} is not a finite number >= 0"),
                ));
            }
        }
        if offsets.len() != n + 1 {
            return Err(err(
                "offsets".into(),
                format!(
                    "has {} entries, expected n_vertices + 1 = {}",
                    offsets.len(),
                    n + 1
                ),
            ));
        }
        if offsets[0] != 0 || offsets[1] != 0 {
            return Err(err(
                "offsets".into(),
                "rows 0 must be empty (the start's edges are the start arrays)".into(),
            ));
        }
        if offsets[n] != targets.len() as u64 {
            return Err(err(
                format!("offsets[{n}]"),
                format!("is {}, but there are {} targets", offsets[n], targets.len()),
            ));
        }
        let width = param_length.max(1);
        if Some(coeffs.len()) != targets.len().checked_mul(width) {
            return Err(err(
                "coefficients".into(),
                format!(
                    "has {} values, expected {width} per edge for {} edges",
                    coeffs.len(),
                    targets.len()
                ),
            ));
        }
        let mut offs = Vec::with_capacity(n + 1);
        offs.push(0usize);
        for v in 0..n {
            let (lo, hi) = (offsets[v], offsets[v + 1]);
            if hi < lo {
                return Err(err(
                    format!("offsets[{}]", v + 1),
                    "offsets must not decrease".into(),
                ));
            }
            if hi > targets.len() as u64 {
                return Err(err(
                    format!("offsets[{}]", v + 1),
                    format!("row {v} ends past the {} targets", targets.len()),
                ));
            }
            let (lo, hi) = (lo as usize, hi as usize);
            offs.push(hi);
            let mut sum = 0.0;
            for k in lo..hi {
                let t = targets[k] as usize;
                let place = || format!("targets[{k}]");
                if t == 0 || t >= n {
                    return Err(err(
                        place(),
                        format!("edge {v} -> {t}: the target is not a vertex 1..{}", n - 1),
                    ));
                }
                if t == v {
                    return Err(err(place(), GraphError::SelfLoop(v).to_string()));
                }
                if k > lo && targets[k - 1] as usize >= t {
                    return Err(err(
                        place(),
                        format!(
                            "edge {v} -> {t}: a row's targets must be strictly increasing (no two edges between one pair of vertices)"
                        ),
                    ));
                }
                for (j, &c) in coeffs[k * width..(k + 1) * width].iter().enumerate() {
                    if !c.is_finite() || (param_length == 0 && c < 0.0) {
                        return Err(err(
                            format!("coefficients[{}]", k * width + j),
                            format!(
                                "edge {v} -> {t}: {c} is not a finite {}",
                                if param_length == 0 {
                                    "rate >= 0"
                                } else {
                                    "coefficient"
                                }
                            ),
                        ));
                    }
                    sum += c;
                }
            }
            if discrete && param_length == 0 && sum > 1.0 + 1e-12 {
                return Err(err(
                    format!("offsets[{v}]"),
                    format!(
                        "vertex {v}'s step probabilities sum to {sum}, more than 1 (a discrete graph's edge weights are one-step probabilities; the rest is the chance to stay)"
                    ),
                ));
            }
        }
        let graph = Graph {
            state_length,
            param_length,
            states,
            start: start_to.into_iter().zip(start_w).collect(),
            offsets: offs,
            targets,
            coeffs,
            discrete,
        };
        Ok(graph)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::GraphBuilder;

    fn sample(discrete: bool, param_length: usize) -> Graph {
        let mut b = GraphBuilder::new(2, param_length);
        b.set_discrete(discrete);
        let (a, _) = b.find_or_create(&[1, 0]);
        let (c, _) = b.find_or_create(&[0, 1]);
        let (z, _) = b.find_or_create(&[-3, 7]);
        b.add_start_edge(a, 0.75);
        b.add_start_edge(c, 0.25);
        let w = |x: f64| vec![x; param_length.max(1)];
        b.add_edge(a, c, &w(0.25));
        b.add_edge(c, a, &w(0.5));
        b.add_edge(a, z, &w(0.5));
        b.add_edge(c, z, &w(-0.0));
        b.build().unwrap()
    }

    #[test]
    fn graphs_round_trip_byte_for_byte() {
        for (discrete, p) in [(false, 0), (false, 2), (true, 0), (true, 1)] {
            let g = sample(discrete, p);
            let bytes = g.to_binary();
            let back = Graph::from_binary(&bytes, "g.bin").unwrap();
            assert_eq!(back, g);
            assert_eq!(back.to_binary(), bytes);
            assert_eq!(
                crate::hash::GraphHashes::of(&back),
                crate::hash::GraphHashes::of(&g)
            );
        }
    }

    /// `sample(false, 0)`'s layout with `bytes` written at element `k` of field `field`.
    fn patched(field: usize, k: usize, bytes: &[u8]) -> Vec<u8> {
        let mut b = sample(false, 0).to_binary();
        let (at, width) = crate::layout::field_offsets(&b, KINDS).unwrap()[field];
        b[at + k * width..at + k * width + bytes.len()].copy_from_slice(bytes);
        b
    }

    /// The fields of `graph.bin` ([`crate::layout::field_offsets`]).
    const KINDS: &str = "uuuiiffif";

    #[test]
    fn damage_is_refused_with_its_place() {
        let good = sample(false, 0).to_binary();
        let at = crate::layout::field_offsets(&good, KINDS).unwrap();
        // Narrow integers: states and targets take one byte each here.
        assert_eq!((at[3].1, at[7].1), (1, 1));
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                {
                    let mut b = good.clone();
                    b[..8].copy_from_slice(b"PTDGRAPX");
                    b
                },
                "header: not a binary graph",
            ),
            (
                {
                    let mut b = good.clone();
                    b[8] = 2;
                    b
                },
                "layout version 2",
            ),
            (
                {
                    let mut b = good.clone();
                    b[12] = 4;
                    b
                },
                "unknown flags",
            ),
            // Vertex 2's state [0, 1] made vertex 1's [1, 0].
            (
                patched(3, 4, &[1, 0]),
                "states[2]: vertices 1 and 2 have the same state",
            ),
            (patched(3, 0, &[5]), "states[0]: the starting vertex"),
            (patched(4, 0, &[0]), "start_targets[0]: target 0"),
            (
                patched(5, 0, &f64::NAN.to_le_bytes()),
                "start_weights[0]: weight NaN",
            ),
            (
                patched(7, 1, &[2]),
                "targets[1]: edge 1 -> 2: a row's targets",
            ),
            (
                patched(7, 0, &[1]),
                "targets[0]: vertex 1 has an edge to itself",
            ),
            (patched(7, 0, &[9]), "targets[0]: edge 1 -> 9"),
            (
                patched(8, 0, &(-1.0f64).to_le_bytes()),
                "coefficients[0]: edge 1 -> 2: -1 is not a finite rate >= 0",
            ),
            (
                patched(6, 2, &5u64.to_le_bytes()),
                "offsets[2]: row 1 ends past the 4 targets",
            ),
            (good[..good.len() - 8].to_vec(), "coefficients: "),
        ];
        for (bytes, want) in cases {
            let e = Graph::from_binary(&bytes, "g.bin").unwrap_err().to_string();
            assert!(e.starts_with("g.bin: "), "{e}");
            assert!(e.contains(want), "{e}\n  expected: {want}");
        }
        // A vertex that cannot reach absorption: 1 -> 2 -> 3, with the last edge pointed back.
        let mut b = GraphBuilder::new(1, 0);
        let (a, _) = b.find_or_create(&[1]);
        let (c, _) = b.find_or_create(&[2]);
        let (z, _) = b.find_or_create(&[3]);
        b.add_start_edge(a, 1.0);
        b.add_edge(a, c, &[1.0]);
        b.add_edge(c, z, &[1.0]);
        let mut bytes = b.build().unwrap().to_binary();
        let (at, _) = crate::layout::field_offsets(&bytes, KINDS).unwrap()[7];
        bytes[at + 1] = 1;
        let e = Graph::from_binary(&bytes, "g.bin").unwrap_err().to_string();
        assert!(e.contains("cannot reach an absorbing vertex"), "{e}");
        // Read as installed, the model is not re-validated, but indices still are.
        assert!(Graph::from_binary_installed(&bytes, "g.bin").is_ok());
        let e = Graph::from_binary_installed(&patched(7, 0, &[9]), "g.bin").unwrap_err();
        assert!(e.to_string().contains("edge 1 -> 9"), "{e}");
    }
}
