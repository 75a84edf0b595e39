#!/usr/bin/env bash
# Regenerates registry-index/, the default registry compiled into ptd, from the recipes under
# models/: every models/*/*/model.toml and every earlier version kept under versions/*/ that
# the index does not list yet (published versions keep their lines and archives).
#
#   PTD_SIGNING_KEY=/path/to/default-registry.key scripts/regenerate-default-registry.sh
#
# The archives and their signatures are written to target/default-registry-artifacts/, ready to
# be uploaded as GitHub release assets (one release per version, tag <namespace>-<name>-v<version>).
# Every index line records its recipe, so a client with no network rebuilds the bundle and checks
# its content hash against the signed index. Builds are deterministic: unchanged recipes give
# unchanged index lines.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${PTD_SIGNING_KEY:?set PTD_SIGNING_KEY to the default registry secret key (see docs/security.md)}"

if [[ -z "${PTD_BIN:-}" ]]; then
  cargo build --release --quiet
fi
ptd="${PTD_BIN:-$PWD/target/release/ptd}"
store="$PWD/target/default-registry-artifacts"
new="$(mktemp -d)/registry-index"
releases='https://github.com/ptd-models/registry/releases/download/{tag}/{file}'

# The registry is append-only: versions it lists keep their lines and archives (a published
# file never changes); only versions it does not list yet are published. A new registry is
# made when there is none.
if [[ -f registry-index/config.json ]]; then
  cp -r registry-index "$new"
  rm -f "$new/.ptd-index.lock"
else
  "$ptd" registry init "$new" --name default --artifacts "$releases"
fi
listed() {
  python3 - "$new" "$1" <<'PY'
import json, sys, tomllib
from pathlib import Path
index, recipe = Path(sys.argv[1]), sys.argv[2]
meta = tomllib.load(open(recipe, "rb"))["model"]
f = index / meta["name"]
lines = [json.loads(l) for l in f.read_text().splitlines()] if f.is_file() else []
print("yes" if any(l["version"] == meta["version"] for l in lines) else "no")
PY
}
# The prebuilt members of a family: the `# ptd-variants: SET` line of its model.toml (as in
# .github/workflows/publish.yml); any other member is built from the recipe on demand.
prebuilt() { sed -n 's/^# ptd-variants: *//p' "$1"; }
find models -name model.toml | LC_ALL=C sort | while read -r recipe; do
  [[ "$(listed "$recipe")" == yes ]] && continue
  read -r -a sets <<< "$(prebuilt "$recipe")"
  if (( ${#sets[@]} )); then
    "$ptd" publish "$recipe" --registry "$new" --store "$store" --with-recipe --variants "${sets[@]}"
  else
    "$ptd" publish "$recipe" --registry "$new" --store "$store" --with-recipe
  fi
done
# Every line records where its version's recipe is now (a newer version moves the previous
# recipe under versions/VERSION/).
python3 - "$new" <<'PY'
import json, sys, tomllib
from pathlib import Path
index = Path(sys.argv[1])
where = {}
for r in sorted(Path("models").rglob("model.toml")):
    meta = tomllib.load(open(r, "rb"))["model"]
    where[(meta["name"], meta["version"])] = str(r.relative_to("models"))
for f in sorted(index.rglob("*")):
    if not f.is_file() or f.suffix or f.name.startswith(".") or f.parent == index:
        continue
    lines = [json.loads(l) for l in f.read_text().splitlines()]
    for l in lines:
        l["recipe"] = where[(l["name"], l["version"])]
    f.write_text("".join(json.dumps(l, separators=(",", ":"), ensure_ascii=False) + "\n" for l in lines))
# The local store the archives were written to is not a location clients can reach.
config = index / "config.json"
c = json.loads(config.read_text())
c["artifacts"] = [a for a in c["artifacts"] if a["kind"] != "file"]
config.write_text(json.dumps(c, indent=2, ensure_ascii=False) + "\n")
PY
"$ptd" registry resign "$new" >/dev/null
# 1.1.0 was built with the wrong sample size; it stays listed for projects that locked it.
grep -q '"version":"1.1.0".*"yanked":true' "$new/coalescent/kingman" \
  || "$ptd" yank coalescent/kingman@1.1.0 --registry "$new"

# Clients refuse a snapshot older than one they have seen (rollback): the new one must count on
# from the one it replaces.
snapshot_version() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["version"])' "$1"; }
old=$(snapshot_version registry-index/snapshot.json 2>/dev/null || echo 0)
while (( $(snapshot_version "$new/snapshot.json") <= old )); do
  "$ptd" registry resign "$new" >/dev/null
done
rm -rf registry-index
cp -r "$new" registry-index
rm -f registry-index/.ptd-index.lock
echo "registry-index/ regenerated; commit it together with models/"
