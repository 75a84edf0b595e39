#!/usr/bin/env python3
"""Times ptd's builder (criterion, `cargo bench --bench builder`) and phasic 0.32.1 on the same
block-counting coalescent graphs in one run, and prints a table of times, ratios and peak memory.

    .venv/bin/python scripts/bench_vs_phasic.py [--samples 20,30,40] [--check]

Targets (ratio = ptd / phasic): phasic-compatible hash <= 1, symbolic elimination <= 2 (against
phasic's first expectation(), which eliminates), a new theta <= 1. With --check the script exits
with status 1 when a target is missed.

phasic is timed on graphs rebuilt with Graph.from_serialized from the graph file ptd exports,
each measurement on a fresh graph, with phasic's disk caches pointed at an empty directory.
Peak memory is the maximum resident set of one process that loads the graph file and computes
the first two moments: `ptd eval` for ptd, a Python process for phasic (minus its resident set
after `import phasic`, which loads jax).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PTD = ROOT / "target" / "release" / "ptd"

PHASIC_CHILD = r"""
import json, resource, sys, time, os
import phasic
from phasic.phasic_pybind import hash as H
def rss_kb():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') // 1024
path, reps, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
data = json.load(open(path))
base = rss_kb()
if mode == 'memory':
    g = phasic.Graph.from_serialized(data)
    g.update_weights([1.0])
    g.moments(2)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({'peak_kb': peak, 'base_kb': base}))
    sys.exit(0)
hash_t, first_t, new_t = [], [], []
for r in range(reps):
    g = phasic.Graph.from_serialized(data)
    t = time.perf_counter(); H.compute_graph_hash(g); hash_t.append(time.perf_counter() - t)
    g.update_weights([1.0])
    t = time.perf_counter(); g.expectation(); first_t.append(time.perf_counter() - t)
    for k in range(3):
        g.update_weights([1.1 + 0.01 * (r * 3 + k)])
        t = time.perf_counter(); g.expectation(); new_t.append(time.perf_counter() - t)
print(json.dumps({'hash': hash_t, 'first': first_t, 'new': new_t}))
"""


def criterion(bench, n):
    est = (
        ROOT
        / "target"
        / "criterion"
        / "block-counting"
        / bench
        / str(n)
        / "new"
        / "estimates.json"
    )
    return json.loads(est.read_text())["median"]["point_estimate"] / 1e9


def fmt_t(s):
    return f"{s * 1e3:.2f} ms" if s >= 1e-3 else f"{s * 1e6:.0f} µs"


def peak_rss_child(cmd, env=None):
    """Peak RSS (KiB) of one child process, measured with wait4."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(p.pid, 0)
    out = p.stdout.read().decode()
    if status != 0:
        sys.exit(f"{cmd} failed: {p.stderr.read().decode()}")
    return usage.ru_maxrss, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", default="20,30,40")
    ap.add_argument("--check", action="store_true")
    ap.add_argument(
        "--skip-cargo", action="store_true", help="reuse existing criterion results"
    )
    args = ap.parse_args()
    sizes = [int(x) for x in args.samples.split(",")]
    env = dict(os.environ, PTD_BENCH_SAMPLES=args.samples)
    if not args.skip_cargo:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
        subprocess.run(
            ["cargo", "bench", "--quiet", "--bench", "builder", "--", "--noplot"],
            cwd=ROOT,
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    work = Path(tempfile.mkdtemp(prefix="ptd-bench-"))
    penv = dict(os.environ, PHASIC_CACHE_DIR=str(work / "phasic-cache"))
    penv.pop("PHASIC_REWARD_COMPUTE_CACHE", None)
    rows = []
    misses = []
    for n in sizes:
        model = work / f"bc{n}"
        model.mkdir()
        (model / "model.toml").write_text(
            '[model]\nname = "bench/block-counting"\nversion = "1.0.0"\ndescription = ""\n'
            'license = "CC0-1.0"\nparameters = ["theta"]\n\n[generator]\n'
            f'name = "coalescent/block-counting"\nargs = {{ samples = {n} }}\n'
        )
        gfile = work / f"bc{n}.json"
        subprocess.run([PTD, "graph", "export", model, "-o", gfile], check=True)
        vertices = json.loads(gfile.read_text())["n_vertices"]
        reps = {20: 9, 30: 5}.get(n, 3)
        out = subprocess.run(
            [sys.executable, "-c", PHASIC_CHILD, gfile, str(reps), "time"],
            check=True,
            capture_output=True,
            text=True,
            env=penv,
        ).stdout
        ph = json.loads(out.strip().splitlines()[-1])
        p_hash, p_first, p_new = (
            statistics.median(ph[k]) for k in ("hash", "first", "new")
        )
        t_hash, t_elim, t_new = (
            criterion(b, n)
            for b in ("phasic-hash", "eliminate", "expectation-new-theta")
        )
        ptd_peak, _ = peak_rss_child([str(PTD), "eval", str(gfile), "--theta", "1.0"])
        _, out = peak_rss_child(
            [sys.executable, "-c", PHASIC_CHILD, str(gfile), "1", "memory"], env=penv
        )
        mem = json.loads(out.strip().splitlines()[-1])
        ratios = (t_hash / p_hash, t_elim / p_first, t_new / p_new)
        for name, r, limit in zip(
            ("hash", "elimination", "new theta"), ratios, (1.0, 2.0, 1.0)
        ):
            if r > limit:
                misses.append(f"{n} samples: {name} ratio {r:.2f} > {limit}")
        rows.append(
            (
                n,
                vertices,
                t_hash,
                p_hash,
                t_elim,
                p_first,
                t_new,
                p_new,
                ratios,
                ptd_peak,
                mem["peak_kb"] - mem["base_kb"],
            )
        )
    print(
        "| samples | vertices | hash ptd / phasic | elimination ptd / phasic first expectation() "
        "| new theta ptd / phasic | peak RSS ptd eval / phasic (above import) |"
    )
    print("|---|---|---|---|---|---|")
    for n, v, th, ph, te, pf, tn, pn, r, pk, pm in rows:
        print(
            f"| {n} | {v:,} | {fmt_t(th)} / {fmt_t(ph)} ({r[0]:.2f}x) | {fmt_t(te)} / {fmt_t(pf)} ({r[1]:.2f}x) "
            f"| {fmt_t(tn)} / {fmt_t(pn)} ({r[2]:.3f}x) | {pk / 1024:.0f} MiB / {pm / 1024:.0f} MiB |"
        )
    if misses:
        print("targets missed:\n  " + "\n  ".join(misses))
        if args.check:
            sys.exit(1)
    else:
        print("all targets met (hash <= 1x, elimination <= 2x, new theta <= 1x)")


if __name__ == "__main__":
    main()
