"""Evaluates ptd evaluator modules under jax.jit in float64.

    python jax_evaluate.py JOBS_JSON

JOBS_JSON lists {"module": path, "theta": [[...], ...], "k": k}; the answer, on standard
output, is the list of moment arrays (batch, k) in the same order.
"""

import importlib.util
import json
import sys

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)
with open(sys.argv[1]) as f:
    jobs = json.load(f)
out = []
for i, job in enumerate(jobs):
    spec = importlib.util.spec_from_file_location(f"evaluator_{i}", job["module"])
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    theta = np.asarray(job["theta"], dtype=np.float64)
    out.append(np.asarray(mod.moments_jit(theta, k=job["k"])).tolist())
print(json.dumps(out))
