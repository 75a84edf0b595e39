"""ptd's JAX evaluator, exactly as `ptd install` writes it, against `ptd eval`, dense matrix
formulas (scipy.linalg.expm) and finite differences: values, exact gradients, and use under
jax.jit, jax.vmap and jax.grad.

Models are published to a throwaway local registry and installed into a throwaway ptd home:
block-counting and two-island coalescents, an M/M/1/K queue, Erlang chains, and random graphs
with cycles, several start vertices and start mass straight into an absorbing vertex.
"""

import importlib.util
import json
import math
import os
import subprocess
from decimal import Decimal, localcontext
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

jax.config.update("jax_enable_x64", True)

ROOT = Path(__file__).resolve().parents[2]


def random_graph(seed, n):
    """A graph file (phasic's serialize() layout) with cycles: n transient vertices, two
    absorbing ones, two parameters (some rates depend on one of them only), start mass on
    two transient vertices and on an absorbing one."""
    rng = np.random.default_rng(seed)
    states = [[0]] + [[i] for i in range(1, n + 3)]
    sink, other = n + 1, n + 2
    edges = {}
    for v in range(1, n + 1):
        edges[(v, v + 1 if v < n else sink)] = [rng.uniform(0.2, 2.0), 0.0]
        for _ in range(2):
            w = int(rng.integers(1, n + 2))
            if w != v and (v, w) not in edges:
                c2 = 0.0 if rng.uniform() < 0.4 else rng.uniform(0.1, 3.0)
                edges[(v, w)] = [rng.uniform(0.0, 1.5), c2]
    rows = [[f, t, *c] for (f, t), c in sorted(edges.items())]
    start = [[1, 1.0], [max(2, n // 2), 0.5], [other, 0.25]]
    return {
        "states": states,
        "vertex_indices": list(range(n + 3)),
        "edges": [],
        "constant_edges": [],
        "start_edges": sorted(start),
        "param_edges": rows,
        "start_param_edges": [],
        "param_length": 2,
        "state_length": 1,
        "n_vertices": n + 3,
    }


RECIPES = {
    "t/bc5": ("coalescent/block-counting", "{ samples = 5 }", ["theta"]),
    "t/island": (
        "coalescent/two-island",
        "{ samples1 = 2, samples2 = 2 }",
        ["coalescence", "migration"],
    ),
    "t/mm1k": ("queue/mm1k", "{ capacity = 4 }", ["arrival", "service"]),
    "t/erlang3": ("reliability/erlang", "{ phases = 3 }", ["rate"]),
    "t/rand4": (random_graph(4, 4), None, ["a", "b"]),
    "t/rand9": (random_graph(9, 9), None, ["a", "b"]),
    "t/rand16": (random_graph(16, 16), None, ["a", "b"]),
}
THETAS = {
    "t/bc5": [[0.7], [2.3]],
    "t/island": [[1.1, 0.4], [0.6, 2.5]],
    "t/mm1k": [[1.3, 0.9], [0.5, 2.0]],
    "t/erlang3": [[1.7]],
    "t/rand4": [[0.8, 1.6], [2.1, 0.3]],
    "t/rand9": [[1.2, 0.7], [0.4, 1.9]],
    "t/rand16": [[0.9, 1.1]],
}


class Local:
    """ptd with its own home, a local registry, and the models installed from it."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.binary = os.environ.get("PTD_BIN", str(ROOT / "target" / "debug" / "ptd"))
        if not Path(self.binary).is_file():
            pytest.fail(
                f"ptd binary not found at {self.binary}: cargo build, or set PTD_BIN"
            )
        self.env = dict(os.environ, HOME=str(tmp), PTD_HOME=str(tmp / "ptd-home"))
        for k in ("PTD_PYTHON", "PTD_SIGNING_KEY", "PTD_SIGNING_KEY_PASSWORD"):
            self.env.pop(k, None)
        self.index, self.store, key = tmp / "index", tmp / "store", tmp / "key"
        self.run("keygen", "-o", key, "--unencrypted")
        self.key = key.with_suffix(".key")
        self.run(
            "registry", "init", self.index, "--name", "local",
            "--artifacts", f"file://{self.store}/{{file}}", "--key", self.key,
        )  # fmt: skip
        self.modules, self.graphs = {}, {}

    def run(self, *args):
        out = subprocess.run(
            [self.binary, "-q", *map(str, args)],
            capture_output=True,
            text=True,
            env=self.env,
        )
        if out.returncode != 0:
            raise AssertionError(
                f"ptd {' '.join(map(str, args))} failed:\n{out.stderr}"
            )
        return out.stdout

    def model(self, name):
        """The installed evaluator module of one of RECIPES, and its graph file."""
        if name not in self.modules:
            source, args, params = RECIPES[name]
            recipe = self.tmp / name.replace("/", "-")
            recipe.mkdir()
            head = (
                f'[model]\nname = "{name}"\nversion = "1.0.0"\ndescription = ""\n'
                f'license = "CC0-1.0"\nparameters = {json.dumps(params)}\n\n'
            )
            if args is None:
                (recipe / "graph.json").write_text(json.dumps(source))
                body = '[graph]\nfile = "graph.json"\n'
            else:
                body = f'[generator]\nname = "{source}"\nargs = {args}\n'
            (recipe / "model.toml").write_text(head + body)
            self.run(
                "publish", recipe, "--registry", self.index, "--store", self.store,
                "--key", self.key,
            )  # fmt: skip
            self.run("install", name, "--registry", self.index)
            path = self.run("which", name).strip()
            spec = importlib.util.spec_from_file_location(name.replace("/", "_"), path)
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            self.modules[name] = mod
            self.graphs[name] = json.loads(self.run("graph", "export", recipe))
        return self.modules[name], self.graphs[name]

    def eval(self, name, theta, rewards=None, k=3, times=None):
        args = ["eval", name, "--theta", ",".join(map(repr, theta)), "--moments", k]
        if times is not None:
            args += ["--times", ",".join(repr(float(t)) for t in times)]
        if rewards is not None:
            f = self.tmp / "rewards.json"
            f.write_text(json.dumps(np.asarray(rewards).tolist()))
            args += ["--rewards", f]
        return json.loads(self.run(*args, "--sojourn", "--json"))


@pytest.fixture(scope="session")
def local(tmp_path_factory):
    return Local(tmp_path_factory.mktemp("jax-evaluator"))


# --- Dense reference ------------------------------------------------------------------------


class Dense:
    """S, s, alpha and the atom at 0 of a graph file at theta, and dS/dtheta_j, ds/dtheta_j,
    straight from the file's coefficients."""

    def __init__(self, graph, theta):
        n, p = graph["n_vertices"], graph["param_length"]
        theta = np.asarray(theta, float)
        coef = np.zeros((p, n, n))
        for row in graph["param_edges"]:
            coef[:, int(row[0]), int(row[1])] += row[2:]
        has_out = coef.any(axis=0).any(axis=1)
        reach = np.zeros(n, bool)
        stack = [int(t) for t, w in graph["start_edges"] if w > 0]
        reach[stack] = True
        while stack:
            v = stack.pop()
            for w in np.flatnonzero(coef[:, v, :].any(axis=0)):
                if not reach[w]:
                    reach[w] = True
                    stack.append(w)
        self.transient = np.array(
            [v for v in range(1, n) if reach[v] and has_out[v]], int
        )
        absorbing = np.array([v for v in range(1, n) if not has_out[v]], int)
        q = np.einsum("j,jvw->vw", theta, coef)
        t = self.transient
        self.S = q[np.ix_(t, t)] - np.diag(q[t].sum(axis=1))
        self.s = q[np.ix_(t, absorbing)].sum(axis=1)
        self.dS = [c[np.ix_(t, t)] - np.diag(c[t].sum(axis=1)) for c in coef]
        self.ds = [c[np.ix_(t, absorbing)].sum(axis=1) for c in coef]
        total = sum(w for _, w in graph["start_edges"])
        self.alpha = np.zeros(len(t))
        index = {v: i for i, v in enumerate(t)}
        self.atom0 = 0.0
        for v, w in graph["start_edges"]:
            if int(v) in index:
                self.alpha[index[int(v)]] += w / total
            else:
                self.atom0 += w / total
        self.n = n

    def pdf(self, t):
        return np.array(
            [self.alpha @ scipy.linalg.expm(self.S * x) @ self.s for x in t]
        )

    def cdf(self, t):
        # atom0 + alpha (int_0^t e^{Su} du) s, the integral from one block exponential.
        m = len(self.s)
        out = []
        for x in t:
            big = np.zeros((2 * m, 2 * m))
            big[:m, :m] = self.S * x
            big[:m, m:] = np.eye(m) * x
            out.append(
                self.atom0 + self.alpha @ scipy.linalg.expm(big)[:m, m:] @ self.s
            )
        return np.array(out)

    def pdf_grad(self, t):
        """d pdf(t) / d theta_j exactly: the derivative of e^{St} in direction dS is the upper
        right block of expm([[S, dS], [0, S]] t)."""
        m = len(self.s)
        out = np.zeros((len(t), len(self.dS)))
        for i, x in enumerate(t):
            e = scipy.linalg.expm(self.S * x)
            for j, (dS, ds) in enumerate(zip(self.dS, self.ds)):
                big = np.zeros((2 * m, 2 * m))
                big[:m, :m] = big[m:, m:] = self.S * x
                big[:m, m:] = dS * x
                de = scipy.linalg.expm(big)[:m, m:]
                out[i, j] = self.alpha @ de @ self.s + self.alpha @ e @ ds
        return out

    def moments(self, r, k):
        u = np.linalg.inv(-self.S)
        d = np.diag(r)
        x, out = np.ones(len(r)), []
        for j in range(1, k + 1):
            x = u @ (d @ x)
            out.append(math.factorial(j) * self.alpha @ x)
        return np.array(out)

    def moments_grad(self, r, k):
        """d E[Y^j] / d theta: with U = (-S)^-1, dU = U dS U."""
        u = np.linalg.inv(-self.S)
        d = np.diag(r)
        ud = u @ d
        out = np.zeros((k, len(self.dS)))
        for i, ds in enumerate(self.dS):
            dud = u @ ds @ u @ d
            for j in range(1, k + 1):
                total = sum(
                    np.linalg.matrix_power(ud, a)
                    @ dud
                    @ np.linalg.matrix_power(ud, j - 1 - a)
                    for a in range(j)
                )
                out[j - 1, i] = math.factorial(j) * self.alpha @ total @ np.ones(len(r))
        return out

    def transformed(self, r):
        """The reward transform (phasic's formulas): alpha*, S*, s* and P(Y = 0)."""
        zero, pos = np.flatnonzero(r == 0), np.flatnonzero(r > 0)
        s00 = self.S[np.ix_(zero, zero)]
        inv = np.linalg.inv(-s00) if len(zero) else np.zeros((0, 0))
        h = inv @ self.S[np.ix_(zero, pos)]
        alpha = self.alpha[pos] + self.alpha[zero] @ h
        s_star = (self.S[np.ix_(pos, pos)] + self.S[np.ix_(pos, zero)] @ h) / r[pos][
            :, None
        ]
        exit_star = -s_star.sum(axis=1)
        atom = self.atom0 + self.alpha[zero] @ inv @ self.s[zero]
        return alpha, s_star, exit_star, atom

    def reward_pdf(self, r, t):
        a, s, e, _ = self.transformed(r)
        return np.array([a @ scipy.linalg.expm(s * x) @ e for x in t])

    def reward_cdf(self, r, t):
        a, s, e, atom = self.transformed(r)
        m = len(e)
        out = []
        for x in t:
            big = np.zeros((2 * m, 2 * m))
            big[:m, :m] = s * x
            big[:m, m:] = np.eye(m) * x
            out.append(atom + a @ scipy.linalg.expm(big)[:m, m:] @ e)
        return np.array(out)


def unknown_rewards(d, rewards):
    return np.asarray(rewards, float)[d.transient]


def reward_vectors(mod, seed):
    """Three reward vectors per vertex id: positive everywhere, with zeros on some
    transient vertices, and with zeros plus a large value."""
    rng = np.random.default_rng(seed)
    v = mod.N_VERTICES
    a = rng.uniform(0.5, 2.0, v)
    b = rng.uniform(0.5, 2.0, v) * (rng.uniform(size=v) < 0.6)
    c = np.where(rng.uniform(size=v) < 0.5, 0.0, rng.uniform(0.1, 5.0, v))
    c[v // 2] = 40.0
    return np.stack([a, b, c])


def close(got, want, rtol, atol=0.0):
    got, want = np.asarray(got, float), np.asarray(want, float)
    assert got.shape == want.shape, (got.shape, want.shape)
    err = np.abs(got - want)
    bad = err > rtol * np.abs(want) + atol
    assert not bad.any(), (
        f"worst relative error {np.max(err / np.maximum(np.abs(want), 1e-300)):.3e}\n"
        f"got  {got[bad][:5]}\nwant {want[bad][:5]}"
    )


def small(want):
    """The absolute tolerance for values from scipy's expm: 1e-13 of the largest."""
    return 1e-13 * np.abs(want).max()


# --- Values ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", RECIPES)
def test_moments_covariance_and_sojourn_equal_ptd_eval(local, name):
    mod, _ = local.model(name)
    rewards = reward_vectors(mod, 1)
    for theta in THETAS[name]:
        want = local.eval(name, theta, rewards, k=3)
        close(mod.moments(np.array(theta), 3), want["moments"], 1e-12)
        close(mod.moments_jit(np.array([theta]), k=3)[0], want["moments"], 1e-12)
        got = mod.moments(np.array(theta), 3, rewards)
        close(got, [r["moments"] for r in want["rewards"]], 1e-12)
        close(mod.moments(np.array(theta), 3, rewards[1]), got[1], 1e-14)
        cov = np.asarray(mod.covariance(np.array(theta), rewards))
        want_cov = np.asarray(want["covariance"])
        scale = np.outer(got[:, 0], got[:, 0]) + np.abs(want_cov)
        close(cov, want_cov, 0.0, 1e-12 * scale)
        close(np.diag(cov), got[:, 1] - got[:, 0] ** 2, 1e-10)
        close(mod.sojourn(np.array(theta)), want["sojourn"], 1e-12, 1e-300)


@pytest.mark.parametrize("name", RECIPES)
def test_pdf_cdf_and_zero_atom_equal_dense_formulas(local, name):
    mod, graph = local.model(name)
    rewards = reward_vectors(mod, 2)
    times = np.array([0.0, 0.013, 0.2, 0.9, 2.5, 7.0])
    for theta in THETAS[name]:
        d = Dense(graph, theta)
        th = np.array(theta)
        # The atom at 0 and the distribution of T. scipy's expm is accurate relative to the
        # matrix's norm, so values far below the largest get an absolute tolerance.
        close(mod.zero_atom(th), d.atom0, 1e-15, 1e-300)
        close(mod.pdf(th, times), d.pdf(times), 1e-10, small(d.pdf(times)))
        close(mod.cdf(th, times), d.cdf(times), 1e-10, small(d.cdf(times)))
        # Rewarded totals: the reward transform as phasic writes it, one vector at a time
        # and all three at once ((m, F)).
        pdfs = np.asarray(mod.pdf(th, times, rewards))
        cdfs = np.asarray(mod.cdf(th, times, rewards))
        atoms = np.asarray(mod.zero_atom(th, rewards))
        assert pdfs.shape == cdfs.shape == (len(times), len(rewards))
        for f, r in enumerate(rewards):
            ru = unknown_rewards(d, r)
            want = d.reward_pdf(ru, times)
            close(pdfs[:, f], want, 1e-10, small(want))
            want = d.reward_cdf(ru, times)
            close(cdfs[:, f], want, 1e-10, small(want))
            close(atoms[f], d.transformed(ru)[3], 1e-12, 1e-300)
        close(mod.pdf(th, times, rewards[2]), pdfs[:, 2], 1e-14, 1e-300)
        # `ptd eval --times` (the Rust density, same algorithm): equal to 1e-12 relative
        # where the value matters, for T and for every rewarded total.
        want = local.eval(name, theta, rewards, times=times)
        close(mod.pdf(th, times), want["pdf"], 1e-12, 1e-12 * max(want["pdf"]))
        close(mod.cdf(th, times), want["cdf"], 1e-12, 1e-15)
        for f, r in enumerate(want["rewards"]):
            top = max(r["pdf"])
            close(pdfs[:, f], r["pdf"], 1e-12, 1e-12 * top)
            close(cdfs[:, f], r["cdf"], 1e-12, 1e-15)
            close(atoms[f], r["zero_atom"], 1e-12, 1e-16)


def test_every_reward_zero_is_an_atom(local):
    mod, _ = local.model("t/rand9")
    th = np.array([1.0, 1.0])
    zero = np.zeros(mod.N_VERTICES)
    assert float(mod.zero_atom(th, zero)) == 1.0
    assert np.all(np.asarray(mod.pdf(th, [0.5, 1.0], zero)) == 0.0)
    assert np.all(np.asarray(mod.cdf(th, [0.5, 1.0], zero)) == 1.0)
    assert np.all(np.asarray(mod.moments(th, 2, zero)) == 0.0)


def erlang_exact(n, x, cdf):
    """Erlang(n, 1) density at x, or P(Erlang <= x) = P(Poisson(x) >= n), to 40 digits."""
    with localcontext() as ctx:
        ctx.prec = 60
        X = Decimal(float(x))
        if not cdf:
            return float(X ** (n - 1) * (-X).exp() / math.factorial(n - 1))
        term, below = (-X).exp(), Decimal(0)
        for k in range(n):
            below += term
            term = term * X / (k + 1)
        return float(1 - below)


@pytest.mark.parametrize("phases", [3, 200, 10000])
def test_poisson_weights_hold_their_accuracy_to_lambda_t_of_ten_thousand(local, phases):
    # In an Erlang chain of rate 1, every uniformized step moves the mass one phase on
    # exactly, so the pdf is the Poisson weight w_{n-1}(t) itself: this measures the weights.
    name = f"t/erlang{phases}"
    RECIPES.setdefault(
        name, ("reliability/erlang", f"{{ phases = {phases} }}", ["rate"])
    )
    mod, _ = local.model(name)
    n = phases
    times = np.array([0.5 * n, 0.9 * n, n - 1.0, n + 0.37, 1.1 * n, 1.6 * n])
    got = np.asarray(mod.pdf(np.array([1.0]), times))
    want = np.array([erlang_exact(n, t, False) for t in times])
    close(got, want, 1e-12, 1e-300)
    near = np.abs(times - n) <= np.sqrt(n)
    close(got[near], want[near], 2e-13, 1e-300)
    # The cdf: what the weights leave out is below 1e-35, so tiny values may be 0.
    got = np.asarray(mod.cdf(np.array([1.0]), times))
    want = np.array([erlang_exact(n, t, True) for t in times])
    close(got, want, 1e-12, 1e-35)


# --- Gradients ------------------------------------------------------------------------------


def central(f, theta, h=1e-5):
    theta = np.asarray(theta, float)
    cols = []
    for j in range(len(theta)):
        e = np.zeros_like(theta)
        e[j] = h * theta[j]
        cols.append((np.asarray(f(theta + e)) - np.asarray(f(theta - e))) / (2 * e[j]))
    return np.stack(cols, axis=-1)


@pytest.mark.parametrize("name", ["t/bc5", "t/island", "t/rand9"])
def test_gradients_are_exact(local, name):
    mod, graph = local.model(name)
    times = np.array([0.05, 0.4, 1.3, 3.0])
    rewards = reward_vectors(mod, 3)
    # One number of steps for every theta: one compilation.
    steps = mod.steps_for(np.array(THETAS[name]), times)
    steps_r = mod.steps_for(np.array(THETAS[name]), times, rewards[2])
    for theta in THETAS[name]:
        d = Dense(graph, theta)
        th = np.array(theta)

        def pdf(t):
            return mod.pdf(t, times, steps=steps)

        jac = np.asarray(jax.jacrev(pdf)(th))
        exact = d.pdf_grad(times)
        scale = np.abs(exact).max(axis=1, keepdims=True)
        close(jac, exact, 1e-9, 1e-9 * scale)
        close(jac, central(pdf, th), 1e-6, 1e-7 * scale)
        close(np.asarray(jax.jacfwd(pdf)(th)), jac, 1e-12, 1e-12 * scale)
        # Moments of T and of rewarded totals: dU = U dS U.
        for r in (None, rewards[1]):
            ru = np.ones(len(d.s)) if r is None else unknown_rewards(d, r)
            jm = np.asarray(jax.jacrev(lambda t: mod.moments(t, 3, r))(th))
            close(jm, d.moments_grad(ru, 3), 1e-9)
            close(jm, central(lambda t: mod.moments(t, 3, r), th), 1e-6)
        # cdf and a rewarded density: against central differences of the dense formulas.
        jc = np.asarray(jax.jacrev(lambda t: mod.cdf(t, times, steps=steps))(th))
        close(jc, central(lambda t: Dense(graph, t).cdf(times), th), 1e-6, 1e-8)
        r = rewards[2]
        jr = np.asarray(jax.jacrev(lambda t: mod.pdf(t, times, r, steps=steps_r))(th))
        ru = unknown_rewards(d, r)
        fd = central(lambda t: Dense(graph, t).reward_pdf(ru, times), th)
        close(jr, fd, 1e-6, 1e-7 * np.abs(fd).max())


def test_gradient_in_time_is_the_density_derivative(local):
    mod, graph = local.model("t/rand9")
    th = np.array([1.2, 0.7])
    d = Dense(graph, th)
    times = np.array([0.3, 1.1, 2.9])
    steps = mod.steps_for(th, times)
    dt = jax.vmap(jax.grad(lambda t: mod.pdf(th, t, steps=steps)))(jnp.asarray(times))
    want = [d.alpha @ d.S @ scipy.linalg.expm(d.S * t) @ d.s for t in times]
    close(dt, want, 1e-9, 1e-12)
    # And the cdf's derivative in time is the pdf.
    dc = jax.vmap(jax.grad(lambda t: mod.cdf(th, t, steps=steps)))(jnp.asarray(times))
    close(dc, d.pdf(times), 1e-9)


def test_grad_of_the_mean_in_the_rewards_is_the_sojourn_time(local):
    mod, _ = local.model("t/island")
    th = np.array([1.1, 0.4])
    r = jnp.asarray(reward_vectors(mod, 4)[0])
    g = jax.jit(jax.grad(lambda r: mod.mean(th, r)))(r)
    close(g, mod.sojourn(th), 1e-12, 1e-300)


# --- jit, vmap, grad and the static number of steps -----------------------------------------


def test_jit_vmap_and_batches_agree(local):
    mod, _ = local.model("t/rand9")
    thetas = np.array([[1.2, 0.7], [0.4, 1.9], [2.0, 2.0]])
    times = np.linspace(0.0, 4.0, 9)
    rewards = reward_vectors(mod, 5)
    steps = mod.steps_for(thetas, times, rewards)
    single = np.stack(
        [np.asarray(mod.pdf(t, times, rewards, steps=steps)) for t in thetas]
    )
    close(mod.pdf(thetas, times, rewards, steps=steps), single, 1e-14, 1e-300)
    f = jax.jit(lambda t: mod.pdf(t, times, rewards, steps=steps))
    close(jax.vmap(f)(thetas), single, 1e-14, 1e-300)
    close(f(thetas), single, 1e-14, 1e-300)
    m = np.stack([np.asarray(mod.moments(t, 3, rewards)) for t in thetas])
    close(jax.vmap(lambda t: mod.moments(t, 3, rewards))(thetas), m, 1e-14)
    close(mod.moments_jit(thetas, k=3, rewards=rewards), m, 1e-14)
    c = np.stack([np.asarray(mod.covariance(t, rewards)) for t in thetas])
    close(
        jax.jit(jax.vmap(lambda t: mod.covariance(t, rewards)))(thetas), c, 1e-12, 1e-14
    )
    s = np.stack([np.asarray(mod.sojourn(t)) for t in thetas])
    close(jax.jit(mod.sojourn)(thetas), s, 1e-14, 1e-300)
    z = np.stack([np.asarray(mod.zero_atom(t, rewards)) for t in thetas])
    close(
        jax.jit(jax.vmap(lambda t: mod.zero_atom(t, rewards)))(thetas), z, 1e-14, 1e-300
    )
    g = jax.jit(jax.vmap(jax.grad(lambda t: jnp.sum(mod.cdf(t, times, steps=steps)))))
    gs = np.stack(
        [jax.grad(lambda t: jnp.sum(mod.cdf(t, times, steps=steps)))(t) for t in thetas]
    )
    close(g(thetas), gs, 1e-12, 1e-14)


def test_shapes_follow_phasic(local):
    mod, _ = local.model("t/bc5")
    th, times = np.array([1.0]), np.linspace(0.1, 3.0, 7)
    v = mod.N_VERTICES
    rewards = reward_vectors(mod, 6)
    pdf, mom = mod.pmf_and_moments(th, times)
    assert pdf.shape == (7,) and mom.shape == (2,)
    pdf, mom = mod.pmf_and_moments(th, times, rewards[0], k=3)
    assert pdf.shape == (7,) and mom.shape == (3,)
    pdf, mom = mod.pmf_and_moments(th, times, rewards)
    assert pdf.shape == (7, 3) and mom.shape == (3, 2)
    pdf, mom = mod.pmf_and_moments(np.ones((4, 1)), times, rewards)
    assert pdf.shape == (4, 7, 3) and mom.shape == (4, 3, 2)
    assert mod.covariance(th, rewards).shape == (3, 3)
    assert mod.sojourn(th).shape == (v,) and mod.sojourn(np.ones((2, 1))).shape == (
        2,
        v,
    )
    assert mod.pdf(th, 0.5).shape == () and mod.cdf(np.ones((2, 1)), 0.5).shape == (2,)
    assert mod.zero_atom(th, rewards).shape == (3,)
    assert mod.mean(th).shape == () and mod.variance(th, rewards).shape == (3,)


def test_static_steps_under_tracing(local):
    mod, _ = local.model("t/rand4")
    th, times = np.array([0.8, 1.6]), np.array([0.1, 1.0, 30.0])
    with pytest.raises(TypeError, match="pass steps"):
        jax.jit(lambda t: mod.pdf(t, times))(th)
    with pytest.raises(TypeError, match="pass steps"):
        jax.grad(lambda t: mod.cdf(t, times).sum())(th)
    with pytest.raises(TypeError, match="concrete rewards"):
        jax.jit(lambda r: mod.pdf(th, times, r, steps=64))(np.ones(mod.N_VERTICES))
    with pytest.raises(ValueError, match="rewards have shape"):
        mod.moments(th, 2, np.ones(3))
    with pytest.raises(ValueError, match="theta has shape"):
        mod.pdf(np.ones(3), times)
    # Too few steps for the late time: NaN there, never a truncated value.
    need = mod.steps_for(th, times, margin=1.0)
    few = mod.steps_for(th, times[:2], margin=1.0)
    assert few < need
    out = np.asarray(jax.jit(lambda t: mod.pdf(t, times, steps=few))(th))
    assert np.isfinite(out[:2]).all() and np.isnan(out[2])
    close(out[:2], mod.pdf(th, times[:2]), 1e-14, 1e-300)
    full = np.asarray(jax.jit(lambda t: mod.pdf(t, times, steps=need))(th))
    close(full, mod.pdf(th, times), 1e-14, 1e-300)
    # steps_for's margin covers rates that grow by that factor.
    k = mod.steps_for(th, times, margin=2.0)
    assert np.isfinite(np.asarray(mod.pdf(1.9 * th, times, steps=k))).all()


def test_a_svgd_style_step_runs_compiled(local):
    mod, _ = local.model("t/island")
    rng = np.random.default_rng(0)
    data = rng.exponential(1.0, 200)
    particles = jnp.asarray(rng.uniform(0.5, 2.0, (8, 2)))
    steps = mod.steps_for(particles, data, margin=2.0)

    def log_prob(theta):
        pdf, m = mod.pmf_and_moments(theta, data, steps=steps)
        return jnp.sum(jnp.log(pdf + 1e-10)) - 0.1 * jnp.sum(
            (m - jnp.array([1.0, 2.0])) ** 2
        )

    grads = jax.jit(jax.vmap(jax.grad(log_prob)))(particles)
    assert grads.shape == (8, 2) and np.isfinite(np.asarray(grads)).all()
    one = jax.grad(log_prob)(particles[3])
    close(grads[3], one, 1e-10, 1e-12)
