#!/usr/bin/env bash
# Runs the service's tests on another Python (the image runs 3.14; setup.cfg promises 3.11-3.14).
#   scripts/test-other-python.sh VERSION [pytest paths...]   default paths: tests/service tests/integration
# The interpreter comes from PATH, pyenv or /usr; failing those, as root with apt, Debian unstable's
# build of it is unpacked (mmdebstrap, no install scripts run) into a cache outside the repository
# and pointed at its own libraries (patchelf): about 30 s once. When none can be had the run is
# skipped with that reason (the main suite has run on python3 already), or fails with
# REQUIRE_ALL_CHECKS=1 (GitHub's runners get every version from actions/setup-python).
set -euo pipefail
cd "$(dirname "$0")/.."

version=${1:?usage: scripts/test-other-python.sh VERSION [pytest paths...]}
shift
paths=("$@")
[ ${#paths[@]} -gt 0 ] || paths=(tests/service tests/integration)

unpacked=${XDG_CACHE_HOME:-$HOME/.cache}/predict-api/debian-python$version

find_python() {
  local candidate
  # A pyenv shim may exist yet fail (the global version differs), so each candidate is run, not trusted.
  for candidate in "python$version" \
    "$(pyenv root 2>/dev/null)"/versions/"$version".*/bin/"python$version" \
    /usr/local/bin/"python$version" /usr/bin/"python$version" "$unpacked/usr/bin/python$version"; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

unpack_from_debian() {  # Debian unstable's python$version, runnable from $unpacked
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 || return 1
  echo "test-other-python: no Python $version here: unpacking Debian unstable's into $unpacked"
  if ! command -v mmdebstrap >/dev/null || ! command -v patchelf >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap patchelf \
      >/dev/null || return 1
  fi
  rm -rf "$unpacked" && mkdir -p "$(dirname "$unpacked")"
  # unstable's Release file is only valid for days; a mirror's copy may be older than that.
  mmdebstrap --quiet --variant=extract --aptopt='Acquire::Check-Valid-Until "false"' \
    --include="python$version" unstable "$unpacked" >/dev/null || { rm -rf "$unpacked"; return 1; }
  # Its own loader and libraries (its glibc is newer than the host's); stdlib is found from the binary.
  local binary=$unpacked/usr/bin/python$version
  patchelf --set-interpreter "$unpacked/usr$(patchelf --print-interpreter "$binary")" --force-rpath \
    --set-rpath "$unpacked/usr/lib/$(uname -m)-linux-gnu" "$binary"
}

if ! python=$(find_python) && ! { unpack_from_debian && python=$(find_python); }; then
  exec bash scripts/skip-or-fail.sh "test-other-python $version" \
    "no working Python $version interpreter found (and none could be unpacked from Debian: needs root and apt)"
fi
echo "test-other-python: running ${paths[*]} on $("$python" --version) ($python)"

uv=$(bash scripts/bootstrap.sh uv)
venv=".venv-py${version//./}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c '' 2>/dev/null; then
  rm -rf "$venv"
  "$uv" venv --quiet --python "$python" "$venv"
fi
"$uv" pip install --quiet --python "$venv" -c constraints.txt -e '.[test]'
"$venv/bin/python" -m pytest -q -p no:cacheprovider "${paths[@]}"
