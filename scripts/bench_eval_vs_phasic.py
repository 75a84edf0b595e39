#!/usr/bin/env python3
"""Times ptd's evaluation (criterion, `cargo bench --bench eval`) and phasic 0.32.1 on the same
block-counting coalescent graphs in one run, and prints a markdown table of times and ratios.

    .venv/bin/python scripts/bench_eval_vs_phasic.py [--samples 20,30] [--jax-samples 20,30,40]
        [--skip-cargo] [--no-jax] [--ptd PATH] [--reps 9] [--dist-samples 20] [--check]

What is timed, each for a new theta (ratio = ptd / phasic):

* SFS means: all n-1 expected SFS entries E[xi_i] (reward r_v = state_v[i-1]). ptd: one
  `Symbolic::reward_means` call (one sojourn solve); phasic: `update_weights(theta)`, then a
  loop of `g.expectation(r)` over the n-1 reward vectors (the update is not timed). Target 0.1x.
* pdf of T at the 100 times t_j = 0.05 j (0 < t <= 5). ptd: `Symbolic::density` (pdf and cdf);
  phasic: one `g.pdf(times)` call with the array of 100 times at the default granularity (one
  forward pass to the largest time; a loop of one `g.pdf(t)` call per time costs the same). Target
  0.5x. Each side's largest relative error against the exact density is printed beside its time:
  the exact values are alpha e^{St} s from scipy.linalg.expm on the dense sub-generator in
  float64 (graphs of up to 1,000 transient states: 20 samples), or ptd's own `ptd eval --times --json` after checking it
  against scipy (scipy.linalg.expm for small graphs, scipy.sparse.linalg.expm_multiply at a few
  times for large ones); the script stops if that check fails.
* jit(grad(sum log pdf)) over 200 observations of T (simulated at theta = 1): ptd's installed JAX
  evaluator, `jax.jit(jax.grad(lambda th: jnp.sum(jnp.log(ev.pdf(th, obs, steps=K) + 1e-10))))`
  with K = `ev.steps_for(theta, obs)` computed once, against the same function of phasic's
  `Graph.pmf_and_moments_from_graph(g, nr_moments=2)` model (pure_callback into C, gradient by
  central finite differences). Target 0.2x. The exact gradient (a five-point difference of the
  exact log-likelihood from `ptd eval`) is printed with both: ptd's must equal it to 1e-6
  relative, phasic's error is reported.
* Not compared (phasic has no such call): ptd's pdf and cdf of every SFS total at the 100 times
  (`Symbolic::reward_distribution`), up to --dist-samples.
* The JAX compile time of ptd's evaluator: `jax.jit(...).lower(theta).compile()` of `pdf` at the
  100 times (with its steps) and of `moments(theta, 2)`, per model size (--jax-samples).

With an evaluator that has no `pdf` function, the JAX rows read "n/a (evaluator without pdf)".
The evaluators are installed from a directory registry into a temporary PTD_HOME with the ptd
binary given by --ptd (default: this tree's release build). phasic runs in child processes
with its disk caches pointed at an empty directory. With --check the script exits with status
1 when a target is missed.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PTD = ROOT / "target" / "release" / "ptd"
TIMES = [round(0.05 * j, 10) for j in range(1, 101)]
N_OBS = 200
TARGETS = {"sfs": 0.1, "pdf": 0.5, "grad": 0.2}

PHASIC_CHILD = r"""
import json, sys, time
import numpy as np
import phasic
import jax
import jax.numpy as jnp
path, reps, grad_reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
times = np.array(json.loads(sys.argv[4]))
obs = jnp.array(json.loads(sys.argv[5]))
data = json.load(open(path))
n = data['state_length']
states = np.array(data['states'], dtype=float)
rewards = [states[:, i - 1].copy() for i in range(1, n)]
g = phasic.Graph.from_serialized(data)
g.update_weights([1.0])
means = [g.expectation(r) for r in rewards]  # the first call eliminates
sfs = []
for k in range(reps):
    g.update_weights([1.0 + 0.01 * (k + 1)])
    t = time.perf_counter()
    [g.expectation(r) for r in rewards]
    sfs.append(time.perf_counter() - t)
g.update_weights([1.0])
pdf_exact_theta = g.pdf(times).tolist()
pdf = []
for k in range(max(1, reps // 3)):
    g.update_weights([1.0 + 0.01 * (k + 1)])
    t = time.perf_counter()
    g.pdf(times)
    pdf.append(time.perf_counter() - t)
model = phasic.Graph.pmf_and_moments_from_graph(g, nr_moments=2)
f = jax.jit(jax.grad(lambda th: jnp.sum(jnp.log(model(th, obs)[0] + 1e-10))))
t = time.perf_counter()
g0 = float(f(jnp.array([1.0]))[0])
grad_first = time.perf_counter() - t
grad = []
for k in range(grad_reps):
    th = jnp.array([1.0 + 0.013 * (k + 1)])
    t = time.perf_counter()
    f(th).block_until_ready()
    grad.append(time.perf_counter() - t)
print(json.dumps({'means': means, 'sfs': sfs, 'pdf': pdf, 'pdf_values': pdf_exact_theta,
                  'grad': grad, 'grad_first': grad_first, 'grad_value': g0}))
"""

JAX_CHILD = r"""
import importlib.util, json, sys, time
import jax
jax.config.update('jax_enable_x64', True)
import jax.numpy as jnp
import numpy as np
module, grad_reps = sys.argv[1], int(sys.argv[2])
times = jnp.array(json.loads(sys.argv[3]))
obs = jnp.array(json.loads(sys.argv[4]))
spec = importlib.util.spec_from_file_location('ptd_evaluator', module)
ev = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ev)
if not (hasattr(ev, 'pdf') and hasattr(ev, 'steps_for')):
    print(json.dumps({'pdf': False}))
    sys.exit(0)
theta = jnp.array([1.0])
out = {'pdf': True}
steps = ev.steps_for(theta, times)
t = time.perf_counter()
jax.jit(lambda th: ev.pdf(th, times, steps=steps)).lower(theta).compile()
out['compile_pdf'] = time.perf_counter() - t
t = time.perf_counter()
jax.jit(lambda th: ev.moments(th, 2)).lower(theta).compile()
out['compile_moments'] = time.perf_counter() - t
out['pdf_values'] = np.asarray(ev.pdf(theta, times)).tolist()
if grad_reps > 0:
    # Steps for every theta the loop visits (steps_for adds a margin of 1.5 on the rates).
    k = ev.steps_for(theta, obs)
    f = jax.jit(jax.grad(lambda th: jnp.sum(jnp.log(ev.pdf(th, obs, steps=k) + 1e-10))))
    t = time.perf_counter()
    out['grad_value'] = float(f(theta)[0])
    out['grad_first'] = time.perf_counter() - t
    grad = []
    for i in range(grad_reps):
        th = jnp.array([1.0 + 0.013 * (i + 1)])
        t = time.perf_counter()
        f(th).block_until_ready()
        grad.append(time.perf_counter() - t)
    out['grad'] = grad
print(json.dumps(out))
"""


def criterion(bench, n):
    est = (
        ROOT
        / "target"
        / "criterion"
        / "eval"
        / bench
        / str(n)
        / "new"
        / "estimates.json"
    )
    return json.loads(est.read_text())["median"]["point_estimate"] / 1e9


def fmt_t(s):
    if s >= 1.0:
        return f"{s:.2f} s"
    return f"{s * 1e3:.2f} ms" if s >= 1e-3 else f"{s * 1e6:.1f} µs"


def fmt_e(x):
    if x < 1e-3:
        return f"{x:.1e}"
    return f"{x * 100:.0f}%" if x >= 0.1 else f"{x * 100:.2g}%"


def run(cmd, env=None):
    p = subprocess.run(
        [str(c) for c in cmd], check=False, capture_output=True, text=True, env=env
    )
    if p.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed:\n{p.stderr}")
    return p.stdout


def child(code, args, env):
    out = run([sys.executable, "-c", code, *args], env=env)
    return json.loads(out.strip().splitlines()[-1])


def model_dir(work, n):
    d = work / f"bc{n}"
    d.mkdir(exist_ok=True)
    (d / "model.toml").write_text(
        f'[model]\nname = "bench/block-counting-{n}"\nversion = "1.0.0"\ndescription = ""\n'
        'license = "CC0-1.0"\nparameters = ["theta"]\n\n[generator]\n'
        f'name = "coalescent/block-counting"\nargs = {{ samples = {n} }}\n'
    )
    return d


def chain(data, theta):
    """alpha, the sub-generator S (scipy.sparse CSR) and exit rates s over the transient
    vertices of a graph file, at theta."""
    import scipy.sparse

    nv = data["n_vertices"]
    theta = np.asarray(theta, dtype=float)
    out = [[] for _ in range(nv)]
    for row in data["param_edges"]:
        out[int(row[0])].append((int(row[1]), float(np.dot(row[2:], theta))))
    for key in ("edges", "constant_edges"):
        for row in data.get(key, []):
            out[int(row[0])].append((int(row[1]), float(row[2])))
    start = [(int(r[0]), float(r[1])) for r in data["start_edges"]]
    start += [
        (int(r[0]), float(np.dot(r[1:], theta))) for r in data["start_param_edges"]
    ]
    transient = [v for v in range(1, nv) if out[v]]
    index = {v: i for i, v in enumerate(transient)}
    m = len(transient)
    rows, cols, vals = [], [], []
    s = np.zeros(m)
    alpha = np.zeros(m)
    for v, w in start:
        if v in index:
            alpha[index[v]] += w
    for v in transient:
        i = index[v]
        for to, w in out[v]:
            rows.append(i)
            cols.append(i)
            vals.append(-w)
            if to in index:
                rows.append(i)
                cols.append(index[to])
                vals.append(w)
            else:
                s[i] += w
    S = scipy.sparse.csr_matrix((vals, (rows, cols)), shape=(m, m))
    return alpha, S, s


def scipy_pdf(data, theta, times, dense_limit):
    """Exact pdf of T in float64 from scipy: at every time with scipy.linalg.expm on the dense
    sub-generator for graphs of at most dense_limit transient states (expm of S dt, then its
    powers, checked against expm(S t) at three times), else at three spot times with
    scipy.sparse.linalg.expm_multiply. Returns {time: pdf}."""
    import scipy.linalg
    import scipy.sparse.linalg

    alpha, S, s = chain(data, theta)
    spots = [times[9], times[39], times[-1]]
    if len(alpha) <= dense_limit:
        S = S.toarray()
        dt = times[0]
        step = scipy.linalg.expm(S * dt)
        v = alpha.copy()
        exact = {}
        for j, t in enumerate(times, start=1):
            assert abs(t - j * dt) < 1e-9, "times must be a grid j * dt"
            v = v @ step
            exact[t] = float(v @ s)
        for t in spots:
            direct = float(alpha @ scipy.linalg.expm(S * t) @ s)
            if abs(direct - exact[t]) > 1e-10 * abs(direct):
                sys.exit(f"scipy: expm powers {exact[t]} != expm {direct} at t = {t}")
        return exact
    St = S.T.tocsr()
    return {
        t: float(scipy.sparse.linalg.expm_multiply(St * t, alpha) @ s) for t in spots
    }


def rel_errors(values, exact, times):
    return [abs(values[times.index(t)] - e) / e for t, e in exact.items()]


def exact_gradient(gfile, obs, h=1e-3):
    """d/dtheta sum log pdf(obs) at theta = 1 by the five-point central difference of ptd
    eval's densities (exact to 1e-9 relative): truncation and rounding both near 1e-8."""

    def loglik(theta):
        ev = json.loads(
            run(
                [
                    PTD,
                    "eval",
                    gfile,
                    "--theta",
                    repr(theta),
                    "--times",
                    ",".join(repr(float(x)) for x in obs),
                    "--json",
                ]
            )
        )
        return float(np.sum(np.log(np.asarray(ev["pdf"]) + 1e-10)))

    a, b, c, d = (loglik(1.0 + k * h) for k in (2, 1, -1, -2))
    return (-a + 8 * b - 8 * c + d) / (12 * h)


def install_evaluator(ptd, work, n, env):
    """Builds, publishes and installs the model of n samples; returns the evaluator module."""
    d = model_dir(work, n)
    name = f"bench/block-counting-{n}"
    bundle = run([ptd, "build", d, "-o", work / "out"], env).splitlines()[0].strip()
    index = work / "index"
    if not index.exists():
        run([ptd, "keygen", "-o", work / "k", "--unencrypted"], env)
        store = f"file://{work / 'store'}/{{file}}"
        run(
            [
                ptd,
                "registry",
                "init",
                index,
                "--name",
                "bench",
                "--artifacts",
                store,
                "--key",
                work / "k.key",
            ],
            env,
        )
    run([ptd, "publish", bundle, "--registry", index, "--key", work / "k.key"], env)
    run([ptd, "install", name, "--registry", index], env)
    return run([ptd, "which", name], env).strip()


def main():
    work = Path(tempfile.mkdtemp(prefix="ptd-bench-eval-"))
    try:
        bench(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def bench(work):
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", default="20,30")
    ap.add_argument("--jax-samples", default="20,30,40")
    ap.add_argument("--check", action="store_true")
    ap.add_argument(
        "--skip-cargo", action="store_true", help="reuse existing criterion results"
    )
    ap.add_argument("--no-jax", action="store_true", help="leave out the JAX rows")
    ap.add_argument(
        "--ptd",
        default=str(PTD),
        help="the ptd binary that installs the JAX evaluators",
    )
    ap.add_argument(
        "--reps", type=int, default=9, help="phasic repetitions (SFS means)"
    )
    ap.add_argument(
        "--dist-samples",
        type=int,
        default=20,
        help="the largest sample size for the SFS distributions row (9 s per call at 30)",
    )
    args = ap.parse_args()
    sizes = [int(x) for x in args.samples.split(",")]
    jax_sizes = [] if args.no_jax else [int(x) for x in args.jax_samples.split(",")]
    env = dict(
        os.environ,
        PTD_BENCH_SAMPLES=args.samples,
        PTD_BENCH_DIST_SAMPLES=str(args.dist_samples),
    )
    if not args.skip_cargo:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
        subprocess.run(
            ["cargo", "bench", "--quiet", "--bench", "eval", "--", "--noplot"],
            cwd=ROOT,
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    penv = dict(os.environ, PHASIC_CACHE_DIR=str(work / "phasic-cache"))
    penv.pop("PHASIC_REWARD_COMPUTE_CACHE", None)
    jenv = dict(
        penv,
        PTD_HOME=str(work / "home"),
        JAX_COMPILATION_CACHE_DIR=str(work / "jax-cache"),
    )
    rng = np.random.default_rng(7)
    rows, misses, notes, unmeasured = [], [], [], []

    def row(label, ptd, phasic, ratio, target, key):
        r = "" if ratio is None else f"{ratio:.3f}x"
        t = "" if target is None else f"<= {target}x"
        rows.append(f"| {label} | {ptd} | {phasic} | {r} | {t} |")
        if ratio is not None and target is not None and ratio > target:
            misses.append(f"{label}: {ratio:.3f}x > {target}x")
        if ratio is None and target is not None:
            unmeasured.append(label)

    jax_out = {}
    modules = {}
    for n in sorted(set(sizes) | set(jax_sizes)):
        if n in jax_sizes:
            modules[n] = install_evaluator(args.ptd, work, n, jenv)

    for n in sizes:
        gfile = work / f"bc{n}.json"
        run([PTD, "graph", "export", model_dir(work, n), "-o", gfile])
        data = json.loads(gfile.read_text())
        vertices = data["n_vertices"]
        # 200 observations of T = T_MRCA at theta = 1: sum of Exp(C(k,2)) for k = 2..n.
        obs = sum(
            rng.exponential(1.0 / (k * (k - 1) / 2), N_OBS) for k in range(2, n + 1)
        )
        obs_json = json.dumps([round(float(x), 12) for x in obs])
        reps = args.reps if n <= 20 else max(3, args.reps // 3)
        grad_reps = 3 if n <= 20 else 1
        ph = child(
            PHASIC_CHILD,
            [gfile, str(reps), str(grad_reps), json.dumps(TIMES), obs_json],
            penv,
        )
        for i, m in enumerate(ph["means"], start=1):
            if abs(m - 2.0 / i) > 1e-9 * (2.0 / i):
                sys.exit(f"phasic's E[xi_{i}] at theta = 1 is {m}, not {2.0 / i}")
        # Exact pdf at theta = 1, and ptd's against it.
        ev = json.loads(
            run(
                [
                    PTD,
                    "eval",
                    gfile,
                    "--theta",
                    "1.0",
                    "--times",
                    ",".join(map(repr, TIMES)),
                    "--json",
                ]
            )
        )
        ptd_pdf = ev["pdf"]
        sc = scipy_pdf(data, [1.0], TIMES, dense_limit=1000)
        ptd_vs_scipy = max(rel_errors(ptd_pdf, sc, TIMES))
        if ptd_vs_scipy > 1e-8:
            sys.exit(
                f"{n} samples: ptd's pdf differs from scipy's by {ptd_vs_scipy:.1e}"
            )
        if len(sc) == len(TIMES):
            exact, ref = sc, "scipy.linalg.expm"
        else:
            exact = dict(zip(TIMES, ptd_pdf))
            ref = f"ptd eval (equal to scipy expm_multiply to {ptd_vs_scipy:.0e} at 3 times)"
        ph_err = rel_errors(ph["pdf_values"], exact, TIMES)
        ph_max = max(ph_err)
        worst = TIMES[int(np.argmax(ph_err))]
        peak = max(exact.values())
        ph_bulk = max(e for e, (t, x) in zip(ph_err, exact.items()) if x >= 0.01 * peak)
        notes.append(
            f"{n} samples ({vertices:,} vertices): exact pdf from {ref}; phasic's largest "
            f"relative error {fmt_e(ph_max)} at t = {worst:g}, {fmt_e(ph_bulk)} where the pdf "
            f"is at least 1% of its largest value"
        )

        t_means = criterion("sfs-means", n)
        t_loop = criterion("sfs-reward-moments", n)
        p_sfs = statistics.median(ph["sfs"])
        row(
            f"SFS means, {n} samples ({n - 1} vectors)",
            f"{fmt_t(t_means)} (reward_means; {n - 1} reward_moments calls: {fmt_t(t_loop)})",
            f"{fmt_t(p_sfs)} ({n - 1} expectation(r) calls)",
            t_means / p_sfs,
            TARGETS["sfs"],
            "sfs",
        )
        t_pdf = criterion("pdf-100-times", n)
        p_pdf = statistics.median(ph["pdf"])
        ptd_err = (
            max(rel_errors(ptd_pdf, exact, TIMES))
            if ref.startswith("scipy")
            else ptd_vs_scipy
        )
        row(
            f"pdf of T at 100 times, {n} samples",
            f"{fmt_t(t_pdf)} (pdf and cdf; max rel. error {fmt_e(ptd_err)})",
            f"{fmt_t(p_pdf)} (pdf(times); max rel. error {fmt_e(ph_max)}, {fmt_e(ph_bulk)} where pdf >= 1% of max)",
            t_pdf / p_pdf,
            TARGETS["pdf"],
            "pdf",
        )
        if n <= args.dist_samples:
            row(
                f"pdf and cdf of each SFS total at 100 times, {n} samples",
                fmt_t(criterion("sfs-distributions", n)),
                "",
                None,
                None,
                "dist",
            )
        p_grad = statistics.median(ph["grad"])
        label = f"jit(grad(sum log pdf)), {N_OBS} observations, {n} samples"
        if n in modules:
            j = child(
                JAX_CHILD,
                [modules[n], str(grad_reps + 2), json.dumps(TIMES), obs_json],
                jenv,
            )
            jax_out[n] = j
            if j["pdf"]:
                jerr = max(rel_errors(j["pdf_values"], exact, TIMES))
                if jerr > 1e-8:
                    sys.exit(
                        f"{n} samples: the JAX evaluator's pdf differs by {jerr:.1e}"
                    )
                t_grad = statistics.median(j["grad"])
                exact_grad = exact_gradient(gfile, obs)
                jdiff = abs(j["grad_value"] - exact_grad) / abs(exact_grad)
                if jdiff > 1e-6:
                    sys.exit(
                        f"{n} samples: the JAX evaluator's gradient is off by {jdiff:.1e}"
                    )
                pdiff = abs(ph["grad_value"] - exact_grad) / abs(exact_grad)
                notes.append(
                    f"{n} samples: d/dtheta sum log pdf at theta = 1: ptd {j['grad_value']:.8g}, "
                    f"phasic {ph['grad_value']:.8g}, exact {exact_grad:.8g} (central difference "
                    f"of exact densities); phasic's relative error {fmt_e(pdiff)}; "
                    f"first call including compilation: ptd {fmt_t(j['grad_first'])}, "
                    f"phasic {fmt_t(ph['grad_first'])}"
                )
                row(
                    label,
                    f"{fmt_t(t_grad)} (JAX evaluator, exact gradient)",
                    f"{fmt_t(p_grad)} (pmf_and_moments_from_graph, finite differences)",
                    t_grad / p_grad,
                    TARGETS["grad"],
                    "grad",
                )
            else:
                row(
                    label,
                    "n/a (evaluator without pdf)",
                    fmt_t(p_grad),
                    None,
                    TARGETS["grad"],
                    "grad",
                )
        else:
            row(label, "not run", fmt_t(p_grad), None, TARGETS["grad"], "grad")

    for n in jax_sizes:
        j = jax_out.get(n)
        if j is None:
            j = child(JAX_CHILD, [modules[n], "0", json.dumps(TIMES), "[]"], jenv)
        label = f"JAX compile, pdf at 100 times / moments(k=2), {n} samples"
        if j["pdf"]:
            row(
                label,
                f"{fmt_t(j['compile_pdf'])} / {fmt_t(j['compile_moments'])}",
                "",
                None,
                None,
                "compile",
            )
        else:
            row(label, "n/a (evaluator without pdf)", "", None, None, "compile")

    print("| benchmark | ptd | phasic 0.32.1 | ratio | target |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    print()
    for note in notes:
        print(f"- {note}")
    if unmeasured:
        print("targets not measured:\n  " + "\n  ".join(unmeasured))
    if misses:
        print("targets missed:\n  " + "\n  ".join(misses))
        if args.check:
            sys.exit(1)
    else:
        print("all measured targets met")


if __name__ == "__main__":
    main()
