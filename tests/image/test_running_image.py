"""The built image, running as the ECS task runs it: scripts/image-test.sh builds and starts it and
runs these checks against that container (it passes the engine, the container and its URL through
IMAGE_TEST_* variables). The last test stops the container.

Run by `make test-image` only: the main pytest run has no container to check.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request

import pytest

CLI = os.environ.get("IMAGE_TEST_CLI", "")
CONTAINER = os.environ.get("IMAGE_TEST_CONTAINER", "")
IMAGE = os.environ.get("IMAGE_TEST_IMAGE", "")
BASE_URL = os.environ.get("IMAGE_TEST_URL", "")
REVISION = os.environ.get("IMAGE_TEST_REVISION", "")
BASE = os.environ.get("IMAGE_TEST_BASE_REF", "")  # the base as the engine stores it
# Catches a dependency that should not ship (boto3 alone is ~100 MB). 42 MB on 2026-12-01: the venv
# 33 MB (13.6 MB of it uvloop's extension, which its wheel ships with debug symbols; 3 MB Swagger
# UI's files for /docs) and the standard library's bytecode 9 MB (the official image has none).
MAX_APP_MB = float(os.environ.get("IMAGE_TEST_MAX_APP_MB", "45"))
if not (CLI and CONTAINER and IMAGE and BASE_URL):
    pytest.skip("run by scripts/image-test.sh on the container it starts", allow_module_level=True)

APP_USER = "10001:10001"  # the Dockerfile's numeric USER
GRACEFUL_TIMEOUT_S = 20  # gunicorn.conf.py's graceful_timeout
STOP_BUDGET_S = 10  # "well inside" it: half
NOT_SHIPPED_MODULES = ("boto3", "botocore", "pip", "setuptools", "wheel", "pytest", "moto")
NOT_SHIPPED_TOOLS = ("gcc", "cc", "g++", "make", "curl")


def engine(*args: str, stdin: str | None = None) -> str:
    completed = subprocess.run(
        [CLI, *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )
    assert completed.returncode == 0, f"{CLI} {' '.join(args)}: {completed.stderr}"
    return completed.stdout


def in_container(script: str, *exec_args: str) -> str:
    """Runs a Python script inside the running container, as its user."""
    return engine("exec", "--interactive", *exec_args, CONTAINER, "python", "-", stdin=script)


@pytest.fixture(scope="module")
def image() -> dict:
    return json.loads(engine("image", "inspect", IMAGE))[0]


def healthcheck(image: dict) -> dict:
    # Docker keeps the health check in Config, podman also at the top level.
    return image["Config"].get("Healthcheck") or image.get("Healthcheck") or {}


def test_the_app_layers_stay_small(image):
    base = json.loads(engine("image", "inspect", BASE))[0]
    app_mb = (image["Size"] - base["Size"]) / 1e6
    layers = engine("history", "--no-trunc", "--format", "{{.Size}}\t{{.CreatedBy}}", IMAGE)
    assert app_mb <= MAX_APP_MB, f"app layers {app_mb:.1f} MB over {MAX_APP_MB} MB:\n{layers}"


def test_metadata_is_what_ecs_and_registries_read(image):
    config = image["Config"]
    labels = config.get("Labels") or {}
    for name in ("revision", "source", "created", "version"):
        assert labels.get(f"org.opencontainers.image.{name}", "").strip(), name
    assert labels["org.opencontainers.image.revision"] == REVISION
    assert config.get("User") == APP_USER
    assert "8000/tcp" in (config.get("ExposedPorts") or {})
    assert config.get("StopSignal") == "SIGTERM"
    health = healthcheck(image)
    assert (health.get("Test") or [""])[0] == "CMD", f"not in exec form: {health.get('Test')!r}"
    assert 0 < health.get("Timeout", 0) <= 5_000_000_000, "HEALTHCHECK timeout is not <= 5 s"
    env = dict(item.split("=", 1) for item in config.get("Env") or [])
    assert env.get("PYTHONDONTWRITEBYTECODE") == env.get("PYTHONUNBUFFERED") == "1"
    assert env.get("PATH", "").startswith("/opt/venv/bin:")
    command = (config.get("Entrypoint") or []) + (config.get("Cmd") or [])
    assert command[-1].endswith("exec gunicorn --config gunicorn.conf.py"), command


@pytest.mark.parametrize("variable, value", [("WEB_CONCURRENCY", "abc"), ("PORT", "70000")])
def test_a_bad_setting_stops_the_container_with_one_line_naming_it(variable, value):
    completed = subprocess.run(
        [
            CLI,
            "run",
            "--rm",
            "--network",
            "none",
            "--no-healthcheck",
            "-e",
            f"{variable}={value}",
            IMAGE,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = (completed.stdout + completed.stderr).strip()
    assert completed.returncode != 0, output
    assert variable in output and "Traceback" not in output, output
    assert len(output.splitlines()) == 1, output


@pytest.mark.parametrize(
    "path, body", [("/health", {"status": "ok"}), ("/predict", {"score": 0.75})]
)
def test_the_contract_answers(path, body):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(BASE_URL + path, timeout=5) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("application/json")
        assert json.loads(response.read()) == body


def test_it_runs_as_a_numeric_non_root_user_with_gunicorn_as_pid_1():
    uid, gid = (engine("exec", CONTAINER, "id", flag).strip() for flag in ("-u", "-g"))
    assert f"{uid}:{gid}" == APP_USER
    assert "gunicorn" in engine("exec", CONTAINER, "cat", "/proc/1/cmdline")


CONTENTS = f"""
import importlib.util, os, shutil, site, tempfile
problems = []
for directory in ("/", "/tmp", "/var/tmp", "/run", "/app", "/opt/venv", os.path.expanduser("~")):
    try:
        with tempfile.TemporaryFile(dir=directory):
            problems.append(f"{{directory}} is writable")
    except OSError:
        pass
try:
    with tempfile.TemporaryFile(dir="/dev/shm"):
        pass
except OSError as error:
    problems.append(f"/dev/shm is not writable: {{error}}")
problems += [f"module {{m}} is importable" for m in {NOT_SHIPPED_MODULES!r}
             if importlib.util.find_spec(m) is not None]
problems += [f"{{t}} is on PATH" for t in {NOT_SHIPPED_TOOLS!r} if shutil.which(t)]
for directory in site.getsitepackages():
    problems += [f"{{directory}}/{{n}} exists" for n in ("tests", "test")
                 if os.path.exists(os.path.join(directory, n))]
if sorted(os.listdir("/app")) != ["gunicorn.conf.py"]:
    problems.append(f"/app holds {{sorted(os.listdir('/app'))}}, want only gunicorn.conf.py")
if os.path.exists("/src"):
    problems.append("the build stage's /src was shipped")
print(*problems, sep="\\n")
"""


def test_read_only_everywhere_but_dev_shm_and_nothing_for_building_shipped():
    # No tmpfs on /tmp or /run; /dev/shm holds gunicorn's heartbeat.
    assert in_container(CONTENTS).strip().splitlines() == []


# An audit hook sees each compile; the config file itself is always read as source.
COMPILES = """
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
print(sys.flags.optimize, *[path for path in compiled if path != "/app/gunicorn.conf.py"])
"""


def test_nothing_is_compiled_at_start():
    # Every module the service and its health check import is read from bytecode at the level
    # the image runs with: the read-only root could not cache what it compiled.
    optimize, *compiled = in_container(COMPILES, "--workdir", "/app").split()
    assert optimize == "2"
    assert compiled == []


def test_the_images_own_healthcheck_passes_inside_the_container(image):
    # The same probe on every engine (Docker runs it on its own timer; podman's needs systemd).
    engine("exec", CONTAINER, *healthcheck(image)["Test"][1:])
    if CLI == "podman":
        engine("healthcheck", "run", CONTAINER)
        # podman 4 names it State.Healthcheck, podman 5 State.Health.
        state = json.loads(engine("inspect", CONTAINER))[0]["State"]
        assert (state.get("Health") or state.get("Healthcheck"))["Status"] == "healthy"


def test_sigterm_exits_0_well_inside_the_graceful_timeout_with_json_logs_only():
    started = time.monotonic()
    engine("stop", "-t", str(GRACEFUL_TIMEOUT_S + 10), CONTAINER)
    stopped_after = time.monotonic() - started
    assert engine("inspect", "--format", "{{.State.ExitCode}}", CONTAINER).strip() == "0"
    assert stopped_after < STOP_BUDGET_S

    logs = subprocess.run(
        [CLI, "logs", CONTAINER], capture_output=True, text=True, timeout=60, check=True
    )
    lines = [line for line in logs.stdout.splitlines() if line.strip()]
    assert lines, "no log lines on stdout"
    entries = [json.loads(line) for line in lines]  # a plain-text line fails here
    assert all(isinstance(entry, dict) for entry in entries)
    assert any(entry.get("path") == "/predict" for entry in entries), "no access line"
    # A clean stop: info lines only.
    assert {entry.get("level") for entry in entries} == {"INFO"}
