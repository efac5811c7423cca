"""Gunicorn settings for the Predict API: `gunicorn -c gunicorn.conf.py` alone starts the service.

Every value can be overridden from the environment. The defaults are tuned for a 2-vCPU Fargate task
behind an ALB; the measurements behind them are in bench/README.md.
"""

import os
import sys

from predict_service.jsonlog import logging_config
from predict_service.settings import SettingsError, load_settings


def _fail(message: str) -> None:
    # SystemExit passes through Gunicorn's config loader: one line on stderr, exit status 1.
    sys.exit(f"predict-service: {message}")


def _env_int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        _fail(f"invalid setting {name}={raw!r}: must be an integer >= {minimum}")
    return value


def _env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = os.environ.get(name) or default
    if value not in choices:
        _fail(f"invalid setting {name}={value!r}: must be one of {', '.join(choices)}")
    return value


# Check the app's own settings here too, so a bad value stops the master before any worker forks
# (otherwise each worker would fail to boot with a traceback).
try:
    _app_settings = load_settings(os.environ)
except SettingsError as error:
    _fail(str(error))

# The ALB reaches the task on its private IP; PORT follows the usual convention.
bind = [f"0.0.0.0:{_env_int('PORT', 8000, minimum=1)}"]

# uvicorn (the default): Gunicorn's master with uvicorn's HTTP protocol (httptools on uvloop) in
# each worker, the Flask app called inline on the event loop (predict_service/asgi.py). Measured
# 2-2.5x gthread's rate with less than half its CPU a request (bench/README.md): gthread spends
# more on its thread hand-offs than Flask does. Inline means one request at a time per worker:
# right for CPU-only work such as /predict; a service that adds blocking I/O should use gthread.
# gthread keeps connections alive with a thread pool; sync ignores keep-alive (not behind an ALB).
_worker = _env_choice("GUNICORN_WORKER_CLASS", "uvicorn", ("uvicorn", "gthread", "sync"))
if _worker == "uvicorn":
    worker_class = "predict_service.worker.UvicornWorker"
    wsgi_app = "predict_service.asgi:create_asgi_app()"
else:
    worker_class = _worker
    wsgi_app = "predict_service:create_app()"
# uvicorn: one process per vCPU of the 2-vCPU task (4 measured slower: they only contend).
# gthread: 4 x 2 served about twice 2 x 4's rate at 4 connections (threads of one process wait on
# each other for the GIL). Each worker is ~32-37 MB RSS.
workers = _env_int("GUNICORN_WORKERS", 2 if _worker == "uvicorn" else 4, minimum=1)
# gthread only: Gunicorn would quietly turn a sync worker with threads > 1 into gthread.
threads = _env_int("GUNICORN_THREADS", 2, minimum=1) if _worker == "gthread" else 1

# Longer than the ALB's 60 s idle timeout: the ALB must close idle connections first, or a request
# it sends on a connection Gunicorn is closing becomes a 502.
keepalive = _env_int("GUNICORN_KEEPALIVE", 75, minimum=1)
# A worker whose main loop is silent this long is killed and replaced. With the uvicorn worker a
# request that runs longer than this minus 1 s can do it (the loop is busy with it, as in the sync
# worker; predict_service/worker.py reports every second); with gthread only a stuck worker does.
timeout = _env_int("GUNICORN_TIMEOUT", 30, minimum=1)
# After SIGTERM, in-flight requests get this long (the uvicorn worker cancels what is left 1 s
# earlier, so it exits instead of being killed). ECS first deregisters the task from the ALB and
# waits out the deregistration delay (30 s: requests through the ALB finish there), then sends
# SIGTERM, then SIGKILL after stopTimeout (30 s): this must stay below that.
graceful_timeout = _env_int("GUNICORN_GRACEFUL_TIMEOUT", 20, minimum=1)
# No recycling by default: a uvicorn worker that recycles closes its idle keep-alive connections at
# once, and a request the ALB sends on one just then is a 502 (the benchmark saw such errors at
# every recycle). Tasks are replaced on every release, and the memory alarm watches for leaks.
# Set it (with jitter, so workers do not restart together) to bound a known leak.
max_requests = _env_int("GUNICORN_MAX_REQUESTS", 0)
# Used only when max_requests > 0.
max_requests_jitter = _env_int("GUNICORN_MAX_REQUESTS_JITTER", 1000)

# The heartbeat file lives in memory: /tmp may be a slow overlay (gunicorn #1194 WORKER TIMEOUTs)
# and the root filesystem is read-only in the task.
worker_tmp_dir = os.environ.get("GUNICORN_WORKER_TMP_DIR", "/dev/shm")  # noqa: S108 - on purpose
# The control socket (gunicorn 27) would be created under $HOME, which is read-only in the task;
# nothing here uses it.
control_socket_disable = True

# Trust X-Forwarded-* only from the proxy (the ECS task sets the VPC CIDR; locally, loopback).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# JSON lines on stdout for Gunicorn, uvicorn and the app alike (predict_service/jsonlog.py). The
# access line is the app's own (predict_service/accesslog.py; ACCESS_LOG=0 turns it off), so the
# servers' access loggers are silenced there.
loglevel = _app_settings["LOG_LEVEL"].lower()
logconfig_dict = logging_config(_app_settings["LOG_LEVEL"])
