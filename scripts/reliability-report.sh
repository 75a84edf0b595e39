#!/usr/bin/env bash
# Regenerates docs/reliability.md: runs the fault-injection tests (tests/reliability.rs and
# tests/archive_safety.rs, tests/trust.rs) with PTD_RELIABILITY_REPORT set, so that each records how many faults
# of each kind it injected, how many ptd survived and how much data was lost, then writes the
# table. Any fault not survived, or any data lost, fails the tests and leaves the document as is.
set -euo pipefail
cd "$(dirname "$0")/.."
report="$(mktemp)"
trap 'rm -f "$report"' EXIT
PTD_RELIABILITY_REPORT="$report" cargo test --quiet --test reliability --test archive_safety --test trust
python3 - "$report" docs/reliability.md <<'PY'
import json
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
order = {"network": 0, "index": 1, "archive": 2, "trust": 3, "crash": 4, "disk": 5, "concurrency": 6}
titles = {
    "network": "Network (tests/reliability.rs, a local HTTP server)",
    "index": "Index attacks (tests/reliability.rs)",
    "archive": "Hostile archives (tests/archive_safety.rs)",
    "trust": "Hostile but validly signed bundles (tests/trust.rs)",
    "crash": "Crashes (tests/reliability.rs)",
    "disk": "Full disk (tests/reliability.rs, ENOSPC injected with strace)",
    "concurrency": "Concurrency (tests/reliability.rs)",
}
rows.sort(key=lambda r: (order.get(r["group"], 9), r["fault"]))
out = [
    "# Reliability",
    "",
    "Faults injected into real `ptd` processes by the test suite, and what came of them.",
    "*Survived* means ptd either completed correctly (everything installed verifies, moments",
    "checked) or failed with a clear message and an intact cache (nothing partial, nothing",
    "outside its directories). *Data lost* counts installed files that were damaged or lost;",
    "it must be 0, and the tests fail otherwise. Regenerate this file with",
    "`scripts/reliability-report.sh`.",
    "",
]
total = {"injected": 0, "survived": 0, "lost": 0}
group = None
for r in rows:
    if r["group"] != group:
        group = r["group"]
        out += ["", f"## {titles.get(group, group)}", "",
                "| fault | injected | survived | data lost |", "|---|---|---|---|"]
    out.append(f"| {r['fault']} | {r['injected']} | {r['survived']} | {r['lost']} |")
    for k in total:
        total[k] += r[k]
out += [
    "",
    "## Total",
    "",
    "| injected | survived | data lost |",
    "|---|---|---|",
    f"| {total['injected']} | {total['survived']} | {total['lost']} |",
    "",
    "## How each is tested",
    "",
    "- **Network**: each fault is served first twice then cleared (the install must complete and",
    "  verify, Erlang moments checked), then on every request (at most `PTD_HTTP_ATTEMPTS`",
    "  requests, then a clear error naming the model, with nothing in the cache; or, when the",
    "  fault still delivers the signed bytes, a verified install). Cuts happen 5% into the body,",
    "  so Range resume cannot finish within the attempts. Partial downloads stay in",
    "  `$PTD_HOME/tmp/*.part` for a later resume; they are checked like any download before use.",
    "  A partial left by a mirror that sent an error page or another, shorter file is resumed",
    "  once the mirror is repaired: it fails verification, is discarded, and the archive is",
    "  downloaded again from the start in the same run.",
    "- **Index attacks**: rollback to an older signed snapshot, a snapshot signed with",
    "  `registry resign --valid-for 1s` served after it expired, and an index file changed after",
    "  signing; each refused with a message naming the attack, the installed cache untouched.",
    "  Oversized metadata: `config.json` padded past its cap and re-signed (served with a",
    "  Content-Length, then without one), a signature past its cap, an index file past a cap",
    "  lowered by `PTD_INDEX_MAX_FILE_BYTES` and by `config.toml`; each refused with the URL or",
    "  file, the cap and the setting that raises it, nothing of it in the index cache; raising the",
    "  cap as the message says lets the padded `config.json` through. A tampered index file, once",
    "  refused, is not in the index cache either.",
    "- **Hostile archives**: crafted tar + zstd archives through the bundle, JAX platform archive",
    "  and export readers, and signed hostile bundles installed from a registry.",
    "- **Hostile but validly signed bundles**: bundles signed by the registry's own key that",
    "  claim another model's phasic hash, carry a DAG that is not their graph's (another model's,",
    "  one constant changed, the elimination of the graph with one rate doubled), carry a",
    "  hostile generated module (format version 2), hold invalid content (1e400, NaN, 200,000-deep",
    "  nesting, an operand out of range, a graph claiming 4 billion vertices) or data outside",
    "  their files (zero padding after the tar, a skippable zstd frame), and a tier-1 entry",
    "  already holding other bytes. Each is refused (or, for the module and the tier-1 entry,",
    "  never run and never replaced) with the cache and the victim's DAG unchanged, `ptd verify`",
    "  clean, and repair settling in one run.",
    "- **Crashes**: `ptd install` of up to five models killed with SIGKILL after a random delay",
    "  (0-120 ms, downloads throttled, the cache emptied before half the runs); after each kill",
    "  `ptd cache verify` must find nothing corrupt or partial; at the end the install completes",
    "  and verifies. What the kills leave under `tmp/` and in tier 1, aged past the ten-minute",
    "  grace period, must be counted by `ptd cache info` and removed by `ptd cache gc`.",
    "- **Full disk**: `ptd install` with tier 1 on another filesystem that is full (`linkat` fails",
    "  with EXDEV, `copy_file_range` with ENOSPC, injected by strace) must fail naming the cause,",
    "  with nothing recorded and the cache verifying; the temporary the copy left",
    "  (`symbolic/.link-*`) is kept while young, then counted by `ptd cache info`, listed by",
    "  `ptd cache verify` and removed by `ptd cache gc`; the installs then succeed and verify.",
    "- **Concurrency**: three rounds of eight `ptd install` processes with overlapping model sets",
    "  and a `ptd cache gc --max-size 0 --force` at the same time; every process must succeed",
    "  and the database must list exactly what verifies.",
]
open(sys.argv[2], "w").write("\n".join(out) + "\n")
print(f"wrote {sys.argv[2]}: {len(rows)} kinds of fault, {total['injected']} injected, "
      f"{total['survived']} survived, {total['lost']} lost")
PY
