#!/usr/bin/env bash
# Runs ptd's whole test suite on a fresh machine, installing what it needs first:
# a Python virtual environment (.venv) with phasic 0.32.1 and its run-time dependencies, the
# minisign, openssl, strace and curl tools and the s3s-fs S3 server; then checks formatting
# (cargo fmt) and lints (cargo clippy), and runs the Rust tests (cargo test, which also runs each
# benchmark once) and the interoperability tests against phasic (pytest).
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${PTD_VENV:-.venv}"
req="tests/python/requirements.txt"
stamp="$venv/.ptd-requirements"
want="phasic==0.32.1 $(sha256sum "$req" | cut -d' ' -f1)"

if [[ ! -x "$venv/bin/python" ]]; then
  python3 -m venv "$venv"
fi
if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  echo "==> installing the test environment into $venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  # --no-deps: phasic's declared dependencies include squatted PyPI packages.
  "$venv/bin/python" -m pip install --quiet --no-deps phasic==0.32.1
  "$venv/bin/python" -m pip install --quiet -r "$req"
  echo "$want" > "$stamp"
fi
# Debian packages the tests use: minisign (signature interoperability), openssl (a private CA
# for the HTTPS test), strace (which files phasic opens) and curl (what the install benchmark
# compares against).
missing=()
for tool in minisign openssl strace curl; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if (( ${#missing[@]} )); then
  echo "==> installing ${missing[*]}"
  sudo=""
  if [[ "$(id -u)" -ne 0 ]]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# An S3 server that checks request signatures, for the publishing tests.
if [[ ! -x .tools/bin/s3s-fs ]]; then
  echo "==> installing s3s-fs 0.14.1 into .tools/"
  cargo install --quiet --locked --root .tools s3s-fs@0.14.1 --features binary
fi
# Fails loudly (and so fails CI) if anything the suite needs is missing.
.tools/bin/s3s-fs --help >/dev/null
minisign -v >/dev/null
openssl version >/dev/null
strace -V >/dev/null
curl --version >/dev/null
"$venv/bin/python" -c "import phasic, jax, pytest; from phasic.phasic_pybind import hash"
"$venv/bin/ruff" --version >/dev/null

echo "==> cargo fmt --check and cargo clippy"
for component in rustfmt clippy; do
  sub="${component/rustfmt/fmt}"
  if ! cargo "$sub" --version >/dev/null 2>&1; then
    echo "==> installing the $component component"
    rustup component add "$component"
  fi
done
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings

echo "==> cargo test"
cargo test --all-targets

echo "==> interoperability tests against phasic"
PTD_BIN="$PWD/target/debug/ptd" "$venv/bin/python" -m pytest tests/python -q -p no:cacheprovider
