#!/usr/bin/env bash
# The one place that decides what a check does when this machine cannot run it:
#   scripts/skip-or-fail.sh NAME REASON
# prints "NAME: SKIPPED: REASON" and exits 0, or, with REQUIRE_ALL_CHECKS=1 (set by .ci/run), prints
# "NAME: FAILED: ..." and exits 1, so CI can never skip a check silently.
set -euo pipefail
name=${1:?usage: scripts/skip-or-fail.sh NAME REASON}
reason=${2:?usage: scripts/skip-or-fail.sh NAME REASON}
if [ "${REQUIRE_ALL_CHECKS:-0}" = 1 ]; then
  echo "$name: FAILED: cannot run here and REQUIRE_ALL_CHECKS=1 forbids skipping: $reason" >&2
  exit 1
fi
echo "$name: SKIPPED: $reason"
