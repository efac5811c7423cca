#!/usr/bin/env bash
# Builds the Dockerfile and starts the image the way the ECS task runs it (read-only root, no tmpfs,
# PORT), then runs the checks in tests/image/test_running_image.py against that container: OCI
# metadata, the contract, the non-root user, nothing writable or shipped for building, bytecode
# only, the HEALTHCHECK, a clean SIGTERM stop with JSON logs. App layers over 45 MB fail here.
#
# Usage: bash scripts/image-test.sh [PORT]   (also IMAGE_TEST_PORT; default 8000, or a free port
#        when 8000 is busy; a requested busy port fails)
# The engine is the first that works; the same checks run on each:
#   docker    a Docker daemon answers: the Dockerfile as it ships, on its own pinned base
#   podman    rootless podman works: the same
#   stand-in  neither, but root with apt: rootful podman on a Debian base made with mmdebstrap, for
#             machines that reach no registry (its Python is Debian's, not the image's 3.14)
# Otherwise, or when the engine cannot pull the base, the test skips with its reason (a failure
# with REQUIRE_ALL_CHECKS=1).
# Environment: IMAGE_TEST_ENGINE=docker|podman|stand-in (no fallback); IMAGE_TEST_BASE=REF (build
# on another base, recorded as not the shipped one); IMAGE_TEST_MAX_APP_MB (default 45);
# IMAGE_TEST_RESULT=FILE (default .image-cache/image-test.result: engine, base, image and image id
# of a passing run, which CI promotes).
set -euo pipefail

readonly IMAGE=localhost/predict-api:image-test
# The stand-in for the official base: Debian's Python from Debian packages. The cache key covers
# everything that shapes it (suite, packages, the host's CA bundle), so editing any of them rebuilds.
readonly BASE_SUITE=trixie
readonly BASE_PACKAGES=python3,python3-venv,python3-pip,python-is-python3,ca-certificates
readonly HOST_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt

log() { printf 'image-test: %s\n' "$*"; }
die() { printf 'image-test: FAIL: %s\n' "$*" >&2; exit 1; }
now_ms() { date +%s%3N; }
secs_since() { awk -v a="$1" -v b="$(now_ms)" 'BEGIN { printf "%.1f", (b - a) / 1000 }'; }

SCRIPT_START=$(now_ms)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=$ROOT/.image-cache   # gitignored: the stand-in base, podman's storage and state, logs
cd "$ROOT"
# A skip still runs the EXIT trap (once it is set): no exec.
skip() { bash "$ROOT/scripts/skip-or-fail.sh" image-test "$1" || exit; exit 0; }
RESULT=${IMAGE_TEST_RESULT:-$CACHE/image-test.result}

# The base the Dockerfile ships with: the default of its first ARG.
SHIPPED_BASE=$(sed -n 's/^FROM \([^ ]*\) AS build$/\1/p' Dockerfile | head -n 1)
[[ -n $SHIPPED_BASE ]] || die "no 'FROM <base> AS build' line in the Dockerfile"

# ---- rootful podman's configuration, set before any engine is probed (a docker CLI may be podman,
# and even its `info` would create state in /var/lib/containers): all state under .image-cache/ ----
VARLIB_EXISTED=1
if [[ $(id -u) -eq 0 ]]; then
    mkdir -p "$CACHE/run" "$CACHE/storage" "$CACHE/libpod-tmp"
    # The one file the engines write outside it is containers/image's blob-info cache, hardwired
    # for root to /var/lib/containers/cache (podman#15398); removed at the end if this run made it.
    [[ -e /var/lib/containers ]] || VARLIB_EXISTED=0
    printf '[storage]\ndriver = "overlay"\nrunroot = "%s/run"\ngraphroot = "%s/storage"\n' \
        "$CACHE" "$CACHE" >"$CACHE/storage.conf"
    # runc + cgroupfs: crun fails on hosts with hybrid cgroups. default_ulimits: podman's defaults
    # can exceed the hard limits where root lacks CAP_SYS_RESOURCE. Events to a file: no journald.
    printf '%s\n' '[containers]' 'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]' \
        '[engine]' 'runtime = "runc"' 'cgroup_manager = "cgroupfs"' 'events_logger = "file"' \
        "tmp_dir = \"$CACHE/libpod-tmp\"" >"$CACHE/containers.conf"
    export CONTAINERS_STORAGE_CONF=$CACHE/storage.conf CONTAINERS_CONF=$CACHE/containers.conf
fi
# ---- pick the engine ------------------------------------------------------------------------------
docker_works() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }
# Rootless podman needs subordinate ids for the image's users; without them pulls of real images fail.
rootless_podman_works() {
    [[ $(id -u) -ne 0 ]] && command -v podman >/dev/null 2>&1 &&
        grep -q "^$(id -un):" /etc/subuid 2>/dev/null && podman info >/dev/null 2>&1
}
ENGINE=${IMAGE_TEST_ENGINE:-}
if [[ -z $ENGINE ]]; then
    if docker_works; then ENGINE=docker
    elif rootless_podman_works; then ENGINE=podman
    elif [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then ENGINE=stand-in
    else skip "no Docker daemon answers, rootless podman is not set up (podman + /etc/subuid), and the rootful stand-in needs root and apt-get"
    fi
fi
rm -f "$RESULT"   # only a passing run leaves one
case $ENGINE in
    docker) CLI=docker ;;
    podman | stand-in) CLI=podman ;;
    *) die "IMAGE_TEST_ENGINE must be docker, podman or stand-in, got '$ENGINE'" ;;
esac

if [[ $ENGINE == stand-in ]]; then
    [[ $(id -u) -eq 0 ]] || die "the stand-in engine runs rootful podman and mmdebstrap: run as root"
    missing=()
    for tool in podman runc mmdebstrap curl python3; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
    if ((${#missing[@]})); then
        log "installing missing apt packages: ${missing[*]}"
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends "${missing[@]}"; } >"$CACHE/apt.log" 2>&1 ||
            { cat "$CACHE/apt.log" >&2; die "apt-get could not install ${missing[*]}"; }
    fi
fi
for tool in "$CLI" curl python3; do command -v "$tool" >/dev/null 2>&1 || die "$tool is not on PATH"; done

# A docker CLI may be podman underneath (Debian's podman-docker): it takes podman's settings below
# and needs podman's run flags.
PODMAN_UNDERNEATH=0
[[ $CLI != podman && $("$CLI" --version 2>/dev/null) != *[Pp]odman* ]] || PODMAN_UNDERNEATH=1
log "engine: $ENGINE ($("$CLI" --version 2>/dev/null | head -n 1))"
mkdir -p "$CACHE/tmp"
export TMPDIR=$CACHE/tmp
WORK=$(mktemp -d "$CACHE/tmp/run.XXXXXX")
CONTAINER=predict-image-test-$$
cleanup() {
    local rc=$?
    "$CLI" rm --force "$CONTAINER" >/dev/null 2>&1 || true
    rm -rf "$WORK"
    if ((VARLIB_EXISTED == 0)); then
        rm -f /var/lib/containers/cache/blob-info-cache-v1.boltdb
        rmdir /var/lib/containers/cache /var/lib/containers 2>/dev/null || true
    fi
    ((rc == 0)) || log "failed after $(secs_since "$SCRIPT_START") s (container removed)"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the base ------------------------------------------------------------------------------------
make_stand_in_base() {  # prints the stand-in's image name; makes it once, cached
    local key tar image
    key=$(printf '%s|%s|minbase|nodoc|%s' "$BASE_SUITE" "$BASE_PACKAGES" \
        "$(sha256sum "$HOST_CA_BUNDLE" 2>/dev/null | cut -c1-64)" | sha256sum | cut -c1-12)
    tar=$CACHE/base-$BASE_SUITE-$key.tar
    image=localhost/predict-python-base:$BASE_SUITE-$key
    "$CLI" image exists "$image" 2>/dev/null && log "stand-in base $image: cached" >&2 && echo "$image" && return
    if [[ ! -s $tar ]]; then
        log "making the Debian $BASE_SUITE stand-in base with mmdebstrap (first run only, ~1-2 min)" >&2
        local t hooks=()
        t=$(now_ms)
        # The host's CA bundle goes into the stand-in (never into the Dockerfile or a shipped image):
        # pip inside RUN must trust a proxy that re-signs HTTPS, with the same build command as
        # docker, which has no build-time mounts.
        [[ ! -f $HOST_CA_BUNDLE ]] || hooks=(--customize-hook="copy-in $HOST_CA_BUNDLE /etc/ssl/certs")
        # No mirror argument: mmdebstrap picks Debian's default mirror. No docs or man pages.
        mmdebstrap --quiet --variant=minbase --format=tar --include="$BASE_PACKAGES" \
            --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
            "${hooks[@]}" "$BASE_SUITE" "$tar.partial" >&2
        mv "$tar.partial" "$tar"
        log "mmdebstrap took $(secs_since "$t") s" >&2
    fi
    "$CLI" import --quiet --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        "$tar" "$image" >/dev/null
    log "imported $tar as $image" >&2
    echo "$image"
}

if [[ -n ${IMAGE_TEST_BASE:-} ]]; then
    BASE=$IMAGE_TEST_BASE BASE_NOTE="IMAGE_TEST_BASE override, NOT the shipped base $SHIPPED_BASE"
elif [[ $ENGINE == stand-in ]]; then
    BASE=$(make_stand_in_base) BASE_NOTE="local stand-in, NOT the shipped base $SHIPPED_BASE"
else
    BASE=$SHIPPED_BASE BASE_NOTE="the Dockerfile's own"
fi
log "base: $BASE ($BASE_NOTE)"
# A pull by name:tag@digest is stored under name@digest: that is the name to look it up by.
BASE_LOOKUP=$BASE
if [[ $BASE == *@* ]]; then
    base_name=${BASE%@*}
    [[ ${base_name##*:} == */* ]] || base_name=${base_name%:*}   # drop the tag, not a registry port
    BASE_LOOKUP=$base_name@${BASE##*@}
fi
if ! "$CLI" image inspect "$BASE_LOOKUP" >/dev/null 2>&1; then
    # Pulled explicitly: BuildKit would keep it out of the image store, and its size is needed below.
    log "pulling $BASE"
    # An engine that cannot reach the registry cannot test the image here: a skip, like no engine.
    if ! "$CLI" pull --quiet "$BASE" >/dev/null 2>"$WORK/pull.err"; then
        why=$(grep -m1 . "$WORK/pull.err" || true)
        ((${#why} <= 120)) || why=...${why: -120}   # the end says why: "no such host", a refusal
        skip "$ENGINE cannot pull $BASE ($why); IMAGE_TEST_BASE=<local image> builds on another base"
    fi
fi

# ---- build the Dockerfile: the same command on every engine -----------------------------------------
# The OCI labels a registry shows; one home for their values: scripts/image-labels.sh.
mapfile -t label_args < <(bash scripts/image-labels.sh)
build_args=("${label_args[@]}" --tag "$IMAGE")
# Podman: Docker's format (its default OCI drops HEALTHCHECK); chroot isolation (RUN needs no OCI
# runtime); no cache (4.3 reused a cached image with the last build's revision label).
((PODMAN_UNDERNEATH == 0)) || build_args+=(--format docker --isolation chroot --no-cache)
# Docker: one image manifest, not an attestation index (ECR cannot scan one; CI pushes this image).
((PODMAN_UNDERNEATH == 1)) || build_args+=(--provenance=false --sbom=false)
if [[ $BASE != "$SHIPPED_BASE" ]]; then
    # The same Dockerfile with the stand-in in its FROM lines, and nothing else changed.
    while IFS= read -r line; do
        [[ $line == "FROM $SHIPPED_BASE "* ]] && line="FROM $BASE ${line#"FROM $SHIPPED_BASE "}"
        printf '%s\n' "$line"
    done <Dockerfile >"$WORK/Dockerfile"
    build_args+=(--file "$WORK/Dockerfile")
fi
log "building $IMAGE ($CLI build, base $BASE)"
t=$(now_ms)
"$CLI" build --quiet "${build_args[@]}" . >"$WORK/build.log" 2>&1 ||
    { cat "$WORK/build.log" >&2; die "$CLI build failed"; }
log "build took $(secs_since "$t") s"
# Keep podman's storage (ours alone) from growing run after run: drop untagged images older than 3 days.
[[ $CLI != podman ]] || podman image prune --force --filter until=72h >/dev/null 2>&1 || true

# ---- run it the way ECS will ------------------------------------------------------------------
# Binds PORT (0: any) as gunicorn does and prints it; fails when it is busy.
bind_port() {
    python3 -c 'import socket, sys; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); print(s.getsockname()[1])' "$1" 2>/dev/null
}
requested_port=${1:-${IMAGE_TEST_PORT:-}}
if ! PORT=$(bind_port "${requested_port:-8000}"); then
    [[ -z $requested_port ]] || die "port $requested_port was requested but is busy"
    PORT=$(bind_port 0)
    log "port 8000 is busy on this host: using free port $PORT instead"
fi

# --read-only with no tmpfs, as the ECS task has it. Podman (also under a docker CLI) would mount
# tmpfs on /tmp, /run and /var/tmp unless told not to, and would pass the host's proxy variables in;
# it shares the host network (no bridges or iptables rules on the host). Docker publishes the port
# on loopback instead: that works on every Docker, Docker Desktop included.
run_args=(--detach --name "$CONTAINER" --read-only --env "PORT=$PORT")
if ((PODMAN_UNDERNEATH)); then run_args+=(--read-only-tmpfs=false --http-proxy=false --network host)
else run_args+=(--publish "127.0.0.1:$PORT:$PORT"); fi
log "starting $CONTAINER: --read-only, no tmpfs, PORT=$PORT"
"$CLI" run "${run_args[@]}" "$IMAGE" >/dev/null 2>"$WORK/run.err" ||
    { cat "$WORK/run.err" >&2; die "$CLI run failed"; }

base_url=http://127.0.0.1:$PORT
t=$(now_ms)
until curl --noproxy '*' -fsS -o /dev/null "$base_url/health" 2>/dev/null; do
    [[ $("$CLI" inspect --format '{{.State.Running}}' "$CONTAINER") == true ]] ||
        { "$CLI" logs "$CONTAINER" >&2 || true; die "the container exited before serving"; }
    (($(now_ms) - t < 30000)) || { "$CLI" logs "$CONTAINER" >&2; die "/health did not answer within 30 s"; }
    sleep 0.2
done
log "serving after $(secs_since "$t") s"

# ---- the checks, in pytest, against this container; the last one stops it with SIGTERM -----------
log "checking the running container: tests/image/test_running_image.py"
PYTEST=$ROOT/.venv/bin/pytest   # runs the checks (tests/image/test_running_image.py)
[[ -x $PYTEST ]] || die "$PYTEST is missing: run 'bash scripts/bootstrap.sh dev' (make test-image does)"
IMAGE_TEST_CLI=$CLI IMAGE_TEST_CONTAINER=$CONTAINER IMAGE_TEST_IMAGE=$IMAGE IMAGE_TEST_URL=$base_url \
    IMAGE_TEST_REVISION=$(git rev-parse HEAD 2>/dev/null || echo unknown) IMAGE_TEST_BASE_REF=$BASE_LOOKUP \
    IMAGE_TEST_MAX_APP_MB=${IMAGE_TEST_MAX_APP_MB:-45} \
    "$PYTEST" -v -p no:cacheprovider tests/image/test_running_image.py ||
    { "$CLI" logs "$CONTAINER" >&2 || true; die "the running image failed the checks above"; }

# What CI promotes: exactly this image (by id), and whether it stands on the shipped base.
image_id=$("$CLI" image inspect --format '{{.Id}}' "$IMAGE")
shipped_base=false && [[ $BASE != "$SHIPPED_BASE" ]] || shipped_base=true
printf '%s\n' "engine=$ENGINE" "base=$BASE" "shipped-base=$shipped_base" "image=$IMAGE" \
    "image-id=$image_id" >"$RESULT"
log "PASS in $(secs_since "$SCRIPT_START") s: engine $ENGINE, base $BASE ($BASE_NOTE), image $image_id"
