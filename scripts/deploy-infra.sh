#!/usr/bin/env bash
# Deploys the infrastructure (cloudformation/root.yaml and its nested stacks) into your AWS account:
# creates the artifacts bucket if needed, `aws cloudformation package`s the children into it and
# `aws cloudformation deploy`s the root. ImageTag is left out of the parameters unless --image-tag is
# given: `deploy` then sends UsePreviousValue for it, so CloudFormation keeps whatever tag is deployed
# when the change set runs - an infra change never reverts the app, not even a release that finishes
# while this script runs (only scripts/release.sh changes ImageTag). A new stack gets the default "".
# Honours AWS_ENDPOINT_URL (e.g. a local moto_server for tests) like every AWS CLI call.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  cat <<'USAGE'
usage: scripts/deploy-infra.sh --parameters FILE [options]

  --parameters FILE       JSON object of root parameters (default: cloudformation/parameters.json;
                          start from cloudformation/parameters.example.json)
                          (ImageTag and ArtifactsBucketName are not allowed there: the script sets them)
  --stack-name NAME       root stack name (default: predict-api)
  --region REGION         AWS region (default: AWS_REGION, AWS_DEFAULT_REGION or your AWS CLI config)
  --artifacts-bucket NAME bucket for the packaged templates
                          (default: <stack>-artifacts-<account>-<region>, lower case)
  --image-tag SHA         deploy this image instead of keeping the deployed one (first service creation
                          by an administrator; releases normally set it through scripts/release.sh):
                          the full 40-hex commit SHA the image was pushed with; a short SHA is
                          resolved to the full one when this repository has that commit; the tag
                          must be in the stack's ECR repository (checked first: exit 6)
  --dry-run               create the bucket and package, then show what would change (a change set,
                          deleted again) and the deploy command, without deploying
  --package-only DIR      create the bucket and package into DIR/cloudformation/root.yaml, copy .taskcat.yml
                          next to it (for `taskcat test run`), do not deploy
  -h, --help              this help

If the account already has the GitHub OIDC provider and the parameters leave
ExistingOidcProviderArn empty, a new stack reuses that provider (one per account and URL).

Exit codes: 0 deployed (or dry run shown), 2 bad input or AWS unreachable, 6 --image-tag not in ECR,
other: the AWS CLI's own code when a call fails.

Needs the AWS CLI (.venv/bin/aws from `bash scripts/bootstrap.sh dev`, or aws on PATH) and credentials
allowed to create the stack's resources (IAM roles, VPC, ECS, ELB, CloudWatch, ECR, S3).
USAGE
}

die() { echo "deploy-infra: $*" >&2; exit 2; }
die_code() { local code=$1; shift; echo "deploy-infra: $*" >&2; exit "$code"; }

stack_name=predict-api
region=${AWS_REGION:-${AWS_DEFAULT_REGION:-}}
parameters_file=""
bucket=""
image_tag_override=""
image_tag_given=false
mode=deploy
package_dir=""

while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --parameters) [ $# -ge 2 ] || die "--parameters needs a file"; parameters_file=$2; shift 2 ;;
    --stack-name) [ $# -ge 2 ] || die "--stack-name needs a name"; stack_name=$2; shift 2 ;;
    --region) [ $# -ge 2 ] || die "--region needs a region"; region=$2; shift 2 ;;
    --artifacts-bucket) [ $# -ge 2 ] || die "--artifacts-bucket needs a name"; bucket=$2; shift 2 ;;
    --image-tag) [ $# -ge 2 ] || die "--image-tag needs a git SHA"; image_tag_override=$2; image_tag_given=true; shift 2 ;;
    --dry-run) mode=dry-run; shift ;;
    --package-only) [ $# -ge 2 ] || die "--package-only needs a directory"; mode=package; package_dir=$2; shift 2 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

# Validate everything before touching AWS: a bad value must not leave half a deployment behind.
[[ $stack_name =~ ^[A-Za-z][A-Za-z0-9-]{0,127}$ ]] \
  || die "stack name '$stack_name' is invalid (a letter, then letters, digits, hyphens; at most 128)"
# Images are pushed only under the full 40-hex SHA (scripts/release.sh): a short SHA names no image
# in ECR, so resolve one in this repository (as release.sh does), then require the full form.
if $image_tag_given && [[ $image_tag_override =~ ^[0-9a-f]{7,39}$ ]] && command -v git >/dev/null 2>&1 &&
  full=$(git rev-parse --verify --quiet "$image_tag_override^{commit}" 2>/dev/null); then
  echo "deploy-infra: --image-tag $image_tag_override is commit $full"
  image_tag_override=$full
fi
if $image_tag_given && ! [[ $image_tag_override =~ ^[0-9a-f]{40}$ ]]; then
  die "image tag '$image_tag_override' is not a full git SHA (40 lowercase hex characters, or a short SHA of a commit in this repository)"
fi
if [ "$mode" != package ] && [ -z "$parameters_file" ]; then
  [ -f cloudformation/parameters.json ] \
    || die "--parameters FILE is required (or copy cloudformation/parameters.example.json to cloudformation/parameters.json)"
  parameters_file=cloudformation/parameters.json
fi
if [ -n "$parameters_file" ]; then
  [ -f "$parameters_file" ] || die "parameters file '$parameters_file' does not exist"
fi
if [ -n "$bucket" ] && ! [[ $bucket =~ ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$ ]]; then
  die "artifacts bucket name '$bucket' is invalid (3-63 lowercase letters, digits, dots, hyphens)"
fi

if [ -x .venv/bin/aws ]; then AWS=(.venv/bin/aws); elif command -v aws >/dev/null; then AWS=(aws); else
  die "the AWS CLI is missing: run 'bash scripts/bootstrap.sh dev' (it installs it into .venv)"
fi
PYTHON=python3
[ -x .venv/bin/python ] && PYTHON=.venv/bin/python

# Parameters file -> Key=Value arguments for `deploy --parameter-overrides`.
overrides=()
if [ -n "$parameters_file" ]; then
  parsed=$("$PYTHON" - "$parameters_file" <<'PY'
import json, sys
try:
    data = json.load(open(sys.argv[1], encoding="utf-8"))
except ValueError as error:
    sys.exit(f"deploy-infra: parameters file {sys.argv[1]} is not JSON: {error}")
if isinstance(data, list):  # also accept the CreateStack [{"ParameterKey":..,"ParameterValue":..}] form
    data = {p.get("ParameterKey"): p.get("ParameterValue") for p in data if isinstance(p, dict)}
if not isinstance(data, dict) or not all(isinstance(k, str) and k for k in data):
    sys.exit(f"deploy-infra: parameters file {sys.argv[1]} must be a JSON object of NAME: value")
for name in ("ImageTag", "ArtifactsBucketName"):
    if name in data:
        sys.exit(f"deploy-infra: {name} must not be in the parameters file (the script sets it)")
# CloudFormation cannot compare two parameters, and the scalable target fails mid-create when its
# maximum is below its minimum: check here. Only when both are given: for an omitted parameter
# `deploy` keeps the stack's previous value (a new stack gets root.yaml's default), which this script
# cannot see - so one without the other is refused, and neither keeps a pair that is consistent.
counts = [k for k in ("DesiredCount", "MaxCount") if k in data]
if len(counts) == 1:
    sys.exit(
        f"deploy-infra: set DesiredCount and MaxCount together in the parameters file (only {counts[0]}"
        " is there; the other would keep the stack's previous value, which cannot be checked)"
    )
if counts:
    try:
        desired, maximum = int(str(data["DesiredCount"])), int(str(data["MaxCount"]))
    except ValueError:
        pass  # not a number: CloudFormation rejects it with its own message
    else:
        if maximum < desired:
            sys.exit(
                f"deploy-infra: MaxCount {maximum} is below DesiredCount {desired}; autoscaling"
                " needs MaxCount >= DesiredCount"
            )
for name, value in data.items():
    value = "" if value is None else str(value)
    if "\n" in value:
        sys.exit(f"deploy-infra: parameter {name} contains a newline")
    print(f"{name}={value}")
PY
  ) || exit 2
  while IFS= read -r line; do [ -n "$line" ] && overrides+=("$line"); done <<<"$parsed"
  # No certificate = a load balancer that answers plain HTTP only: say so instead of letting it pass.
  certificate=absent
  for override in "${overrides[@]}"; do
    if [[ $override == CertificateArn=* ]]; then certificate=${override#CertificateArn=}; fi
  done
  how_to='README "The public edge" shows how to get a certificate'
  if [ "$certificate" = absent ]; then
    echo "deploy-infra: warning: no CertificateArn in $parameters_file: a new stack serves plain HTTP only (an existing one keeps its certificate, if any); $how_to" >&2
  elif [ -z "$certificate" ]; then
    echo "deploy-infra: warning: CertificateArn is empty in $parameters_file: the service is served over plain HTTP only; $how_to" >&2
  fi
fi

if [ -n "$region" ]; then AWS+=(--region "$region"); else
  region=$("${AWS[@]}" configure get region 2>/dev/null || true)
  [ -n "$region" ] || die "no AWS region: pass --region or set AWS_REGION"
  AWS+=(--region "$region")
fi

identity=$("${AWS[@]}" sts get-caller-identity --query '[Account,Arn]' --output text 2>&1) \
  || die "cannot reach AWS with the current credentials: $identity"
read -r account caller_arn <<<"$identity"
partition=$(cut -d: -f2 <<<"$caller_arn")  # aws, aws-cn, aws-us-gov: ARNs below use it
[ -n "$partition" ] || partition=aws
if [ -z "$bucket" ]; then
  bucket=$(printf '%s-artifacts-%s-%s' "$stack_name" "$account" "$region" | tr '[:upper:]' '[:lower:]')
  [ ${#bucket} -le 63 ] || die "default bucket name '$bucket' is longer than 63 characters; pass --artifacts-bucket"
fi

# What the stack holds now (nothing for a new stack): its repository and OIDC parameter.
stack_json=$("${AWS[@]}" cloudformation describe-stacks --stack-name "$stack_name" \
  --query 'Stacks[0].{o:Outputs,p:Parameters}' --output json 2>/dev/null || echo null)
stack_value() {  # stack_value o|p KEY: an output or parameter of the existing stack, or ""
  "$PYTHON" -c '
import json, sys
data = json.loads(sys.argv[1]) or {}
kind, key = sys.argv[2], sys.argv[3]
field = ("OutputKey", "OutputValue") if kind == "o" else ("ParameterKey", "ParameterValue")
print(next((i.get(field[1], "") for i in data.get(kind) or [] if i.get(field[0]) == key), ""))
' "$stack_json" "$1" "$2"
}
file_value() {  # file_value KEY: the value the parameters file gives (after parsing), or ""
  local item
  for item in "${overrides[@]}"; do
    if [ "${item%%=*}" = "$1" ]; then printf '%s' "${item#*=}"; fi
  done
}

# A tag that is not in ECR would start a long update whose tasks never pull: refuse it now.
if $image_tag_given; then
  repository=$(file_value ImageRepositoryName)
  [ -n "$repository" ] || repository=$(stack_value o RepositoryName)
  if [ -z "$repository" ]; then
    die_code 6 "image tag $image_tag_override cannot be in ECR yet: stack $stack_name has no repository; deploy without --image-tag first, then release (README, Deploy to your account)"
  fi
  if ! "${AWS[@]}" ecr describe-images --repository-name "$repository" \
    --image-ids "imageTag=$image_tag_override" >/dev/null 2>&1; then
    die_code 6 "image tag $image_tag_override is not in ECR repository $repository; push it first (scripts/release.sh builds and pushes)"
  fi
fi

# One GitHub OIDC provider per account: reuse an existing one (a second create fails and rolls
# back), unless this stack created it itself (its parameter is empty then, and stays so).
if [ -z "$(file_value ExistingOidcProviderArn)" ] &&
  { [ "$stack_json" = null ] || [ -n "$(stack_value p ExistingOidcProviderArn)" ]; }; then
  provider=$("${AWS[@]}" iam list-open-id-connect-providers --output text \
    --query "OpenIDConnectProviderList[?ends_with(Arn, '/token.actions.githubusercontent.com')].Arn | [0]" 2>/dev/null || true)
  if [ -n "$provider" ] && [ "$provider" != None ]; then
    echo "deploy-infra: the account already has the GitHub OIDC provider $provider: passing ExistingOidcProviderArn to reuse it"
    kept=()
    for item in "${overrides[@]}"; do
      [ "${item%%=*}" = ExistingOidcProviderArn ] || kept+=("$item")
    done
    overrides=("${kept[@]}" "ExistingOidcProviderArn=$provider")
  fi
fi

# The artifacts bucket: versioned (a rollback can re-read older templates), encrypted, never public,
# TLS only. Idempotent: re-applying the settings to an existing bucket is harmless.
if ! "${AWS[@]}" s3api head-bucket --bucket "$bucket" >/dev/null 2>&1; then
  echo "deploy-infra: creating artifacts bucket $bucket"
  if [ "$region" = us-east-1 ]; then
    "${AWS[@]}" s3api create-bucket --bucket "$bucket" >/dev/null
  else
    "${AWS[@]}" s3api create-bucket --bucket "$bucket" \
      --create-bucket-configuration "LocationConstraint=$region" >/dev/null
  fi
fi
"${AWS[@]}" s3api put-public-access-block --bucket "$bucket" --public-access-block-configuration \
  BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true
"${AWS[@]}" s3api put-bucket-versioning --bucket "$bucket" --versioning-configuration Status=Enabled
"${AWS[@]}" s3api put-bucket-encryption --bucket "$bucket" --server-side-encryption-configuration \
  '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}'
if [[ ${AWS_ENDPOINT_URL:-} == http://* ]]; then
  # A local plain-HTTP endpoint (moto in the tests) can never satisfy aws:SecureTransport.
  echo "deploy-infra: plain-HTTP AWS_ENDPOINT_URL: not applying the TLS-only bucket policy"
else
  "${AWS[@]}" s3api put-bucket-policy --bucket "$bucket" --policy "$(printf '{"Version":"2012-10-17","Statement":[{"Sid":"TlsOnly","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:%s:s3:::%s","arn:%s:s3:::%s/*"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}' "$partition" "$bucket" "$partition" "$bucket")"
fi

# Package: upload the children and rewrite the root's local TemplateURLs to their S3 URLs.
out_dir=${package_dir:-build/packaged}
mkdir -p "$out_dir/cloudformation"
packaged="$out_dir/cloudformation/root.yaml"
drop_upload_progress() {  # the AWS CLI's "Uploading to KEY  n / m  (p%)" lines, \r-separated
  tr '\r' '\n' | grep --line-buffered -v '^Uploading to .*%)$' || [ $? = 1 ]
}
package_log=$(mktemp)
trap 'rm -f "$package_log"' EXIT
# Its upload progress (carriage-return percentages) would flood the terminal and CI logs: kept
# aside and shown only if packaging fails.
if ! "${AWS[@]}" cloudformation package --template-file cloudformation/root.yaml \
  --s3-bucket "$bucket" --s3-prefix "$stack_name" --output-template-file "$packaged" \
  >"$package_log" 2>&1; then
  drop_upload_progress <"$package_log" >&2
  die "aws cloudformation package failed (output above)"
fi
echo "deploy-infra: packaged $packaged (children in s3://$bucket/$stack_name/)"

if [ "$mode" = package ]; then
  cp .taskcat.yml "$out_dir/.taskcat.yml"
  echo "deploy-infra: for taskcat: cd $out_dir && taskcat test run"
  exit 0
fi

# ImageTag only when asked for: omitted, `deploy` keeps the stack's current value (see the top).
image_tag_override_arg=()
if $image_tag_given; then
  image_tag_override_arg=("ImageTag=$image_tag_override")
  echo "deploy-infra: ImageTag=$image_tag_override"
else
  echo "deploy-infra: ImageTag unchanged (the deployed one; none on a new stack, the first release sets it)"
fi

deploy=("${AWS[@]}" cloudformation deploy --stack-name "$stack_name" --template-file "$packaged"
  --s3-bucket "$bucket" --s3-prefix "$stack_name"
  --capabilities CAPABILITY_IAM CAPABILITY_NAMED_IAM CAPABILITY_AUTO_EXPAND
  --no-fail-on-empty-changeset
  --parameter-overrides "${overrides[@]}" "ArtifactsBucketName=$bucket" "${image_tag_override_arg[@]}")

if [ "$mode" = dry-run ]; then
  # What would change: a change set, shown and deleted again (a new stack's empty shell too).
  created=$("${deploy[@]}" --no-execute-changeset 2>&1) || die "could not create a change set: $created"
  change_set=$(grep -o 'arn:[^ ]*:changeSet/[^ ]*' <<<"$created" | head -n 1 || true)
  if [ -n "$change_set" ]; then
    echo "deploy-infra: dry run: what would change"
    "${AWS[@]}" cloudformation describe-change-set --change-set-name "$change_set" --output table \
      --query 'Changes[].ResourceChange.[Action,LogicalResourceId,ResourceType,Replacement]'
    "${AWS[@]}" cloudformation delete-change-set --change-set-name "$change_set"
    if [ "$stack_json" = null ]; then
      "${AWS[@]}" cloudformation delete-stack --stack-name "$stack_name"  # REVIEW_IN_PROGRESS shell
    fi
  else
    echo "deploy-infra: dry run: no changes"
    # The CLI leaves its empty change set behind (FAILED, "didn't contain changes"): delete it.
    for empty in $("${AWS[@]}" cloudformation list-change-sets --stack-name "$stack_name" \
      --output text --query "Summaries[?Status=='FAILED' && starts_with(ChangeSetName, 'awscli-cloudformation-package-deploy-')].ChangeSetId"); do
      "${AWS[@]}" cloudformation delete-change-set --change-set-name "$empty"
    done
  fi
  printf 'deploy-infra: would run:'; printf ' %q' "${deploy[@]}"; echo
  exit 0
fi
# Its template upload prints carriage-return progress on stderr: drop that, keep the rest there.
{ "${deploy[@]}" 2>&1 1>&3 3>&- | drop_upload_progress >&2; } 3>&1
"${AWS[@]}" cloudformation describe-stacks --stack-name "$stack_name" \
  --query 'Stacks[0].Outputs[].[OutputKey,OutputValue]' --output table
