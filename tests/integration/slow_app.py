"""The real app plus test-only routes: a slow one, so a test can have a request in flight when it
signals Gunicorn, and one that tells which path the access line takes inside the worker.

Loaded by Gunicorn as `slow_app:create_slow_asgi_app()` for the default (uvicorn) worker, or as
`slow_app:create_slow_app()` for Gunicorn's own; tests add this folder to PYTHONPATH.
"""

import logging
import time

from predict_service import create_app
from predict_service.accesslog import ACCESS_LOGGER
from predict_service.asgi import wsgi_to_asgi
from predict_service.jsonlog import sole_json_handler


def create_slow_app():
    app = create_app()

    @app.get("/slow/<float:seconds>")
    def slow(seconds: float):
        time.sleep(seconds)
        return {"slept": seconds}

    @app.get("/probe/access-line")
    def access_line_path():
        root_handlers = [type(handler).__name__ for handler in logging.getLogger().handlers]
        fast = sole_json_handler(logging.getLogger(ACCESS_LOGGER)) is not None
        return {"fast_path": fast, "root_handlers": root_handlers}

    return app


def create_slow_asgi_app():
    return wsgi_to_asgi(create_slow_app())
