# Run by ptd: compiles a model's JAX evaluator into a persistent compilation cache directory.
# argv[1] is JSON: {"module": path, "cache_dir": path, "batches": [..], "moments": k}.
import importlib.util
import json
import sys
import time

import jax
import jax.numpy as jnp

args = json.loads(sys.argv[1])
jax.config.update("jax_enable_x64", True)
jax.config.update("jax_compilation_cache_dir", args["cache_dir"])
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
# Keys independent of the cache directory's path (see use_compilation_cache in the module).
jax.config.update("jax_persistent_cache_enable_xla_caches", "none")
spec = importlib.util.spec_from_file_location("ptd_evaluator", args["module"])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
p = len(mod.PARAMETERS)
compiled = []
for b in args["batches"]:
    start = time.perf_counter()
    shape = jax.ShapeDtypeStruct((b, p), jnp.float64)
    mod.moments_jit.lower(shape, k=args["moments"]).compile()
    compiled.append({"batch": b, "seconds": time.perf_counter() - start})
print(json.dumps({"compiled": compiled}))
