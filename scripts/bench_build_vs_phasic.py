#!/usr/bin/env python3
"""Times building a large block-counting coalescent model with ptd and with phasic 0.32.1, side
by side in one run, with the peak memory of each, and prints a markdown table.

    .venv/bin/python scripts/bench_build_vs_phasic.py [--samples 50,60] [--reps 1]
        [--phasic-max-samples 50] [--phasic-timeout 1800] [--phasic-max-rss-gib 16]
        [--ptd PATH] [--check]

What is timed, one process at a time (never two at once, so each has the machine's cores to
itself as far as other jobs allow):

* ptd: the whole `ptd build` process on a recipe whose `[generator]` is
  `coalescent/block-counting` with `args = { samples = N }`: exploring the state space, the
  graph, the symbolic elimination (DAG), the bundle's JSON files, tar and zstd, written to disk.
  Wall time from start to exit; peak memory is the process's maximum resident set (`os.wait4`).
  The default size limits refuse 60 samples, so the script raises them for its child
  (PTD_MAX_VERTICES, PTD_MAX_EDGES, PTD_MAX_MEMORY, unless already set).
* phasic: a Python child process that builds the same model the way phasic users write it, a
  callback that returns each state's transitions with a one-parameter coefficient vector,
  `Graph(callback, ipv=[([N, 0, ...], 1.0)], graph_cache=False)` (phasic's on-disk graph cache
  is off, so the build is not slowed by writing it nor sped up by reading it), then
  `update_weights([1.0])` and the first `expectation()`, which eliminates. Build and
  elimination are timed separately inside the child; peak memory is the child's maximum
  resident set, which includes `import phasic` (jax, pandas: printed as "import" in the notes).
  The child's vertex count must equal ptd's (the manifest's `graph.vertices`; both count the
  starting vertex) and its expectation must equal the exact E[T_MRCA] = 2(1 - 1/N), else the
  script stops.

Ratio = ptd time / (phasic build + first elimination); target <= 0.5 at 50 samples. With
--check the script exits with status 1 when the 50-sample ratio misses it (or 50 samples was not
measured on both sides).

phasic runs only up to --phasic-max-samples (default 50). A phasic child is stopped when it
runs longer than --phasic-timeout seconds or its resident set passes --phasic-max-rss-gib (the
machine is shared); the table then says where it stopped and after how long, at what memory.
With --reps R each measurement is repeated R times and the median time (largest peak memory)
is reported. Everything is written into a temporary directory that is removed at the end.
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PHASIC_CHILD = r"""
import json, os, sys, time
def rss_kb():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') // 1024
def say(**kw):
    print(json.dumps(kw), flush=True)
n = int(sys.argv[1])
t = time.perf_counter()
import phasic
say(event='import', seconds=time.perf_counter() - t, rss_kb=rss_kb())

def block_counting(state):
    # state[i] = lineages subtending i + 1 samples; any two lineages merge at rate theta.
    transitions = []
    for i in range(state.size):
        for j in range(i, state.size):
            same = int(i == j)
            if same and state[i] < 2:
                continue
            if not same and (state[i] < 1 or state[j] < 1):
                continue
            new = state.copy()
            new[i] -= 1
            new[j] -= 1
            new[i + j + 1] += 1
            transitions.append((new, [state[i] * (state[j] - same) / (1 + same)]))
    return transitions

ipv = [([n] + [0] * (n - 1), 1.0)]
t = time.perf_counter()
g = phasic.Graph(block_counting, ipv=ipv, graph_cache=False)
build = time.perf_counter() - t
say(event='build', seconds=build, vertices=g.vertices_length(), rss_kb=rss_kb())
g.update_weights([1.0])
t = time.perf_counter()
e = g.expectation()
say(event='eliminate', seconds=time.perf_counter() - t, expectation=e, rss_kb=rss_kb())
"""


def rss_of(pid):
    """Current resident set of a process in KiB (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_child(cmd, env, out_path, timeout=None, max_rss_kb=None):
    """Runs one child with stdout to `out_path`, polling it against the limits.

    Returns (wall seconds, peak RSS KiB from wait4, exit status, why it was stopped or None)."""
    with open(out_path, "wb") as out, open(str(out_path) + ".err", "wb") as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        stopped = None
        while True:
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid != 0:
                break
            elapsed = time.perf_counter() - t0
            if stopped is None:
                rss = rss_of(p.pid)
                if timeout is not None and elapsed > timeout:
                    stopped = f"stopped after {elapsed:.0f} s (limit {timeout:.0f} s)"
                elif max_rss_kb is not None and rss > max_rss_kb:
                    stopped = (
                        f"stopped at {rss / 1048576:.1f} GiB resident after {elapsed:.0f} s "
                        f"(limit {max_rss_kb / 1048576:.3g} GiB)"
                    )
                if stopped is not None:
                    os.kill(p.pid, signal.SIGKILL)
            time.sleep(0.05)
        wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss, p.returncode, stopped


def write_recipe(model, n):
    model.mkdir(parents=True)
    (model / "model.toml").write_text(
        '[model]\nname = "bench/block-counting"\nversion = "1.0.0"\ndescription = ""\n'
        'license = "CC0-1.0"\nparameters = ["theta"]\n\n[generator]\n'
        f'name = "coalescent/block-counting"\nargs = {{ samples = {n} }}\n'
    )


def time_ptd(ptd, work, n, reps):
    model = work / f"bc{n}"
    write_recipe(model, n)
    env = dict(os.environ, PTD_HOME=str(work / "ptd-home"))
    for var, value in (
        ("PTD_MAX_VERTICES", "5000000"),
        ("PTD_MAX_EDGES", "100000000"),
        ("PTD_MAX_MEMORY", "20GiB"),
    ):
        env.setdefault(var, value)
    times, peaks, manifest = [], [], None
    for _ in range(reps):
        out_dir = work / "out"
        out = work / f"ptd{n}.json"
        wall, peak, code, _ = run_child(
            [str(ptd), "build", "--quiet", "--json", "-o", str(out_dir), str(model)],
            env,
            out,
        )
        if code != 0:
            sys.exit(
                f"ptd build of {n} samples failed ({code}):\n"
                + Path(str(out) + ".err").read_text()
            )
        manifest = json.loads(out.read_text())
        archive = sum(f.stat().st_size for f in out_dir.iterdir())
        shutil.rmtree(out_dir)
        times.append(wall)
        peaks.append(peak)
    return {
        "seconds": statistics.median(times),
        "peak_kb": max(peaks),
        "vertices": manifest["graph"]["vertices"],
        "edges": manifest["graph"]["edges"],
        "dag_nodes": manifest["graph"]["dag_nodes"],
        "archive_bytes": archive,
    }


def time_phasic(work, n, reps, timeout, max_rss_kb):
    env = dict(os.environ, PHASIC_CACHE_DIR=str(work / "phasic-cache"))
    env.pop("PHASIC_REWARD_COMPUTE_CACHE", None)
    runs = []
    for _ in range(reps):
        out = work / f"phasic{n}.jsonl"
        _, peak, code, stopped = run_child(
            [sys.executable, "-c", PHASIC_CHILD, str(n)], env, out, timeout, max_rss_kb
        )
        events = {}
        for line in out.read_text().splitlines():
            if line.startswith("{"):
                e = json.loads(line)
                events[e["event"]] = e
        shutil.rmtree(work / "phasic-cache", ignore_errors=True)
        if stopped is not None or code != 0:
            where = (
                "elimination"
                if "build" in events
                else "build"
                if "import" in events
                else "import phasic"
            )
            done = (
                f" (build done: {events['build']['seconds']:.0f} s, "
                f"{events['build']['vertices']:,} vertices)"
                if "build" in events
                else ""
            )
            err = Path(str(out) + ".err").read_text().strip().splitlines()
            why = stopped or f"exit status {code}: {err[-1] if err else 'no message'}"
            return {"failed": f"during {where}: {why}{done}", "peak_kb": peak}
        runs.append((events, peak))
    build = statistics.median(r[0]["build"]["seconds"] for r in runs)
    elim = statistics.median(r[0]["eliminate"]["seconds"] for r in runs)
    ev = runs[0][0]
    return {
        "build": build,
        "eliminate": elim,
        "peak_kb": max(r[1] for r in runs),
        "import_kb": ev["import"]["rss_kb"],
        "built_kb": ev["build"]["rss_kb"],
        "vertices": ev["build"]["vertices"],
        "expectation": ev["eliminate"]["expectation"],
    }


def skip_note(n, p, rows):
    """Why phasic was not run at `n` samples: an estimate scaled from the largest size it was
    measured at in this run, by the number of edges (ptd's count; the callback is called once
    per vertex and returns its edges, so its time grows at least in proportion)."""
    done = [(m, q, ph) for m, q, ph in rows if "build" in ph]
    if not done:
        return f"phasic, {n} samples: not run; no smaller size was measured to estimate from"
    m, q, ph = done[-1]
    f = p["edges"] / q["edges"]
    graph_gib = (ph["built_kb"] - ph["import_kb"]) * f / 1048576
    peak_gib = (ph["import_kb"] + (ph["peak_kb"] - ph["import_kb"]) * f) / 1048576
    return (
        f"phasic, {n} samples: not run. Scaled by edges from {m} samples ({f:.1f}x the edges), "
        f"its callback build would take at least {ph['build'] * f / 60:.0f} min on this "
        f"machine (and the first elimination at least {ph['eliminate'] * f:.0f} s), its graph "
        f"about {graph_gib:.1f} GiB and its peak with the elimination about {peak_gib:.1f} GiB "
        f"(at {m} samples: build {ph['build']:.0f} s, peak {mb(ph['built_kb'])} MB after the "
        f"build and {mb(ph['peak_kb'])} MB after the elimination)"
    )


def mb(kb):
    return f"{kb / 1024:,.0f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", default="50,60", help="comma-separated sample sizes")
    ap.add_argument("--reps", type=int, default=1, help="runs of each measurement")
    ap.add_argument(
        "--phasic-max-samples",
        type=int,
        default=50,
        help="time phasic only up to this many samples (default 50; see the notes printed)",
    )
    ap.add_argument("--phasic-timeout", type=float, default=1800.0, metavar="SECONDS")
    ap.add_argument("--phasic-max-rss-gib", type=float, default=16.0, metavar="GIB")
    ap.add_argument(
        "--ptd", help="ptd binary (default: build and use target/release/ptd)"
    )
    ap.add_argument(
        "--check", action="store_true", help="exit 1 if the 50-sample ratio is over 0.5"
    )
    args = ap.parse_args()
    sizes = [int(x) for x in args.samples.split(",") if x.strip()]
    if args.reps < 1:
        sys.exit("--reps must be at least 1")
    if args.ptd:
        ptd = Path(args.ptd)
    else:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
        ptd = ROOT / "target" / "release" / "ptd"
    work = Path(tempfile.mkdtemp(prefix="ptd-bench-build-"))
    rows, notes = [], []
    try:
        for n in sizes:
            print(f"{n} samples: ptd build ...", file=sys.stderr, flush=True)
            p = time_ptd(ptd, work, n, args.reps)
            print(
                f"  {p['seconds']:.1f} s, {mb(p['peak_kb'])} MB, {p['vertices']:,} vertices",
                file=sys.stderr,
                flush=True,
            )
            if n > args.phasic_max_samples:
                ph = {
                    "skipped": f"not run (--phasic-max-samples {args.phasic_max_samples})"
                }
                notes.append(skip_note(n, p, rows))
            else:
                print(f"{n} samples: phasic ...", file=sys.stderr, flush=True)
                ph = time_phasic(
                    work,
                    n,
                    args.reps,
                    args.phasic_timeout,
                    int(args.phasic_max_rss_gib * 1048576),
                )
                print(f"  {ph}", file=sys.stderr, flush=True)
                if "vertices" in ph:
                    if ph["vertices"] != p["vertices"]:
                        sys.exit(
                            f"{n} samples: phasic built {ph['vertices']:,} vertices, "
                            f"ptd {p['vertices']:,}"
                        )
                    exact = 2.0 * (1.0 - 1.0 / n)
                    if abs(ph["expectation"] - exact) > 1e-9 * exact:
                        sys.exit(
                            f"{n} samples: phasic's E[T] = {ph['expectation']}, exact {exact}"
                        )
                    notes.append(
                        f"phasic, {n} samples: `import phasic` {mb(ph['import_kb'])} MB "
                        f"resident, after the build {mb(ph['built_kb'])} MB"
                    )
            notes.append(
                f"ptd, {n} samples: {p['edges']:,} edges, {p['dag_nodes']:,} DAG nodes, "
                f"archive {p['archive_bytes'] / 1e6:,.1f} MB"
            )
            rows.append((n, p, ph))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(
        "| samples | vertices | ptd build | ptd peak MB | phasic build | "
        "phasic first elimination | phasic build + elimination | phasic peak MB | "
        "ratio ptd / phasic | target |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    ratio50 = None
    for n, p, ph in rows:
        target = "<= 0.5" if n == 50 else ""
        if "build" in ph:
            total = ph["build"] + ph["eliminate"]
            ratio = p["seconds"] / total
            if n == 50:
                ratio50 = ratio
            print(
                f"| {n} | {p['vertices']:,} | {p['seconds']:.1f} s | {mb(p['peak_kb'])} | "
                f"{ph['build']:.1f} s | {ph['eliminate']:.2f} s | {total:.1f} s | "
                f"{mb(ph['peak_kb'])} | {ratio:.3f}x | {target} |"
            )
        else:
            why = ph.get("skipped") or ph["failed"]
            peak = f"{mb(ph['peak_kb'])} (stopped)" if "peak_kb" in ph else ""
            print(
                f"| {n} | {p['vertices']:,} | {p['seconds']:.1f} s | {mb(p['peak_kb'])} | "
                f"{why} | | | {peak} | | {target} |"
            )
    print()
    for note in notes:
        print(f"- {note}")
    if args.check:
        if ratio50 is None:
            print("--check: 50 samples was not measured on both sides")
            sys.exit(1)
        if ratio50 > 0.5:
            print(f"target missed: 50 samples, ratio {ratio50:.3f} > 0.5")
            sys.exit(1)
        print(f"target met: 50 samples, ratio {ratio50:.3f} <= 0.5")


if __name__ == "__main__":
    main()
