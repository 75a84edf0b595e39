#!/usr/bin/env python3
"""Installs at disk speed: ptd against curl and its own earlier bundle format, side by side in
one run, with a markdown table for the README ("Installs at disk speed").

    .venv/bin/python scripts/bench_install.py [--runs 5] [--ptd PATH] [--skip-50] [--check]

What it does, in a temporary directory, with the ptd given (default: target/release/ptd,
built if missing):

1. Builds coalescent/block-counting samples=21..40 (and 50 unless --skip-50) as format 4
   bundles, publishes them into a directory registry whose artifact location is a local HTTP
   server (Python's ThreadingHTTPServer in this process, with a web server's listen backlog), and rebuilds each archive in format 3
   (`ptd build ARCHIVE --bundle-format 3`) to compare sizes.
2. Times, alternating, `runs` times each, into an empty cache every time:
   - `ptd install` of the 20 members in one command (download, signature, every check of the
     graph and DAG, placing in the store and tier 1);
   - `curl --parallel` fetching the same 20 archives into a directory.
   Prints median wall and CPU time and the ratio ptd / curl (target <= 2), and the floor
   under any install that checks its files: decompressing the 20 archives (`zstd -d`) and
   SHA-256 of what they hold (hashlib), each on one core.
3. With the 50-sample member installed: `ptd eval coalescent/block-counting samples=50 --theta 1`
   (whole process, target <= 0.3 s, peak memory reported) and `ptd hash` of its graph file as
   `ptd graph export` writes it (target <= 1 s).
4. Bundle sizes per model size, format 3 against format 4: the archive and the files inside.

With --check the script exits with status 1 when a target is missed.
"""

import argparse
import hashlib
import http.server
import io
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "models" / "coalescent" / "block-counting"
SET = list(range(21, 41))


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    # Python's default listen backlog is 5: with 20 downloads opening their connections at
    # once, the kernel drops the connections past it and the clients wait a second to try
    # again. Web servers listen with backlogs of hundreds (nginx: 511).
    request_queue_size = 128


def serve(directory):
    handler = lambda *a, **k: Quiet(*a, directory=str(directory), **k)  # noqa: E731
    server = Server(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def run_ok(cmd, env=None):
    """Runs `cmd`, which must succeed."""
    p = subprocess.run([str(c) for c in cmd], check=False, capture_output=True, env=env)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed:\n{p.stderr.decode()}")


def rusage_run(cmd, env=None):
    """Runs `cmd` with os.wait4: (wall s, CPU s, peak RSS MB)."""
    start = time.perf_counter()
    p = subprocess.Popen(
        [str(c) for c in cmd],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = status
    wall = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed with status {status}")
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024


def home_env(base):
    env = dict(os.environ)
    env["PTD_HOME"] = str(base / "ptd")
    env["PHASIC_CACHE_DIR"] = str(base / "phasic")
    env["JAX_COMPILATION_CACHE_DIR"] = str(base / "jax")
    return env


def member_requirements():
    out = []
    for n in SET:
        out += ["coalescent/block-counting@1.1", f"samples={n}"]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--ptd", default=str(ROOT / "target" / "release" / "ptd"))
    ap.add_argument("--skip-50", action="store_true")
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    ptd = Path(a.ptd)
    if not ptd.exists():
        subprocess.run(["cargo", "build", "--release"], cwd=ROOT, check=True)
    if not shutil.which("curl"):
        raise SystemExit("curl is needed (scripts/test-all.sh installs it)")
    work = Path(tempfile.mkdtemp(prefix="ptd-bench-install-"))
    try:
        run(a, ptd, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(a, ptd, work):
    built = work / "built"
    sets = f"samples={SET[0]}..{SET[-1]}" + ("" if a.skip_50 else ",50")
    env = home_env(work / "publisher")
    print(f"building block-counting {sets} ...", file=sys.stderr)
    run_ok([ptd, "build", RECIPE, "--variants", sets, "--out", built, "-q"], env)
    store = work / "store"
    server = serve(store)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    index = work / "index"
    run_ok(
        [ptd, "registry", "init", index, "--name", "bench", "--unencrypted",
         "--artifacts", url + "/{file}", "-q"],
        env,
    )
    run_ok(
        [ptd, "publish", RECIPE, "--variants", sets, "--prebuilt", built,
         "--registry", index, "--store", store, "-q"],
        env,
    )
    files = {n: f"coalescent-block-counting-1.1.0_samples-{n}.ptd.tar.zst" for n in SET + [50]}
    total = sum((store / files[n]).stat().st_size for n in SET)
    # 2. 20 members from local HTTP, against curl.
    reqs = member_requirements()
    ptd_runs, curl_runs = [], []
    for i in range(a.runs):
        home = work / f"home-{i}"
        wall, cpu, _ = rusage_run(
            [ptd, "install", *reqs, "--registry", index, "-q"], home_env(home)
        )
        ptd_runs.append((wall, cpu))
        shutil.rmtree(home)
        dest = work / f"curl-{i}"
        dest.mkdir()
        cmd = ["curl", "-s", "--no-progress-meter", "--fail", "--parallel", "--parallel-max", "20"]
        for n in SET:
            cmd += ["-o", dest / files[n], f"{url}/{files[n]}"]
        wall, cpu, _ = rusage_run(cmd)
        curl_runs.append((wall, cpu))
        shutil.rmtree(dest)
    pw = statistics.median(w for w, _ in ptd_runs)
    pc = statistics.median(c for _, c in ptd_runs)
    cw = statistics.median(w for w, _ in curl_runs)
    cc = statistics.median(c for _, c in curl_runs)
    rows = [
        (
            f"20 bundles (samples 21-40, {total / 1e6:.1f} MB) from local HTTP into an empty cache",
            f"{pw:.2f} s (CPU {pc:.2f} s)",
            f"curl --parallel {cw:.2f} s (CPU {cc:.2f} s)",
            f"{pw / cw:.1f}x",
            "<= 2x",
            pw / cw <= 2,
        )
    ]
    # The floor under any install that checks what it installs: decompressing the archives
    # and hashing what they hold, with tools built for each (zstd, OpenSSL's SHA-256 through
    # hashlib), before anything is written, parsed or checked.
    archives = [store / files[n] for n in SET]
    unzstd = statistics.median(
        rusage_run(["zstd", "-dcq", *archives])[0] for _ in range(a.runs)
    )
    tars = [
        subprocess.run(["zstd", "-dcq", f], capture_output=True, check=True).stdout
        for f in archives
    ]
    sha = []
    for _ in range(a.runs):
        start = time.perf_counter()
        for t in tars:
            hashlib.sha256(t).digest()
        sha.append(time.perf_counter() - start)
    sha = statistics.median(sha)
    floor = unzstd + sha
    rows.append((
        f"floor: decompress the 20 archives (`zstd -d`, one core) and SHA-256 the "
        f"{sum(len(t) for t in tars) / 1e6:.0f} MB they hold (OpenSSL, one core)",
        f"{unzstd:.2f} s + {sha:.2f} s = {floor:.2f} s of CPU",
        f"curl --parallel {cw:.2f} s",
        f"{floor / cw:.1f}x",
        "",
        True,
    ))
    # 3. The 50-sample model: eval and hash.
    if not a.skip_50:
        home = work / "home-50"
        henv = home_env(home)
        run_ok([ptd, "install", "coalescent/block-counting@1.1", "samples=50",
               "--registry", index, "-q"], henv)
        evals = [
            rusage_run([ptd, "eval", "coalescent/block-counting", "samples=50",
                        "--theta", "1"], henv)
            for _ in range(a.runs)
        ]
        ew = statistics.median(w for w, _, _ in evals)
        em = max(m for _, _, m in evals)
        rows.append((
            "`ptd eval` of the installed 50-sample model, one theta (whole process)",
            f"{ew:.2f} s, peak {em:.0f} MB", "", "", "<= 0.3 s", ew <= 0.3,
        ))
        graph = work / "graph-50.json"
        run_ok([ptd, "graph", "export", built / files[50], "-o", graph], henv)
        hashes = [rusage_run([ptd, "hash", graph], henv) for _ in range(a.runs)]
        hw = statistics.median(w for w, _, _ in hashes)
        hm = max(m for _, _, m in hashes)
        rows.append((
            f"`ptd hash` of its graph file ({graph.stat().st_size / 1e6:.0f} MB JSON)",
            f"{hw:.2f} s, peak {hm:.0f} MB", "", "", "<= 1 s", hw <= 1.0,
        ))
    # 4. Sizes, format 3 against format 4.
    v3 = work / "v3"
    sizes = []
    for n in [21, 30, 40] + ([] if a.skip_50 else [50]):
        archive = built / files[n]
        run_ok([ptd, "build", archive, "--bundle-format", "3", "-o", v3, "-q"], env)
        old = next(v3.glob(f"*samples-{n}.ptd.tar.zst"))
        sizes.append(
            (n, old.stat().st_size, archive.stat().st_size, unpacked(old), unpacked(archive))
        )
    print()
    print(f"ptd: {ptd}; {os.cpu_count()} CPUs; medians of {a.runs} runs")
    print()
    print("| what | ptd | reference | ratio | target |")
    print("|---|---|---|---|---|")
    for what, mine, ref, ratio, target, _ in rows:
        print(f"| {what} | {mine} | {ref} | {ratio} | {target} |")
    print()
    print("| samples | archive, format 3 | archive, format 4 | files, format 3 | files, format 4 |")
    print("|---|---|---|---|---|")
    for n, a3, a4, u3, u4 in sizes:
        print(f"| {n} | {a3 / 1e6:.2f} MB | {a4 / 1e6:.2f} MB | {u3 / 1e6:.1f} MB | {u4 / 1e6:.1f} MB |")
    missed = [r[0] for r in rows if not r[5]]
    for m in missed:
        print(f"missed: {m}", file=sys.stderr)
    server.shutdown()
    if a.check and missed:
        sys.exit(1)


def unpacked(archive):
    """The bytes of the files a bundle archive holds (its tar's members), with the zstd tool."""
    out = subprocess.run(
        ["zstd", "-dcq", str(archive)], capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(out)) as t:
        return sum(m.size for m in t.getmembers())


if __name__ == "__main__":
    main()
