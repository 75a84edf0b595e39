#!/usr/bin/env python3
"""Writes tests/fixtures/eval/: exact reference values for evaluating phase-type graphs.

Every number is computed here from the graph file alone, in mpmath at DPS decimal digits, by
dense linear algebra on the sub-generator (mpmath.expm, mpmath inverses and LU solves). Nothing
of ptd is used to compute a value; ptd only exported the shipped models' graph files (inputs).

    .venv/bin/python scripts/eval-fixtures.py            # (re)write every case, run self-checks
    .venv/bin/python scripts/eval-fixtures.py --check    # recompute, compare with committed files
    .venv/bin/python scripts/eval-fixtures.py --only kingman-6   # cases whose name starts so

For a graph and theta: the unknowns are the transient vertices reachable from the start,
alpha the start weights on them divided by the total start weight, atom0 the start weight into
absorbing vertices divided by the total, S the sub-generator, s the exit rates.

    pdf(t) = alpha e^{St} s,  cdf(t) = 1 - alpha e^{St} 1,  E[T^j] = j! alpha U^j 1,  U = (-S)^-1
    d e^{St} / d theta_i = upper right block of exp(t [[S, dS_i], [0, S]])  (Frechet derivative)

Rewarded totals Y = int r(X_t) dt use the reward transform (zero-reward unknowns Z eliminated):
    alpha* = alpha_P + alpha_Z (-S_ZZ)^-1 S_ZP,  S* = D(r_P)^-1 (S_PP + S_PZ (-S_ZZ)^-1 S_ZP),
    s* = D(r_P)^-1 (s_P + S_PZ (-S_ZZ)^-1 s_Z),  P(Y = 0) = atom0 + alpha_Z (-S_ZZ)^-1 s_Z,
    pdf_Y(y) = alpha* e^{S* y} s*,  cdf_Y(y) = P(Y = 0) + alpha* (1 - e^{S* y} 1).
Reward moments E[Y^j] = j! alpha w_j with w_1 = U r, w_j = U (r o w_{j-1}); covariances
Cov(Y_a, Y_b) = alpha (U D(r_a) U r_b + U D(r_b) U r_a) - (alpha U r_a)(alpha U r_b).

The times of a case form a geometric grid t_0 R^j (R a power of two) plus t = 0, so exp(B t_0)
is computed once by mpmath.expm and exp(B t_0 R^j) by repeated squaring at the same precision.
"""

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

from mpmath import mp, mpf

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "eval"
GRAPHS = OUT / "graphs"
DPS = 60
DEEP_DPS = 90
# quadrature runs at 30 digits; on stiff graphs it agrees to about 1e-24
QUAD_TOL = mpf(10) ** -20
K = 3
SOURCE = "scripts/eval-fixtures.py"
SEED = 20261201


# ---------------------------------------------------------------------------------------------
# Graph files


class GraphFileError(Exception):
    pass


class GraphData:
    """A graph file in phasic's serialize() layout: vertex 0 starts, a vertex without
    out-edges absorbs, a rate is dot(coefficients, theta) ("param_edges") or a constant
    ("edges", param_length 0)."""

    def __init__(self, path):
        self.path = path
        with open(path) as f:
            d = json.load(f)
        name = str(path)

        def need(key):
            if key not in d:
                raise GraphFileError(f"{name}: missing key '{key}'")
            return d[key]

        self.n = int(need("n_vertices"))
        self.states = [[int(x) for x in row] for row in need("states")]
        if len(self.states) != self.n:
            raise GraphFileError(
                f"{name}: states has {len(self.states)} rows, n_vertices {self.n}"
            )
        if d.get("constant_edges"):
            raise GraphFileError(f"{name}: constant_edges must be empty")
        if d.get("start_param_edges"):
            raise GraphFileError(f"{name}: start_param_edges must be empty")
        if d.get("weight_mode", "linear") != "linear":
            raise GraphFileError(f"{name}: weight_mode must be 'linear'")
        self.param_length = int(need("param_length"))
        param_edges = need("param_edges")
        edges = need("edges")
        if param_edges and edges:
            raise GraphFileError(f"{name}: both edges and param_edges are given")
        self.constant = not param_edges
        if self.constant and self.param_length != 0 and edges:
            raise GraphFileError(f"{name}: constant edges need param_length 0")
        width = 1 if self.constant else self.param_length
        self.edges = []  # (from, to, [coefficients]) in file order
        seen = set()
        for k, row in enumerate(edges if self.constant else param_edges):
            key = "edges" if self.constant else "param_edges"
            if len(row) != 2 + width:
                raise GraphFileError(f"{name}: {key}[{k}] has {len(row)} entries")
            u, w = int(row[0]), int(row[1])
            if (
                row[0] != u
                or row[1] != w
                or not (0 < u < self.n and 0 < w < self.n)
                or u == w
            ):
                raise GraphFileError(f"{name}: {key}[{k}] has bad vertex indices")
            if (u, w) in seen:
                raise GraphFileError(f"{name}: {key}[{k}] repeats edge {u} -> {w}")
            seen.add((u, w))
            self.edges.append((u, w, [float(c) for c in row[2:]]))
        self.start = []
        for k, row in enumerate(need("start_edges")):
            to, wt = int(row[0]), float(row[1])
            if not (0 < to < self.n) or wt < 0:
                raise GraphFileError(f"{name}: start_edges[{k}] is invalid")
            self.start.append((to, wt))
        self.has_out = [False] * self.n
        for u, _, _ in self.edges:
            self.has_out[u] = True

    def absorbing(self, v):
        return v > 0 and not self.has_out[v]

    def rate(self, coeffs, theta):
        if self.constant:
            return mpf(coeffs[0])
        return mp.fsum(mpf(c) * mpf(x) for c, x in zip(coeffs, theta))


class Chain:
    """alpha, S, s and their theta-derivatives over the reachable transient vertices."""

    def __init__(self, g, theta):
        if len(theta) != (0 if g.constant else g.param_length):
            raise ValueError(f"{g.path}: theta has {len(theta)} values")
        self.g = g
        self.theta = theta
        self.p = len(theta)
        rates = {}
        for u, w, c in g.edges:
            r = g.rate(c, theta)
            if r < 0:
                raise NonAbsorbing(f"edge {u} -> {w} has the negative rate {r}")
            rates[(u, w)] = r
        out = {}
        for (u, w), r in rates.items():
            out.setdefault(u, []).append((w, r))
        total = mp.fsum(mpf(wt) for _, wt in g.start)
        reach = set()
        stack = [to for to, wt in g.start if wt > 0]
        while stack:
            v = stack.pop()
            if v in reach:
                continue
            reach.add(v)
            for w, r in out.get(v, []):
                if r > 0:
                    stack.append(w)
        self.unknowns = sorted(v for v in reach if not g.absorbing(v))
        idx = {v: i for i, v in enumerate(self.unknowns)}
        self.idx = idx
        n = len(self.unknowns)
        self.n = n
        self.atom0 = mp.fsum(mpf(wt) for to, wt in g.start if g.absorbing(to)) / total
        self.alpha = [mpf(0)] * n
        for to, wt in g.start:
            if to in idx:
                self.alpha[idx[to]] += mpf(wt) / total
        S = mp.matrix(n, n)
        s = [mpf(0)] * n
        dS = [mp.matrix(n, n) for _ in range(self.p)]
        ds = [[mpf(0)] * n for _ in range(self.p)]
        for u, w, c in g.edges:
            if u not in idx:
                continue
            i = idx[u]
            r = rates[(u, w)]
            S[i, i] -= r
            for k in range(self.p):
                dS[k][i, i] -= mpf(c[k])
            if w in idx:
                S[i, idx[w]] += r
                for k in range(self.p):
                    dS[k][i, idx[w]] += mpf(c[k])
            else:
                s[i] += r
                for k in range(self.p):
                    ds[k][i] += mpf(c[k])
        for i in range(n):
            if S[i, i] == 0:
                raise NonAbsorbing(
                    f"vertex {self.unknowns[i]} has no positive out-rate"
                )
        self.S, self.s, self.dS, self.ds = S, s, dS, ds
        # a trap (a closed class without exits) makes -S singular
        try:
            self.U = mp.inverse(-S) if n else mp.matrix(0, 0)
        except ZeroDivisionError:
            raise NonAbsorbing("the sub-generator is singular") from None
        absorb = (
            mp.fsum(a * x for a, x in zip(self.alpha, matvec(self.U, s))) + self.atom0
        )
        if n and abs(absorb - 1) > mpf(10) ** (-mp.dps // 2):
            raise NonAbsorbing("the chain does not absorb with probability 1")
        self.ones = [mpf(1)] * n


class NonAbsorbing(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Dense helpers (lists of mpf for vectors, mp.matrix for matrices)


def matvec(M, v):
    n = M.cols
    return [mp.fsum(M[i, j] * v[j] for j in range(n)) for i in range(M.rows)]


def vecmat(v, M):
    n = M.rows
    return [mp.fsum(v[i] * M[i, j] for i in range(n)) for j in range(M.cols)]


def dot(a, b):
    return mp.fsum(x * y for x, y in zip(a, b))


def submatrix(M, rows, cols):
    out = mp.matrix(len(rows), len(cols))
    for a, i in enumerate(rows):
        for b, j in enumerate(cols):
            out[a, b] = M[i, j]
    return out


def block(S, dS):
    n = S.rows
    B = mp.matrix(2 * n, 2 * n)
    for i in range(n):
        for j in range(n):
            B[i, j] = S[i, j]
            B[n + i, n + j] = S[i, j]
            B[i, n + j] = dS[i, j]
    return B


def expm_chain(A, t0, steps, squarings):
    """exp(A t0 2^(squarings j)) for j = 0..steps-1: one mpmath.expm, then squarings."""
    E = mp.expm(A * mpf(t0))
    out = [E]
    for _ in range(steps - 1):
        for _ in range(squarings):
            E = E * E
        out.append(E)
    return out


def top_left(E, n):
    return submatrix(E, range(n), range(n))


def top_right(E, n):
    return submatrix(E, range(n), range(n, 2 * n))


# ---------------------------------------------------------------------------------------------
# Quantities


def moments(ch, k):
    """E[T^j] = j! alpha U^j 1, j = 1..k."""
    x = list(ch.ones)
    out = []
    for j in range(1, k + 1):
        x = matvec(ch.U, x)
        out.append(math.factorial(j) * dot(ch.alpha, x))
    return out


def moments_grad(ch, k):
    """d E[T^j] / d theta_i = j! sum_{m=0}^{j-1} (alpha U^{m+1}) dS_i (U^{j-m} 1)."""
    n = ch.n
    left = [list(ch.alpha)]  # alpha U^m
    right = [list(ch.ones)]  # U^m 1
    for _ in range(k + 1):
        left.append(vecmat(left[-1], ch.U))
        right.append(matvec(ch.U, right[-1]))
    out = []
    for j in range(1, k + 1):
        row = []
        for i in range(ch.p):
            acc = mpf(0)
            for m in range(j):
                acc += dot(left[m + 1], matvec(ch.dS[i], right[j - m]))
            row.append(math.factorial(j) * acc if n else mpf(0))
        out.append(row)
    return out


def reward_moments(ch, r, k):
    """E[Y^j] = j! alpha w_j, w_1 = U r, w_j = U (r o w_{j-1})."""
    w = matvec(ch.U, r)
    out = [dot(ch.alpha, w)]
    for j in range(2, k + 1):
        w = matvec(ch.U, [a * b for a, b in zip(r, w)])
        out.append(math.factorial(j) * dot(ch.alpha, w))
    return out


def covariance(ch, ra, rb):
    Ua, Ub = matvec(ch.U, ra), matvec(ch.U, rb)
    cross = dot(ch.alpha, matvec(ch.U, [x * y for x, y in zip(ra, Ub)]))
    cross += dot(ch.alpha, matvec(ch.U, [x * y for x, y in zip(rb, Ua)]))
    return cross - dot(ch.alpha, Ua) * dot(ch.alpha, Ub)


class Transformed:
    """The reward transform of a chain for rewards r (over the unknowns)."""

    def __init__(self, ch, r):
        Z = [i for i in range(ch.n) if r[i] == 0]
        P = [i for i in range(ch.n) if r[i] != 0]
        self.P = P
        self.n = len(P)
        S, s, alpha = ch.S, ch.s, ch.alpha
        if Z:
            Ainv = mp.inverse(-submatrix(S, Z, Z))
            X = Ainv * submatrix(S, Z, P) if P else None
            y = matvec(Ainv, [s[i] for i in Z])
        else:
            X, y = None, []
        aZ = [alpha[i] for i in Z]
        self.zero_atom = ch.atom0 + dot(aZ, y)
        m = len(P)
        self.alpha = [alpha[i] for i in P]
        Sp = submatrix(S, P, P)
        sp = [s[i] for i in P]
        if Z and P:
            SPZ = submatrix(S, P, Z)
            Sp = Sp + SPZ * X
            sp = [a + b for a, b in zip(sp, matvec(SPZ, y))]
            corr = vecmat(aZ, X)
            self.alpha = [a + b for a, b in zip(self.alpha, corr)]
        for a in range(m):
            ra = mpf(r[P[a]])
            for b in range(m):
                Sp[a, b] /= ra
            sp[a] /= ra
        self.S, self.s = Sp, sp
        self.U = mp.inverse(-Sp) if m else mp.matrix(0, 0)

    def moments(self, k):
        x = [mpf(1)] * self.n
        out = []
        for j in range(1, k + 1):
            x = matvec(self.U, x)
            out.append(math.factorial(j) * dot(self.alpha, x))
        return out


def density(alpha, S, s, atom, times, chain):
    """pdf and cdf at times from exp(S t) for the positive times (chain[j] = exp(S t_j))."""
    pdf, cdf = [], []
    mass = mp.fsum(alpha)
    ones = [mpf(1)] * len(alpha)
    j = 0
    for t in times:
        if t == 0:
            pdf.append(dot(alpha, s))
            cdf.append(atom)
            continue
        E = chain[j]
        j += 1
        f = vecmat(alpha, E)
        pdf.append(dot(f, s))
        cdf.append(atom + mass - dot(f, ones))
    return pdf, cdf


# ---------------------------------------------------------------------------------------------
# Cases


def grid(mean, lo_exp, ratio_exp, steps):
    """0 and steps times t0 2^(ratio_exp j), t0 = mean 2^-lo_exp (a float)."""
    t0 = float(mpf(mean) / mpf(2) ** lo_exp)
    return [0.0] + [t0 * 2.0 ** (ratio_exp * j) for j in range(steps)]


def evaluate(g, theta, rewards, times_spec):
    """All fixture values of one case, as mpf (nested lists and dicts)."""
    ch = Chain(g, theta)
    n, p = ch.n, ch.p
    mom = moments(ch, K)
    lo_exp, ratio_exp, steps = times_spec
    times = grid(mom[0], lo_exp, ratio_exp, steps)
    t0 = times[1]
    # T: pdf, cdf and their gradients
    pdf_grad = [[mpf(0)] * p for _ in times]
    cdf_grad = [[mpf(0)] * p for _ in times]
    expS = None
    for i in range(p):
        blocks = expm_chain(block(ch.S, ch.dS[i]), t0, steps, ratio_exp)
        if expS is None:
            expS = [top_left(E, n) for E in blocks]
        j = 0
        for jj, t in enumerate(times):
            if t == 0:
                pdf_grad[jj][i] = dot(ch.alpha, ch.ds[i])
                continue
            E, L = expS[j], top_right(blocks[j], n)
            j += 1
            fL = vecmat(ch.alpha, L)
            pdf_grad[jj][i] = dot(fL, ch.s) + dot(vecmat(ch.alpha, E), ch.ds[i])
            cdf_grad[jj][i] = -mp.fsum(fL)
    if expS is None:
        expS = expm_chain(ch.S, t0, steps, ratio_exp)
    pdf, cdf = density(ch.alpha, ch.S, ch.s, ch.atom0, times, expS)
    sojourn = [mpf(0)] * g.n
    for v, x in zip(ch.unknowns, vecmat(ch.alpha, ch.U)):
        sojourn[v] = x
    out = {
        "theta": theta,
        "atom0": ch.atom0,
        "n_unknowns": n,
        "moments": mom,
        "times": times,
        "pdf": pdf,
        "cdf": cdf,
        "sojourn": sojourn,
        "rewards": [],
        "covariance": [],
        "pdf_grad": pdf_grad,
        "cdf_grad": cdf_grad,
        "moments_grad": moments_grad(ch, K),
    }
    vecs = []
    for name, vec in rewards:
        r = [mpf(vec[v]) for v in ch.unknowns]
        vecs.append(r)
        tr = Transformed(ch, r)
        if tr.n:
            chain = expm_chain(tr.S, t0, steps, ratio_exp)
            rpdf, rcdf = density(tr.alpha, tr.S, tr.s, tr.zero_atom, times, chain)
        else:
            rpdf, rcdf = [mpf(0)] * len(times), [mpf(1)] * len(times)
        out["rewards"].append(
            {
                "name": name,
                "vector": vec,
                "moments": reward_moments(ch, r, K),
                "zero_atom": tr.zero_atom,
                "pdf": rpdf,
                "cdf": rcdf,
                "_transformed": tr,
            }
        )
    out["covariance"] = [[covariance(ch, a, b) for b in vecs] for a in vecs]
    out["_chain"] = ch
    return out


# ---------------------------------------------------------------------------------------------
# Random graphs


class Rng:
    """Deterministic across Python versions: only random.Random.random() is used."""

    def __init__(self, seed):
        self.r = random.Random(seed)

    def random(self):
        return self.r.random()

    def below(self, k):
        return min(int(self.r.random() * k), k - 1)

    def uniform(self, a, b):
        return a + (b - a) * self.r.random()

    def shuffle(self, xs):
        for i in range(len(xs) - 1, 0, -1):
            j = self.below(i + 1)
            xs[i], xs[j] = xs[j], xs[i]


def sig(x, digits=6):
    return float(f"{x:.{digits}g}")


def random_graph(
    rng, n, p, density, stiff=False, atom=False, unreachable=False, n_abs=2
):
    """n transient vertices (each can reach an absorbing vertex along a path, extra edges make
    cycles), n_abs absorbing ones, optionally a start edge into an absorbing vertex (atom at 0)
    and a vertex that nothing points at. Vertex ids are shuffled; p = 0 gives constant rates."""
    kinds = [("t", i) for i in range(n)] + [("a", k) for k in range(n_abs)]
    if unreachable:
        kinds.append(("u", 0))
    rng.shuffle(kinds)
    vid = {kind: i + 1 for i, kind in enumerate(kinds)}
    states = [[0, 0]]
    for kind, i in kinds:
        if kind == "t":
            states.append([i + 1, rng.below(5)])
        elif kind == "a":
            states.append([n + 1 + i, 0])
        else:
            states.append([n + 10, 7])

    def coeffs():
        if stiff:
            if p == 0:
                return [sig(10 ** rng.uniform(-4, 4), 4)]
            c = [0.0] * p
            c[rng.below(p)] = sig(10 ** rng.uniform(-4, 4), 4)
            return c
        if p == 0:
            return [sig(rng.uniform(0.1, 4.0), 4)]
        c = [
            0.0 if rng.random() < 0.4 else sig(rng.uniform(0.1, 3.0), 4)
            for _ in range(p)
        ]
        if not any(c):
            c[rng.below(p)] = sig(rng.uniform(0.1, 3.0), 4)
        return c

    edges = {}
    for i in range(n):
        target = ("t", i + 1) if i + 1 < n else ("a", rng.below(n_abs))
        edges[(vid[("t", i)], vid[target])] = coeffs()
    for _ in range(int(density * n)):
        i = rng.below(n)
        if rng.random() < 0.2:
            j = ("a", rng.below(n_abs))
        else:
            j = ("t", rng.below(n))
        a, b = vid[("t", i)], vid[j]
        if a == b or (a, b) in edges:
            continue
        edges[(a, b)] = coeffs()
    if unreachable:
        edges[(vid[("u", 0)], vid[("t", rng.below(n))])] = coeffs()
    start = {vid[("t", 0)]: sig(rng.uniform(0.2, 2.0), 3)}
    for _ in range(rng.below(3)):
        start.setdefault(vid[("t", rng.below(n))], sig(rng.uniform(0.2, 2.0), 3))
    if atom:
        start[vid[("a", rng.below(n_abs))]] = sig(rng.uniform(0.15, 0.5), 3)
    rows = sorted([a, b] + c for (a, b), c in edges.items())
    total = len(states)
    return {
        "states": states,
        "vertex_indices": list(range(total)),
        "edges": rows if p == 0 else [],
        "constant_edges": [],
        "start_edges": sorted([to, w] for to, w in start.items()),
        "param_edges": rows if p > 0 else [],
        "start_param_edges": [],
        "param_length": p,
        "state_length": 2,
        "n_vertices": total,
        "weight_mode": "linear",
        "dyn_ordering": False,
    }


def write_graph_file(path, d):
    """Graph JSON in the layout ptd writes: one key per line, arrays on one line."""
    lines = [f'  "{k}": {json.dumps(v, separators=(",", ":"))}' for k, v in d.items()]
    text = "{\n" + ",\n".join(lines) + "\n}\n"
    return text


# ---------------------------------------------------------------------------------------------
# Reward vectors


def random_rewards(rng, g, zero_frac, ignored_too=False):
    """Nonnegative rewards per vertex id with some zeros among the transient vertices; start and
    absorbing entries 0 unless ignored_too (then they carry values an evaluator must ignore)."""
    vec = []
    for v in range(g.n):
        if v == 0 or g.absorbing(v):
            vec.append(sig(rng.uniform(0.5, 2.0), 3) if ignored_too else 0.0)
        elif rng.random() < zero_frac:
            vec.append(0.0)
        else:
            vec.append(sig(rng.uniform(0.2, 3.0), 3))
    return vec


def ensure_mixed(rng, g, vec, reach):
    """At least one positive and one zero reward among the reachable transient vertices."""
    trans = [v for v in sorted(reach) if not g.absorbing(v)]
    if all(vec[v] == 0 for v in trans):
        vec[trans[rng.below(len(trans))]] = 1.0
    if all(vec[v] != 0 for v in trans) and len(trans) > 1:
        vec[trans[rng.below(len(trans))]] = 0.0
    return vec


def reachable(g):
    out = {}
    for u, w, _ in g.edges:
        out.setdefault(u, []).append(w)
    seen, stack = set(), [to for to, wt in g.start if wt > 0]
    while stack:
        v = stack.pop()
        if v not in seen:
            seen.add(v)
            stack.extend(out.get(v, []))
    return seen


def standard_rewards(rng, g, state_rewards, all_zero):
    reach = reachable(g)
    rw = list(state_rewards)
    rw.append(
        ("random_a", ensure_mixed(rng, g, random_rewards(rng, g, 0.3, True), reach))
    )
    rw.append(("random_b", ensure_mixed(rng, g, random_rewards(rng, g, 0.35), reach)))
    rw.append(("sparse", ensure_mixed(rng, g, random_rewards(rng, g, 0.75), reach)))
    if all_zero:
        rw.append(("all_zero", [0.0] * g.n))
    return rw


def state_reward(g, name, k):
    return (
        name,
        [
            0.0 if v == 0 or g.absorbing(v) else float(g.states[v][k])
            for v in range(g.n)
        ],
    )


# ---------------------------------------------------------------------------------------------
# Case list


NORMAL = (5, 1, 12)  # t0 = E[T] / 32, doubling, 12 positive times (up to 64 E[T])
STIFF = (24, 2, 16)  # t0 = E[T] / 2^24, factor 4, 16 positive times (up to 64 E[T])

# shipped models, exported by `ptd graph export` (inputs only)
MODELS = [
    ("kingman-6", [[1.0], [0.37]], "kingman"),
    ("block-counting-5", [[1.0], [2.5]], "sfs"),
    ("block-counting-8", [[1.0]], "sfs"),
    ("two-island-2-1", [[1.0, 0.5], [0.3, 2.0]], "islands"),
    ("two-island-3-3", [[1.0, 0.5]], "islands"),
    ("mm1k-10", [[0.5, 1.0], [1.5, 1.0]], "queue"),
    ("birth-death-3-12", [[0.4, 1.0], [1.2, 1.0]], "population"),
]

# random graphs: name, transient vertices, parameters, density, options, number of thetas
RANDOM = [
    ("random-0", 8, 1, 2.0, {"atom": True}, 2),
    ("random-1", 12, 2, 2.0, {"atom": True, "unreachable": True}, 2),
    ("random-2", 16, 3, 2.5, {}, 2),
    ("random-3", 10, 0, 2.0, {"atom": True}, 1),
    ("random-4", 22, 2, 2.0, {"atom": True, "n_abs": 3}, 1),
    ("random-5", 30, 1, 1.5, {"unreachable": True}, 1),
    ("stiff-0", 10, 0, 2.0, {"stiff": True}, 1),
    ("stiff-1", 14, 1, 2.0, {"stiff": True, "atom": True}, 2),
    ("stiff-2", 20, 2, 2.0, {"stiff": True}, 1),
]
ALL_ZERO = {"kingman-6", "random-1", "random-3", "stiff-1", "two-island-2-1"}
DEEP = {
    "kingman-6",
    "random-0",
    "random-1",
    "random-3",
    "stiff-0",
    "stiff-1",
    "two-island-2-1",
}


def build_cases(rng):
    """[(case name, graph name, graph path, theta, rewards, times spec, stiff)]"""
    cases = []
    graph_texts = {}
    for name, p_thetas, kind in MODELS:
        path = GRAPHS / f"{name}.json"
        g = GraphData(path)
        if kind == "kingman":
            state_rw = [state_reward(g, "lineages", 0)]
        elif kind == "sfs":
            nsamp = len(g.states[0])
            state_rw = [state_reward(g, f"xi_{i}", i - 1) for i in range(1, nsamp)]
        elif kind == "islands":
            state_rw = [state_reward(g, "island1", 0), state_reward(g, "island2", 1)]
        else:
            state_rw = [state_reward(g, "state", 0)]
        if kind == "sfs":
            rewards = state_rw
        else:
            rewards = standard_rewards(rng, g, state_rw, name in ALL_ZERO)
        for k, theta in enumerate(p_thetas):
            cases.append((f"{name}_theta{k}", name, path, theta, rewards, NORMAL))
    for name, n, p, dens, opts, nthetas in RANDOM:
        d = random_graph(rng, n, p, dens, **opts)
        path = GRAPHS / f"{name}.json"
        graph_texts[path] = write_graph_file(path, d)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(graph_texts[path])
        g = GraphData(tmp)
        tmp.unlink()
        rewards = standard_rewards(rng, g, [], name in ALL_ZERO)
        thetas = [
            [sig(rng.uniform(0.3, 3.0), 4) for _ in range(p)] for _ in range(nthetas)
        ]
        spec = STIFF if opts.get("stiff") else NORMAL
        for k, theta in enumerate(thetas):
            cases.append((f"{name}_theta{k}", name, path, theta, rewards, spec))
    return cases, graph_texts


# ---------------------------------------------------------------------------------------------
# Output


def f(x):
    x = float(x)
    if x == 0:
        return 0.0
    if not math.isfinite(x):
        raise ValueError(f"non-finite value {x}")
    return x


def to_floats(x):
    if isinstance(x, list):
        return [to_floats(y) for y in x]
    if isinstance(x, (int,)) and not isinstance(x, bool):
        return x
    return f(x)


def case_json(graph_rel, res):
    rewards = []
    for rw in res["rewards"]:
        rewards.append(
            {
                "name": rw["name"],
                "vector": [float(x) for x in rw["vector"]],
                "moments": to_floats(rw["moments"]),
                "zero_atom": f(rw["zero_atom"]),
                "pdf": to_floats(rw["pdf"]),
                "cdf": to_floats(rw["cdf"]),
            }
        )
    return {
        "source": SOURCE,
        "mp_dps": DPS,
        "graph": graph_rel,
        "theta": [float(x) for x in res["theta"]],
        "k": K,
        "atom0": f(res["atom0"]),
        "n_unknowns": res["n_unknowns"],
        "moments": to_floats(res["moments"]),
        "times": [float(t) for t in res["times"]],
        "pdf": to_floats(res["pdf"]),
        "cdf": to_floats(res["cdf"]),
        "sojourn": to_floats(res["sojourn"]),
        "rewards": rewards,
        "covariance": to_floats(res["covariance"]),
        "pdf_grad": to_floats(res["pdf_grad"]),
        "cdf_grad": to_floats(res["cdf_grad"]),
        "moments_grad": to_floats(res["moments_grad"]),
    }


def dumps(obj):
    """One key per line; reward entries one per line; arrays compact."""

    def c(v):
        return json.dumps(v, separators=(",", ":"))

    lines = []
    for k, v in obj.items():
        if k == "rewards":
            inner = ",\n".join("    " + c(r) for r in v)
            lines.append(f'  "rewards": [\n{inner}\n  ]' if v else '  "rewards": []')
        else:
            lines.append(f'  "{k}": {c(v)}')
    return "{\n" + ",\n".join(lines) + "\n}\n"


# ---------------------------------------------------------------------------------------------
# Self-checks


class Checks:
    def __init__(self):
        self.results = []
        self.failed = 0

    def check(self, case, what, dev, tol):
        ok = dev <= tol
        self.results.append((case, what, float(dev), float(tol), ok))
        if not ok:
            self.failed += 1
            print(
                f"  SELF-CHECK FAILED {case}: {what}: deviation {float(dev):.3e} > {float(tol):.1e}"
            )

    def summary(self):
        by = {}
        for case, what, dev, tol, ok in self.results:
            key = what.split(" [")[0]
            n, worst, fails = by.get(key, (0, 0.0, 0))
            by[key] = (n + 1, max(worst, dev), fails + (not ok))
        lines = []
        for key in sorted(by):
            n, worst, fails = by[key]
            lines.append(
                f"  {key}: {n} checks, worst deviation {worst:.2e}, {fails} failed"
            )
        return "\n".join(lines)


def rel(a, b):
    a, b = mpf(a), mpf(b)
    scale = max(abs(a), abs(b))
    return abs(a - b) / scale if scale else mpf(0)


def self_check(checks, case, g, res, kind, deep):
    ch = res["_chain"]
    tight = mpf(10) ** (-(DPS - 15))
    # cdf(inf) = 1 for T and every Y
    total = ch.atom0 + dot(vecmat(ch.alpha, ch.U), ch.s)
    checks.check(case, "cdf(inf) = 1 [T]", abs(total - 1), tight)
    for rw in res["rewards"]:
        tr = rw["_transformed"]
        tot = tr.zero_atom + (dot(vecmat(tr.alpha, tr.U), tr.s) if tr.n else 0)
        checks.check(case, f"cdf(inf) = 1 [Y {rw['name']}]", abs(tot - 1), tight)
        if tr.n:
            dev = max(rel(a, b) for a, b in zip(tr.moments(K), rw["moments"]))
            checks.check(case, "reward moments: transform = U recursion", dev, tight)
        # the zero atom is P(Y = 0) = 1 - alpha* 1 as well
        checks.check(
            case,
            "zero atom = 1 - alpha* 1",
            abs(tr.zero_atom - (1 - mp.fsum(tr.alpha))),
            tight,
        )
        cdf = rw["cdf"]
        checks.check(
            case,
            "cdf nondecreasing, pdf >= 0",
            max([mpf(0)] + [max(0, cdf[i] - cdf[i + 1]) for i in range(len(cdf) - 1)])
            + max([mpf(0)] + [-x for x in rw["pdf"] if x < 0]),
            0,
        )
    cdf = res["cdf"]
    checks.check(
        case,
        "cdf nondecreasing, pdf >= 0",
        max([mpf(0)] + [max(0, cdf[i] - cdf[i + 1]) for i in range(len(cdf) - 1)])
        + max([mpf(0)] + [-x for x in res["pdf"] if x < 0]),
        0,
    )
    # a reward of 1 on every transient vertex gives Y = T
    ones_moms = reward_moments(ch, [mpf(1)] * ch.n, K)
    checks.check(
        case,
        "reward 1 moments = T moments",
        max(rel(a, b) for a, b in zip(ones_moms, res["moments"])),
        tight,
    )
    # variance from the covariance matrix = E[Y^2] - E[Y]^2
    for a, rw in enumerate(res["rewards"]):
        m1, m2 = rw["moments"][:2]
        checks.check(
            case,
            "Cov(Y, Y) = E[Y^2] - E[Y]^2",
            abs(res["covariance"][a][a] - (m2 - m1 * m1)) / max(m2, mpf(1e-300)),
            tight,
        )
    theta = res["theta"]
    if kind == "kingman" or kind == "sfs":
        nsamp = max(v[0] for v in g.states) if kind == "kingman" else len(g.states[0])
        th = mpf(theta[0])
        et = 2 * (1 - mpf(1) / nsamp) / th
        checks.check(
            case,
            "analytic: E[T_MRCA] = 2 (1 - 1/n) / theta",
            rel(res["moments"][0], et),
            tight,
        )
        var = mp.fsum((2 / (mpf(k) * (k - 1) * th)) ** 2 for k in range(2, nsamp + 1))
        checks.check(
            case,
            "analytic: Var[T_MRCA]",
            rel(res["moments"][1] - res["moments"][0] ** 2, var),
            tight,
        )
        for rw in res["rewards"]:
            if rw["name"] == "lineages":
                h = mp.fsum(mpf(1) / k for k in range(1, nsamp))
                checks.check(
                    case,
                    "analytic: total branch length 2 H / theta",
                    rel(rw["moments"][0], 2 * h / th),
                    tight,
                )
            if rw["name"].startswith("xi_"):
                i = int(rw["name"][3:])
                checks.check(
                    case,
                    "analytic: SFS E[xi_i] = 2 / (i theta)",
                    rel(rw["moments"][0], 2 / (i * th)),
                    tight,
                )
    if deep:
        deep_checks(checks, case, g, res)


class Spectral:
    """alpha e^{St} v through an eigendecomposition of S (a route independent of expm)."""

    def __init__(self, alpha, S, s):
        lam, V = mp.eig(S)
        Vinv = mp.inverse(V)
        n = S.rows
        self.lam = lam
        self.left = [mp.fsum(alpha[i] * V[i, k] for i in range(n)) for k in range(n)]
        self.right_s = [mp.fsum(Vinv[k, j] * s[j] for j in range(n)) for k in range(n)]
        self.right_1 = [mp.fsum(Vinv[k, j] for j in range(n)) for k in range(n)]
        self.mass = mp.fsum(alpha)

    def pdf(self, t):
        return mp.re(
            mp.fsum(
                a * mp.exp(l * t) * b
                for a, l, b in zip(self.left, self.lam, self.right_s)
            )
        )

    def survival(self, t):
        return mp.re(
            mp.fsum(
                a * mp.exp(l * t) * b
                for a, l, b in zip(self.left, self.lam, self.right_1)
            )
        )


def deep_checks(checks, case, g, res):
    """Independent routes to the same numbers, on small cases."""
    ch = res["_chain"]
    times = res["times"]
    sp = Spectral(ch.alpha, ch.S, ch.s)
    big = max(res["pdf"])
    dev = max(
        abs(sp.pdf(mpf(t)) - p) / big
        + abs(ch.atom0 + sp.mass - sp.survival(mpf(t)) - c)
        for t, p, c in zip(times, res["pdf"], res["cdf"])
    )
    checks.check(case, "pdf, cdf: eigendecomposition = expm", dev, mpf(1e-35))
    ends = [0] + [mpf(t) for t in times[1::3]] + [mp.inf]
    with mp.workdps(30):
        picks = [times[3], times[7]]
        for t in picks:
            q = mp.quad(sp.pdf, [0, mpf(t) / 2, mpf(t)])
            checks.check(
                case,
                "quad int_0^t pdf = cdf(t) - cdf(0)",
                rel(q, res["cdf"][times.index(t)] - res["cdf"][0]),
                QUAD_TOL,
            )
        # moments from the density
        for j in (1, 2, 3):
            q = mp.quad(lambda t, j=j: t**j * sp.pdf(t), ends)
            checks.check(
                case,
                "quad int t^j pdf = E[T^j]",
                rel(q, res["moments"][j - 1]),
                QUAD_TOL,
            )
        # d/dt cdf = pdf
        for t in picks:
            d = mp.diff(lambda x: ch.atom0 + sp.mass - sp.survival(x), mpf(t))
            checks.check(
                case, "d/dt cdf = pdf", rel(d, res["pdf"][times.index(t)]), QUAD_TOL
            )
        # reward densities integrate to their cdfs
        for rw in res["rewards"]:
            tr = rw["_transformed"]
            if not tr.n:
                continue
            sr = Spectral(tr.alpha, tr.S, tr.s)
            t = picks[1]
            q = mp.quad(sr.pdf, [0, mpf(t) / 2, mpf(t)])
            checks.check(
                case,
                "quad int_0^y pdf_Y = cdf_Y(y) - P(Y = 0)",
                rel(q, rw["cdf"][times.index(t)] - rw["zero_atom"]),
                QUAD_TOL,
            )
            for j in (1, 2):
                q = mp.quad(lambda y, j=j, sr=sr: y**j * sr.pdf(y), ends)
                checks.check(
                    case,
                    "quad int y^j pdf_Y = E[Y^j]",
                    rel(q, rw["moments"][j - 1]),
                    QUAD_TOL,
                )
    # gradients by central differences at high precision
    if ch.p:
        h = mpf(10) ** -22
        for i in range(ch.p):
            up = list(map(mpf, res["theta"]))
            dn = list(map(mpf, res["theta"]))
            up[i] += h
            dn[i] -= h
            cu, cd = Chain(g, up), Chain(g, dn)
            mu, md = moments(cu, K), moments(cd, K)
            for j in range(K):
                fd = (mu[j] - md[j]) / (2 * h)
                checks.check(
                    case,
                    "moments_grad = central difference",
                    rel(fd, res["moments_grad"][j][i]),
                    mpf(1e-25),
                )
            for t in (times[0], times[4], times[9]):
                jj = times.index(t)
                T = mpf(t)
                fp = dot(vecmat(cu.alpha, mp.expm(cu.S * T)), cu.s)
                fm = dot(vecmat(cd.alpha, mp.expm(cd.S * T)), cd.s)
                checks.check(
                    case,
                    "pdf_grad = central difference",
                    rel((fp - fm) / (2 * h), res["pdf_grad"][jj][i]),
                    mpf(1e-25),
                )
                if t > 0:
                    Fp = 1 - mp.fsum(vecmat(cu.alpha, mp.expm(cu.S * T)))
                    Fm = 1 - mp.fsum(vecmat(cd.alpha, mp.expm(cd.S * T)))
                    checks.check(
                        case,
                        "cdf_grad = central difference",
                        rel((Fp - Fm) / (2 * h), res["cdf_grad"][jj][i]),
                        mpf(1e-25),
                    )


def precision_check(checks, case, g, theta, rewards, spec, res):
    """The whole case again at DEEP_DPS digits: every value must agree far below float64."""
    with mp.workdps(DEEP_DPS):
        hi = evaluate(g, theta, rewards, spec)
    worst = mpf(0)

    def walk(a, b):
        nonlocal worst
        if isinstance(a, list):
            for x, y in zip(a, b):
                walk(x, y)
        elif isinstance(a, mpf):
            d = abs(a - b)
            scale = max(abs(a), abs(b))
            worst = max(worst, d / scale if scale > mpf(10) ** -250 else d)

    for key in (
        "moments",
        "pdf",
        "cdf",
        "sojourn",
        "pdf_grad",
        "cdf_grad",
        "moments_grad",
        "covariance",
    ):
        walk(res[key], hi[key])
    for a, b in zip(res["rewards"], hi["rewards"]):
        for key in ("moments", "pdf", "cdf"):
            walk(a[key], b[key])
        walk([a["zero_atom"]], [b["zero_atom"]])
    checks.check(case, f"dps {DPS} = dps {DEEP_DPS} (relative)", worst, mpf(10) ** -30)


def scipy_opinion(g, res):
    """float64 values from scipy's expm and numpy's inverse: (worst relative deviation of pdf/cdf
    where pdf > 1e-8 of its maximum, of the moments)."""
    import numpy as np
    from scipy.linalg import expm as sexpm

    ch = res["_chain"]
    S = np.array([[float(ch.S[i, j]) for j in range(ch.n)] for i in range(ch.n)])
    s = np.array([float(x) for x in ch.s])
    a = np.array([float(x) for x in ch.alpha])
    big = max(float(x) for x in res["pdf"])
    worst = 0.0
    for t, p, c in zip(res["times"], res["pdf"], res["cdf"]):
        E = sexpm(S * t)
        fp = float(a @ E @ s)
        fc = float(ch.atom0) + float(a.sum()) - float((a @ E).sum())
        if float(p) > 1e-8 * big:
            worst = max(worst, abs(fp - float(p)) / float(p))
        if float(c) > 1e-8:
            worst = max(worst, abs(fc - float(c)) / float(c))
    U = np.linalg.inv(-S)
    x = np.ones(ch.n)
    mw = 0.0
    for j in range(1, K + 1):
        x = U @ x
        m = math.factorial(j) * float(a @ x)
        mw = max(
            mw, abs(m - float(res["moments"][j - 1])) / float(res["moments"][j - 1])
        )
    return worst, mw


# ---------------------------------------------------------------------------------------------
# Discrete phase-type (DPH) graphs, as phasic reads them once a graph is marked discrete
# (g.is_discrete = True; g.set_was_dph(True)): edge weights are the probabilities of one step,
# a vertex's missing mass 1 - sum(out-weights) is an implicit self-loop (stay one more step),
# start weights are the initial probabilities (mass on an absorbing vertex absorbs at step 0).
# For a parameterized DPH graph phasic's update_weights(theta) rescales every vertex's
# out-weights, the start vertex's included, to sum 1, so it has no implicit self-loops.

DPH_DIR = OUT / "dph"
DPH_STEPS = list(range(41)) + [60, 100, 200, 400]


class DphChain:
    def __init__(self, g, theta):
        self.g = g
        n_all = g.n
        w = {}
        for u, v, c in g.edges:
            w[(u, v)] = g.rate(c, theta)
        out_sum = {}
        for (u, v), x in w.items():
            out_sum[u] = out_sum.get(u, mpf(0)) + x
        start = {to: mpf(wt) for to, wt in g.start}
        if not g.constant:
            # phasic's update_weights on a DPH graph: every vertex's out-weights sum to 1
            w = {(u, v): x / out_sum[u] for (u, v), x in w.items()}
            out_sum = {u: mpf(1) for u in out_sum}
        total = mp.fsum(start.values())
        if not g.constant:
            start = {k: x / total for k, x in start.items()}
            total = mpf(1)
        if total != 1:
            raise ValueError(f"{g.path}: DPH start weights must sum to 1")
        for u, x in out_sum.items():
            if x > 1:
                raise ValueError(
                    f"{g.path}: vertex {u} has out-weights summing to {x} > 1"
                )
        self.unknowns = [v for v in range(1, n_all) if not g.absorbing(v)]
        idx = {v: i for i, v in enumerate(self.unknowns)}
        n = len(self.unknowns)
        self.n = n
        P = mp.matrix(n, n)
        p = [mpf(0)] * n
        for (u, v), x in w.items():
            if v in idx:
                P[idx[u], idx[v]] += x
            else:
                p[idx[u]] += x
        for u in self.unknowns:
            P[idx[u], idx[u]] += 1 - out_sum.get(u, mpf(0))  # the implicit self-loop
        self.P, self.p = P, p
        self.alpha = [start.get(v, mpf(0)) for v in self.unknowns]
        self.atom0 = mp.fsum(x for v, x in start.items() if g.absorbing(v))
        self.N = mp.inverse(mp.eye(n) - P)


def dph_evaluate(g, theta, rewards):
    ch = DphChain(g, theta)
    n = ch.n
    ones = [mpf(1)] * n
    pmf, cdf = [], []
    f = list(ch.alpha)  # alpha P^(k-1)
    acc = ch.atom0
    k_to_value = {}
    kmax = max(DPH_STEPS)
    for k in range(kmax + 1):
        if k == 0:
            val = ch.atom0
        else:
            val = dot(f, ch.p)
            f = vecmat(f, ch.P)
        acc += val if k else 0
        # cdf(k) = 1 - alpha P^k 1: no cancellation problem at these magnitudes
        k_to_value[k] = (val, 1 - mp.fsum(f) if k else ch.atom0, acc)
    for k in DPH_STEPS:
        pmf.append(k_to_value[k][0])
        cdf.append(k_to_value[k][1])
    Nj = []  # N^j 1
    x = ones
    for _ in range(K):
        x = matvec(ch.N, x)
        Nj.append(x)
    rising = [math.factorial(j + 1) * dot(ch.alpha, Nj[j]) for j in range(K)]
    fact = []
    for j in range(1, K + 1):
        left = list(ch.alpha)
        for _ in range(j - 1):
            left = vecmat(left, ch.P)
        fact.append(math.factorial(j) * dot(left, Nj[j - 1]))
    raw = [fact[0], fact[1] + fact[0], fact[2] + 3 * fact[1] + fact[0]]
    out_rewards = []
    for name, vec in rewards:
        r = [mpf(vec[v]) for v in ch.unknowns]
        Nr = matvec(ch.N, r)
        mean = dot(ch.alpha, Nr)
        second = dot(ch.alpha, matvec(ch.N, [2 * a * b - a * a for a, b in zip(r, Nr)]))
        out_rewards.append(
            {
                "name": name,
                "vector": vec,
                "mean": mean,
                "second_moment": second,
                "variance": second - mean * mean,
            }
        )
    return {
        "ch": ch,
        "steps": DPH_STEPS,
        "pmf": pmf,
        "cdf": cdf,
        "cdf_by_sum": [k_to_value[k][2] for k in DPH_STEPS],
        "moments": raw,
        "factorial_moments": fact,
        "rising_factorial_moments": rising,
        "variance": raw[1] - raw[0] ** 2,
        "rewards": out_rewards,
    }


def dph_graphs(rng):
    """name -> (graph dict, theta, rewards)"""

    def base(states, edges, start, param_length=0):
        n = len(states)
        rows = sorted([a, b] + c for (a, b), c in edges.items())
        return {
            "states": states,
            "vertex_indices": list(range(n)),
            "edges": rows if param_length == 0 else [],
            "constant_edges": [],
            "start_edges": sorted([to, w] for to, w in start.items()),
            "param_edges": rows if param_length else [],
            "start_param_edges": [],
            "param_length": param_length,
            "state_length": 1,
            "n_vertices": n,
            "weight_mode": "linear",
            "dyn_ordering": False,
        }

    out = {}
    # geometric: stay with 0.7, leave with 0.3
    out["dph-geometric"] = (
        base([[0], [1], [2]], {(1, 2): [0.3]}, {1: 1.0}),
        [],
        [("one", [0.0, 1.0, 0.0])],
    )
    # three transient vertices with a cycle, implicit self-loops and an atom at 0
    e = {
        (1, 2): [0.5],
        (1, 4): [0.2],
        (2, 3): [0.7],
        (2, 1): [0.1],
        (3, 1): [0.25],
        (3, 4): [0.5],
    }
    out["dph-cyclic3"] = (
        base([[0], [1], [2], [3], [4]], e, {1: 0.5, 2: 0.3, 4: 0.2}),
        [],
        [
            ("one", [0.0, 1.0, 1.0, 1.0, 0.0]),
            ("r", [0.0, 1.0, 0.0, 2.0, 0.0]),
            ("s", [0.0, 0.5, 2.0, 0.0, 0.0]),
        ],
    )
    # random: 9 transient vertices, 2 absorbing, out-weights summing to 0.5..1 (in quarters of
    # a thousandth, so sums are exact in binary and decimal alike)
    n, n_abs = 9, 2
    states = [[0]] + [[i + 1] for i in range(n + n_abs)]
    e = {}
    for u in range(1, n + 1):
        targets = {u + 1 if u < n else n + 1 + rng.below(n_abs)}
        for _ in range(1 + rng.below(3)):
            t = 1 + rng.below(n + n_abs)
            if t != u:
                targets.add(t)
        targets = sorted(targets)
        budget = 500 + rng.below(501)  # out-weights sum to budget / 1000
        cuts = sorted(rng.below(budget - 1) + 1 for _ in range(len(targets) - 1))
        parts = [b - a for a, b in zip([0] + cuts, cuts + [budget])]
        for t, part in zip(targets, parts):
            if part > 0:
                e[(u, t)] = [part / 1000]
    start = {1: 0.5, 4: 0.25, n + 2: 0.125, 7: 0.125}
    rw = [
        ("one", [0.0] + [1.0] * n + [0.0] * n_abs),
        (
            "mixed",
            [0.0]
            + [0.0 if rng.random() < 0.3 else float(1 + rng.below(3)) for _ in range(n)]
            + [0.0] * n_abs,
        ),
    ]
    out["dph-random"] = (base(states, e, start), [], rw)
    # parameterized: phasic normalises out-weights (start included) at update_weights
    e = {
        (1, 2): [1.0, 0.0],
        (1, 4): [0.0, 1.0],
        (2, 4): [0.5, 0.0],
        (2, 1): [0.0, 0.25],
        (2, 3): [0.2, 0.1],
        (3, 4): [0.0, 2.0],
    }
    out["dph-param"] = (
        base([[0], [1], [2], [3], [4]], e, {1: 0.3, 2: 0.2}, param_length=2),
        [0.2, 0.3],
        [("one", [0.0, 1.0, 1.0, 1.0, 0.0]), ("r", [0.0, 2.0, 0.0, 1.0, 0.0])],
    )
    return out


def dph_self_check(checks, name, res):
    ch = res["ch"]
    tight = mpf(10) ** (-(DPS - 15))
    dev = max(abs(a - b) for a, b in zip(res["cdf"], res["cdf_by_sum"]))
    checks.check(name, "DPH: 1 - alpha P^k 1 = atom0 + sum of pmf", dev, tight)
    # moments from the pmf: sum k^j pmf(k) over enough steps that the rest is negligible
    f = list(ch.alpha)
    sums = [mpf(0)] * K
    k = 0
    while True:
        k += 1
        val = dot(f, ch.p)
        f = vecmat(f, ch.P)
        for j in range(K):
            sums[j] += mpf(k) ** (j + 1) * val
        if mp.fsum(f) * k**K < mpf(10) ** -45 or k > 200000:
            break
    dev = max(rel(a, b) for a, b in zip(sums, res["moments"]))
    checks.check(name, "DPH: sum k^j pmf(k) = E[K^j]", dev, mpf(10) ** -40)
    checks.check(
        name,
        "DPH: cdf(inf) = 1",
        abs(ch.atom0 + dot(vecmat(ch.alpha, ch.N), ch.p) - 1),
        tight,
    )


def dph_json(graph_rel, theta, res):
    return {
        "source": SOURCE,
        "mp_dps": DPS,
        "graph": graph_rel,
        "discrete": True,
        "theta": [float(x) for x in theta],
        "k": K,
        "atom0": f(res["ch"].atom0),
        "steps": res["steps"],
        "pmf": to_floats(res["pmf"]),
        "cdf": to_floats(res["cdf"]),
        "moments": to_floats(res["moments"]),
        "factorial_moments": to_floats(res["factorial_moments"]),
        "rising_factorial_moments": to_floats(res["rising_factorial_moments"]),
        "variance": f(res["variance"]),
        "rewards": [
            {
                "name": r["name"],
                "vector": [float(x) for x in r["vector"]],
                "mean": f(r["mean"]),
                "second_moment": f(r["second_moment"]),
                "variance": f(r["variance"]),
            }
            for r in res["rewards"]
        ],
    }


# ---------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--check",
        action="store_true",
        help="recompute and compare with the committed files",
    )
    ap.add_argument("--only", help="only cases whose name starts with this")
    ap.add_argument(
        "--no-deep",
        action="store_true",
        help="skip the slow quadrature and precision self-checks",
    )
    args = ap.parse_args()
    mp.dps = DPS
    rng = Rng(SEED)
    cases, graph_texts = build_cases(rng)
    GRAPHS.mkdir(parents=True, exist_ok=True)
    mismatches = []
    for path, text in graph_texts.items():
        if args.check:
            if not path.exists() or path.read_text() != text:
                mismatches.append(str(path.relative_to(ROOT)))
        else:
            path.write_text(text)
    checks = Checks()
    report = []
    written = []
    kinds = {m[0]: m[2] for m in MODELS}
    for case, gname, path, theta, rewards, spec in cases:
        if args.only and not case.startswith(args.only):
            continue
        began = time.time()
        g = GraphData(path)
        try:
            res = evaluate(g, theta, rewards, spec)
        except NonAbsorbing as e:
            print(f"{case}: skipped, theta {theta} gives a non-absorbing chain ({e})")
            continue
        kind = kinds.get(gname, "random")
        deep = gname in DEEP and not args.no_deep
        self_check(checks, case, g, res, kind, deep)
        if deep:
            precision_check(checks, case, g, theta, rewards, spec, res)
        sw, mw = scipy_opinion(g, res)
        report.append((case, res["n_unknowns"], sw, mw))
        text = dumps(case_json(str(path.relative_to(ROOT)), res))
        out = OUT / f"{case}.json"
        if args.check:
            if not out.exists() or out.read_text() != text:
                mismatches.append(str(out.relative_to(ROOT)))
        else:
            out.write_text(text)
            written.append(out)
        print(
            f"{case}: {res['n_unknowns']} unknowns, {len(rewards)} rewards, "
            f"scipy float64 pdf/cdf {sw:.1e} moments {mw:.1e}, {time.time() - began:.1f} s",
            flush=True,
        )
    (DPH_DIR / "graphs").mkdir(parents=True, exist_ok=True)
    for name, (d, theta, rewards) in dph_graphs(Rng(SEED + 1)).items():
        if args.only and not name.startswith(args.only):
            continue
        path = DPH_DIR / "graphs" / f"{name}.json"
        gtext = write_graph_file(path, d)
        if args.check:
            if not path.exists() or path.read_text() != gtext:
                mismatches.append(str(path.relative_to(ROOT)))
        else:
            path.write_text(gtext)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(gtext)
        g = GraphData(tmp)
        tmp.unlink()
        g.path = path
        res = dph_evaluate(g, theta, rewards)
        dph_self_check(checks, name, res)
        text = dumps(dph_json(str(path.relative_to(ROOT)), theta, res))
        out = DPH_DIR / f"{name}.json"
        if args.check:
            if not out.exists() or out.read_text() != text:
                mismatches.append(str(out.relative_to(ROOT)))
        else:
            out.write_text(text)
        print(
            f"{name}: {res['ch'].n} transient vertices, E[K] {float(res['moments'][0]):.6g}",
            flush=True,
        )
    print("self-checks:")
    print(checks.summary())
    if checks.failed:
        sys.exit(f"{checks.failed} self-checks failed")
    if args.check:
        if mismatches:
            sys.exit("differ from the committed files: " + ", ".join(mismatches))
        print("all files reproduced byte for byte")


if __name__ == "__main__":
    main()
