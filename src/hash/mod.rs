//! Content hashes of a graph.
//!
//! * [`phasic_hash`] reproduces phasic 0.32.1's `phasic.hash.compute_graph_hash(g).hash_hex`
//!   byte for byte, for the graph phasic rebuilds from the same graph file. It is the name under
//!   which phasic's own caches store results for that graph.
//! * [`canonical_hash`] does not depend on the order in which vertices were created or listed;
//!   `docs/hashes.md` describes its layout and limits.

use crate::graph::Graph;
use sha2::{Digest, Sha256};

/// Both hashes of a graph, as lowercase hex.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GraphHashes {
    pub phasic: String,
    pub canonical: String,
}

impl GraphHashes {
    pub fn of(graph: &Graph) -> Self {
        // The two hashes are independent; a large graph hashes them side by side.
        let (phasic, canonical) = if graph.edge_count() + graph.vertex_count() >= PARALLEL_FROM {
            std::thread::scope(|s| {
                let canonical = s.spawn(|| canonical_hash(graph));
                let phasic = phasic_hash(graph);
                match canonical.join() {
                    Ok(canonical) => (phasic, canonical),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            })
        } else {
            (phasic_hash(graph), canonical_hash(graph))
        };
        GraphHashes {
            phasic: hex::encode(phasic),
            canonical: hex::encode(canonical),
        }
    }
}

/// Vertices plus edges from which [`GraphHashes::of`] computes the two hashes in two threads.
const PARALLEL_FROM: usize = 200_000;

/// Bytes gathered before they are fed to a hasher: one call per chunk instead of one per number.
const CHUNK: usize = 1 << 16;

/// phasic's graph content hash.
///
/// `SHA-256(u64 state_length, u64 param_length, u64 n_vertices, u8 flags, u64 vertex_hash...)`
/// with little-endian integers; a vertex hash is the first 8 bytes (big-endian) of
/// `SHA-256(i32 state..., then per out-edge by increasing target: u64 target, f64 coefficient...)`.
/// A graph of constant rates stores one coefficient per edge and reports `param_length` 1.
pub fn phasic_hash(g: &Graph) -> [u8; 32] {
    let n = g.vertex_count();
    let mut top = Sha256::new();
    top.update((g.state_length() as u64).to_le_bytes());
    top.update((g.coef_width() as u64).to_le_bytes());
    top.update((n as u64).to_le_bytes());
    top.update([u8::from(g.is_parameterized()) | (u8::from(g.is_discrete()) << 1)]);
    let mut buf: Vec<u8> = Vec::with_capacity(256);
    let mut hashes: Vec<u8> = Vec::with_capacity(CHUNK + 8);
    for v in 0..n {
        buf.clear();
        put_ints(&mut buf, g.state(v));
        if v == 0 {
            for &(to, w) in g.start_edges() {
                buf.extend_from_slice(&(to as u64).to_le_bytes());
                buf.extend_from_slice(&w.to_le_bytes());
            }
        } else {
            for e in g.edges(v) {
                buf.extend_from_slice(&(e.to as u64).to_le_bytes());
                for c in e.coeffs {
                    buf.extend_from_slice(&c.to_le_bytes());
                }
            }
        }
        let d = Sha256::digest(&buf);
        // The first 8 digest bytes read big-endian, stored little-endian: reversed.
        let mut vh = [0u8; 8];
        vh.copy_from_slice(&d[..8]);
        vh.reverse();
        hashes.extend_from_slice(&vh);
        if hashes.len() >= CHUNK {
            top.update(&hashes);
            hashes.clear();
        }
    }
    top.update(&hashes);
    top.finalize().into()
}

/// The vertices other than the start, sorted by state.
///
/// Vertices are sorted by a key that packs two state entries in their order (an `i32` with
/// its sign bit flipped orders as a `u32`), first entries 0 and 1; each run of equal keys is
/// then sorted again by the next two entries, and so on. Sorting compares integers only, and
/// each state is read once per pair of entries it needs, not once per comparison.
fn state_order(g: &Graph) -> Vec<usize> {
    let n = g.vertex_count();
    let len = g.state_length();
    let flip = |x: i32| u64::from(x as u32 ^ 0x8000_0000);
    let key = |v: u32, at: usize| {
        let s = g.state(v as usize);
        (flip(s[at]) << 32) | s.get(at + 1).map_or(0, |&x| flip(x))
    };
    let mut keyed: Vec<(u64, u32)> = (1..n as u32).map(|v| (key(v, 0), v)).collect();
    keyed.sort_unstable();
    // Runs of equal keys still to be ordered by the entries from `at` on: (start, end, at).
    let mut todo: Vec<(usize, usize, usize)> = Vec::new();
    let push_runs = |keyed: &[(u64, u32)], base: usize, at: usize, todo: &mut Vec<_>| {
        if at >= len {
            return;
        }
        let mut i = 0;
        for run in keyed.chunk_by(|a, b| a.0 == b.0) {
            if run.len() > 1 {
                todo.push((base + i, base + i + run.len(), at));
            }
            i += run.len();
        }
    };
    push_runs(&keyed, 0, 2, &mut todo);
    while let Some((a, b, at)) = todo.pop() {
        let run = &mut keyed[a..b];
        for e in run.iter_mut() {
            e.0 = key(e.1, at);
        }
        run.sort_unstable();
        push_runs(run, a, at + 2, &mut todo);
    }
    keyed.into_iter().map(|(_, v)| v as usize).collect()
}

/// Appends `xs` as little-endian bytes, in one resize rather than one push per value.
fn put_ints(buf: &mut Vec<u8>, xs: &[i32]) {
    let at = buf.len();
    buf.resize(at + 4 * xs.len(), 0);
    for (d, x) in buf[at..].chunks_exact_mut(4).zip(xs) {
        d.copy_from_slice(&x.to_le_bytes());
    }
}

/// Domain tag that starts every canonical hash input; bump the version to change the layout.
const CANONICAL_TAG: &[u8] = b"ptd-canonical-graph-v1\0";

/// An order-independent hash: vertices are renumbered by sorting their (unique) states, the
/// starting vertex first, and the renumbered graph is hashed in one stream. A large graph's
/// stream is hashed in a second thread while it is written.
pub fn canonical_hash(g: &Graph) -> [u8; 32] {
    if g.edge_count() + g.vertex_count() < PARALLEL_FROM {
        let mut h = Sha256::new();
        canonical_stream(g, |buf: &mut Vec<u8>| {
            h.update(&buf[..]);
            buf.clear();
        });
        return h.finalize().into();
    }
    std::thread::scope(|s| {
        // Full buffers go to the hasher, and come back empty to be filled again.
        let (full, to_hash) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
        let (done, empty) = std::sync::mpsc::channel::<Vec<u8>>();
        let hasher = s.spawn(move || {
            let mut h = Sha256::new();
            for buf in to_hash {
                h.update(&buf);
                let _ = done.send(buf);
            }
            h.finalize()
        });
        canonical_stream(g, |buf: &mut Vec<u8>| {
            let mut next = empty
                .try_recv()
                .unwrap_or_else(|_| Vec::with_capacity(2 * CHUNK));
            next.clear();
            let _ = full.send(std::mem::replace(buf, next));
        });
        drop(full);
        match hasher.join() {
            Ok(digest) => digest.into(),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Writes the canonical hash's input into a buffer, handing it to `flush` whenever it holds
/// [`CHUNK`] bytes or more, and at the end; `flush` leaves the buffer empty.
fn canonical_stream(g: &Graph, mut flush: impl FnMut(&mut Vec<u8>)) {
    let n = g.vertex_count();
    // rank[v]: position of v in canonical order.
    let order = state_order(g);
    let mut rank = vec![0u64; n];
    for (i, &v) in order.iter().enumerate() {
        rank[v] = i as u64 + 1;
    }
    let norm = |x: f64| if x == 0.0 { 0.0f64 } else { x };
    let mut buf: Vec<u8> = Vec::with_capacity(2 * CHUNK);
    buf.extend_from_slice(CANONICAL_TAG);
    buf.extend_from_slice(&(g.state_length() as u64).to_le_bytes());
    buf.extend_from_slice(&(g.param_length() as u64).to_le_bytes());
    buf.extend_from_slice(&(n as u64).to_le_bytes());
    let mut start: Vec<(u64, f64)> = g
        .start_edges()
        .iter()
        .map(|&(to, w)| (rank[to as usize], norm(w)))
        .collect();
    start.sort_unstable_by_key(|e| e.0);
    buf.extend_from_slice(&(start.len() as u64).to_le_bytes());
    for (to, w) in start {
        buf.extend_from_slice(&to.to_le_bytes());
        buf.extend_from_slice(&w.to_le_bytes());
    }
    let mut row: Vec<(u64, usize)> = Vec::new();
    let w = g.coef_width();
    let mut coeffs: Vec<f64> = Vec::new();
    for &v in &order {
        put_ints(&mut buf, g.state(v));
        row.clear();
        coeffs.clear();
        let mut in_order = true;
        for (k, e) in g.edges(v).enumerate() {
            let to = rank[e.to];
            in_order &= row.last().is_none_or(|&(last, _)| last <= to);
            row.push((to, k));
            coeffs.extend(e.coeffs.iter().map(|&c| norm(c)));
        }
        if !in_order {
            row.sort_unstable_by_key(|e| e.0);
        }
        buf.extend_from_slice(&(row.len() as u64).to_le_bytes());
        for &(to, k) in &row {
            buf.extend_from_slice(&to.to_le_bytes());
            for c in &coeffs[k * w..(k + 1) * w] {
                buf.extend_from_slice(&c.to_le_bytes());
            }
        }
        if buf.len() >= CHUNK {
            flush(&mut buf);
        }
    }
    if g.is_discrete() {
        // After the whole stream, so continuous graphs keep their hashes.
        buf.extend_from_slice(b"discrete");
    }
    flush(&mut buf);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::GraphBuilder;

    fn kingman3(order: &[i32]) -> Graph {
        let mut b = GraphBuilder::new(1, 1);
        for &s in order {
            b.find_or_create(&[s]);
        }
        let id = |s: i32| 1 + order.iter().position(|&x| x == s).unwrap();
        b.add_start_edge(id(3), 1.0);
        b.add_edge(id(3), id(2), &[3.0]);
        b.add_edge(id(2), id(1), &[1.0]);
        b.build().unwrap()
    }

    #[test]
    fn phasic_hash_of_known_graph() {
        // Value printed by phasic 0.32.1 for Graph.from_serialized of this 3-sample Kingman graph.
        let h = hex::encode(phasic_hash(&kingman3(&[3, 2, 1])));
        assert_eq!(
            h,
            "ba3496f47d6d1e212ae665323a9a6b7abacbef460beadee0022106054a543429"
        );
    }

    #[test]
    fn state_order_is_the_order_of_the_states() {
        let mut seed = 0x9e37_79b9_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..200 {
            let len = 1 + round % 4;
            let mut b = GraphBuilder::new(len, 1);
            let mut seen = std::collections::HashSet::new();
            for _ in 0..1 + round % 50 {
                let s: Vec<i32> = (0..len)
                    .map(|_| match next() % 5 {
                        0 => i32::MIN + (next() % 2) as i32,
                        1 => i32::MAX - (next() % 2) as i32,
                        _ => (next() % 5) as i32 - 2,
                    })
                    .collect();
                if s.iter().any(|&x| x != 0) && seen.insert(s.clone()) {
                    b.push_vertex(&s);
                }
            }
            let n = b.vertex_count();
            if n < 2 {
                continue;
            }
            b.add_start_edge(1, 1.0);
            let g = b.build().unwrap();
            let mut want: Vec<usize> = (1..n).collect();
            want.sort_by(|&a, &b| g.state(a).cmp(g.state(b)));
            assert_eq!(state_order(&g), want, "round {round}");
        }
    }

    #[test]
    fn canonical_ignores_vertex_order_but_not_content() {
        let a = kingman3(&[3, 2, 1]);
        let b = kingman3(&[1, 3, 2]);
        assert_ne!(phasic_hash(&a), phasic_hash(&b));
        assert_eq!(canonical_hash(&a), canonical_hash(&b));
        let mut c = GraphBuilder::new(1, 1);
        for s in [3, 2, 1] {
            c.find_or_create(&[s]);
        }
        c.add_start_edge(1, 1.0);
        c.add_edge(1, 2, &[3.0]);
        c.add_edge(2, 3, &[1.5]);
        assert_ne!(canonical_hash(&a), canonical_hash(&c.build().unwrap()));
    }
}
