# Asked once per interpreter by ptd (the result is cached): which JAX this Python has.
import json
import sys
from importlib import metadata

out = {"python": sys.executable}
try:
    out["jax"] = metadata.version("jax")
    out["jaxlib"] = metadata.version("jaxlib")
except metadata.PackageNotFoundError as e:
    out["missing"] = e.name or str(e)
else:
    import jax
    import jaxlib

    out["files"] = [jax.__file__, jaxlib.__file__]
    out["backend"] = jax.default_backend()
    out["platform_version"] = jax.devices()[0].client.platform_version
print(json.dumps(out))
