"""Gunicorn settings for the Predict API: `gunicorn -c gunicorn.conf.py` alone starts the service.

Tuned for a Fargate task behind an ALB (measurements: bench/README.md, on 2 cores). Anything else is
Gunicorn's own to override: GUNICORN_CMD_ARGS (e.g. "--timeout 60") wins over this file, and
WEB_CONCURRENCY sets the number of workers.
"""

import ipaddress
import os
import sys

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from predict_service.jsonlog import logging_config
from predict_service.settings import SettingsError, load_settings


def _ip_networks(value: str) -> None:
    """Gunicorn's FORWARDED_ALLOW_IPS: '*' or comma-separated addresses/networks."""
    for item in (part.strip() for part in value.split(",")):
        if item != "*":
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValidationError(f"not an IP address or network: {item!r}.") from None


class ServerSettings(Schema):
    """The server's settings from the environment (the app's own: predict_service/settings.py)."""

    class Meta:
        unknown = EXCLUDE

    PORT = fields.Integer(load_default=8000, strict=False, validate=validate.Range(1, 65535))
    GUNICORN_WORKER_CLASS = fields.String(
        load_default="uvicorn", validate=validate.OneOf(("uvicorn", "gthread"))
    )
    # None: the worker class's own count (below).
    WEB_CONCURRENCY = fields.Integer(load_default=None, validate=validate.Range(min=1))
    FORWARDED_ALLOW_IPS = fields.String(validate=_ip_networks)  # read by Gunicorn itself


def _server_settings(environ) -> dict:
    # An empty value means "not set", as Gunicorn and the shell's ${VAR:-default} take it.
    data = {name: environ[name] for name in ServerSettings().fields if environ.get(name)}
    try:
        return ServerSettings().load(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{name}={data.get(name)!r}: {' '.join(messages)}"
            for name, messages in sorted(error.normalized_messages().items())
        )
        raise SettingsError(f"invalid setting {problems}") from None


# Check every setting here, so a bad value stops the master with one line on stderr before it
# binds or forks a worker (otherwise: a traceback from bind(), or one from each worker's boot).
# Gunicorn itself parses WEB_CONCURRENCY when it is imported, before this file runs; `python
# gunicorn.conf.py` runs these checks without importing it (make run and the image do that first).
try:
    _app_settings = load_settings(os.environ)
    _server = _server_settings(os.environ)
except SettingsError as error:
    sys.exit(f"predict-service: {error}")

# The ALB reaches the task on its private IP; PORT follows the usual convention.
bind = [f"0.0.0.0:{_server['PORT']}"]

# uvicorn (the default): Gunicorn's master with uvicorn's HTTP protocol (httptools on uvloop) in
# each worker, the Flask app called inline on the event loop (predict_service/asgi.py): 2-2.5x
# gthread's rate with less than half its CPU a request, since gthread spends more on its thread
# hand-offs than Flask does. Inline means one request at a time per worker, right for CPU-only
# work such as /predict; a service that adds blocking I/O should set GUNICORN_WORKER_CLASS=gthread.
if _server["GUNICORN_WORKER_CLASS"] == "uvicorn":
    worker_class = "predict_service.worker.UvicornWorker"
    wsgi_app = "predict_service.asgi:create_asgi_app()"
    # One process per vCPU of a 2-vCPU task (TaskSize 2048/*); more only contend. On the default
    # 0.5-vCPU task the two share it and cost ~34 MB each; WEB_CONCURRENCY=1 there saves that.
    workers = 2
else:
    worker_class = "gthread"
    wsgi_app = "predict_service:create_app()"
    # 4 x 2 served about twice 2 x 4's rate (threads of one process wait on each other for the GIL).
    workers = 4
    threads = 2

# WEB_CONCURRENCY overrides the count (Gunicorn would run a master with no worker for 0).
workers = _server["WEB_CONCURRENCY"] or workers

# Longer than the ALB's 60 s idle timeout: the ALB must close idle connections first, or a request
# it sends on a connection Gunicorn is closing becomes a 502.
keepalive = 75
# A worker whose main loop is silent this long is replaced. With the uvicorn worker a request that
# runs longer than this minus 1 s does that too (predict_service/worker.py reports every second).
timeout = 30
# After SIGTERM in-flight requests get this long (the uvicorn worker cancels what is left 1 s
# earlier, so it exits instead of being killed). ECS first drains the task at the ALB, then sends
# SIGTERM, then SIGKILL after its stopTimeout (30 s): this must stay below that.
graceful_timeout = 20
# No max_requests: a recycling uvicorn worker closes its idle keep-alive connections at once, and a
# request the ALB sends on one just then is a 502. Tasks are replaced on every release anyway.

# The heartbeat file lives in memory: /tmp may be a slow overlay (gunicorn #1194 WORKER TIMEOUTs)
# and the root filesystem is read-only in the task.
worker_tmp_dir = "/dev/shm"  # noqa: S108 - on purpose
# The control socket would be created under $HOME, which is read-only in the task; nothing uses it.
control_socket_disable = True
# forwarded_allow_ips: Gunicorn reads FORWARDED_ALLOW_IPS itself (the task sets the VPC's CIDR).

# JSON lines on stdout for Gunicorn, uvicorn and the app alike (predict_service/jsonlog.py). The
# access line is the app's own (predict_service/middleware.py), so the servers' are silenced.
loglevel = _app_settings["LOG_LEVEL"].lower()
logconfig_dict = logging_config(_app_settings["LOG_LEVEL"])
