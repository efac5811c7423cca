"""The real app plus test-only routes: a slow one, so a test can have a request in flight when it
signals Gunicorn, and one that fails, for the 500 path.

Loaded by Gunicorn as `slow_app:create_slow_asgi_app()` for the default (uvicorn) worker, or as
`slow_app:create_slow_app()` for gthread; tests add this folder to PYTHONPATH.
"""

import time

from predict_service import create_app
from predict_service.asgi import wsgi_to_asgi


def create_slow_app():
    app = create_app()

    @app.get("/slow/<float:seconds>")
    def slow(seconds: float):
        time.sleep(seconds)
        return {"slept": seconds}

    @app.get("/explode")
    def explode():
        raise RuntimeError("kaput")

    return app


def create_slow_asgi_app():
    return wsgi_to_asgi(create_slow_app())
