"""ptd install against phasic's Graph.pull_cache() for the same artifact from the same server.

    .venv/bin/python scripts/bench_vs_pull_cache.py [RUNS]

In one run: phasic 0.32.1 writes its elimination artifact for coalescent/two-island; a
phasic-traces registry.json lists it; a ptd registry holds the bundle with that artifact
(`ptd build --with-phasic`, `ptd publish --phasic-archive`) and the same registry.json imported
with `ptd import phasic-traces`. One local HTTP server serves both. Then, alternating, each into
an empty cache:

- pull_cache, in process: `ComputeRegistry()` (fetches registry.json) and `pull()` (hashes the
  graph, downloads, checks SHA-256, renames), phasic already imported and the graph built;
- pull_cache, whole process: `python -c "import phasic; ...; g.pull_cache()"`;
- `ptd install phasic-traces/two_island`, whole process: opens and verifies the signed
  registry, resolves, downloads, checks size, SHA-256 and signature, places the artifact;
- `ptd install coalescent/two-island`, whole process: the bundle (tier 1) and its phasic archive.

Prints medians. Uses target/release/ptd (built if missing).
"""

import http.server
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PTD = ROOT / "target" / "release" / "ptd"
RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 15
WORK = Path(tempfile.mkdtemp(prefix="ptd-vs-pull-"))
os.environ["PHASIC_CACHE_DIR"] = str(WORK / "phasic-build")
os.environ["PHASIC_REWARD_COMPUTE_CACHE"] = "1"

import phasic  # noqa: E402
from phasic import compute_repository  # noqa: E402


def ptd(*args, env=None):
    out = subprocess.run(
        [str(PTD), *map(str, args)], capture_output=True, text=True, env=env
    )
    if out.returncode != 0:
        raise SystemExit(f"ptd {' '.join(map(str, args))} failed:\n{out.stderr}")
    return out.stdout


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(directory):
    handler = lambda *a, **k: Quiet(*a, directory=str(directory), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main():
    if not PTD.is_file():
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    served = WORK / "served"
    (served / "traces" / "artifacts").mkdir(parents=True)
    base = serve(served)
    env = dict(os.environ, PTD_HOME=str(WORK / "publisher"), PTD_PYTHON=sys.executable)

    # The artifact, written by phasic itself.
    graph_file = WORK / "graph.json"
    ptd("graph", "export", ROOT / "models/coalescent/two-island", "-o", graph_file)
    data = json.loads(graph_file.read_text())
    g = phasic.Graph.from_serialized(data)
    g.update_weights([1.0] * int(data["param_length"]))
    g.expectation()
    h = phasic.hash.compute_graph_hash(g).hash_hex
    built = WORK / "phasic-build" / "parameterized_reward_compute" / f"{h}.bin"
    artifact = served / "traces" / "artifacts" / f"{h}.bin"
    shutil.copy(built, artifact)
    sha = compute_repository._sha256_of(artifact)
    registry = {
        "version": "2.0",
        "format": "ptd_pcg",
        "computes": {
            "two_island": {
                "graph_hash": h,
                "format_revision": 3,
                "artifacts": {
                    "parent": {
                        "cid_or_path": f"{base}/traces/artifacts/{h}.bin",
                        "sha256": sha,
                        "size_bytes": artifact.stat().st_size,
                    },
                    "scc": [],
                },
                "metadata": {"description": "two islands", "license": "MIT"},
            }
        },
    }
    (served / "traces" / "registry.json").write_text(json.dumps(registry))

    # The ptd registry: the bundle with its phasic archive, and the imported registry.json.
    key = WORK / "bench"
    ptd("keygen", "-o", key, "--unencrypted", env=env)
    index = served / "index"
    ptd(
        "registry",
        "init",
        index,
        "--name",
        "bench",
        "--artifacts",
        f"{base}/artifacts/{{file}}",
        "--key",
        f"{key}.key",
        env=env,
    )
    out = WORK / "out"
    bundle, archive = ptd(
        "build",
        ROOT / "models/coalescent/two-island",
        "-o",
        out,
        "--with-phasic",
        env=env,
    ).split()
    ptd(
        "publish",
        bundle,
        "--registry",
        index,
        "--store",
        served / "artifacts",
        "--key",
        f"{key}.key",
        "--phasic-archive",
        archive,
        env=env,
    )
    ptd(
        "import",
        "phasic-traces",
        served / "traces" / "registry.json",
        "--registry",
        index,
        "--store",
        served / "artifacts",
        "--key",
        f"{key}.key",
        env=env,
    )
    # A user's ptd home that has asked Python about phasic once (that answer is cached).
    warm = WORK / "warm-home"
    ptd(
        "install",
        "coalescent/two-island",
        "--registry",
        f"{base}/index",
        env=dict(env, PTD_HOME=str(warm), PHASIC_CACHE_DIR=str(WORK / "warm-phasic")),
    )

    compute_repository.ComputeRegistry.REGISTRY_URL_TEMPLATE = (
        f"{base}/traces/registry.json"
    )
    times = {k: [] for k in ("pull-in", "pull-proc", "ptd-artifact", "ptd-bundle")}
    pull_script = (
        "import json, sys, phasic\n"
        "from phasic import compute_repository as c\n"
        f"c.ComputeRegistry.REGISTRY_URL_TEMPLATE = {base + '/traces/registry.json'!r}\n"
        f"g = phasic.Graph.from_serialized(json.load(open({str(graph_file)!r})))\n"
        "assert g.pull_cache()\n"
    )
    for i in range(RUNS):
        run = WORK / f"run-{i}"
        run.mkdir()

        def pull_in():
            os.environ["PHASIC_CACHE_DIR"] = str(run / "pull-in")
            reg = compute_repository.ComputeRegistry(cache_dir=run / "traces-in")
            assert reg.pull(g)

        times["pull-in"].append(timed(pull_in))
        penv = dict(os.environ, PHASIC_CACHE_DIR=str(run / "pull-proc"), HOME=str(run))
        times["pull-proc"].append(
            timed(
                lambda: subprocess.run(
                    [sys.executable, "-c", pull_script],
                    env=penv,
                    check=True,
                    capture_output=True,
                )
            )
        )
        for label, name in (
            ("ptd-artifact", "phasic-traces/two_island"),
            ("ptd-bundle", "coalescent/two-island"),
        ):
            home = run / f"home-{label}"
            shutil.copytree(warm / "python", home / "python")
            uenv = dict(env, PTD_HOME=str(home), PHASIC_CACHE_DIR=str(run / label))
            times[label].append(
                timed(
                    lambda: ptd(
                        "install", name, "--registry", f"{base}/index", "-q", env=uenv
                    )
                )
            )
            placed = run / label / "parameterized_reward_compute" / f"{h}.bin"
            assert placed.read_bytes() == artifact.read_bytes()
        assert (run / "pull-in" / "parameterized_reward_compute" / f"{h}.bin").is_file()

    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    print(
        f"same artifact ({artifact.stat().st_size} bytes) from one local server, "
        f"median of {RUNS}:"
    )
    print(f"  pull_cache() in process (phasic imported)     {med['pull-in']:8.1f} ms")
    print(f"  pull_cache() whole process (import phasic)    {med['pull-proc']:8.1f} ms")
    print(
        f"  ptd install phasic-traces/two_island (process) {med['ptd-artifact']:7.1f} ms"
    )
    print(
        f"  ptd install coalescent/two-island (bundle too) {med['ptd-bundle']:7.1f} ms"
    )
    shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
