#!/usr/bin/env bash
# Creates the project's Python environments with uv, pinned by the constraints files.
#   scripts/bootstrap.sh run    .venv with the service only (what `make run` needs)
#   scripts/bootstrap.sh dev    .venv with the service + test, lint, infra and deploy tooling
#   scripts/bootstrap.sh tools  .venv-checkov and .venv-taskcat: they cannot share a venv with the dev set
#                               (taskcat needs jsonschema<4, which moto and checkov cannot share)
#   scripts/bootstrap.sh bench  .venv-bench: the benchmark's FastAPI/uvicorn peer and chart
# Re-running is cheap: uv only installs what is missing or out of date.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}

if ! command -v uv >/dev/null 2>&1; then
  echo "bootstrap: uv not found; installing it with pip (uv fills a venv in seconds where pip takes a minute)"
  "$PYTHON" -m pip install --quiet --disable-pip-version-check 'uv>=0.5,<1'
fi

make_venv() {  # make_venv DIR: create DIR with $PYTHON unless it already exists and works
  if [ ! -x "$1/bin/python" ] || ! "$1/bin/python" -c '' 2>/dev/null; then
    rm -rf "$1"
    uv venv --quiet --python "$PYTHON" "$1"
  fi
}

case "${1:-dev}" in
  run)
    make_venv .venv
    uv pip install --quiet --python .venv -c constraints.txt -e .
    ;;
  dev)
    make_venv .venv
    uv pip install --quiet --python .venv -c constraints.txt -e '.[dev]'
    ;;
  tools)
    make_venv .venv-checkov
    uv pip install --quiet --python .venv-checkov -c .ci/constraints-checkov.txt '.[checkov]'
    make_venv .venv-taskcat
    uv pip install --quiet --python .venv-taskcat -c .ci/constraints-taskcat.txt '.[taskcat]'
    ;;
  bench)
    make_venv .venv-bench
    uv pip install --quiet --python .venv-bench -c constraints.txt -c .ci/constraints-bench.txt -e '.[bench]'
    ;;
  *)
    echo "usage: scripts/bootstrap.sh [run|dev|tools|bench]" >&2
    exit 2
    ;;
esac
