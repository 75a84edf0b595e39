# Run by ptd: lets the real phasic eliminate a graph file with its reward-compute cache switched
# on and pointed at a fresh directory, so that it writes its own artifact for the graph.
# argv[1] is JSON: {"graph": path, "cache_dir": path}.
import json
import os
import sys

args = json.loads(sys.argv[1])
os.environ["PHASIC_CACHE_DIR"] = args["cache_dir"]
os.environ["PHASIC_REWARD_COMPUTE_CACHE"] = "1"

from importlib import metadata  # noqa: E402

import phasic  # noqa: E402

with open(args["graph"]) as f:
    data = json.load(f)
g = phasic.Graph.from_serialized(data)
k = int(data.get("param_length", 0))
if k:
    g.update_weights([1.0] * k)
g.expectation()
print(
    json.dumps(
        {
            "phasic": metadata.version("phasic"),
            "hash": phasic.hash.compute_graph_hash(g).hash_hex,
        }
    )
)
