#!/usr/bin/env bash
# Installs Debian's chromium for the browser tests (tests/browser) when it is missing.
# Idempotent and quiet: one line says what happened. Playwright's own browser download is not used
# (it fetches from outside the package registries); the tests launch this system browser instead.
# Where it cannot install (not root, no apt-get), it says so and exits 0: the browser tests then
# skip, or fail when REQUIRE_ALL_CHECKS=1.
set -euo pipefail

# google-chrome: GitHub's Ubuntu runners ship it (their chromium package is a snap stub).
for browser in chromium google-chrome; do
  if command -v "$browser" >/dev/null 2>&1; then
    echo "install-browser: $browser is already installed ($(command -v "$browser"))"
    exit 0
  fi
done
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-browser: chromium is missing and only root with apt-get can install it here;" \
    "the browser tests will skip (or fail under REQUIRE_ALL_CHECKS=1)"
  exit 0
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
printf 'install-browser: installing chromium with apt-get (about a minute)... '
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends chromium; } >"$log" 2>&1; then
  echo "failed" >&2
  tail -n 20 "$log" >&2
  echo "install-browser: apt-get could not install chromium (its last lines are above)" >&2
  exit 1
fi
echo "done ($(command -v chromium))"
