#!/usr/bin/env bash
# Runs the service's tests on another Python (the image runs 3.12; setup.cfg promises 3.11-3.13).
#   scripts/test-other-python.sh VERSION [pytest paths...]   default paths: tests/service tests/integration
# When no interpreter of that version can be found the run is skipped with that reason (the main suite
# has run on the default python3 already), or fails with REQUIRE_ALL_CHECKS=1 (CI provides them).
set -euo pipefail
cd "$(dirname "$0")/.."

version=${1:?usage: scripts/test-other-python.sh VERSION [pytest paths...]}
shift
paths=("$@")
[ ${#paths[@]} -gt 0 ] || paths=(tests/service tests/integration)

find_python() {
  local candidate
  # A pyenv shim may exist yet fail (the global version differs), so each candidate is run, not trusted.
  for candidate in "python$version" \
    "$(pyenv root 2>/dev/null)"/versions/"$version".*/bin/"python$version" \
    /usr/local/bin/"python$version" /usr/bin/"python$version"; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

if ! python=$(find_python); then
  exec bash scripts/skip-or-fail.sh "test-other-python $version" "no working Python $version interpreter found"
fi
echo "test-other-python: running ${paths[*]} on $("$python" --version) ($python)"

command -v uv >/dev/null 2>&1 || bash scripts/bootstrap.sh run >/dev/null
venv=".venv-py${version//./}"
if [ ! -x "$venv/bin/python" ]; then
  uv venv --quiet --python "$python" "$venv"
fi
uv pip install --quiet --python "$venv" -c constraints.txt -e '.[test]'
"$venv/bin/python" -m pytest -q -p no:cacheprovider "${paths[@]}"
