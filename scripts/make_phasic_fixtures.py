#!/usr/bin/env python3
"""Writes tests/fixtures/phasic/: graph files built with the real phasic 0.32.1, with phasic's
content hash and moments for each, so ptd's tests can compare against phasic without it.

Run with the project's virtual environment (scripts/test-all.sh creates it):

    .venv/bin/python scripts/make_phasic_fixtures.py

Each graph is built through phasic's Python API, serialized with Graph.serialize() and written
as JSON; the hash and moments are taken from Graph.from_serialized(<that JSON>), which is what
ptd reads. The moments are also checked against a dense matrix inversion here, so a fixture
is only written when phasic and linear algebra agree.
"""

import importlib.metadata
import json
import math
import sys
from pathlib import Path

import numpy as np

import phasic
from phasic.phasic_pybind import hash as phasic_hash

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "phasic"
MOMENTS = 4


def bfs(state_length, initial, transitions):
    """Breadth-first construction in the same order as ptd's built-in generators."""
    g = phasic.Graph(state_length)
    first = g.find_or_create_vertex(list(initial))
    g.starting_vertex().add_edge(first, 1.0)
    i = first.index()
    while i < g.vertices_length():
        v = g.vertex_at(i)
        for to, coeffs in transitions(list(v.state())):
            w = g.find_or_create_vertex(to)
            v.add_edge(w, coeffs)
        i += 1
    return g


def kingman(n):
    return bfs(
        1, [n], lambda s: [([s[0] - 1], [s[0] * (s[0] - 1) / 2])] if s[0] >= 2 else []
    )


def block_counting(n):
    def tr(s):
        out = []
        if sum(s) < 2:
            return out
        for i in range(n):
            if s[i] == 0:
                continue
            for j in range(i, n):
                pairs = s[i] * (s[i] - 1) / 2 if i == j else s[i] * s[j]
                if pairs <= 0:
                    continue
                t = list(s)
                t[i] -= 1
                t[j] -= 1
                t[i + j + 1] += 1
                out.append((t, [float(pairs)]))
        return out

    return bfs(n, [n] + [0] * (n - 1), tr)


def two_island(n1, n2):
    def tr(s):
        x, y = s
        out = []
        if x + y < 2:
            return out
        if x >= 2:
            out.append(([x - 1, y], [x * (x - 1) / 2, 0.0]))
        if y >= 2:
            out.append(([x, y - 1], [y * (y - 1) / 2, 0.0]))
        if x >= 1:
            out.append(([x - 1, y + 1], [0.0, float(x)]))
        if y >= 1:
            out.append(([x + 1, y - 1], [0.0, float(y)]))
        return out

    return bfs(2, [n1, n2], tr)


def mm1k(cap, initial):
    def tr(s):
        k = s[0]
        if k == 0:
            return []
        out = []
        if k < cap:
            out.append(([k + 1], [1.0, 0.0]))
        out.append(([k - 1], [0.0, 1.0]))
        return out

    return bfs(1, [initial], tr)


def erlang(k):
    return bfs(1, [k], lambda s: [([s[0] - 1], [1.0])] if s[0] >= 1 else [])


def birth_death(n0, nmax):
    def tr(s):
        n = s[0]
        if n == 0:
            return []
        out = []
        if n < nmax:
            out.append(([n + 1], [float(n), 0.0]))
        out.append(([n - 1], [0.0, float(n)]))
        return out

    return bfs(1, [n0], tr)


def random_graph(rng, n, params, density, cyclic=True):
    """A random parameterized graph on n transient vertices, with cycles, each of which can
    reach one of two absorbing vertices."""
    g = phasic.Graph(2)
    vs = [g.find_or_create_vertex([i + 1, int(rng.integers(0, 5))]) for i in range(n)]
    absorbing = [g.find_or_create_vertex([n + 1 + k, 0]) for k in range(2)]
    start = g.starting_vertex()
    for v in rng.choice(n, size=min(n, 3), replace=False):
        start.add_edge(vs[int(v)], float(rng.uniform(0.2, 2.0)))

    def coeffs():
        c = rng.uniform(0.1, 3.0, size=params)
        c[rng.random(params) < 0.3] = 0.0
        if not c.any():
            c[int(rng.integers(0, params))] = 1.0
        return [float(x) for x in c]

    edges = set()
    for i in range(n):
        # a path towards absorption keeps every vertex absorbing
        j = i + 1
        target = vs[j] if j < n else absorbing[int(rng.integers(0, 2))]
        edges.add((i, j if j < n else n + absorbing.index(target)))
        vs[i].add_edge(target, coeffs())
    for _ in range(int(density * n)):
        i, j = int(rng.integers(0, n)), int(rng.integers(0, n + 2))
        if i == j or (i, j) in edges or (not cyclic and j < i):
            continue
        edges.add((i, j))
        vs[i].add_edge(vs[j] if j < n else absorbing[j - n], coeffs())
    return g


def constant_chain():
    g = phasic.Graph(1)
    s = g.starting_vertex()
    a, b, c = (g.find_or_create_vertex([k]) for k in (3, 2, 1))
    s.add_edge(a, 1.0)
    a.add_edge(b, 6.0)
    b.add_edge(c, 2.0)
    a.add_edge(c, 0.5)
    return g


def to_json(d):
    out = {}
    for k, v in d.items():
        out[k] = v.tolist() if isinstance(v, np.ndarray) else v
    return out


def dense_moments(data, theta, k):
    """k! alpha (-T)^-j 1 from the graph file, by dense linear algebra."""
    n = data["n_vertices"]
    rates = np.zeros((n, n))
    if data["param_edges"]:
        for row in data["param_edges"]:
            rates[int(row[0]), int(row[1])] += float(np.dot(row[2:], theta))
    for row in data["edges"]:
        rates[int(row[0]), int(row[1])] += row[2]
    alpha = np.zeros(n)
    for to, w in data["start_edges"]:
        alpha[int(to)] += w
    alpha /= alpha.sum()
    has_out = np.array(
        [
            bool(rates[i].any())
            or any(int(r[0]) == i for r in data["param_edges"] + data["edges"])
            for i in range(n)
        ]
    )
    transient = [i for i in range(1, n) if has_out[i]]
    T = rates[np.ix_(transient, transient)].copy()
    T -= np.diag(rates[transient].sum(axis=1))
    U = np.linalg.inv(-T)
    a = alpha[transient]
    x = np.ones(len(transient))
    out = []
    for j in range(1, k + 1):
        x = U @ x
        out.append(math.factorial(j) * float(a @ x))
    return out


def record(name, g, thetas, generator=None, constant_file=None):
    data = to_json(g.serialize()) if constant_file is None else constant_file
    path = OUT / f"{name}.graph.json"
    path.write_text(json.dumps(data) + "\n")
    h = phasic_hash.compute_graph_hash(
        phasic.Graph.from_serialized(json.loads(path.read_text()))
    )
    original = phasic_hash.compute_graph_hash(g).hash_hex if g is not None else None
    evals = []
    for theta in thetas:
        g2 = phasic.Graph.from_serialized(json.loads(path.read_text()))
        if theta:
            g2.update_weights(list(theta))
        m = [float(x) for x in g2.moments(MOMENTS)]
        dense = dense_moments(data, theta, MOMENTS)
        for a, b in zip(m, dense):
            if abs(a - b) > 1e-8 * abs(b):
                sys.exit(
                    f"{name}: phasic {m} and matrix inversion {dense} disagree at theta {theta}"
                )
        evals.append({"theta": list(theta), "moments": m})
    entry = {
        "name": name,
        "file": path.name,
        "phasic_hash": h.hash_hex,
        "vertices": data["n_vertices"],
        "evaluations": evals,
    }
    if original is not None:
        entry["phasic_hash_before_round_trip"] = original
    if generator:
        entry["generator"] = generator
    return entry


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.graph.json"):
        old.unlink()
    rng = np.random.default_rng(20261124)
    entries = []
    for n in (2, 3, 5, 10, 25):
        entries.append(
            record(
                f"kingman-{n}",
                kingman(n),
                [[1.0], [0.37]],
                {"name": "coalescent/kingman", "args": {"samples": n}},
            )
        )
    for n in (4, 6, 9):
        entries.append(
            record(
                f"block-counting-{n}",
                block_counting(n),
                [[1.0], [2.5]],
                {"name": "coalescent/block-counting", "args": {"samples": n}},
            )
        )
    for n1, n2 in ((2, 1), (3, 3), (5, 2)):
        entries.append(
            record(
                f"two-island-{n1}-{n2}",
                two_island(n1, n2),
                [[1.0, 0.5], [0.3, 2.0]],
                {
                    "name": "coalescent/two-island",
                    "args": {"samples1": n1, "samples2": n2},
                },
            )
        )
    entries.append(
        record(
            "mm1k-8",
            mm1k(8, 1),
            [[0.5, 1.0], [1.5, 1.0]],
            {"name": "queue/mm1k", "args": {"capacity": 8, "initial": 1}},
        )
    )
    entries.append(
        record(
            "mm1k-12-3",
            mm1k(12, 3),
            [[0.9, 1.1]],
            {"name": "queue/mm1k", "args": {"capacity": 12, "initial": 3}},
        )
    )
    entries.append(
        record(
            "erlang-6",
            erlang(6),
            [[2.0], [0.25]],
            {"name": "reliability/erlang", "args": {"phases": 6}},
        )
    )
    entries.append(
        record(
            "birth-death-3-15",
            birth_death(3, 15),
            [[0.4, 1.0], [1.2, 1.0]],
            {"name": "population/birth-death", "args": {"initial": 3, "max": 15}},
        )
    )
    for i, (n, p, dens) in enumerate(
        [
            (4, 1, 1.0),
            (6, 2, 1.5),
            (8, 3, 2.0),
            (12, 2, 2.5),
            (20, 3, 3.0),
            (30, 2, 2.0),
            (7, 1, 3.0),
            (15, 3, 1.0),
        ]
    ):
        g = random_graph(rng, n, p, dens)
        thetas = [list(map(float, rng.uniform(0.2, 3.0, size=p))) for _ in range(3)]
        entries.append(record(f"random-cyclic-{i}", g, thetas))
    g = random_graph(rng, 10, 2, 2.0, cyclic=False)
    entries.append(record("random-acyclic", g, [[0.7, 1.3], [2.0, 0.1]]))
    # A graph built with constant weights: serialize() writes them as one-parameter edges.
    entries.append(record("constant-serialized", constant_chain(), [[1.0]]))
    # A hand-written file of constant rates (param_length 0, rates in "edges").
    handwritten = {
        "states": [[0], [3], [2], [1]],
        "vertex_indices": [0, 1, 2, 3],
        "edges": [[1, 2, 6.0], [2, 3, 2.0], [1, 3, 0.5], [2, 1, 0.25]],
        "constant_edges": [],
        "start_edges": [[1, 2.0], [2, 1.0]],
        "param_edges": [],
        "start_param_edges": [],
        "param_length": 0,
        "state_length": 1,
        "n_vertices": 4,
        "weight_mode": "linear",
        "dyn_ordering": False,
    }
    entries.append(record("constant-edges", None, [[]], constant_file=handwritten))
    index = {
        "phasic_version": importlib.metadata.version("phasic"),
        "moments": MOMENTS,
        "graphs": entries,
    }
    (OUT / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    print(f"wrote {len(entries)} graphs to {OUT}")


if __name__ == "__main__":
    main()
