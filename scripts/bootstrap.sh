#!/usr/bin/env bash
# Creates the project's Python environments with uv, pinned by the constraints files.
#   scripts/bootstrap.sh run    .venv with the service only (what `make run` needs)
#   scripts/bootstrap.sh dev    .venv with the service + test, lint, infra and deploy tooling
#   scripts/bootstrap.sh tools  .venv-checkov and .venv-taskcat: they cannot share a venv with the dev set
#                               (taskcat needs jsonschema<4, which moto and checkov cannot share)
#   scripts/bootstrap.sh bench  .venv-bench: the benchmark's FastAPI/uvicorn peer and chart
# Nothing is ever installed into the interpreter itself: Debian, Ubuntu and Fedora refuse that
# (PEP 668, "externally-managed-environment"). A uv on PATH is used as it is; otherwise uv is
# installed with pip into a venv of its own (.venv-uv), made by the standard library's venv.
# Re-running is cheap: uv only installs what is missing or out of date.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
UV_VENV=.venv-uv

die() {
  echo "bootstrap: error: $*" >&2
  exit 1
}

command -v "$PYTHON" >/dev/null 2>&1 || die "no $PYTHON on PATH: install Python 3.11-3.14 (or set PYTHON=/path/to/python3)"

find_uv() {  # prints a uv that runs: the one on PATH, else ours
  local candidate
  for candidate in "$(command -v uv 2>/dev/null || true)" "$UV_VENV/bin/uv"; do
    if [ -n "$candidate" ] && "$candidate" --version >/dev/null 2>&1; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

if ! UV=$(find_uv); then
  # pip inside a venv of our own is allowed where the system's pip is not.
  echo "bootstrap: no uv on PATH: installing it into $UV_VENV ('$PYTHON -m venv', then pip; the system's Python is left alone)" >&2
  rm -rf "$UV_VENV"
  if ! "$PYTHON" -m venv "$UV_VENV" >/dev/null; then
    rm -rf "$UV_VENV"
    die "'$PYTHON -m venv' failed: install your distribution's venv package (Debian/Ubuntu: apt install python3-venv)"
  fi
  "$UV_VENV/bin/python" -m pip install --quiet --disable-pip-version-check 'uv>=0.5,<1' ||
    die "installing uv into $UV_VENV with pip failed (is PyPI reachable?)"
  UV=$UV_VENV/bin/uv
fi

make_venv() {  # make_venv DIR: create DIR with $PYTHON unless it already exists and works
  if [ ! -x "$1/bin/python" ] || ! "$1/bin/python" -c '' 2>/dev/null; then
    rm -rf "$1"
    echo "bootstrap: creating $1 with $("$PYTHON" --version 2>&1) and installing its pinned packages with uv" >&2
    "$UV" venv --quiet --python "$PYTHON" "$1"
  fi
}

case "${1:-dev}" in
  run)
    make_venv .venv
    "$UV" pip install --quiet --python .venv -c constraints.txt -e .
    ;;
  dev)
    make_venv .venv
    "$UV" pip install --quiet --python .venv -c constraints.txt -e '.[dev]'
    ;;
  tools)
    make_venv .venv-checkov
    "$UV" pip install --quiet --python .venv-checkov -c .ci/constraints-checkov.txt '.[checkov]'
    make_venv .venv-taskcat
    "$UV" pip install --quiet --python .venv-taskcat -c .ci/constraints-taskcat.txt '.[taskcat]'
    ;;
  bench)
    make_venv .venv-bench
    "$UV" pip install --quiet --python .venv-bench -c constraints.txt -c .ci/constraints-bench.txt -e '.[bench]'
    ;;
  uv)  # only make sure a uv exists, and print it (scripts/test-other-python.sh uses it)
    echo "$UV"
    ;;
  *)
    echo "usage: scripts/bootstrap.sh [run|dev|tools|bench|uv]" >&2
    exit 2
    ;;
esac
