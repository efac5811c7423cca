#!/usr/bin/env bash
# The build arguments that fill the image's OCI labels, one word a line, for `mapfile -t`:
#   bash scripts/image-labels.sh [REVISION]     (default: HEAD; the image-test and release builds use it)
# created is the commit's time, not the build's: the same commit gives the same labels and the
# build cache stays valid. source: GitHub's repository URL in Actions, else the origin remote's
# (credentials in it stripped), else "unknown".
set -euo pipefail
cd "$(dirname "$0")/.."

revision=${1:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
created=$(git log -1 --format=%cI "$revision" 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)
version=$(git describe --tags --always --abbrev=12 "$revision" 2>/dev/null || echo "$revision")
if [ -n "${GITHUB_SERVER_URL:-}" ] && [ -n "${GITHUB_REPOSITORY:-}" ]; then
  source_url=$GITHUB_SERVER_URL/$GITHUB_REPOSITORY
else
  source_url=$(git remote get-url origin 2>/dev/null | sed -E 's#^(https?://)[^/@]*@#\1#') || true
fi
printf -- '--build-arg\n%s\n' "VCS_REF=$revision" "CREATED=$created" "VERSION=$version" \
  "SOURCE_URL=${source_url:-unknown}"
