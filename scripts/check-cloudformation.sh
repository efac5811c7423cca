#!/usr/bin/env bash
# Static checks of the CloudFormation templates, offline (called by `make test`):
#   cfn-lint   root + every child, 0 errors, 0 warnings (W3002 "local TemplateURL" ignored in .cfnlintrc.yaml)
#   checkov    0 failed checks (its own venv; every skip carries its reason in the template)
#   taskcat    `taskcat lint` with .taskcat.yml (its own venv)
# The three run in parallel (each is ~10 s of mostly Python start-up); their output is printed in order.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in .venv/bin/cfn-lint .venv-checkov/bin/checkov .venv-taskcat/bin/taskcat; do
  if [ ! -x "$tool" ]; then
    echo "check-cloudformation: $tool is missing; run: bash scripts/bootstrap.sh dev && bash scripts/bootstrap.sh tools" >&2
    exit 2
  fi
done

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# cfn-lint reads .cfnlintrc.yaml (templates and the W3002 ignore); any other finding fails.
.venv/bin/cfn-lint >"$out/cfn-lint" 2>&1 &
cfn_lint=$!
# BC_SKIP_MAPPING: otherwise checkov spends seconds trying to download guideline mappings.
BC_SKIP_MAPPING=TRUE .venv-checkov/bin/checkov --config-file .checkov.yaml >"$out/checkov" 2>&1 &
checkov=$!
# taskcat imports pkg_resources and warns about it on every start: noise, not a finding.
PYTHONWARNINGS=ignore::UserWarning .venv-taskcat/bin/taskcat lint >"$out/taskcat" 2>&1 &
taskcat=$!

status=0
report() {  # report NAME PID: wait for one check and print its verdict and output
  if wait "$2"; then
    echo "check-cloudformation: $1 passed"
  else
    echo "check-cloudformation: $1 FAILED:" >&2
    status=1
  fi
  sed 's/^/  /' "$out/$1"
}
report cfn-lint "$cfn_lint"
report checkov "$checkov"
report taskcat "$taskcat"
exit "$status"
