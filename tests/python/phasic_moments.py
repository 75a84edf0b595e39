"""phasic's moments for a graph file, in a fresh process.

    python phasic_moments.py GRAPH_FILE THETA K

Prints {"moments": [E[T], ..., E[T^K]]} as JSON. Run with PHASIC_REWARD_COMPUTE_CACHE=1 and
PHASIC_CACHE_DIR set, phasic looks for its elimination artifact before eliminating.
"""

import json
import sys

import phasic

with open(sys.argv[1]) as f:
    g = phasic.Graph.from_serialized(json.load(f))
g.update_weights([float(x) for x in sys.argv[2].split(",")])
print(json.dumps({"moments": [float(m) for m in g.moments(int(sys.argv[3]))]}))
