#!/usr/bin/env python3
"""Times ptd's no-op paths as whole processes: start-up alone (`ptd --version`), an install of a
model that is already installed (`ptd --offline install coalescent/kingman@1.2`), and an install
of a project whose locked models are all installed (`ptd install --locked`).

Builds nothing: give the binaries to time. Each binary gets its own temporary home
($PTD_HOME, $PHASIC_CACHE_DIR, $JAX_COMPILATION_CACHE_DIR), set up with the index built into
ptd (offline): coalescent/kingman@1.2 installed, and a project (`ptd init`, `ptd add` of three
models, `ptd install`). The commands then run in turn, alternating between binaries and
commands, N times each; the medians of wall time, CPU time (user + system) and page faults are
printed, with a markdown table.

    python scripts/bench_noop.py                      # target/release/ptd
    python scripts/bench_noop.py --base OTHER/ptd     # before/after in one run
    python scripts/bench_noop.py --check              # exit 1 if a target is missed

Targets (median wall time of the binary given with --ptd): the no-op install at most 5 ms, the
locked project install at most 4 ms.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODEL = "coalescent/kingman@1.2"
# A process that does nothing, timed alongside as the machine's floor.
TRUE = shutil.which("true") or "/bin/true"
PROJECT_MODELS = ["coalescent/kingman@1.2", "queue/mm1k", "reliability/erlang"]
# (label, arguments, run in the project directory, target in ms)
COMMANDS = [
    ("`ptd --version`", ["--version"], False, None),
    (f"`ptd --offline install {MODEL}`, installed", ["--offline", "install", MODEL], False, 5.0),
    ("`ptd install --locked`, project installed", ["install", "--locked"], True, 4.0),
]


class Subject:
    """One binary with its own home."""

    def __init__(self, name, ptd, root):
        self.name = name
        self.ptd = str(Path(ptd).resolve())
        self.root = Path(root) / name
        self.project = self.root / "project"
        self.env = dict(os.environ)
        for k in list(self.env):
            if k.startswith("PTD_") or k in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"):
                del self.env[k]
        self.env.update(
            HOME=str(self.root),
            PTD_HOME=str(self.root / "ptd-home"),
            PHASIC_CACHE_DIR=str(self.root / "phasic-cache"),
            JAX_COMPILATION_CACHE_DIR=str(self.root / "jax-cache"),
        )
        self.devnull = os.open(os.devnull, os.O_RDWR)

    def run(self, args, cwd=None):
        out = subprocess.run(
            [self.ptd, *args],
            cwd=cwd or self.root,
            env=self.env,
            capture_output=True,
            text=True,
        )
        if out.returncode != 0:
            sys.exit(f"{self.name}: ptd {' '.join(args)} failed:\n{out.stdout}{out.stderr}")
        return out

    def set_up(self):
        self.root.mkdir(parents=True)
        self.run(["--offline", "install", MODEL])
        self.run(["init", str(self.project)])
        for m in PROJECT_MODELS:
            self.run(["--offline", "add", m], cwd=self.project)
        self.run(["--offline", "install"], cwd=self.project)
        # Both no-ops must succeed before they are timed.
        for _, args, in_project, _ in COMMANDS:
            self.run(args, cwd=self.project if in_project else None)

    def time(self, args, in_project):
        """Wall ms, CPU ms and minor page faults of one run."""
        return self.time_program(self.ptd, args, in_project)

    def time_program(self, program, args, in_project):
        """Wall ms, CPU ms and minor page faults of one run of `program`."""
        cwd = self.project if in_project else self.root
        quiet = [(os.POSIX_SPAWN_DUP2, self.devnull, fd) for fd in (0, 1, 2)]
        # posix_spawn starts the child in this process's directory (the script is
        # single-threaded).
        old = os.getcwd()
        os.chdir(cwd)
        try:
            start = time.perf_counter_ns()
            pid = os.posix_spawn(program, [program, *args], self.env, file_actions=quiet)
            _, status, ru = os.wait4(pid, 0)
            wall = (time.perf_counter_ns() - start) / 1e6
        finally:
            os.chdir(old)
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"{self.name}: {program} {' '.join(args)} failed while timed")
        return wall, (ru.ru_utime + ru.ru_stime) * 1e3, ru.ru_minflt


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ptd", default=str(REPO / "target" / "release" / "ptd"),
                    help="the ptd binary to time (default: target/release/ptd)")
    ap.add_argument("--base", help="another ptd binary to time alongside, e.g. the previous build")
    ap.add_argument("-n", type=int, default=30, help="runs of each command per binary (30)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed runs of each first (3)")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 if the --ptd binary misses a target")
    a = ap.parse_args()
    for p in [a.ptd] + ([a.base] if a.base else []):
        if not os.access(p, os.X_OK):
            sys.exit(f"{p}: not an executable ptd (build it first: cargo build --release)")

    with tempfile.TemporaryDirectory(prefix="ptd-bench-noop-") as tmp:
        subjects = []
        if a.base:
            subjects.append(Subject("base", a.base, tmp))
        subjects.append(Subject("ptd", a.ptd, tmp))
        for s in subjects:
            s.set_up()
        samples = {(s.name, c[0]): [] for s in subjects for c in COMMANDS}
        # How fast this machine starts a process that does nothing, in the same run: wall
        # times here move with the load of the machine (other processes, other guests).
        floor = []
        for i in range(a.warmup + a.n):
            for label, args, in_project, _ in COMMANDS:
                for s in subjects:
                    r = s.time(args, in_project)
                    if i >= a.warmup:
                        samples[(s.name, label)].append(r)
            r = subjects[-1].time_program(TRUE, [], False)
            if i >= a.warmup:
                floor.append(r)

    def med(name, label, k):
        return statistics.median(r[k] for r in samples[(name, label)])

    print(f"median of {a.n} runs each (wall ms, CPU ms, page faults); "
          f"{os.cpu_count()} CPUs")
    for s in subjects:
        print(f"  {s.name}: {s.ptd}")
    head = ["command"]
    for s in subjects:
        head += [f"{s.name} wall ms", f"{s.name} CPU ms", f"{s.name} faults"]
    if a.base:
        head.append("speed-up")
    head.append("target ms")
    rows = []
    missed = []
    for label, _, _, target in COMMANDS:
        row = [label]
        for s in subjects:
            row += [f"{med(s.name, label, 0):.2f}", f"{med(s.name, label, 1):.2f}",
                    f"{med(s.name, label, 2):.0f}"]
        if a.base:
            row.append(f"{med('base', label, 0) / med('ptd', label, 0):.1f}x")
        row.append("" if target is None else f"<= {target:g}")
        rows.append(row)
        if target is not None and med("ptd", label, 0) > target:
            missed.append(f"{label}: {med('ptd', label, 0):.2f} ms > {target:g} ms")
    print(f"  a process that does nothing ({TRUE}): "
          f"{statistics.median(r[0] for r in floor):.2f} ms wall, "
          f"{statistics.median(r[1] for r in floor):.2f} ms CPU, "
          f"{statistics.median(r[2] for r in floor):.0f} page faults")
    print()
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    if missed:
        print()
        for m in missed:
            print(f"missed: {m}")
        if a.check:
            sys.exit(1)
    elif a.check:
        print("\nall targets met")


if __name__ == "__main__":
    main()
