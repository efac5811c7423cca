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

wsgi_app = "predict_service:create_app()"

# The ALB reaches the task on its private IP; PORT follows the usual convention.
bind = [f"0.0.0.0:{_env_int('PORT', 8000, minimum=1)}"]

# gthread: the sync worker ignores keep-alive (so the ALB would reconnect constantly) and measured
# slower; gevent had 4x the p99 and stalled under load (bench/README.md). Four processes of two
# threads: at 4 keep-alive connections 4 x 2 served about twice the rate of 2 x 4 (threads of one
# process wait on each other for the GIL, processes do not); at 32 connections they were level.
# Each worker is ~32 MB RSS, so 4 fit the smallest task sizes.
worker_class = _env_choice("GUNICORN_WORKER_CLASS", "gthread", ("gthread", "sync"))
workers = _env_int("GUNICORN_WORKERS", 4, minimum=1)
threads = _env_int("GUNICORN_THREADS", 2, minimum=1)

# Longer than the ALB's 60 s idle timeout: the ALB must close idle connections first, or a request
# it sends on a connection Gunicorn is closing becomes a 502.
keepalive = _env_int("GUNICORN_KEEPALIVE", 75, minimum=1)
# A worker whose main loop is silent this long is killed and replaced (with gthread one slow
# request does not trigger it; a stuck worker does).
timeout = _env_int("GUNICORN_TIMEOUT", 30, minimum=1)
# After SIGTERM, in-flight requests get this long. ECS first deregisters the task from the ALB and
# waits out the deregistration delay (30 s: requests through the ALB finish there), then sends
# SIGTERM, then SIGKILL after stopTimeout (30 s): this must stay below that.
graceful_timeout = _env_int("GUNICORN_GRACEFUL_TIMEOUT", 20, minimum=1)
# Recycle workers now and then so a slow leak cannot grow forever; jitter keeps them from
# restarting all at once.
max_requests = _env_int("GUNICORN_MAX_REQUESTS", 10000)
max_requests_jitter = _env_int("GUNICORN_MAX_REQUESTS_JITTER", 1000)

# The heartbeat file lives in memory: /tmp may be a slow overlay (gunicorn #1194 WORKER TIMEOUTs)
# and the root filesystem is read-only in the task.
worker_tmp_dir = os.environ.get("GUNICORN_WORKER_TMP_DIR", "/dev/shm")  # noqa: S108 - on purpose
# The control socket (gunicorn 27) would be created under $HOME, which is read-only in the task;
# nothing here uses it.
control_socket_disable = True

# Trust X-Forwarded-* only from the proxy (the ECS task sets the VPC CIDR; locally, loopback).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# JSON lines on stdout for Gunicorn and the app alike (predict_service/jsonlog.py). The access log
# stays on (ACCESS_LOG=0 turns it off); its fields come from Gunicorn's atoms, and this format is
# only the human-readable "message" field.
loglevel = _app_settings["LOG_LEVEL"].lower()
logconfig_dict = logging_config(_app_settings["LOG_LEVEL"])
if os.environ.get("ACCESS_LOG", "1") in ("0", "false", "no", "off"):
    logconfig_dict["loggers"]["gunicorn.access"]["level"] = "WARNING"
access_log_format = "%(m)s %(U)s %(s)s"
