"""Loads a ptd evaluator module in a fresh process and makes its first call.

    python jax_first_call.py MODULE CACHE_DIR THETA_JSON

JAX's persistent compilation cache is pointed at CACHE_DIR with the module's
use_compilation_cache (empty string: no cache). The
answer, on standard output as JSON, says whether JAX's own log reported a persistent-cache hit
or miss for moments_jit, the moments, and the first call's wall time.
"""

import importlib.util
import io
import json
import logging
import sys
import time

import jax
import numpy as np

module, cache_dir, theta = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
jax.config.update("jax_enable_x64", True)
log = io.StringIO()
handler = logging.StreamHandler(log)
compiler = logging.getLogger("jax._src.compiler")
compiler.addHandler(handler)
compiler.setLevel(logging.DEBUG)

spec = importlib.util.spec_from_file_location("evaluator", module)
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
if cache_dir:
    mod.use_compilation_cache(cache_dir)
theta = np.asarray(theta, dtype=np.float64)
start = time.perf_counter()
values = np.asarray(mod.moments_jit(theta))
seconds = time.perf_counter() - start
lines = log.getvalue().splitlines()
print(
    json.dumps(
        {
            "hit": any(
                "Persistent compilation cache hit for 'jit_moments'" in x for x in lines
            ),
            "miss": any(
                "PERSISTENT COMPILATION CACHE MISS for 'jit_moments'" in x
                for x in lines
            ),
            "moments": values.tolist(),
            "first_call_seconds": seconds,
        }
    )
)
