//! The JAX evaluator: a Python module, generated from a symbolic DAG, that computes the moments
//! as pure `jax.numpy` code batched over a leading axis.
//!
//! XLA compiles a few array operations per *level* far faster than one operation per node, so
//! the module works level by level: the DAG's nodes are renumbered by depth (operands before
//! users) and every level is one gather, one product and one scatter-add; the triangular sweeps
//! are scheduled the same way. Each node is written as a sum of products (`a + b` as
//! `a*1 + b*1`, `a - b` as `a*1 + b*(-1)`, both exact), so the values equal `ptd eval`'s up to
//! the order of additions inside a level. The tables are embedded as base64 (little-endian
//! int32 and float64) so the module stands alone; its text is the same for the same DAG and is
//! formatted as `ruff format` writes it.

use crate::eliminate::{Id, Node, Symbolic};
use base64::Engine;
use std::fmt::Write;

/// Longest line written (ruff's and black's default).
const WIDTH: usize = 88;

/// What the module's header names.
pub struct Header<'a> {
    pub name: &'a str,
    pub version: &'a semver::Version,
    pub parameters: &'a [String],
    /// The graph's canonical content hash.
    pub graph_hash: &'a str,
}

/// The tables the module decodes, in the order it reads them.
#[derive(Default)]
struct Tables {
    ints: Vec<i32>,
    floats: Vec<f64>,
}

impl Tables {
    fn int(&mut self, x: usize) {
        self.ints
            .push(i32::try_from(x).expect("model sizes fit in int32"));
    }
    fn array(&mut self, xs: impl IntoIterator<Item = usize>) {
        let at = self.ints.len();
        self.ints.push(0);
        let mut n = 0;
        for x in xs {
            self.int(x);
            n += 1;
        }
        self.ints[at] = n;
    }
}

/// Node levels: constants and parameters 0, any other node one more than its deepest operand.
fn levels(s: &Symbolic) -> Vec<usize> {
    let dag = &s.dag;
    let mut level = vec![0usize; dag.nodes.len()];
    for (i, node) in dag.nodes.iter().enumerate() {
        let ops: &[Id] = match node {
            Node::Const(_) | Node::Param(_) => &[],
            Node::Add(a, b) | Node::Sub(a, b) | Node::Mul(a, b) | Node::Div(a, b) => {
                level[i] = 1 + level[*a as usize].max(level[*b as usize]);
                continue;
            }
            Node::Sum { start, len } => &dag.args[*start as usize..(*start + *len) as usize],
            Node::Dot { start, len } => &dag.args[*start as usize..(*start + 2 * *len) as usize],
        };
        level[i] = ops
            .iter()
            .map(|&a| 1 + level[a as usize])
            .max()
            .unwrap_or(0);
    }
    level
}

/// Builds the tables: node renumbering by level, per-level terms, and the sweep schedules.
fn tables(s: &Symbolic) -> Tables {
    let dag = &s.dag;
    let n = dag.nodes.len();
    let level = levels(s);
    // Level 0 first: constants (plus 1 and -1 for sums and differences), then parameters.
    let mut consts: Vec<f64> = Vec::new();
    let mut params: Vec<usize> = Vec::new();
    let mut new_id = vec![usize::MAX; n];
    for (i, node) in dag.nodes.iter().enumerate() {
        if let Node::Const(x) = node {
            new_id[i] = consts.len();
            consts.push(*x);
        }
    }
    let one = consts.len();
    consts.push(1.0);
    let minus_one = consts.len();
    consts.push(-1.0);
    for (i, node) in dag.nodes.iter().enumerate() {
        if let Node::Param(j) = node {
            new_id[i] = consts.len() + params.len();
            params.push(*j as usize);
        }
    }
    let depth = level.iter().copied().max().unwrap_or(0);
    let mut by_level: Vec<Vec<usize>> = vec![Vec::new(); depth + 1];
    for i in 0..n {
        if level[i] > 0 {
            by_level[level[i]].push(i);
        }
    }
    let mut next = consts.len() + params.len();
    for nodes in &by_level[1..] {
        for &i in nodes {
            new_id[i] = next;
            next += 1;
        }
    }
    let total = next;
    let mut t = Tables::default();
    let node_levels = by_level[1..].iter().filter(|l| !l.is_empty()).count();
    for x in [total, consts.len(), params.len(), s.vars.len(), node_levels] {
        t.int(x);
    }
    t.array(params.iter().copied());
    for nodes in by_level[1..].iter().filter(|l| !l.is_empty()) {
        let start = new_id[nodes[0]];
        let (mut a, mut b, mut seg) = (Vec::new(), Vec::new(), Vec::new());
        let (mut dpos, mut num, mut den) = (Vec::new(), Vec::new(), Vec::new());
        for (k, &i) in nodes.iter().enumerate() {
            let id = |x: Id| new_id[x as usize];
            let mut term = |x: usize, y: usize| {
                a.push(x);
                b.push(y);
                seg.push(k);
            };
            match dag.nodes[i] {
                Node::Const(_) | Node::Param(_) => unreachable!("level 0"),
                Node::Add(x, y) => {
                    term(id(x), one);
                    term(id(y), one);
                }
                Node::Sub(x, y) => {
                    term(id(x), one);
                    term(id(y), minus_one);
                }
                Node::Mul(x, y) => term(id(x), id(y)),
                Node::Div(x, y) => {
                    dpos.push(k);
                    num.push(id(x));
                    den.push(id(y));
                }
                Node::Sum { start, len } => {
                    for &x in &dag.args[start as usize..(start + len) as usize] {
                        term(id(x), one);
                    }
                }
                Node::Dot { start, len } => {
                    for p in dag.args[start as usize..(start + 2 * len) as usize].chunks_exact(2) {
                        term(id(p[0]), id(p[1]));
                    }
                }
            }
        }
        t.int(start);
        t.int(nodes.len());
        for xs in [a, b, seg, dpos, num, den] {
            t.array(xs);
        }
    }
    sweeps(s, &new_id, &mut t);
    t.floats = consts;
    t.floats.extend(s.start.iter().map(|&(_, p)| p));
    t
}

/// The forward sweep grouped by the level of the value it reads, and back-substitution grouped
/// by dependency level, then the start distribution.
fn sweeps(s: &Symbolic, new_id: &[usize], t: &mut Tables) {
    let m = s.vars.len();
    // c[v] is final once every update into it has been applied.
    let mut ready = vec![0usize; m];
    for &(u, v, _) in &s.forward {
        ready[u as usize] = ready[u as usize].max(ready[v as usize] + 1);
    }
    let fdepth = s.forward.iter().map(|f| ready[f.1 as usize]).max();
    let flevels = fdepth.map_or(0, |d| d + 1);
    t.int(flevels);
    for l in 0..flevels {
        let ops: Vec<&(u32, u32, Id)> = s
            .forward
            .iter()
            .filter(|f| ready[f.1 as usize] == l)
            .collect();
        t.array(ops.iter().map(|f| f.1 as usize));
        t.array(ops.iter().map(|f| new_id[f.2 as usize]));
        t.array(ops.iter().map(|f| f.0 as usize));
    }
    // x[i] needs x[w] for every w in its row (all later unknowns).
    let mut lvl = vec![0usize; m];
    for i in (0..m).rev() {
        lvl[i] = (s.row_offsets[i]..s.row_offsets[i + 1])
            .map(|k| lvl[s.row_vars[k] as usize] + 1)
            .max()
            .unwrap_or(0);
    }
    let blevels = lvl.iter().max().map_or(0, |d| d + 1);
    t.int(blevels);
    for l in 0..blevels {
        let idx: Vec<usize> = (0..m).filter(|&i| lvl[i] == l).collect();
        let (mut seg, mut a, mut w) = (Vec::new(), Vec::new(), Vec::new());
        for (k, &i) in idx.iter().enumerate() {
            for j in s.row_offsets[i]..s.row_offsets[i + 1] {
                seg.push(k);
                a.push(new_id[s.row_nodes[j] as usize]);
                w.push(s.row_vars[j] as usize);
            }
        }
        t.array(idx.iter().map(|&i| new_id[s.pivots[i] as usize]));
        t.array(idx);
        t.array(seg);
        t.array(a);
        t.array(w);
    }
    t.array(s.start.iter().map(|&(i, _)| i as usize));
}

/// `name = (\n    "..."\n    "..."\n)`: a long string literal split over lines.
fn blob(out: &mut String, name: &str, bytes: &[u8]) {
    let text = base64::engine::general_purpose::STANDARD.encode(bytes);
    let one = format!("{name} = \"{text}\"");
    if one.len() <= WIDTH {
        out.push_str(&one);
        out.push('\n');
        return;
    }
    let _ = writeln!(out, "{name} = (");
    let chunk = WIDTH - 6;
    for piece in text.as_bytes().chunks(chunk) {
        let _ = writeln!(
            out,
            "    \"{}\"",
            std::str::from_utf8(piece).expect("base64")
        );
    }
    out.push_str(")\n");
}

fn py_str(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialize")
}

/// The evaluator module's source text, identical for identical input.
pub fn evaluator(s: &Symbolic, h: &Header) -> String {
    let t = tables(s);
    let params: Vec<String> = h.parameters.iter().map(|p| py_str(p)).collect();
    let params = match params.len() {
        1 => format!("({},)", params[0]),
        _ => format!("({})", params.join(", ")),
    };
    let mut out = String::new();
    let _ = write!(
        out,
        r#""""JAX evaluator for {name} {version}.

Generated by ptd from the model's symbolic DAG. Every function takes theta of shape
(batch, {p}) or ({p},) and computes in theta's floating dtype; enable float64 with
jax.config.update("jax_enable_x64", True). The values equal `ptd eval`'s up to the order
of additions. Nothing here checks theta: a negative rate or a chain that cannot reach
absorption gives meaningless numbers where `ptd eval` reports an error.
"""

import base64
import os

import jax
import jax.numpy as jnp
import numpy as np

NAME = {name_s}
VERSION = {version_s}
GRAPH_HASH = {hash_s}
PARAMETERS = {params}
PARAM_LENGTH = {p}

# The DAG's nodes by level, the sweep schedules and the start distribution, as
# little-endian int32 (_INTS) and float64 (_FLOATS) tables.
"#,
        name = h.name,
        version = h.version,
        p = s.param_length,
        name_s = py_str(h.name),
        version_s = py_str(&h.version.to_string()),
        hash_s = py_str(h.graph_hash),
    );
    let ints: Vec<u8> = t.ints.iter().flat_map(|x| x.to_le_bytes()).collect();
    let floats: Vec<u8> = t.floats.iter().flat_map(|x| x.to_le_bytes()).collect();
    blob(&mut out, "_INTS", &ints);
    blob(&mut out, "_FLOATS", &floats);
    out.push_str(FUNCTIONS);
    out
}

const FUNCTIONS: &str = r#"

def _tables():
    ints = np.frombuffer(base64.b64decode(_INTS), "<i4").astype(np.int64)
    floats = np.frombuffer(base64.b64decode(_FLOATS), "<f8")
    at = 0

    def take(n):
        nonlocal at
        at += n
        return ints[at - n : at]

    def array():
        return take(int(take(1)[0]))

    total, n_consts, n_params, unknowns, n_levels = (int(x) for x in take(5))
    params = array()
    levels = []
    for _ in range(n_levels):
        start, size = (int(x) for x in take(2))
        levels.append((start, size, *(array() for _ in range(6))))
    forward = [tuple(array() for _ in range(3)) for _ in range(int(take(1)[0]))]
    backward = [tuple(array() for _ in range(5)) for _ in range(int(take(1)[0]))]
    start = array()
    consts = floats[:n_consts]
    probs = floats[n_consts:]
    return total, consts, params, unknowns, levels, forward, backward, start, probs


TOTAL, CONSTS, PARAMS, UNKNOWNS, LEVELS, FORWARD, BACKWARD, START, PROBS = _tables()


def _div(a, b):
    zero = b == 0
    return jnp.where(zero, 0.0, a / jnp.where(zero, 1.0, b))


def _nodes(t):
    b = t.shape[0]
    fixed = len(CONSTS) + len(PARAMS)
    v = jnp.concatenate(
        [
            jnp.broadcast_to(jnp.asarray(CONSTS, t.dtype), (b, len(CONSTS))),
            t[:, PARAMS],
            jnp.zeros((b, TOTAL - fixed), t.dtype),
        ],
        axis=1,
    )
    for start, size, a, c, seg, dpos, num, den in LEVELS:
        vals = jnp.zeros((b, size), t.dtype)
        if len(a):
            vals = vals.at[:, seg].add(v[:, a] * v[:, c])
        if len(dpos):
            vals = vals.at[:, dpos].set(_div(v[:, num], v[:, den]))
        v = v.at[:, start : start + size].set(vals)
    return v


def _solve(v, r):
    c = r
    for src, node, dst in FORWARD:
        c = c.at[:, dst].add(v[:, node] * c[:, src])
    x = jnp.zeros_like(r)
    for piv, idx, seg, a, w in BACKWARD:
        s = c[:, idx]
        if len(a):
            s = s.at[:, seg].add(v[:, a] * x[:, w])
        x = x.at[:, idx].set(_div(s, v[:, piv]))
    return x


def moments(theta, k=2):
    """The first k raw moments E[T], E[T^2], ..., E[T^k] of the absorption time.

    theta has shape (batch, PARAM_LENGTH) or (PARAM_LENGTH,); the result has shape
    (batch, k) or (k,).
    """
    t = jnp.asarray(theta, dtype=jnp.result_type(float))
    single = t.ndim == 1
    t = t[None] if single else t
    v = _nodes(t)
    r = jnp.ones((t.shape[0], UNKNOWNS), t.dtype)
    probs = jnp.asarray(PROBS, t.dtype)
    out = []
    f = 1.0
    for j in range(1, k + 1):
        x = _solve(v, r)
        f = f * j
        out.append(f * jnp.sum(x[:, START] * probs, axis=1))
        r = x
    m = jnp.stack(out, axis=-1)
    return m[0] if single else m


def mean(theta):
    """E[T]: shape (batch,) or ()."""
    return moments(theta, 1)[..., 0]


def variance(theta):
    """Var[T] = E[T^2] - E[T]^2: shape (batch,) or ()."""
    m = moments(theta, 2)
    return m[..., 1] - m[..., 0] ** 2


def use_compilation_cache(path=None):
    """Points JAX's persistent compilation cache at path and returns it.

    The default is $JAX_COMPILATION_CACHE_DIR, else ~/.jax_cache: where ptd installs compiled
    entries. It also sets jax_persistent_cache_enable_xla_caches to "none", as ptd does when
    it compiles: otherwise JAX puts the path of its XLA autotuning cache (a directory inside
    the cache) into every entry's key, and entries compiled elsewhere would never match.
    """
    if path is None:
        path = os.environ.get("JAX_COMPILATION_CACHE_DIR") or os.path.join(
            os.path.expanduser("~"), ".jax_cache"
        )
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_enable_xla_caches", "none")
    return path


# Compiled forms. ptd's JAX archives hold persistent-cache entries for moments_jit
# (float64, the default k) at the batch sizes they were built for.
moments_jit = jax.jit(moments, static_argnames=("k",))
mean_jit = jax.jit(mean)
variance_jit = jax.jit(variance)
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_blobs_are_split_within_the_width() {
        let mut out = String::new();
        blob(&mut out, "_INTS", &[7u8; 500]);
        assert!(out.lines().all(|l| l.len() <= WIDTH));
        assert!(out.lines().count() > 3);
        let mut short = String::new();
        blob(&mut short, "_X", &[1, 2, 3]);
        assert_eq!(short, "_X = \"AQID\"\n");
    }
}
