#!/usr/bin/env bash
# scripts/fuzz.sh [SECONDS [TARGET...]]
# Runs the cargo-fuzz targets (tests/fuzz; all unless named) for SECONDS each (default 600),
# two at a time, starting from the corpora in tests/fuzz/corpus (<target>.tar.zst), then
# minimises each grown corpus and packs it back there. Needs the nightly toolchain and
# cargo-fuzz (`cargo install cargo-fuzz`).
# A crash stops its target; libFuzzer saves the input under tests/fuzz/artifacts/<target>/: copy
# it to tests/fuzz/regressions/<target>/ (tests/fuzz_corpus.rs replays it) once fixed.
# Prints, per target, the executions, the coverage reached and the corpus size.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
work="${PTD_FUZZ_WORK:-$(mktemp -d)}"
targets=(index_line manifest graph_file lockfile archive dag dag_check graph_bin dag_bin)
if (($# > 1)); then targets=("${@:2}"); fi
cargo +nightly fuzz build --fuzz-dir tests/fuzz -O
run() {
  local t="$1"
  mkdir -p "$work/$t"
  zstd -dc tests/fuzz/corpus/"$t".tar.zst | tar -x -C "$work/$t"
  local rc=0
  cargo +nightly fuzz run --fuzz-dir tests/fuzz -O "$t" "$work/$t" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
    >"$work/$t.log" 2>&1 || rc=$?
  echo "$t: exit $rc"
}
for ((i = 0; i < ${#targets[@]}; i += 2)); do
  run "${targets[i]}" &
  if ((i + 1 < ${#targets[@]})); then run "${targets[i + 1]}" & fi
  wait
done
for t in "${targets[@]}"; do
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$t.log" | grep -o '[0-9]*$' || echo "?")
  cov=$(grep -o 'cov: [0-9]*' "$work/$t.log" | tail -1 | grep -o '[0-9]*' || echo "?")
  cargo +nightly fuzz cmin --fuzz-dir tests/fuzz -O "$t" "$work/$t" >"$work/$t.cmin.log" 2>&1
  tar -C "$work/$t" -cf - . | zstd -19 -q -f -o tests/fuzz/corpus/"$t".tar.zst
  crashes=$(ls tests/fuzz/artifacts/"$t" 2>/dev/null | wc -l)
  echo "$t: ${seconds}s, $execs executions, coverage $cov, corpus $(ls "$work/$t" | wc -l) inputs, crashes $crashes"
done
