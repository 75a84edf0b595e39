# Asked once per interpreter by ptd (the answer is cached): which phasic this Python has, and the
# newest elimination-artifact format revision it reads.
import json
import sys
from importlib import metadata

out = {"python": sys.executable}
try:
    out["phasic"] = metadata.version("phasic")
except metadata.PackageNotFoundError:
    out["missing"] = "phasic"
else:
    import phasic.compute_repository as repository

    out["max_format_revision"] = repository._LOCAL_FORMAT_REVISION
    out["files"] = [repository.__file__]
print(json.dumps(out))
