"""JAX evaluator of an installed ptd model.

This module is ptd's own code, the same for every model: `ptd install` writes it next to
`evaluator.bin`, the tables ptd derives from the model's verified symbolic DAG, and the
module reads them from there. Every function takes theta of shape (batch, P) or (P,) and
computes in theta's floating dtype; enable float64 with
jax.config.update("jax_enable_x64", True). The values equal `ptd eval`'s up to the order
of additions. Nothing here checks theta: a negative rate or a chain that cannot reach
absorption gives meaningless numbers where `ptd eval` reports an error.
"""

import json
import os
import struct

import jax
import jax.numpy as jnp
import numpy as np

_MAGIC = b"PTDEVAL\0"
_FORMAT_VERSION = 1


def _align(n):
    return (n + 7) // 8 * 8


def _read(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != _MAGIC:
        raise ValueError(f"{path}: not a ptd evaluator tables file")
    version, size = struct.unpack_from("<II", data, 8)
    if version != _FORMAT_VERSION:
        raise ValueError(
            f"{path}: tables format {version}, this module reads {_FORMAT_VERSION}"
        )
    header = json.loads(data[16 : 16 + size])
    at = _align(16 + size)
    ints = np.frombuffer(data, "<i4", header["ints"], at).astype(np.int64)
    at = _align(at + 4 * header["ints"])
    floats = np.frombuffer(data, "<f8", header["floats"], at)
    return header, ints, floats


def _tables(ints, floats):
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


_HEADER, _INTS, _FLOATS = _read(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "evaluator.bin")
)
NAME = _HEADER["name"]
VERSION = _HEADER["version"]
GRAPH_HASH = _HEADER["graph_hash"]
PARAMETERS = tuple(_HEADER["parameters"])
PARAM_LENGTH = _HEADER["param_length"]
TOTAL, CONSTS, PARAMS, UNKNOWNS, LEVELS, FORWARD, BACKWARD, START, PROBS = _tables(
    _INTS, _FLOATS
)


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
