#!/usr/bin/env python3
"""Writes tests/fixtures/eval/phasic/: what phasic 0.32.1 returns for every case in
tests/fixtures/eval/ (same graph file, theta, reward vectors and times), and a report of where
it differs from the exact values.

    .venv/bin/python scripts/eval-phasic-fixtures.py           # write the files and the report
    .venv/bin/python scripts/eval-phasic-fixtures.py --check   # recompute, compare (1e-9)

Each graph file is loaded with phasic.Graph.from_serialized(json.load(f)) (what a phasic user
does with a ptd graph file), then update_weights(theta) for a parameterized graph. Recorded:
moments(3), expected_sojourn_time(), pdf(times) and cdf(times) with phasic's defaults, and per
reward vector expectation(r), moments(3, r), variance(r); covariance(r_a, r_b) for every pair;
and pdf/cdf of the rewarded total through reward_transform(r). Densities are only asked for
at times phasic reaches within 2e7 of its steps (null after that).

Discrete cases (tests/fixtures/eval/dph/) are loaded the same way and then marked discrete by
hand (g.is_discrete = True; g.set_was_dph(True)): serialize() writes no discrete flag. Recorded:
the content hash, pdf/cdf at the steps, expectation(), variance(), moments(3),
moments(3, discrete=True), and per reward vector expectation(r), variance(r),
covariance(r, r).

phasic's reward_transform densities vary in their last digits from run to run, so --check
compares numbers to 1e-9 relative rather than bytes.

The report (report.md beside the files, built from the files on disk) gives phasic's largest
relative deviation from the exact fixture for each quantity and lists every moment-type value
that differs by more than 1e-10.

    .venv/bin/python scripts/eval-phasic-fixtures.py --only dph    # recompute some cases only
"""

import argparse
import importlib.metadata
import json
import math
import os
import sys
import tempfile
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT / "tests" / "fixtures" / "eval"
OUT = EVAL / "phasic"
TOL = 1e-10
# phasic steps its density in time; on stiff graphs late times would take hours
STEP_BUDGET = 2e7
SOURCE = "scripts/eval-phasic-fixtures.py"

# phasic may write caches; keep them out of the user's home directory
os.environ.setdefault("PHASIC_CACHE_DIR", tempfile.mkdtemp(prefix="phasic-cache-"))
warnings.filterwarnings("ignore")

import numpy as np

import phasic


def floats(xs):
    return [float(x) for x in np.asarray(xs, dtype=float).ravel()]


def load(graph_path, theta):
    with open(ROOT / graph_path) as f:
        data = json.load(f)
    g = phasic.Graph.from_serialized(data)
    if g.vertices_length() != data["n_vertices"]:
        raise SystemExit(
            f"{graph_path}: phasic rebuilt {g.vertices_length()} vertices, the file has {data['n_vertices']}"
        )
    for i, v in enumerate(g.vertices()):
        if i > 0 and [int(x) for x in v.state()] != data["states"][i]:
            raise SystemExit(
                f"{graph_path}: phasic's vertex {i} has another state than the file's"
            )
    if theta:
        g.update_weights(list(theta))
    return g


def attempt(fn):
    """phasic's value, or the error it raised (recorded as a string)."""
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 (phasic raises RuntimeError, ValueError, ...)
        return f"error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"


def max_out_rate(g):
    return max(
        (sum(e.weight() for e in v.edges()) for v in g.vertices()[1:]), default=0.0
    )


def densities(make, times):
    """pdf and cdf at the times phasic can reach within STEP_BUDGET Euler steps (its step is
    1 / (2 max(512, largest out-rate))); None at later times."""
    g = make()
    step_rate = 2 * max(512.0, max_out_rate(g))
    reach = [t for t in times if t * step_rate <= STEP_BUDGET]
    pdf = attempt(lambda: floats(g.pdf(np.asarray(reach))) if reach else [])
    cdf = attempt(lambda: floats(make().cdf(np.asarray(reach))) if reach else [])
    pad = [None] * (len(times) - len(reach))
    return (pdf if isinstance(pdf, str) else pdf + pad), (
        cdf if isinstance(cdf, str) else cdf + pad
    )


def phasic_case(case):
    theta = case["theta"]
    graph = case["graph"]
    g = load(graph, theta)
    times = case["times"]
    out = {
        "source": SOURCE,
        "phasic_version": importlib.metadata.version("phasic"),
        "graph": graph,
        "theta": theta,
        "times": times,
        "moments": attempt(lambda: floats(g.moments(case["k"]))),
        "sojourn": attempt(lambda: floats(g.expected_sojourn_time())),
        "pdf": None,
        "cdf": None,
        "rewards": [],
        "covariance": [],
    }
    out["pdf"], out["cdf"] = densities(lambda: load(graph, theta), times)
    vecs = []
    for rw in case["rewards"]:
        r = np.asarray(rw["vector"], dtype=float)
        vecs.append(r)
        entry = {
            "name": rw["name"],
            "expectation": attempt(
                lambda r=r: float(load(graph, theta).expectation(r))
            ),
            "moments": attempt(
                lambda r=r: floats(load(graph, theta).moments(case["k"], r))
            ),
            "variance": attempt(lambda r=r: float(load(graph, theta).variance(r))),
        }
        made = attempt(lambda r=r: load(graph, theta).reward_transform(r))
        if isinstance(made, str):
            entry["pdf"] = entry["cdf"] = made
        else:
            entry["pdf"], entry["cdf"] = densities(
                lambda r=r: load(graph, theta).reward_transform(r), times
            )
        out["rewards"].append(entry)
    out["covariance"] = [
        [
            attempt(lambda a=a, b=b: float(load(graph, theta).covariance(a, b)))
            for b in vecs
        ]
        for a in vecs
    ]
    return out


def dumps(obj):
    def c(v):
        return json.dumps(v, separators=(",", ":"))

    lines = []
    for k, v in obj.items():
        if k == "rewards":
            inner = ",\n".join("    " + c(r) for r in v)
            lines.append(f'  "rewards": [\n{inner}\n  ]' if v else '  "rewards": []')
        else:
            lines.append(f'  "{k}": {c(v)}')
    return "{\n" + ",\n".join(lines) + "\n}\n"


# ---------------------------------------------------------------------------------------------
# Comparison with the exact fixtures


def rel(a, b):
    scale = max(abs(a), abs(b))
    return abs(a - b) / scale if scale else 0.0


class Report:
    def __init__(self):
        self.worst = {}  # quantity -> (deviation, case, detail)
        self.disagreements = []  # (case, what, phasic, exact, deviation)
        self.errors = []
        self.cases = []  # (case, unknowns, start weight, evaluated times, worst per density)

    def see(self, case, what, got, want, strict, floor=0.0):
        """Relative deviation; values below floor (absolute) compare absolutely."""
        if isinstance(got, str):
            self.errors.append((case, what, got))
            return None
        got, want = float(got), float(want)
        if max(abs(got), abs(want)) <= floor:
            dev = abs(got - want)
        else:
            dev = rel(got, want)
        key = what.split("[")[0].strip()
        if key not in self.worst or dev > self.worst[key][0] or math.isnan(dev):
            self.worst[key] = (dev, case, what)
        if strict and not dev <= TOL:
            self.disagreements.append((case, what, got, want, dev))
        return dev

    def text(self):
        lines = [
            "# phasic 0.32.1 against the exact fixtures",
            "",
            "Written by scripts/eval-phasic-fixtures.py. Relative deviations of phasic's values",
            "from tests/fixtures/eval/*.json (mpmath); densities compare where the exact density",
            "exceeds 1e-8 of its maximum (cdfs where they exceed 1e-8), absolutely elsewhere.",
            "phasic steps densities forward with step 1 / (2 max(512, largest out-rate)); a",
            "deviation of 1 is a time shorter than that step, where phasic returns 0.",
            "",
            "## Largest deviation per quantity",
            "",
            "| quantity | largest relative deviation | case | where |",
            "|---|---|---|---|",
        ]
        for key in sorted(self.worst):
            dev, case, what = self.worst[key]
            lines.append(f"| {key} | {dev:.2e} | {case} | {what} |")
        lines += [
            "",
            "## Densities per case",
            "",
            "Largest relative deviation of phasic's `pdf`/`cdf` (default granularity) and of",
            "`reward_transform(r).pdf`/`.cdf` over all reward vectors. phasic's densities use the",
            "start weights as given while its moments divide by their total W: where W != 1 the",
            "columns compare phasic / W (the raw values are off by the factor W as well).",
            "Times phasic would need more than 2e7 steps for are not evaluated.",
            "",
            "| case | unknowns | W | times evaluated | T pdf | T cdf | Y pdf | Y cdf |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for case, n, w, ev, worst in self.cases:

            def cell(key, worst=worst):
                x = worst.get(key)
                return "-" if x is None else f"{x:.2e}"

            lines.append(
                f"| {case} | {n} | {w:g} | {ev} | {cell('T pdf')} | {cell('T cdf')} "
                f"| {cell('Y pdf')} | {cell('Y cdf')} |"
            )
        lines += ["", f"## Moment-type values off by more than {TOL:g}", ""]
        if not self.disagreements:
            lines.append("None.")
        else:
            lines.append("| case | value | phasic | exact | relative deviation |")
            lines.append("|---|---|---|---|---|")
            for case, what, got, want, dev in self.disagreements:
                lines.append(f"| {case} | {what} | {got!r} | {want!r} | {dev:.2e} |")
        lines += ["", "## Calls that raised", ""]
        if not self.errors:
            lines.append("None.")
        else:
            for case, what, err in self.errors:
                lines.append(f"- {case}: {what}: {err}")
        return "\n".join(lines) + "\n"


def compare(report, name, exact, ph):
    see = report.see
    k = exact["k"]
    if isinstance(ph["moments"], str):
        see(name, "moments", ph["moments"], 0, True)
    else:
        for j in range(k):
            see(
                name,
                f"moments [E T^{j + 1}]",
                ph["moments"][j],
                exact["moments"][j],
                True,
            )
    if isinstance(ph["sojourn"], str):
        see(name, "sojourn", ph["sojourn"], 0, True)
    else:
        for v, (a, b) in enumerate(zip(ph["sojourn"], exact["sojourn"])):
            see(name, f"expected_sojourn_time [vertex {v}]", a, b, True, floor=1e-300)

    with open(ROOT / exact["graph"]) as f:
        weight = sum(w for _, w in json.load(f)["start_edges"])
    worst = {}

    def scaled(xs):
        # phasic's densities use the start weights as given; its moments normalise them
        if isinstance(xs, str):
            return xs
        return [None if x is None else x / weight for x in xs]

    def compare_densities(label, detail, got, want_pdf, want_cdf, cdf_got):
        for kind, values, want, floor in (
            ("pdf", scaled(got), want_pdf, 1e-8 * max(want_pdf)),
            ("cdf", scaled(cdf_got), want_cdf, 1e-8),
        ):
            key = f"{label} {kind}"
            if isinstance(values, str):
                see(name, f"{key} [{detail}]", values, 0, False)
                continue
            for t, a, b in zip(exact["times"], values, want):
                if a is None:
                    continue
                dev = see(name, f"{key} [{detail} t={t:.6g}]", a, b, False, floor=floor)
                worst[key] = max(worst.get(key, 0.0), dev)

    compare_densities("T", "", ph["pdf"], exact["pdf"], exact["cdf"], ph["cdf"])
    evaluated = (
        "-" if isinstance(ph["pdf"], str) else sum(x is not None for x in ph["pdf"])
    )
    report.cases.append(
        (
            name,
            exact["n_unknowns"],
            weight,
            f"{evaluated} of {len(exact['times'])}",
            worst,
        )
    )
    for er, pr in zip(exact["rewards"], ph["rewards"]):
        rn = er["name"]
        m = er["moments"]
        see(name, f"expectation(r) [{rn}]", pr["expectation"], m[0], True, floor=1e-300)
        if isinstance(pr["moments"], str):
            see(name, f"moments(k, r) [{rn}]", pr["moments"], 0, True)
        else:
            for j in range(k):
                see(
                    name,
                    f"moments(k, r) [{rn} E Y^{j + 1}]",
                    pr["moments"][j],
                    m[j],
                    True,
                    floor=1e-300,
                )
        var = exact["covariance"][exact["rewards"].index(er)][
            exact["rewards"].index(er)
        ]
        see(name, f"variance(r) [{rn}]", pr["variance"], var, True, floor=1e-300)
        compare_densities("Y", rn, pr["pdf"], er["pdf"], er["cdf"], pr["cdf"])
    for a, row in enumerate(ph["covariance"]):
        for b, x in enumerate(row):
            want = exact["covariance"][a][b]
            na, nb = exact["rewards"][a]["name"], exact["rewards"][b]["name"]
            # scale by the standard deviations: covariances can be near zero by cancellation
            sd = math.sqrt(
                max(exact["covariance"][a][a], 0) * max(exact["covariance"][b][b], 0)
            )
            if isinstance(x, str):
                see(name, f"covariance [{na}, {nb}]", x, 0, True)
            elif sd > 0:
                dev = abs(x - want) / sd
                key = "covariance(r_a, r_b) / (sd_a sd_b)"
                if key not in report.worst or dev > report.worst[key][0]:
                    report.worst[key] = (dev, name, f"{na}, {nb}")
                if not dev <= TOL:
                    report.disagreements.append(
                        (name, f"covariance [{na}, {nb}] / (sd sd)", x, want, dev)
                    )
            else:
                see(name, f"covariance [{na}, {nb}]", x, want, True, floor=1e-300)


# ---------------------------------------------------------------------------------------------
# Discrete phase-type graphs


def load_dph(graph_path, theta):
    """A graph file read as phasic reads a DPH graph: serialize() writes no discrete flag, so
    the flags are set by hand after from_serialized (before update_weights, which then rescales
    each vertex's out-weights to sum 1)."""
    with open(ROOT / graph_path) as f:
        g = phasic.Graph.from_serialized(json.load(f))
    g.is_discrete = True
    g.set_was_dph(True)
    if theta:
        g.update_weights(list(theta))
    return g


def phasic_dph_case(case):
    from phasic.phasic_pybind import hash as phasic_hash

    graph, theta, steps = case["graph"], case["theta"], case["steps"]

    def g():
        return load_dph(graph, theta)

    out = {
        "source": SOURCE,
        "phasic_version": importlib.metadata.version("phasic"),
        "graph": graph,
        "theta": theta,
        "loaded_as": "from_serialized, then g.is_discrete = True and g.set_was_dph(True), then update_weights(theta)",
        "hash_hex": phasic_hash.compute_graph_hash(g()).hash_hex,
        "steps": steps,
        "pdf": attempt(lambda: floats(g().pdf(np.asarray(steps)))),
        "cdf": attempt(lambda: floats(g().cdf(np.asarray(steps)))),
        "expectation": attempt(lambda: float(g().expectation())),
        "variance": attempt(lambda: float(g().variance())),
        "moments": attempt(lambda: floats(g().moments(case["k"]))),
        "moments_discrete": attempt(
            lambda: floats(g().moments(case["k"], discrete=True))
        ),
        "rewards": [],
    }
    for rw in case["rewards"]:
        r = np.asarray(rw["vector"], dtype=float)
        out["rewards"].append(
            {
                "name": rw["name"],
                "expectation": attempt(lambda r=r: float(g().expectation(r))),
                "variance": attempt(lambda r=r: float(g().variance(r))),
                "covariance_with_itself": attempt(
                    lambda r=r: float(g().covariance(r, r))
                ),
            }
        )
    return out


def compare_dph(report, name, exact, ph):
    see = report.see
    big = max(exact["pmf"])
    for k, a, b in zip(
        exact["steps"],
        ph["pdf"] if not isinstance(ph["pdf"], str) else [],
        exact["pmf"],
    ):
        see(name, f"DPH pdf [k={k}]", a, b, False, floor=1e-8 * big)
    if isinstance(ph["pdf"], str):
        see(name, "DPH pdf", ph["pdf"], 0, False)
    see(name, "DPH expectation()", ph["expectation"], exact["moments"][0], True)
    see(name, "DPH variance() vs Var K", ph["variance"], exact["variance"], True)
    see(
        name,
        "DPH variance() vs E K(K-1)",
        ph["variance"],
        exact["factorial_moments"][1],
        False,
    )
    if isinstance(ph["moments"], str):
        see(name, "DPH moments(k)", ph["moments"], 0, True)
    else:
        for j in range(exact["k"]):
            see(
                name,
                f"DPH moments(k) vs E K^j [j={j + 1}]",
                ph["moments"][j],
                exact["moments"][j],
                True,
            )
            see(
                name,
                f"DPH moments(k) vs rising factorial moments [j={j + 1}]",
                ph["moments"][j],
                exact["rising_factorial_moments"][j],
                False,
            )
    if isinstance(ph["moments_discrete"], str):
        see(name, "DPH moments(k, discrete=True)", ph["moments_discrete"], 0, True)
    for er, pr in zip(exact["rewards"], ph["rewards"]):
        see(
            name,
            f"DPH expectation(r) [{er['name']}]",
            pr["expectation"],
            er["mean"],
            True,
        )
        see(
            name,
            f"DPH variance(r) [{er['name']}]",
            pr["variance"],
            er["variance"],
            True,
        )
        see(
            name,
            f"DPH covariance(r, r) [{er['name']}]",
            pr["covariance_with_itself"],
            er["variance"],
            True,
        )


def same(a, b, tol=1e-9):
    """Equal up to a relative tolerance on numbers."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k], tol) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y, tol) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b or abs(a - b) <= tol * max(abs(a), abs(b))
    return a == b


def build_report():
    """The report from the exact files and phasic's files on disk."""
    report = Report()
    for sub, comp in (("", compare), ("dph", compare_dph)):
        for path in sorted((EVAL / sub).glob("*.json")):
            mine = OUT / path.name
            if not mine.exists():
                report.errors.append(
                    (path.stem, "phasic file", f"missing: {mine.relative_to(ROOT)}")
                )
                continue
            comp(
                report,
                path.stem,
                json.loads(path.read_text()),
                json.loads(mine.read_text()),
            )
    return report.text()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--check",
        action="store_true",
        help="recompute and compare with the committed files",
    )
    ap.add_argument("--only", help="only recompute cases whose name starts with this")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    mismatches = []
    for sub, run in (("", phasic_case), ("dph", phasic_dph_case)):
        for path in sorted((EVAL / sub).glob("*.json")):
            name = path.stem
            if args.only and not name.startswith(args.only):
                continue
            data = run(json.loads(path.read_text()))
            text = dumps(data)
            out = OUT / path.name
            if args.check:
                # phasic's reward_transform densities vary in the last digits between runs
                if not out.exists() or not same(json.loads(out.read_text()), data):
                    mismatches.append(str(out.relative_to(ROOT)))
            else:
                out.write_text(text)
            print(f"{name}: done", flush=True)
    text = build_report()
    print(text)
    rp = OUT / "report.md"
    if args.check:
        if not rp.exists() or rp.read_text() != text:
            mismatches.append(str(rp.relative_to(ROOT)))
    else:
        rp.write_text(text)
    if args.check and mismatches:
        sys.exit("differ from the committed files: " + ", ".join(mismatches))


if __name__ == "__main__":
    main()
