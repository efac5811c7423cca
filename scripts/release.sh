#!/usr/bin/env bash
# Release: build the image, tag it with the git commit SHA, push it to ECR, and roll the CloudFormation
# stack to it (ImageTag only). Everything - argument rules, messages, the exit-code table (--help) -
# lives in the boto3 deployer scripts/release_tool/; this wrapper only finds a python (one with boto3
# first) and hands the arguments over unchanged.
set -euo pipefail

here=${BASH_SOURCE[0]%/*}
[ "$here" = "${BASH_SOURCE[0]}" ] && here=.
repo_root=$(cd "$here/.." && pwd)

has_boto3() {  # find_spec: a second faster than importing boto3
  "$1" -c 'import importlib.util as u, sys; sys.exit(u.find_spec("boto3") is None)' 2>/dev/null
}
python=${RELEASE_PYTHON:-}
if [ -z "$python" ]; then
  python=python3  # without boto3, release_tool still parses the arguments, then exits 3
  for candidate in "$repo_root/.venv/bin/python" python3; do
    if command -v "$candidate" >/dev/null 2>&1 && has_boto3 "$candidate"; then
      python=$candidate
      break
    fi
  done
fi
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  # Exit 3: a missing prerequisite, as in the table of release_tool/errors.py.
  echo "release: error: no python 3.10+ at '$python': run 'bash scripts/bootstrap.sh dev', or set RELEASE_PYTHON" >&2
  exit 3
fi

export PYTHONPATH="$repo_root/scripts${PYTHONPATH:+:$PYTHONPATH}"
exec "$python" -m release_tool "$@"
