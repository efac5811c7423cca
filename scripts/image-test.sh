#!/usr/bin/env bash
# Build the Dockerfile and prove the image runs the way the ECS task runs it: read-only root
# filesystem with no tmpfs, numeric non-root user, working HEALTHCHECK, OCI labels, JSON logs on
# stdout, clean exit on SIGTERM, small app layers, no build tools.
#
# Usage: bash scripts/image-test.sh [PORT]   (PORT also via IMAGE_TEST_PORT, default 8000; when the
#        default port is busy a free one is picked, an explicitly requested busy port fails)
#
# The engine is the first of these that works, and the same checks run on each:
#   docker    a Docker daemon answers (a laptop, a GitHub runner): the Dockerfile is built exactly as
#             it ships, on its own pinned base
#   podman    rootless podman works: the same, on the Dockerfile's own base
#   stand-in  neither, but root: rootful podman building on a Debian base made locally with
#             mmdebstrap (apt-installs podman, runc and mmdebstrap when missing) -- for machines
#             that reach no container registry; its Python is Debian's, not the image's 3.12
# Otherwise the test is skipped with its reason (a failure with REQUIRE_ALL_CHECKS=1).
#
# Environment:
#   IMAGE_TEST_ENGINE=docker|podman|stand-in   use this one, no fallback
#   IMAGE_TEST_BASE=REF    build on this base image instead (e.g. a local stand-in where no registry
#                          is reachable); printed, and recorded as not the shipped base
#   IMAGE_TEST_MAX_APP_MB  ceiling for the layers above the base (default 45)
#   IMAGE_TEST_RESULT=FILE where a passing run writes engine, base, image and image id as KEY=VALUE
#                          lines (default .image-cache/image-test.result; CI promotes that image)
set -euo pipefail

readonly APP_UID=10001 APP_GID=10001
readonly GRACEFUL_TIMEOUT_S=20           # gunicorn's graceful_timeout (gunicorn.conf.py)
readonly STOP_BUDGET_S=10                # "well inside" it: half
# Catches a dependency that should not ship (boto3 alone is ~100 MB). 42 MB on 2026-12-01: the venv
# 33 MB (13.6 MB of it uvloop's extension, which its wheel ships with debug symbols; 3 MB Swagger
# UI's files for /docs) and the standard library's bytecode 9 MB (the official image has none).
readonly MAX_APP_LAYERS_MB=${IMAGE_TEST_MAX_APP_MB:-45}
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
    cat >"$CACHE/storage.conf" <<CONF
[storage]
driver = "overlay"
runroot = "$CACHE/run"
graphroot = "$CACHE/storage"
CONF
    # runc + cgroupfs: crun fails on hosts with hybrid cgroups. default_ulimits: podman's defaults
    # can exceed the hard limits where root lacks CAP_SYS_RESOURCE. Events to a file: no journald.
    cat >"$CACHE/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$CACHE/libpod-tmp"
CONF
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
    if docker_works; then
        ENGINE=docker
    elif rootless_podman_works; then
        ENGINE=podman
    elif [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        ENGINE=stand-in
    else
        skip "no Docker daemon answers, rootless podman is not set up (podman + /etc/subuid), and the rootful stand-in needs root and apt-get"
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
    for tool in podman runc mmdebstrap curl python3; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
    done
    if ((${#missing[@]})); then
        mkdir -p "$CACHE"
        log "installing missing apt packages: ${missing[*]}"
        t=$(now_ms)
        if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$CACHE/apt.log" 2>&1; then
            cat "$CACHE/apt.log" >&2
            die "apt-get could not install ${missing[*]}"
        fi
        log "installed in $(secs_since "$t") s"
    fi
fi
for tool in "$CLI" curl python3; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is not on PATH"
done

# A docker CLI may be podman underneath (Debian's podman-docker): it takes podman's settings below
# and needs podman's run flags.
PODMAN_UNDERNEATH=0
if [[ $CLI == podman || $("$CLI" --version 2>/dev/null) == *[Pp]odman* ]]; then
    PODMAN_UNDERNEATH=1
fi
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
    if "$CLI" image exists "$image" 2>/dev/null; then
        log "stand-in base $image: cached" >&2
        echo "$image"
        return
    fi
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
    "$CLI" import --quiet \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        "$tar" "$image" >/dev/null
    log "imported $tar as $image" >&2
    echo "$image"
}

if [[ -n ${IMAGE_TEST_BASE:-} ]]; then
    BASE=$IMAGE_TEST_BASE
    BASE_NOTE="IMAGE_TEST_BASE override, NOT the shipped base $SHIPPED_BASE"
elif [[ $ENGINE == stand-in ]]; then
    BASE=$(make_stand_in_base)
    BASE_NOTE="local stand-in, NOT the shipped base $SHIPPED_BASE"
else
    BASE=$SHIPPED_BASE
    BASE_NOTE="the Dockerfile's own"
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
# Podman (also under a docker CLI) builds the OCI format by default, which drops HEALTHCHECK: ask for
# Docker's, as docker builds it. chroot isolation: RUN steps need no OCI runtime inside the builder.
((PODMAN_UNDERNEATH == 0)) || build_args+=(--format docker --isolation chroot)
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
if ! "$CLI" build --quiet "${build_args[@]}" . >"$WORK/build.log" 2>&1; then
    cat "$WORK/build.log" >&2
    die "$CLI build failed"
fi
log "build took $(secs_since "$t") s"
# Keep podman's storage (ours alone) from growing run after run: drop untagged images older than 3 days.
if [[ $CLI == podman ]]; then
    podman image prune --force --filter until=72h >/dev/null 2>&1 || true
fi

# ---- sizes -----------------------------------------------------------------------------------
image_bytes=$("$CLI" image inspect --format '{{.Size}}' "$IMAGE")
base_bytes=$("$CLI" image inspect --format '{{.Size}}' "$BASE_LOOKUP")
app_bytes=$((image_bytes - base_bytes))
mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1000000 }'; }
log "image size $(mb "$image_bytes") MB = base $(mb "$base_bytes") MB + app layers $(mb "$app_bytes") MB (limit $MAX_APP_LAYERS_MB MB)"
"$CLI" history --no-trunc --format '{{.Size}}\t{{.CreatedBy}}' "$IMAGE" | grep -v '^0 \?B' | cut -c1-110 | sed 's/^/    /'
((app_bytes <= MAX_APP_LAYERS_MB * 1000000)) ||
    die "app layers are $(mb "$app_bytes") MB, over the $MAX_APP_LAYERS_MB MB target"

# The image's own metadata: what ECS and docker read from it.
"$CLI" image inspect "$IMAGE" >"$WORK/inspect.json"
python3 - "$WORK/inspect.json" "$APP_UID:$APP_GID" "$(git rev-parse HEAD 2>/dev/null || echo unknown)" <<'PY' || die "image metadata is not as required"
import json, sys
image = json.load(open(sys.argv[1]))[0]
config = image["Config"]
# Docker keeps the health check in Config, podman also at the top level.
health = config.get("Healthcheck") or image.get("Healthcheck") or {}
problems = []
labels = config.get("Labels") or {}
for name in ("revision", "source", "created", "version"):
    if not labels.get(f"org.opencontainers.image.{name}", "").strip():
        problems.append(f"label org.opencontainers.image.{name} is missing or empty")
if labels.get("org.opencontainers.image.revision") != sys.argv[3]:
    problems.append(f"label revision is {labels.get('org.opencontainers.image.revision')!r}, want {sys.argv[3]!r}")
if config.get("User") != sys.argv[2]:
    problems.append(f"USER is {config.get('User')!r}, want {sys.argv[2]!r}")
if "8000/tcp" not in (config.get("ExposedPorts") or {}):
    problems.append("port 8000 is not EXPOSEd")
if config.get("StopSignal") != "SIGTERM":
    problems.append(f"STOPSIGNAL is {config.get('StopSignal')!r}")
if (health.get("Test") or [""])[0] != "CMD":
    problems.append(f"HEALTHCHECK missing or not in exec form: {health.get('Test')!r}")
elif not 0 < health.get("Timeout", 0) <= 5_000_000_000:
    problems.append(f"HEALTHCHECK timeout {health.get('Timeout')} ns is not short (<= 5 s)")
env = dict(item.split("=", 1) for item in config.get("Env") or [])
for name in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"):
    if env.get(name) != "1":
        problems.append(f"{name} is not set to 1")
if not env.get("PATH", "").startswith("/opt/venv/bin:"):
    problems.append("PATH does not start with the venv")
cmd = (config.get("Entrypoint") or []) + (config.get("Cmd") or [])
if not cmd or cmd[0] != "gunicorn":
    problems.append(f"the process is not gunicorn in exec form: {cmd!r}")
print("\n".join(f"    {p}" for p in problems) or "    metadata ok: USER, EXPOSE, STOPSIGNAL, exec HEALTHCHECK, ENV, CMD, OCI labels")
sys.exit(1 if problems else 0)
PY

# ---- run it the way ECS will ------------------------------------------------------------------
port_is_free() {
    python3 - "$1" <<'PY'
import socket, sys
with socket.socket() as s:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
    try:
        s.bind(("0.0.0.0", int(sys.argv[1])))
    except OSError:
        sys.exit(1)
PY
}
requested_port=${1:-${IMAGE_TEST_PORT:-}}
PORT=${requested_port:-8000}
if ! port_is_free "$PORT"; then
    [[ -z $requested_port ]] || die "port $PORT was requested but is busy"
    PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("0.0.0.0", 0)); print(s.getsockname()[1])')
    log "port 8000 is busy on this host: using free port $PORT instead"
fi

# --read-only with no tmpfs, as the ECS task has it. Podman (also under a docker CLI) would mount
# tmpfs on /tmp, /run and /var/tmp unless told not to, and would pass the host's proxy variables in;
# it shares the host network (no bridges or iptables rules on the host). Docker publishes the port
# on loopback instead: that works on every Docker, Docker Desktop included.
run_args=(--detach --name "$CONTAINER" --read-only --env "PORT=$PORT")
if ((PODMAN_UNDERNEATH)); then
    run_args+=(--read-only-tmpfs=false --http-proxy=false --network host)
else
    run_args+=(--publish "127.0.0.1:$PORT:$PORT")
fi
log "starting $CONTAINER: --read-only, no tmpfs, PORT=$PORT"
"$CLI" run "${run_args[@]}" "$IMAGE" >/dev/null 2>"$WORK/run.err" ||
    { cat "$WORK/run.err" >&2; die "$CLI run failed"; }

base_url=http://127.0.0.1:$PORT
t=$(now_ms)
until curl --noproxy '*' -fsS -o /dev/null "$base_url/health" 2>/dev/null; do
    if [[ $("$CLI" inspect --format '{{.State.Running}}' "$CONTAINER") != true ]]; then
        "$CLI" logs "$CONTAINER" >&2 || true
        die "the container exited before serving"
    fi
    (($(now_ms) - t < 30000)) || { "$CLI" logs "$CONTAINER" >&2; die "/health did not answer within 30 s"; }
    sleep 0.2
done
log "serving after $(secs_since "$t") s"

# /health and /predict: exact JSON bodies of the published contract.
check_body() {
    local path=$1 want=$2
    curl --noproxy '*' -fsS -D "$WORK/headers" -o "$WORK/body" "$base_url$path" ||
        die "GET $path failed"
    python3 - "$WORK/body" "$want" "$WORK/headers" <<'PY' || die "GET $path: unexpected answer"
import json, sys
body, want = open(sys.argv[1]).read(), json.loads(sys.argv[2])
headers = open(sys.argv[3]).read().lower()
assert "content-type: application/json" in headers, headers
assert json.loads(body) == want, f"body {body!r} != {want!r}"
PY
    log "GET $path -> 200 $want"
}
check_body /health '{"status": "ok"}'
check_body /predict '{"score": 0.75}'

# Numeric non-root identity, and gunicorn as PID 1 (so the stop signal reaches it).
uid=$("$CLI" exec "$CONTAINER" id -u)
gid=$("$CLI" exec "$CONTAINER" id -g)
[[ $uid == "$APP_UID" && $gid == "$APP_GID" ]] || die "runs as $uid:$gid, want $APP_UID:$APP_GID"
log "id -u = $uid, id -g = $gid"
pid1=$("$CLI" exec "$CONTAINER" cat /proc/1/cmdline | tr '\0' ' ')
[[ $pid1 == *gunicorn* ]] || die "PID 1 is '$pid1', not gunicorn"
log "PID 1: $pid1"

# Inside the running container: the root filesystem really is read-only everywhere (no tmpfs on
# /tmp or /run), /dev/shm (gunicorn's heartbeat) is writable, and nothing for building or testing
# was shipped.
"$CLI" exec --interactive "$CONTAINER" python - <<'PY' || die "the running container's contents are not as required"
import importlib.util, os, shutil, site, sys, tempfile
problems = []
for directory in ("/", "/tmp", "/var/tmp", "/run", "/app", "/opt/venv", os.path.expanduser("~")):
    try:
        with tempfile.TemporaryFile(dir=directory):
            problems.append(f"{directory} is writable")
    except OSError:
        pass
try:
    with tempfile.TemporaryFile(dir="/dev/shm"):
        pass
except OSError as error:
    problems.append(f"/dev/shm is not writable: {error}")
for module in ("boto3", "botocore", "pip", "setuptools", "wheel", "pytest", "moto"):
    if importlib.util.find_spec(module) is not None:
        problems.append(f"module {module} is importable")
for tool in ("gcc", "cc", "g++", "make", "curl"):
    if shutil.which(tool):
        problems.append(f"{tool} is on PATH")
for directory in site.getsitepackages():
    for name in ("tests", "test"):
        if os.path.exists(os.path.join(directory, name)):
            problems.append(f"{directory}/{name} exists")
if sorted(os.listdir("/app")) != ["gunicorn.conf.py"]:
    problems.append(f"/app holds {sorted(os.listdir('/app'))}, want only gunicorn.conf.py")
if os.path.exists("/src"):
    problems.append("the build stage's /src was shipped")
print("\n".join(f"    {p}" for p in problems) or
      f"    read-only everywhere but /dev/shm; no boto3/pip/setuptools/pytest/compiler; /app = gunicorn.conf.py ({sys.version.split()[0]})")
sys.exit(1 if problems else 0)
PY

# Every module the service and its health check import is read from bytecode at the level the
# image runs with (PYTHONOPTIMIZE): nothing is compiled at start, which the read-only root could
# not cache. An audit hook sees each compile; the config file itself is always read as source.
"$CLI" exec --interactive --workdir /app "$CONTAINER" python - <<'PY' || die "modules are compiled at start: their bytecode is missing from the image"
import runpy, sys
compiled = []
def on_compile(event, args):
    if event == "compile" and isinstance(args[1], str) and args[1].endswith(".py"):
        compiled.append(args[1])
sys.addaudithook(on_compile)
runpy.run_path("/app/gunicorn.conf.py")  # what the master imports: Gunicorn, the app package
import gunicorn.app.wsgiapp, gunicorn.arbiter, urllib.request  # + the HEALTHCHECK's probe
from uvicorn.config import Config
from predict_service.asgi import create_asgi_app
from predict_service.worker import UvicornWorker
config = Config(create_asgi_app(), **UvicornWorker.CONFIG_KWARGS)  # what a worker loads
config.load()
config.get_loop_factory()
compiled = [path for path in compiled if path != "/app/gunicorn.conf.py"]
for path in compiled[:10]:
    print(f"    compiled at start: {path}")
print(f"    {len(sys.modules)} modules imported, {len(compiled)} compiled from source "
      f"(optimize level {sys.flags.optimize})")
sys.exit(1 if compiled or sys.flags.optimize != 2 else 0)
PY
# Memory of each worker as the image runs it (the benchmark measures it side by side; shown here
# for the image's own interpreter).
# shellcheck disable=SC2016  # expanded by the shell inside the container
rss=$("$CLI" exec "$CONTAINER" sh -c 'for p in $(cat /proc/1/task/1/children); do grep VmRSS /proc/$p/status; done' |
    awk '{printf "%s%.1f", sep, $2 / 1024; sep = ", "}')
log "worker RSS: $rss MB"

# The image's own HEALTHCHECK command, read from its metadata and run inside the container: the same
# probe on every engine (Docker runs it on its own timer; podman's timer needs systemd).
python3 -c 'import json, sys; health = json.load(open(sys.argv[1]))[0]; c = health["Config"]
t = (c.get("Healthcheck") or health.get("Healthcheck"))["Test"]; print("\0".join(t[1:]), end="")' \
    "$WORK/inspect.json" >"$WORK/healthcheck"
mapfile -d '' -t probe <"$WORK/healthcheck"
"$CLI" exec "$CONTAINER" "${probe[@]}" >"$WORK/health.out" 2>&1 ||
    { cat "$WORK/health.out" >&2; die "the HEALTHCHECK command failed inside the running container"; }
log "HEALTHCHECK command: exit 0"
if [[ $CLI == podman ]]; then
    health=$(podman healthcheck run "$CONTAINER" 2>&1) || die "podman healthcheck run failed: $health"
    status=$(podman inspect --format '{{.State.Health.Status}}' "$CONTAINER" 2>/dev/null ||
        podman inspect --format '{{.State.Healthcheck.Status}}' "$CONTAINER")
    [[ $status == healthy ]] || die "health status is '$status' after a passing check"
    log "podman healthcheck run: $status"
fi

# ---- stop with SIGTERM: exit 0 well inside the graceful timeout --------------------------------
t=$(now_ms)
"$CLI" stop -t "$((GRACEFUL_TIMEOUT_S + 10))" "$CONTAINER" >/dev/null 2>>"$WORK/run.err"
stop_s=$(secs_since "$t")
exit_code=$("$CLI" inspect --format '{{.State.ExitCode}}' "$CONTAINER")
log "$CLI stop (SIGTERM) -> exit code $exit_code after $stop_s s (graceful_timeout ${GRACEFUL_TIMEOUT_S} s, budget ${STOP_BUDGET_S} s)"
[[ $exit_code == 0 ]] || { "$CLI" logs "$CONTAINER" >&2; die "exit code $exit_code after SIGTERM"; }
awk -v s="$stop_s" -v b="$STOP_BUDGET_S" 'BEGIN { exit !(s < b) }' ||
    die "stopping took $stop_s s, not well inside the ${GRACEFUL_TIMEOUT_S} s graceful timeout"

# ---- JSON logs on stdout: every line, including start-up and shutdown ---------------------------
"$CLI" logs "$CONTAINER" >"$WORK/stdout.log" 2>"$WORK/stderr.log"
python3 - "$WORK/stdout.log" "$WORK/stderr.log" <<'PY' || die "stdout is not JSON log lines"
import json, sys
lines = [line for line in open(sys.argv[1]).read().splitlines() if line.strip()]
bad = []
for line in lines:
    try:
        if not isinstance(json.loads(line), dict):
            bad.append(line)
    except ValueError:
        bad.append(line)
for line in bad[:5]:
    print(f"    not a JSON object: {line[:160]}")
assert lines, "no log lines on stdout"
assert not bad, f"{len(bad)} of {len(lines)} stdout lines are not JSON objects"
assert any("/predict" in line for line in lines), "no access-log line for GET /predict"
stderr = [line for line in open(sys.argv[2]).read().splitlines() if line.strip()]
print(f"    {len(lines)} stdout lines, all JSON objects (first: {lines[0][:100]})")
if stderr:
    print(f"    note: {len(stderr)} lines on stderr, e.g. {stderr[0][:120]}")
PY
log "logs: JSON on stdout"

# What CI promotes: exactly this image (by id), and whether it stands on the shipped base.
image_id=$("$CLI" image inspect --format '{{.Id}}' "$IMAGE")
shipped_base=false
[[ $BASE != "$SHIPPED_BASE" ]] || shipped_base=true
printf '%s\n' "engine=$ENGINE" "base=$BASE" "shipped-base=$shipped_base" "image=$IMAGE" \
    "image-id=$image_id" >"$RESULT"
log "PASS in $(secs_since "$SCRIPT_START") s: engine $ENGINE, base $BASE ($BASE_NOTE), image $image_id (app layers $(mb "$app_bytes") MB, stop $stop_s s)"
