#!/usr/bin/env bash
# Build the production Dockerfile without a Docker daemon (buildah) and prove the image runs the way
# the ECS task runs it (podman): read-only root filesystem with no tmpfs, numeric non-root user,
# working HEALTHCHECK, JSON logs on stdout, clean exit on SIGTERM, small app layers, no build tools.
#
# Usage: bash scripts/image-test.sh [PORT]     (as root; PORT also via IMAGE_TEST_PORT, default 8000;
#        when the default port is busy a free one is picked, an explicitly requested busy port fails)
# Why each engine setting: ../shared/FIELD-NOTES.md §1 (summarised next to each setting below).
set -euo pipefail

readonly APP_UID=10001 APP_GID=10001
readonly GRACEFUL_TIMEOUT_S=20           # gunicorn's graceful_timeout (the contract in the team brief)
readonly STOP_BUDGET_S=10                # "well inside" it: half
# Catches a dependency that should not ship (boto3 alone is ~100 MB). 37 MB today: the venv 28 MB
# (13.6 MB of it uvloop's extension, which its wheel ships with debug symbols) and the standard
# library's bytecode 9 MB (the official image has none; see the Dockerfile).
readonly MAX_APP_LAYERS_MB=${IMAGE_TEST_MAX_APP_MB:-40}
readonly IMAGE=localhost/predict-api:image-test
# The local stand-in for python:3.12-slim: Debian's Python from Debian packages (Docker Hub is not
# reachable here). The cache key covers everything that shapes the base, so editing it rebuilds.
readonly BASE_SUITE=trixie
readonly BASE_PACKAGES=python3,python3-venv,python3-pip,python-is-python3,ca-certificates

log() { printf 'image-test: %s\n' "$*"; }
die() { printf 'image-test: FAIL: %s\n' "$*" >&2; exit 1; }
now_ms() { date +%s%3N; }
secs_since() { awk -v a="$1" -v b="$(now_ms)" 'BEGIN { printf "%.1f", (b - a) / 1000 }'; }

SCRIPT_START=$(now_ms)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=$ROOT/.image-cache   # gitignored: the base tar, engine storage and state, logs
cd "$ROOT"

# ---- root and tools -------------------------------------------------------------------------
# Rootful on purpose: that is the recipe measured on these machines (FIELD-NOTES §1); mmdebstrap's
# root mode and the overlay storage driver without fuse need real root.
if [[ $(id -u) -ne 0 ]]; then
    die "must run as root (buildah/podman/mmdebstrap run rootful here); try: sudo bash scripts/image-test.sh"
fi

missing=()
for tool in podman buildah runc mmdebstrap curl python3; do
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

# ---- engine configuration: every byte of engine state under the gitignored .image-cache/ ----------
mkdir -p "$CACHE/run" "$CACHE/storage" "$CACHE/tmp" "$CACHE/libpod-tmp"
# The one file the engines write outside it is containers/image's blob-info cache, hardwired for
# root to /var/lib/containers/cache (podman#15398); remove it at the end if this run created it.
VARLIB_EXISTED=0
[[ ! -e /var/lib/containers ]] || VARLIB_EXISTED=1
cat >"$CACHE/storage.conf" <<EOF
[storage]
driver = "overlay"
runroot = "$CACHE/run"
graphroot = "$CACHE/storage"
EOF
# runc + cgroupfs: crun fails on this host's hybrid cgroups. default_ulimits: podman's defaults
# exceed the hard limits and root lacks CAP_SYS_RESOURCE. events to a file: no journald needed.
cat >"$CACHE/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$CACHE/libpod-tmp"
EOF
export CONTAINERS_STORAGE_CONF=$CACHE/storage.conf CONTAINERS_CONF=$CACHE/containers.conf
export TMPDIR=$CACHE/tmp

WORK=$(mktemp -d "$CACHE/tmp/run.XXXXXX")
CONTAINER=predict-image-test-$$
cleanup() {
    local rc=$?
    podman rm --force --time 0 "$CONTAINER" >/dev/null 2>&1 || true
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

# ---- the Debian base, made once and cached ---------------------------------------------------
base_key=$(printf '%s|%s|minbase|nodoc' "$BASE_SUITE" "$BASE_PACKAGES" | sha256sum | cut -c1-12)
BASE_TAR=$CACHE/base-$BASE_SUITE-$base_key.tar
BASE_IMAGE=localhost/predict-python-base:$BASE_SUITE-$base_key
if podman image exists "$BASE_IMAGE"; then
    log "base image $BASE_IMAGE: cached"
else
    if [[ ! -s $BASE_TAR ]]; then
        log "making the Debian $BASE_SUITE base with mmdebstrap (first run only, ~1-2 min)"
        t=$(now_ms)
        # No mirror argument: mmdebstrap picks Debian's default mirror. Docs and man pages are
        # left out: nobody reads them in a container.
        mmdebstrap --quiet --variant=minbase --format=tar --include="$BASE_PACKAGES" \
            --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
            "$BASE_SUITE" "$BASE_TAR.partial"
        mv "$BASE_TAR.partial" "$BASE_TAR"
        log "mmdebstrap took $(secs_since "$t") s"
    fi
    podman import --quiet \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        "$BASE_TAR" "$BASE_IMAGE" >/dev/null
    log "imported $BASE_TAR as $BASE_IMAGE"
fi

# ---- build the project's Dockerfile on that base ------------------------------------------------
build_args=(
    --layers                       # reuse unchanged steps from the cached storage
    --isolation chroot             # RUN steps work without an OCI runtime inside the builder
    --format docker                # the OCI format drops HEALTHCHECK
    --build-arg "PYTHON_IMAGE=$BASE_IMAGE"
    --build-arg "VCS_REF=$(git rev-parse HEAD 2>/dev/null || echo unknown)"
    --tag "$IMAGE"
)
# pip inside RUN must trust the proxy's re-signing CA: mount the host bundle for the build only.
if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
    build_args+=(--volume /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro)
fi
log "building $IMAGE (buildah bud, PYTHON_IMAGE=$BASE_IMAGE)"
t=$(now_ms)
if ! buildah bud --quiet "${build_args[@]}" . >"$WORK/build.log" 2>&1; then
    cat "$WORK/build.log" >&2
    die "buildah bud failed"
fi
log "build took $(secs_since "$t") s"
# Keep the storage from growing run after run: drop untagged images nobody used for 3 days.
podman image prune --force --filter until=72h >/dev/null 2>&1 || true

# ---- sizes -----------------------------------------------------------------------------------
image_bytes=$(podman image inspect --format '{{.Size}}' "$IMAGE")
base_bytes=$(podman image inspect --format '{{.Size}}' "$BASE_IMAGE")
app_bytes=$((image_bytes - base_bytes))
mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1000000 }'; }
log "image size $(mb "$image_bytes") MB = base $(mb "$base_bytes") MB + app layers $(mb "$app_bytes") MB (limit $MAX_APP_LAYERS_MB MB)"
podman history --format '{{.Size}}\t{{.CreatedBy}}' "$IMAGE" | grep -v '^0 B' | cut -c1-110 | sed 's/^/    /'
((app_bytes <= MAX_APP_LAYERS_MB * 1000000)) ||
    die "app layers are $(mb "$app_bytes") MB, over the $MAX_APP_LAYERS_MB MB target"

# The image's own metadata: what ECS and docker read from it.
podman image inspect "$IMAGE" >"$WORK/inspect.json"
python3 - "$WORK/inspect.json" "$APP_UID:$APP_GID" <<'PY' || die "image metadata is not as required"
import json, sys
image = json.load(open(sys.argv[1]))[0]
config, health = image["Config"], image.get("Healthcheck") or {}
problems = []
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
print("\n".join(f"    {p}" for p in problems) or "    metadata ok: USER, EXPOSE, STOPSIGNAL, exec HEALTHCHECK, ENV, CMD")
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

# --read-only-tmpfs=false: podman would otherwise mount tmpfs on /tmp, /run and /var/tmp, which
# the ECS task does not have. --network host: no bridges or iptables rules on the host.
# --http-proxy=false: the host's proxy variables must not leak into the container.
log "starting $CONTAINER: --read-only, no tmpfs, host network, PORT=$PORT"
podman run --detach --name "$CONTAINER" --network host --read-only --read-only-tmpfs=false \
    --http-proxy=false --env "PORT=$PORT" "$IMAGE" >/dev/null 2>"$WORK/run.err" ||
    { cat "$WORK/run.err" >&2; die "podman run failed"; }

base_url=http://127.0.0.1:$PORT
t=$(now_ms)
until curl --noproxy '*' -fsS -o /dev/null "$base_url/health" 2>/dev/null; do
    if [[ $(podman inspect --format '{{.State.Running}}' "$CONTAINER") != true ]]; then
        podman logs "$CONTAINER" >&2 || true
        die "the container exited before serving"
    fi
    (($(now_ms) - t < 30000)) || { podman logs "$CONTAINER" >&2; die "/health did not answer within 30 s"; }
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
uid=$(podman exec "$CONTAINER" id -u)
gid=$(podman exec "$CONTAINER" id -g)
[[ $uid == "$APP_UID" && $gid == "$APP_GID" ]] || die "runs as $uid:$gid, want $APP_UID:$APP_GID"
log "id -u = $uid, id -g = $gid"
pid1=$(podman exec "$CONTAINER" cat /proc/1/cmdline | tr '\0' ' ')
[[ $pid1 == *gunicorn* ]] || die "PID 1 is '$pid1', not gunicorn"
log "PID 1: $pid1"

# Inside the running container: the root filesystem really is read-only everywhere (no tmpfs on
# /tmp or /run), /dev/shm (gunicorn's heartbeat) is writable, and nothing for building or testing
# was shipped.
podman exec --interactive "$CONTAINER" python - <<'PY' || die "the running container's contents are not as required"
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
podman exec --interactive --workdir /app "$CONTAINER" python - <<'PY' || die "modules are compiled at start: their bytecode is missing from the image"
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
rss=$(podman exec "$CONTAINER" sh -c 'for p in $(cat /proc/1/task/1/children); do grep VmRSS /proc/$p/status; done' |
    awk '{printf "%s%.1f", sep, $2 / 1024; sep = ", "}')
log "worker RSS: $rss MB"

# The image's HEALTHCHECK, run now (its periodic timer needs systemd, which this host lacks).
health=$(podman healthcheck run "$CONTAINER" 2>&1) || die "HEALTHCHECK failed: $health"
status=$(podman inspect --format '{{.State.Health.Status}}' "$CONTAINER" 2>/dev/null ||
    podman inspect --format '{{.State.Healthcheck.Status}}' "$CONTAINER")
[[ $status == healthy ]] || die "health status is '$status' after a passing check"
log "HEALTHCHECK: $status"

# ---- stop with SIGTERM: exit 0 well inside the graceful timeout --------------------------------
t=$(now_ms)
podman stop --time "$((GRACEFUL_TIMEOUT_S + 10))" "$CONTAINER" >/dev/null 2>>"$WORK/run.err"
stop_s=$(secs_since "$t")
exit_code=$(podman inspect --format '{{.State.ExitCode}}' "$CONTAINER")
log "podman stop (SIGTERM) -> exit code $exit_code after $stop_s s (graceful_timeout ${GRACEFUL_TIMEOUT_S} s, budget ${STOP_BUDGET_S} s)"
[[ $exit_code == 0 ]] || { podman logs "$CONTAINER" >&2; die "exit code $exit_code after SIGTERM"; }
awk -v s="$stop_s" -v b="$STOP_BUDGET_S" 'BEGIN { exit !(s < b) }' ||
    die "stopping took $stop_s s, not well inside the ${GRACEFUL_TIMEOUT_S} s graceful timeout"

# ---- JSON logs on stdout: every line, including start-up and shutdown ---------------------------
podman logs "$CONTAINER" >"$WORK/stdout.log" 2>"$WORK/stderr.log"
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

log "PASS in $(secs_since "$SCRIPT_START") s (app layers $(mb "$app_bytes") MB, stop $stop_s s)"
