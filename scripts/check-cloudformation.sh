#!/usr/bin/env bash
# Static checks of the CloudFormation templates, offline (called by `make test`):
#   cfn-lint   root + every child in a region of each supported partition (.cfnlintrc.yaml), 0 errors,
#              0 warnings (W3002 "local TemplateURL" ignored there)
#   checkov    0 failed checks over the templates (its own venv; every skip carries its reason in the
#              template) and, in a second run, over the Dockerfile and the workflows
#   taskcat    `taskcat lint` with .taskcat.yml (its own venv)
#   cfn-guard  the rules in cloudformation/policies/ over every rendered template (their pytest files:
#              rendering each Condition branch with cloud-radar is what those tests do)
# The five run in parallel (each is ~10 s of mostly Python start-up); their output is printed in order.
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
# The Dockerfile and the workflows by name, not a walk of the repository (that would wander through the
# venvs). checkov 3.3 finds no resource in `-f Dockerfile` (measured: 0 checks), but reads it from a
# directory: so it gets a directory of its own with a link to the file.
# One skip, with its reason:
#   CKV_GHA_7     "workflow_dispatch has no inputs" (SLSA): deploy.yml's optional `tag` input is a deliberate
#                 redeploy-this-image path; it reaches the script through env and must match ^[0-9a-f]{40}$.
mkdir "$out/docker"
ln -s "$PWD/Dockerfile" "$out/docker/Dockerfile"
shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
shopt -u nullglob
workflow_files=()
for workflow in "${workflows[@]}"; do workflow_files+=(-f "$workflow"); done
BC_SKIP_MAPPING=TRUE .venv-checkov/bin/checkov -d "$out/docker" "${workflow_files[@]}" \
  --framework dockerfile github_actions --skip-check CKV_GHA_7 \
  --compact --quiet --skip-download >"$out/checkov-image-and-workflows" 2>&1 &
checkov_image_and_workflows=$!
# taskcat imports pkg_resources and warns about it on every start: noise, not a finding.
PYTHONWARNINGS=ignore::UserWarning .venv-taskcat/bin/taskcat lint >"$out/taskcat" 2>&1 &
taskcat=$!

# -p no:cacheprovider: a static check leaves no .pytest_cache behind.
.venv/bin/pytest -q -p no:cacheprovider tests/infra/test_guard_rules.py tests/infra/test_edge_guard.py \
  >"$out/cfn-guard" 2>&1 &
cfn_guard=$!

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
report checkov-image-and-workflows "$checkov_image_and_workflows"
report taskcat "$taskcat"
report cfn-guard "$cfn_guard"
exit "$status"
