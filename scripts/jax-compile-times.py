"""Compile and run times of the JAX evaluator on the block-counting coalescent.

    PTD_BIN=target/release/ptd .venv/bin/python scripts/jax-compile-times.py [20,30,40]

For each sample size: builds the recipe with that many samples, publishes it to a throwaway
local registry, installs it into a throwaway ptd home (so the evaluator is exactly what
`ptd install` writes), and reports, in float64 on this machine's CPU:
  - the wall time of jax.jit(f).lower(...).compile() for moments (k = 2, batch 1 and 64),
    the pdf at 200 times, and jax.grad of the sum of log pdf at 200 times;
  - the run time per call of the compiled moments (batch 1 and 64) and pdf.
The compiled program has the same operations for every model (its loops are jax.lax.scan
over the tables), so compile times should stay nearly flat while the model grows.
Not a test: numbers depend on the machine and its load.
"""

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)
ROOT = Path(__file__).resolve().parents[1]
PTD = os.environ.get("PTD_BIN", str(ROOT / "target" / "release" / "ptd"))


def ptd(home, *args):
    env = dict(os.environ, HOME=str(home), PTD_HOME=str(home / "ptd-home"))
    for k in ("PTD_PYTHON", "PTD_SIGNING_KEY", "PTD_SIGNING_KEY_PASSWORD"):
        env.pop(k, None)
    out = subprocess.run(
        [PTD, "-q", *map(str, args)], capture_output=True, text=True, env=env
    )
    if out.returncode != 0:
        sys.exit(f"ptd {' '.join(map(str, args))} failed:\n{out.stderr}")
    return out.stdout


def install(tmp, samples):
    """Installs the block-counting coalescent of `samples` samples; returns its module."""
    recipe = tmp / f"bc{samples}"
    recipe.mkdir()
    (recipe / "model.toml").write_text(
        f'[model]\nname = "bench/bc{samples}"\nversion = "1.0.0"\ndescription = ""\n'
        'license = "CC0-1.0"\nparameters = ["theta"]\n\n[generator]\n'
        f'name = "coalescent/block-counting"\nargs = {{ samples = {samples} }}\n'
    )
    index, store = tmp / "index", tmp / "store"
    if not index.exists():
        ptd(tmp, "keygen", "-o", tmp / "key", "--unencrypted")
        ptd(
            tmp, "registry", "init", index, "--name", "bench",
            "--artifacts", f"file://{store}/{{file}}", "--key", tmp / "key.key",
        )  # fmt: skip
    ptd(
        tmp, "publish", recipe, "--registry", index, "--store", store,
        "--key", tmp / "key.key",
    )  # fmt: skip
    ptd(tmp, "install", f"bench/bc{samples}", "--registry", index)
    path = ptd(tmp, "which", f"bench/bc{samples}").strip()
    spec = importlib.util.spec_from_file_location(f"bc{samples}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def compile_seconds(f, *args):
    start = time.perf_counter()
    compiled = jax.jit(f).lower(*args).compile()
    return time.perf_counter() - start, compiled


def per_call(compiled, *args):
    """Mean wall time of a call, over at least 3 calls and 2 seconds."""
    jax.block_until_ready(compiled(*args))
    start, calls = time.perf_counter(), 0
    while calls < 3 or time.perf_counter() - start < 2.0:
        jax.block_until_ready(compiled(*args))
        calls += 1
    return (time.perf_counter() - start) / calls


def main():
    sizes = [
        int(x) for x in (sys.argv[1] if len(sys.argv) > 1 else "20,30,40").split(",")
    ]
    rows = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for n in sizes:
            mod = install(tmp, n)
            theta1 = jnp.array([1.0])
            theta64 = jnp.linspace(0.5, 2.0, 64)[:, None]
            times = jnp.linspace(0.05, 2.0, 200)
            steps = mod.steps_for(theta1, times)
            row = {
                "samples": n,
                "vertices": mod.N_VERTICES,
                "unknowns": mod.UNKNOWNS,
                "nodes": mod._NODES,
                "steps": steps,
            }

            def log_lik(t):
                return jnp.sum(jnp.log(mod.pdf(t, times, steps=steps)))

            jobs = {
                "moments_b1": (lambda t: mod.moments(t), theta1),
                "moments_b64": (lambda t: mod.moments(t), theta64),
                "pdf": (lambda t: mod.pdf(t, times, steps=steps), theta1),
                "grad_log_pdf": (jax.grad(log_lik), theta1),
            }
            for name, (f, arg) in jobs.items():
                seconds, compiled = compile_seconds(f, arg)
                row[f"compile_{name}_s"] = round(seconds, 3)
                row[f"call_{name}_ms"] = round(1e3 * per_call(compiled, arg), 3)
            print(json.dumps(row), flush=True)
            rows.append(row)
    keys = [k for k in rows[0] if k.startswith("compile_")]
    print("\nsamples  " + "  ".join(k[len("compile_") :] for k in keys))
    for r in rows:
        print(f"{r['samples']:7d}  " + "  ".join(f"{r[k]:.2f}s" for k in keys))


if __name__ == "__main__":
    main()
