"""The real app plus one slow route, so a test can have a request in flight when it signals
Gunicorn.

Loaded by Gunicorn as `slow_app:create_slow_app()` (tests add this folder to PYTHONPATH).
"""

import time

from predict_service import create_app


def create_slow_app():
    app = create_app()

    @app.get("/slow/<float:seconds>")
    def slow(seconds: float):
        time.sleep(seconds)
        return {"slept": seconds}

    return app
