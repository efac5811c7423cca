#!/usr/bin/env bash
# Side-by-side benchmark of the service as shipped, the raw-WSGI floor and FastAPI on uvicorn.
#   bash bench/run.sh            the full run (about 10 minutes; `make bench`); see bench/README.md
#   bash bench/run.sh --smoke    starts each server, measures briefly, prints the table; judges nothing
#   bash bench/run.sh --instructions [--cache-sim]   instructions a request, counted by valgrind
#   bash bench/run.sh [bench.py options]   e.g. --rounds 3 --variant 'w4=WEB_CONCURRENCY=4'
# Load stays on 127.0.0.1 and is bounded: every wrk run has a fixed duration.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--instructions" ]; then
  # Instructions a request under valgrind, not timed (bench/instructions.py; 10-15 minutes).
  shift
  if ! command -v valgrind >/dev/null 2>&1; then
    echo "bench: valgrind not found; installing it with apt-get (it counts the instructions)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null
  fi
  bash scripts/bootstrap.sh bench
  exec .venv-bench/bin/python bench/instructions.py "$@"
fi

if ! command -v wrk >/dev/null 2>&1; then
  echo "bench: wrk not found; installing it with apt-get (the load generator)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi

# .venv-bench: the service plus the peer (FastAPI, uvicorn[standard]) and matplotlib for the chart.
bash scripts/bootstrap.sh bench
PYTHON=.venv-bench/bin/python

# The image ships bytecode compiled at build time (Dockerfile: compileall -o 2), so a start there reads
# .pyc files. A venv here may have none (uv does not compile on install, and PYTHONDONTWRITEBYTECODE
# stops Python writing them), and then every start compiles each module again: measured on this box,
# importing the app took 1.0 s without bytecode and 0.45 s with it. Level 0 for the peer, level 2 for
# the service and the floor (PYTHONOPTIMIZE=2, as in the image); timestamped, so an edit is recompiled.
echo "bench: compiling bytecode for .venv-bench and the service, as the image has it"
"$PYTHON" -m compileall -q -j 0 -o 0 -o 2 "$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" \
  predict_service bench >/dev/null || echo "bench: compileall could not compile some files (run it without >/dev/null to see which); those compile at each start"

if [ "${1:-}" = "--smoke" ]; then
  shift
  # One short round per server: proves the harness starts, measures and reports. Never judges.
  exec "$PYTHON" bench/bench.py --rounds 1 --duration 1 --warmup 1 --pieces-number 500 "$@"
fi
exec "$PYTHON" bench/bench.py "$@"
