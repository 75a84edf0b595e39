"""JAX evaluator of an installed ptd model.

This module is ptd's own code, the same for every model: ptd writes it next to
`evaluator.bin`, the tables ptd derives from the model's verified symbolic DAG, when it is
first asked for (`ptd which`), and the module reads them from there. Every function is a pure function of theta that works under
jax.jit, jax.vmap and jax.grad (exact derivatives); theta has shape (P,) or (batch, P) and
results gain the same leading batch axis. Computation is in theta's floating dtype; enable
float64 with jax.config.update("jax_enable_x64", True).

    moments(theta, k=2, rewards=None)   E[T^j] or E[Y^j], j = 1..k
    mean(theta, rewards=None), variance(theta, rewards=None)
    covariance(theta, rewards)          Cov(Y_f, Y_g) for rewards (F, V)
    sojourn(theta)                      expected time in each vertex (alpha U), per vertex id
    pdf(theta, times, rewards=None, steps=None), cdf(...)
    zero_atom(theta, rewards=None)      P(T = 0) or P(Y = 0)
    pmf_and_moments(theta, times, rewards=None, k=2, steps=None)
    steps_for(theta, times, rewards=None, margin=1.5)

Rewards hold one value per vertex id (V = N_VERTICES); those of the start vertex and of
absorbing vertices are ignored. Y is the rewarded total, the integral of r(X_t) dt.

The model stays data: the DAG, the triangular sweeps and the density's steps are each one
jax.lax.scan over tables, so what XLA compiles does not grow with the model beyond the
tables' shapes. The moments equal `ptd eval`'s up to the order of additions. Nothing here
checks theta: a negative rate or a chain that cannot reach absorption gives meaningless
numbers where `ptd eval` reports an error.
"""

import json
import math
import os
import struct
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

_MAGIC = b"PTDEVAL\0"
_FORMAT_VERSION = 2


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
            " (`ptd cache verify --repair` rewrites the evaluator)"
        )
    header = json.loads(data[16 : 16 + size])
    arrays = {}
    at = _align(16 + size)
    for a in header["arrays"]:
        dtype = np.dtype(a["dtype"])
        count = math.prod(a["shape"])
        if at + count * dtype.itemsize > len(data):
            raise ValueError(
                f"{path}: array {a['name']!r} runs past the end of the file"
            )
        arrays[a["name"]] = np.frombuffer(data, dtype, count, at).reshape(a["shape"])
        at = _align(at + count * dtype.itemsize)
    return header, arrays


_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "evaluator.bin")
_HEADER, _T = _read(_PATH)
NAME = _HEADER["name"]
VERSION = _HEADER["version"]
GRAPH_HASH = _HEADER["graph_hash"]
PARAMETERS = tuple(_HEADER["parameters"])
PARAM_LENGTH = _HEADER["param_length"]
N_VERTICES = _HEADER["n_vertices"]
UNKNOWNS = _HEADER["unknowns"]
_NODES = _HEADER["nodes"]
# A discrete phase-type model counts steps; this module computes continuous-time quantities.
DISCRETE = bool(_HEADER.get("discrete", False))


def _check_tables():
    """Every index in the tables points inside what it indexes."""
    spare_v = _T["div_dst"].shape[1]
    spare_x = _T["bw_div"].shape[1]
    n_fixed = len(_T["consts"]) + len(_T["params"])
    limits = {
        "params": PARAM_LENGTH,
        "dag_dst": _NODES + spare_v,
        "dag_a": _NODES,
        "dag_b": _NODES,
        "div_dst": _NODES + spare_v,
        "div_num": _NODES,
        "div_den": _NODES,
        "fw_dst": UNKNOWNS + 1,
        "fw_node": _NODES,
        "fw_src": UNKNOWNS + 1,
        "bw_div": UNKNOWNS + spare_x,
        "bw_piv": _NODES,
        "bw_dst": UNKNOWNS + 1,
        "bw_node": _NODES,
        "bw_src": UNKNOWNS + 1,
        "edge_from": UNKNOWNS,
        "edge_rate": _NODES,
        "var_vertex": N_VERTICES,
        "start_index": UNKNOWNS,
    }
    for name, limit in limits.items():
        a = _T[name]
        if a.size and (a.min() < 0 or a.max() >= limit):
            raise ValueError(f"{_PATH}: {name} holds an index outside [0, {limit})")
    to = _T["edge_to"]
    if to.size and (to.min() < -1 or to.max() >= UNKNOWNS):
        raise ValueError(f"{_PATH}: edge_to holds an index outside [-1, {UNKNOWNS})")
    if n_fixed > _NODES:
        raise ValueError(f"{_PATH}: more constants and parameters than nodes")


_check_tables()
_DAG = tuple(
    _T[k] for k in ("dag_dst", "dag_a", "dag_b", "div_dst", "div_num", "div_den")
)
_DIVISIONS = bool((_T["div_dst"] < _NODES).any())
_FW = tuple(_T[k] for k in ("fw_dst", "fw_node", "fw_src"))
_BW = tuple(_T[k] for k in ("bw_div", "bw_piv", "bw_dst", "bw_node", "bw_src"))
_VAR_VERTEX = _T["var_vertex"]
_EDGE_FROM = _T["edge_from"]
_EDGE_RATE = _T["edge_rate"]
_EXIT = np.flatnonzero(_T["edge_to"] < 0)
# Edges between unknowns sorted by target: one step of the density is a segment sum.
_INNER = np.flatnonzero(_T["edge_to"] >= 0)
_INNER = _INNER[np.argsort(_T["edge_to"][_INNER], kind="stable")]
_INNER_FROM = _EDGE_FROM[_INNER]
_INNER_TO = _T["edge_to"][_INNER]
_START_INDEX = _T["start_index"]
_START_PROB = _T["start_prob"]
_ATOM0 = float(_T["atom0"][0])
_START = np.zeros(UNKNOWNS)
np.add.at(_START, _START_INDEX, _START_PROB)

# The largest dense matrix the reward transform of a density builds, in bytes.
_DENSE_LIMIT = 2**31

# Poisson weights below this fraction of the mode's are dropped (their total is < 1e-35).
_CUT = 1e-40


def _div(a, b):
    """a / b, and 0 where b == 0, with finite derivatives there too."""
    zero = b == 0
    return jnp.where(zero, 0.0, a / jnp.where(zero, 1.0, b))


def _theta(theta):
    if DISCRETE:
        raise NotImplementedError(
            f"{NAME} is a discrete phase-type model: this module computes continuous-time "
            "quantities only; `ptd eval` gives its moments and pmf"
        )
    t = jnp.asarray(theta, dtype=jnp.result_type(float))
    if t.ndim not in (1, 2) or t.shape[-1] != PARAM_LENGTH:
        raise ValueError(
            f"theta has shape {t.shape}; {NAME} takes ({PARAM_LENGTH},) or "
            f"(batch, {PARAM_LENGTH}): {', '.join(PARAMETERS) or 'no parameters'}"
        )
    return (t[None], True) if t.ndim == 1 else (t, False)


def _values(theta):
    """Every DAG node's value for one theta (P,), spare entries at the end."""
    dt = theta.dtype
    n_fixed = len(_T["consts"]) + len(_T["params"])
    spare = _T["div_dst"].shape[1]
    v = jnp.concatenate(
        [
            jnp.asarray(_T["consts"], dt),
            theta[_T["params"]],
            jnp.zeros(_NODES - n_fixed + spare, dt),
        ]
    )

    def step(v, s):
        dst, a, b, *div = s
        v = v.at[dst].add(v[a] * v[b], mode="promise_in_bounds")
        if not div:
            return v, None
        ddst, num, den = div
        q = _div(v[num], v[den])
        return v.at[ddst].set(q, mode="promise_in_bounds", unique_indices=True), None

    # A DAG without divisions (an acyclic graph's) skips their lane.
    return lax.scan(step, v, _DAG if _DIVISIONS else _DAG[:3])[0]


def _solve(v, r):
    """x = U r = (-S)^-1 r through the eliminated form; r and x are (UNKNOWNS, F)."""
    m, f = r.shape
    c = jnp.concatenate([r, jnp.zeros((1, f), r.dtype)])

    def forward(c, s):
        dst, node, src = s
        return c.at[dst].add(v[node][:, None] * c[src], mode="promise_in_bounds"), None

    if len(_FW[0]):
        c = lax.scan(forward, c, _FW)[0]
    x = jnp.concatenate([c[:m], jnp.zeros((_BW[0].shape[1], f), r.dtype)])

    def backward(x, s):
        idx, piv, dst, node, src = s
        q = _div(x[idx], v[piv][:, None])
        x = x.at[idx].set(q, mode="promise_in_bounds", unique_indices=True)
        return x.at[dst].add(v[node][:, None] * x[src], mode="promise_in_bounds"), None

    if len(_BW[0]):
        x = lax.scan(backward, x, _BW)[0]
    return x[:m]


def _alpha_dot(x):
    """alpha . x over the unknowns, for x (UNKNOWNS, F)."""
    return jnp.asarray(_START_PROB, x.dtype) @ x[_START_INDEX]


def _sojourn_unknowns(v):
    """alpha U over the unknowns: the transpose of the solve, applied to alpha."""
    dt = v.dtype
    _, pull = jax.vjp(
        lambda r: _alpha_dot(_solve(v, r[:, None]))[0], jnp.zeros(UNKNOWNS, dt)
    )
    return pull(jnp.ones((), dt))[0]


def _rewards(rewards, dtype):
    """Rewards per vertex id, (V,) or (F, V), as (F, UNKNOWNS) and whether F was given."""
    r = jnp.asarray(rewards, dtype)
    if r.ndim not in (1, 2) or r.shape[-1] != N_VERTICES:
        raise ValueError(
            f"rewards have shape {r.shape}; {NAME} takes ({N_VERTICES},) or "
            f"(F, {N_VERTICES}): one value per vertex id"
        )
    multi = r.ndim == 2
    r = r if multi else r[None]
    return r[:, _VAR_VERTEX], multi


def _moments1(theta, r, k):
    """E[Y_f^j] for one theta, r (F, UNKNOWNS): (F, k)."""
    v = _values(theta)
    rt = r.T

    def power(rhs, _):
        x = _solve(v, rhs)
        return rt * x, _alpha_dot(x)

    raw = lax.scan(power, rt, None, length=k)[1]
    factorial = np.cumprod(np.arange(1, k + 1, dtype=np.float64))
    return (raw * jnp.asarray(factorial, raw.dtype)[:, None]).T


# The batched computations, compiled once per shape (and static argument) whether the public
# functions are called directly or traced inside a caller's jit.
@partial(jax.jit, static_argnames=("k",))
def _moments_batch(theta, r, k):
    return jax.vmap(lambda th: _moments1(th, r, k))(theta)


@jax.jit
def _covariance_batch(theta, r):
    def one(th):
        v = _values(th)
        w = _solve(v, r.T)
        mu = _alpha_dot(w)
        m = (r * _sojourn_unknowns(v)) @ w
        return m + m.T - jnp.outer(mu, mu)

    return jax.vmap(one)(theta)


@jax.jit
def _sojourn_batch(theta):
    def one(th):
        y = _sojourn_unknowns(_values(th))
        return jnp.zeros(N_VERTICES, th.dtype).at[_VAR_VERTEX].set(y)

    return jax.vmap(one)(theta)


def moments(theta, k=2, rewards=None):
    """The first k raw moments E[T], ..., E[T^k] of the absorption time, or of the rewarded
    total Y with rewards (V,), or of F rewarded totals with rewards (F, V).

    theta (P,) gives (k,), or (F, k) for rewards (F, V); theta (batch, P) adds a leading
    batch axis. k is static; rewards may be traced.
    """
    t, single = _theta(theta)
    k = int(k)
    if k < 1:
        raise ValueError(f"k = {k}: at least one moment")
    if rewards is None:
        r, multi = jnp.ones((1, UNKNOWNS), t.dtype), False
    else:
        r, multi = _rewards(rewards, t.dtype)
    m = _moments_batch(t, r, k)
    m = m if multi else m[:, 0]
    return m[0] if single else m


def mean(theta, rewards=None):
    """E[T] (or E[Y]): shape () or (batch,), with a trailing F for rewards (F, V)."""
    return moments(theta, 1, rewards)[..., 0]


def variance(theta, rewards=None):
    """Var[T] = E[T^2] - E[T]^2 (or of Y): shapes as mean."""
    m = moments(theta, 2, rewards)
    return m[..., 1] - m[..., 0] ** 2


def covariance(theta, rewards):
    """Cov(Y_f, Y_g) of the rewarded totals of rewards (F, V): (F, F), or (batch, F, F).

    Cov(Y_f, Y_g) = alpha U (D(r_f) U r_g + D(r_g) U r_f) - E[Y_f] E[Y_g].
    """
    t, single = _theta(theta)
    r, _ = _rewards(rewards, t.dtype)
    c = _covariance_batch(t, r)
    return c[0] if single else c


def sojourn(theta):
    """The expected total time spent in each vertex before absorption, alpha U, per vertex
    id: (V,) or (batch, V); 0 at the start, absorbing and unreachable vertices."""
    t, single = _theta(theta)
    s = _sojourn_batch(t)
    return s[0] if single else s


# --- Densities -----------------------------------------------------------------------------


class _Plan:
    """What the density of one rewarded total needs to know statically: the rewards per
    unknown (concrete), which are zero, and the index maps of the blocks the reward transform
    reads. Equal rewards give equal (hashable) plans, so jit reuses compiled code."""

    def __init__(self, r):
        self.r = r
        self.key = None if r is None else r.tobytes()
        if r is None:
            self.kind = "sparse"
            return
        zero = r == 0
        if not zero.any():
            self.kind = "sparse"
            return
        pos = np.flatnonzero(~zero)
        if pos.size == 0:
            self.kind = "none"
            return
        self.kind = "dense"
        n = max(int(zero.sum()), pos.size)
        if n * n * 8 > _DENSE_LIMIT:
            raise ValueError(
                f"the reward transform of {NAME} with {int(zero.sum())} zero-reward and "
                f"{pos.size} positive-reward unknowns needs a dense {n} x {n} matrix "
                f"({n * n * 8 / 2**30:.1f} GiB): more than this module's dense path handles"
            )
        self.zero_set = np.flatnonzero(zero)
        self.pos_set = pos
        zi = np.full(UNKNOWNS, -1)
        zi[self.zero_set] = np.arange(self.zero_set.size)
        pi = np.full(UNKNOWNS, -1)
        pi[pos] = np.arange(pos.size)
        frm, to = _EDGE_FROM, _T["edge_to"]
        tz = np.where(to >= 0, zi[np.maximum(to, 0)], -1)
        tp = np.where(to >= 0, pi[np.maximum(to, 0)], -1)
        fz, fp = zi[frm], pi[frm]
        exit_ = to < 0
        # Edge index lists and (row, column) positions of each block.
        self.zz = (np.flatnonzero((fz >= 0) & (tz >= 0)),)
        self.zz += (fz[self.zz[0]], tz[self.zz[0]])
        self.zp = (np.flatnonzero((fz >= 0) & (tp >= 0)),)
        self.zp += (fz[self.zp[0]], tp[self.zp[0]])
        self.zx = (np.flatnonzero((fz >= 0) & exit_),)
        self.zx += (fz[self.zx[0]],)
        self.pz = (np.flatnonzero((fp >= 0) & (tz >= 0)),)
        self.pz += (fp[self.pz[0]], tz[self.pz[0]])
        self.pp = (np.flatnonzero((fp >= 0) & (tp >= 0)),)
        self.pp += (fp[self.pp[0]], tp[self.pp[0]])
        self.px = (np.flatnonzero((fp >= 0) & exit_),)
        self.px += (fp[self.px[0]],)
        self.start_z = _START[self.zero_set]
        self.start_p = _START[pos]

    def __hash__(self):
        return hash(self.key)

    def __eq__(self, other):
        return isinstance(other, _Plan) and self.key == other.key


_PLANS = {}


def _plan(r):
    key = None if r is None else r.tobytes()
    if key not in _PLANS:
        _PLANS[key] = _Plan(r)
    return _PLANS[key]


def _concrete(x):
    return not isinstance(x, jax.core.Tracer)


def _plans(rewards):
    """Plans for rewards None, (V,) or (F, V) (concrete), and whether F was given."""
    if rewards is None:
        return (_plan(None),), False
    if not _concrete(rewards):
        raise TypeError(
            "the density of a rewarded total needs concrete rewards (a numpy array): "
            "which rewards are zero decides the reward transform's structure. Close over "
            "them instead of passing them as traced arguments."
        )
    r = np.asarray(rewards, dtype=np.float64)
    if r.ndim not in (1, 2) or r.shape[-1] != N_VERTICES:
        raise ValueError(
            f"rewards have shape {r.shape}; {NAME} takes ({N_VERTICES},) or "
            f"(F, {N_VERTICES}): one value per vertex id"
        )
    multi = r.ndim == 2
    r = r if multi else r[None]
    r = r[:, _VAR_VERTEX]
    if not np.isfinite(r).all():
        raise ValueError("rewards must be finite numbers")
    if (r < 0).any():
        raise ValueError("rewards must be >= 0 for densities")
    return tuple(_plan(np.ascontiguousarray(x)) for x in r), multi


def _segment_sum(x, ids, n, sorted_ids=False):
    return jax.ops.segment_sum(x, ids, n, indices_are_sorted=sorted_ids)


def _chain(theta, plan):
    """The (reward-transformed) chain for one theta: a dict with its initial vector, exit
    rates s, total out-rates q, the rates between states (sparse edges or a dense matrix) and
    the atom at 0."""
    v = _values(theta)
    dt = theta.dtype
    a = v[_EDGE_RATE]
    start = jnp.asarray(_START, dt)
    if plan.kind == "sparse":
        if plan.r is not None:
            a = a / jnp.asarray(plan.r, dt)[_EDGE_FROM]
        q = _segment_sum(a, _EDGE_FROM, UNKNOWNS)
        s = _segment_sum(a[_EXIT], _EDGE_FROM[_EXIT], UNKNOWNS)
        return dict(
            alpha=start, s=s, q=q, inner=a[_INNER], atom=jnp.asarray(_ATOM0, dt)
        )
    # Reward transform: eliminate the zero-reward states Z by a dense solve on the Z block.
    nz, npos = plan.zero_set.size, plan.pos_set.size

    def block(b, shape):
        return jnp.zeros(shape, dt).at[b[1:]].add(a[b[0]])

    q = _segment_sum(a, _EDGE_FROM, UNKNOWNS)
    qz = q[plan.zero_set]
    mzz = jnp.diag(jnp.where(qz == 0, 1.0, qz)) - block(plan.zz, (nz, nz))
    rhs = jnp.concatenate(
        [block(plan.zp, (nz, npos)), block(plan.zx, (nz,))[:, None]], axis=1
    )
    sol = jnp.linalg.solve(mzz, rhs)
    h, hx = sol[:, :npos], sol[:, npos]
    apz = block(plan.pz, (npos, nz))
    start_z = jnp.asarray(plan.start_z, dt)
    rp = jnp.asarray(plan.r[plan.pos_set], dt)
    rates = block(plan.pp, (npos, npos)) + apz @ h
    rates = rates * (1.0 - jnp.eye(npos, dtype=dt))
    rates = rates / rp[:, None]
    s = (block(plan.px, (npos,)) + apz @ hx) / rp
    return dict(
        alpha=jnp.asarray(plan.start_p, dt) + start_z @ h,
        s=s,
        q=rates.sum(axis=1) + s,
        dense=rates,
        atom=_ATOM0 + start_z @ hx,
    )


def _series(c, steps):
    """a_k = alpha P^k s, k < steps, with P = I + S / lambda, and lambda = max q (held
    constant under differentiation: the uniformized series does not depend on it)."""
    q = c["q"]
    lam = lax.stop_gradient(jnp.max(q, initial=0.0))
    safe = jnp.where(lam > 0, lam, 1.0)
    diag = (safe - q) / safe
    if "dense" in c:
        p = c["dense"] / safe + jnp.diag(diag)

        def step(f, _):
            return f @ p, f @ c["s"]
    else:
        p = c["inner"] / safe

        def step(f, _):
            moved = _segment_sum(f[_INNER_FROM] * p, _INNER_TO, UNKNOWNS, True)
            return f * diag + moved, f @ c["s"]

    return lax.scan(jax.checkpoint(step), c["alpha"], None, length=steps)[1], lam


def _poisson(x, steps):
    """Normalised Poisson weights w_0..w_{steps-1} for every x (m,) as (m, steps): the window
    where w_k >= 1e-40 w_mode, by the ratio recurrence outwards from the mode as `ptd eval`
    computes it (w_{k+1} = w_k x/(k+1), w_{k-1} = w_k k/x), and whether each window ends
    before `steps`. The mode is held constant under differentiation; the weights are not."""
    dt = x.dtype
    cut = _CUT if dt == jnp.float64 else 1e-30
    mode = jnp.minimum(jnp.floor(lax.stop_gradient(x)), steps + 1)
    xs = jnp.where(x > 0, x, 1.0)

    def outwards(carry, i):
        right, left = carry
        right = right * (x / (mode + i))
        left = left * (jnp.maximum(mode - i + 1, 0.0) / xs)
        return (right, left), (right, left)

    one = jnp.ones_like(x)
    i = jnp.arange(1, steps + 1, dtype=dt)
    right, left = lax.scan(outwards, (one, one), i)[1]
    right = jnp.concatenate([one[None], right]).T
    left = jnp.concatenate([one[None], left]).T
    mi = mode.astype(jnp.int32)[:, None]
    d = jnp.arange(steps)[None, :] - mi
    w = jnp.where(
        d >= 0,
        jnp.take_along_axis(right, jnp.clip(d, 0, steps), axis=1),
        jnp.take_along_axis(left, jnp.clip(-d, 0, steps), axis=1),
    )
    w = jnp.where(w >= cut, w, 0.0)
    end = jnp.take_along_axis(right, jnp.clip(steps - mi, 0, steps), axis=1)[:, 0]
    valid = (mi[:, 0] < steps) & (end < cut)
    total = jnp.sum(w, axis=1, keepdims=True)
    return w / jnp.where(total > 0, total, 1.0), valid


def _tails(w):
    """P(N > k) = sum_{j > k} w_j for weights (m, steps), summed from the right."""

    def add(acc, wk):
        return acc + wk, acc

    return lax.scan(add, jnp.zeros(w.shape[0], w.dtype), w.T, reverse=True)[1].T


def _density1(theta, times, plan, steps, cdf):
    """pdf or cdf of one (rewarded) total for one theta at times (m,)."""
    dt = theta.dtype
    if plan.kind == "none":
        return jnp.full(times.shape, 1.0 if cdf else 0.0, dt)
    c = _chain(theta, plan)
    a, lam = _series(c, steps)
    tt = jnp.maximum(times, 0.0)
    w, valid = _poisson(lam * tt, steps)
    if cdf:
        out = c["atom"] + _tails(w) @ a / jnp.where(lam > 0, lam, 1.0)
        out = jnp.where(lam > 0, out, c["atom"])
    else:
        out = jnp.where(lam > 0, w @ a, 0.0)
    out = jnp.where(valid | (lam == 0), out, jnp.nan)
    return jnp.where(times < 0, 0.0, out)


def _density(theta, times, plans, steps, cdf):
    return jnp.stack(
        [
            jax.vmap(lambda th: _density1(th, times, p, steps, cdf))(theta)
            for p in plans
        ],
        axis=-1,
    )


_density_jit = jax.jit(_density, static_argnames=("plans", "steps", "cdf"))


@partial(jax.jit, static_argnames=("plans",))
def _zero_atom_batch(theta, plans):
    def one(th, p):
        if p.kind == "none":
            return jnp.ones((), th.dtype)
        if p.kind == "sparse":
            return jnp.asarray(_ATOM0, th.dtype)
        return _chain(th, p)["atom"]

    return jnp.stack([jax.vmap(lambda th: one(th, p))(theta) for p in plans], axis=-1)


def _lambda1(theta, plan):
    if plan.kind == "none":
        return jnp.zeros((), theta.dtype)
    return jnp.max(_chain(theta, plan)["q"], initial=0.0)


_lambda_jit = jax.jit(
    lambda t, plans: jnp.stack(
        [jax.vmap(lambda th: _lambda1(th, p))(t) for p in plans]
    ),
    static_argnames=("plans",),
)


def _right_end(x):
    """The last k with w_k >= 1e-40 w_mode for Poisson(x), by the ratio recurrence."""
    if not x > 0:
        return 0
    mode = math.floor(x)
    n = 64
    while True:
        ratios = np.cumprod(x / (mode + np.arange(1, n + 1, dtype=np.float64)))
        below = np.flatnonzero(ratios < _CUT)
        if below.size:
            return mode + int(below[0])
        n *= 2


def _bucket(k):
    """k rounded up to 16 or to a number with at most four significant bits, so that
    nearby step counts share compiled code."""
    if k <= 16:
        return 16
    unit = 1 << (k.bit_length() - 4)
    return -(-k // unit) * unit


def _needed(theta, times, plans, margin):
    for name, x in (("theta", theta), ("times", times)):
        if not _concrete(x):
            raise TypeError(
                f"{x.shape} {name} is traced (under jit, vmap or grad), so the number of "
                "uniformization steps cannot be computed from it: pass steps=K, e.g. "
                f"K = {__name__}.steps_for(theta, times) computed once from concrete "
                "values. Times that need more than K steps give NaN."
            )
    t_max = float(np.max(np.asarray(times), initial=0.0))
    lam = np.asarray(_lambda_jit(theta, plans))
    x = float(np.max(lam, initial=0.0)) * t_max * margin
    return _bucket(_right_end(x) + 3)


def _times(times, dtype):
    t = jnp.asarray(times, dtype)
    if t.ndim > 1:
        raise ValueError(f"times have shape {t.shape}: give a scalar or (m,)")
    return t


def _distribution(theta, times, rewards, steps, cdf):
    t, single = _theta(theta)
    plans, multi = _plans(rewards)
    tm = _times(times, t.dtype)
    scalar = tm.ndim == 0
    tm = jnp.atleast_1d(tm)
    if steps is None:
        steps = _needed(t, tm, plans, 1.0)
    steps = int(steps)
    if steps < 1:
        raise ValueError(f"steps = {steps}: at least 1")
    out = _density_jit(t, tm, plans, steps, cdf)
    out = out if multi else out[..., 0]
    out = out[:, 0] if scalar else out
    return out[0] if single else out


def pdf(theta, times, rewards=None, steps=None):
    """The density of T (or of the rewarded total Y) at times (m,): (m,), or (m, F) for
    rewards (F, V); theta (batch, P) adds a leading batch axis. A scalar time drops the m
    axis.

    Uniformization with `steps` terms (static). With concrete theta and times, steps=None
    computes the number needed; under jit/vmap/grad pass steps (see steps_for). A time that
    needs more steps than given gives NaN. Rewards must be concrete (numpy) and >= 0.
    """
    return _distribution(theta, times, rewards, steps, False)


def cdf(theta, times, rewards=None, steps=None):
    """P(T <= t) (or P(Y <= t)), including the atom at 0; arguments and shapes as pdf."""
    return _distribution(theta, times, rewards, steps, True)


def zero_atom(theta, rewards=None):
    """P(T = 0) (or P(Y = 0)): () or (batch,), with a trailing F for rewards (F, V).
    Rewards must be concrete."""
    t, single = _theta(theta)
    plans, multi = _plans(rewards)
    out = _zero_atom_batch(t, plans)
    out = out if multi else out[..., 0]
    return out[0] if single else out


def steps_for(theta, times, rewards=None, margin=1.5):
    """A number of uniformization steps for pdf/cdf under jit, vmap or grad: enough for every
    theta in `theta` (concrete, (P,) or (batch, P)) at every time in `times`, with rates up to
    `margin` times theirs. Times that need more give NaN, never a truncated value."""
    t, _ = _theta(theta)
    plans, _ = _plans(rewards)
    tm = jnp.atleast_1d(_times(times, t.dtype))
    return _needed(t, tm, plans, float(margin))


def pmf_and_moments(theta, times, rewards=None, k=2, steps=None):
    """(pdf at times, the first k moments), shaped as phasic's
    Graph.pmf_and_moments_from_graph model: rewards None or (V,) give ((m,), (k,)), rewards
    (F, V) give ((m, F), (F, k)); theta (batch, P) adds a leading batch axis to both."""
    return pdf(theta, times, rewards, steps), moments(theta, k, rewards)


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
