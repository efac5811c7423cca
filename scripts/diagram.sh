#!/usr/bin/env bash
# Regenerates cloudformation/architecture.png (+ architecture.txt) from the templates:
# scripts/diagram.py draws with the `diagrams` package, which renders through Graphviz's `dot`.
# Installs what is missing: Debian's graphviz (apt) and `diagrams` into .venv (uv).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v dot >/dev/null 2>&1; then
  echo "diagram: graphviz (dot) is missing; installing the Debian package graphviz"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends graphviz >/dev/null
fi
[ -x .venv/bin/python ] || bash scripts/bootstrap.sh dev
if ! .venv/bin/python -c 'import diagrams' 2>/dev/null; then
  echo "diagram: the diagrams package is missing; installing it into .venv"
  uv pip install --quiet --python .venv 'diagrams>=0.24,<1'
fi
exec .venv/bin/python scripts/diagram.py "$@"
