#!/usr/bin/env bash
# Release: build the image, tag it with the git commit SHA, push it to ECR, and roll the CloudFormation
# stack to it (ImageTag only). The AWS work is in the boto3 deployer scripts/release_tool/; this wrapper
# parses flags, checks the local prerequisites and builds the image. It uses bash builtins, git, the
# container builder and python only, so a test can run it with a tiny PATH.
set -euo pipefail

usage() {
  printf '%s\n' \
    "usage: scripts/release.sh [--stack NAME] [--region R] [--tag SHA] [--no-build] [--dry-run]" \
    "                          [--allow-dirty] [--timeout SECONDS] [--health-url URL] [--help]" \
    "" \
    "Builds the image from HEAD, tags it <RepositoryUri>:<full git SHA> (never 'latest'), pushes it to" \
    "ECR and updates the stack through a change set that changes only ImageTag (every other parameter" \
    "keeps its previous value). Shows stack events and the ECS rollout while waiting, then verifies:" \
    "stack UPDATE_COMPLETE, the PRIMARY deployment runs the new image, rollout COMPLETED," \
    "running = desired, and GET <ServiceUrl>/health answers 200." \
    "" \
    "options:" \
    "  --stack NAME       root stack name (default: predict-api)" \
    "  --region R         AWS region (default: AWS_REGION / AWS_DEFAULT_REGION / your profile)" \
    "  --tag SHA          deploy this existing ECR tag (a full 40-hex commit SHA) instead of HEAD;" \
    "                     needs --no-build (a built image is always tagged with HEAD's SHA);" \
    "                     a short SHA (7+ hex) is resolved with git inside this repository" \
    "  --no-build         do not build or push; the tag (HEAD's SHA by default) must be in ECR" \
    "  --dry-run          build (unless --no-build) but push nothing; create the change set, print it," \
    "                     delete it; nothing is executed" \
    "  --allow-dirty      build even if the work tree has uncommitted changes" \
    "  --timeout SECONDS  give up waiting after this long (default: 1800); the update carries on" \
    "  --health-url URL   check this URL instead of <ServiceUrl>/health (e.g. your domain when the" \
    "                     load balancer has a certificate for it)" \
    "  -h, --help         show this help" \
    "" \
    "environment:" \
    "  CONTAINER_BUILDER  docker, podman or buildah (default: the first that works, in that order)" \
    "  RELEASE_PLATFORM   image platform (default: linux/amd64, what the Fargate task runs)" \
    "  RELEASE_PYTHON     python with boto3 (default: .venv/bin/python, then python3)" \
    "  RELEASE_DEBUG=1    show a traceback on unexpected errors" \
    "" \
    "exit codes:" \
    "   0  released (or: dry run shown; or: stack already at that tag and verified)" \
    "   1  unexpected error (an AWS API error the tool does not handle, or a bug)" \
    "   2  usage error (unknown flag, bad value)" \
    "   3  prerequisite missing: AWS credentials or region, container builder, git, boto3;" \
    "      AWS endpoint unreachable (unknown region, network, proxy, TLS) before the stack" \
    "      update started; or the work tree is dirty" \
    "   4  stack not found, in a failed state, or without the expected outputs/parameters;" \
    "      or a first release (no image yet) attempted with the deploy role" \
    "   5  stack busy: another operation is in progress" \
    "   6  image tag not found in the ECR repository (tags are full 40-hex commit SHAs)" \
    "   7  image build, ECR login or push failed" \
    "   8  change set could not be created" \
    "   9  stack update failed and was rolled back (failing events printed)" \
    "  10  ECS deployment circuit breaker failed the rollout (reasons printed)" \
    "  11  timed out waiting, or lost the connection to AWS after the update started" \
    "      (the update carries on in CloudFormation)" \
    "  12  verification failed: the service does not run the new image steadily" \
    "  13  health check failed: GET <ServiceUrl>/health did not answer 200 {\"status\": \"ok\"}" \
    " 130  interrupted"
}

die() {  # die CODE MESSAGE: one line on stderr, documented exit code
  printf 'release: error: %s\n' "$2" >&2
  exit "$1"
}

here=${BASH_SOURCE[0]%/*}
[ "$here" = "${BASH_SOURCE[0]}" ] && here=.
cd "$here/.."
repo_root=$PWD

stack=predict-api region="" tag="" build=1 dry_run=0 allow_dirty=0 timeout=1800 health_url=""
need_value() { [ $# -ge 2 ] && [ -n "$2" ] && [ "${2#--}" = "$2" ] || die 2 "$1 needs a value (see --help)"; }
while [ $# -gt 0 ]; do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --stack) need_value "$@"; stack=$2; shift 2 ;;
    --region) need_value "$@"; region=$2; shift 2 ;;
    --tag) need_value "$@"; tag=$2; shift 2 ;;
    --timeout) need_value "$@"; timeout=$2; shift 2 ;;
    --health-url) need_value "$@"; health_url=$2; shift 2 ;;
    --stack=* | --region=* | --tag=* | --timeout=* | --health-url=*)
      name=${1%%=*} value=${1#*=}
      set -- "$name" "$value" "${@:2}"
      ;;
    --no-build) build=0; shift ;;
    --dry-run) dry_run=1; shift ;;
    --allow-dirty) allow_dirty=1; shift ;;
    -*) die 2 "unknown option '$1' (see --help)" ;;
    *) die 2 "unexpected argument '$1' (see --help)" ;;
  esac
done
if [ -n "$tag" ] && [ "$build" = 1 ]; then
  die 2 "--tag needs --no-build: a built image is always tagged with HEAD's commit SHA"
fi
if [ -n "$tag" ] && ! [[ $tag =~ ^[0-9a-f]{7,40}$ ]]; then
  die 2 "invalid --tag '$tag': expected a git commit SHA, 7 to 40 lowercase hex digits"
fi
[[ $timeout =~ ^[1-9][0-9]*$ ]] || die 2 "--timeout needs a whole number of seconds, got '$timeout'"
# The same rules as release_tool/cli.py, checked here too so that a typo fails before a build.
if ! [[ $stack =~ ^[A-Za-z][A-Za-z0-9-]{0,127}$ ]]; then
  die 2 "invalid --stack '$stack': a letter, then up to 127 letters, digits or hyphens"
fi
if [ -n "$health_url" ] && ! [[ $health_url =~ ^https?://[^/?#:@]+ ]]; then
  die 2 "invalid --health-url '$health_url': expected http(s)://HOST[/PATH]"
fi

# --- prerequisites, each with a message saying exactly what is missing ----------------------------
has_boto3() {  # find_spec: a second faster than importing boto3
  command -v "$1" >/dev/null 2>&1 &&
    "$1" -c 'import importlib.util as u, sys; sys.exit(u.find_spec("boto3") is None)' 2>/dev/null
}
python=${RELEASE_PYTHON:-}
if [ -z "$python" ]; then
  for candidate in "$repo_root/.venv/bin/python" python3; do
    if has_boto3 "$candidate"; then
      python=$candidate
      break
    fi
  done
fi
if [ -z "$python" ] || ! has_boto3 "$python"; then
  die 3 "no python with boto3: run 'bash scripts/bootstrap.sh dev' (or pip install boto3), or set RELEASE_PYTHON"
fi

if [ -z "$tag" ] || [ "$build" = 1 ]; then
  command -v git >/dev/null 2>&1 || die 3 "git not found on PATH (the image is tagged with the commit SHA)"
  git rev-parse --verify --quiet HEAD >/dev/null || die 3 "$repo_root is not a git work tree with a commit"
fi

builder=""
if [ "$build" = 1 ]; then
  if [ -n "${CONTAINER_BUILDER:-}" ]; then
    case $CONTAINER_BUILDER in docker | podman | buildah) ;; *)
      die 2 "CONTAINER_BUILDER must be docker, podman or buildah, got '$CONTAINER_BUILDER'" ;;
    esac
    command -v "$CONTAINER_BUILDER" >/dev/null 2>&1 || die 3 "CONTAINER_BUILDER=$CONTAINER_BUILDER is not on PATH"
    builder=$CONTAINER_BUILDER
  elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    builder=docker  # a docker client without a reachable daemon cannot build: fall through
  elif command -v podman >/dev/null 2>&1; then
    builder=podman
  elif command -v buildah >/dev/null 2>&1; then
    builder=buildah
  else
    die 3 "no container builder: install docker (with a running daemon), podman or buildah, or pass --no-build"
  fi
  if [ "$allow_dirty" = 0 ] && [ -n "$(git status --porcelain)" ]; then
    die 3 "work tree has uncommitted changes; commit them or pass --allow-dirty (the image would not match its commit SHA)"
  fi
fi

[ -n "$tag" ] || tag=$(git rev-parse HEAD)  # the full SHA: unambiguous, and equal to GITHUB_SHA in CI
if [ "${#tag}" -lt 40 ] && command -v git >/dev/null 2>&1 &&
  full=$(git rev-parse --verify --quiet "$tag^{commit}" 2>/dev/null); then
  # Images are pushed as the full SHA: a short one names no tag in ECR.
  printf '==> --tag %s is commit %s\n' "$tag" "$full"
  tag=$full
fi

export PYTHONPATH="$repo_root/scripts${PYTHONPATH:+:$PYTHONPATH}"
common=(--stack "$stack")
[ -n "$region" ] && common+=(--region "$region")

deploy_args=(--tag "$tag" --timeout "$timeout")
[ "$dry_run" = 1 ] && deploy_args+=(--dry-run)
[ -n "$health_url" ] && deploy_args+=(--health-url "$health_url")
if [ "$build" = 1 ]; then
  # Fail on credentials and stack state before spending minutes on a build.
  "$python" -m release_tool preflight "${common[@]}"
  local_image="predict-api:$tag"
  platform=${RELEASE_PLATFORM:-linux/amd64}
  printf '==> building %s with %s (%s)\n' "$local_image" "$builder" "$platform"
  build_cmd=(build)
  [ "$builder" = buildah ] && build_cmd=(bud --format docker)
  [ "$builder" = podman ] && build_cmd+=(--format docker)  # docker format keeps the HEALTHCHECK
  "$builder" "${build_cmd[@]}" --platform "$platform" \
    --build-arg "VCS_REF=$tag" -t "$local_image" . ||
    die 7 "image build with $builder failed (exit $?)"
  deploy_args+=(--push-image "$local_image" --builder "$builder")
fi

exec "$python" -m release_tool deploy "${common[@]}" "${deploy_args[@]}"
