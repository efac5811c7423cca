"""The floor the server set-up itself imposes: a bare WSGI callable answering the same two routes
with the same bodies, with no framework, no validation, no request id and no access line.

`asgi_application` is the same callable behind the service's own bridge (predict_service/asgi.py),
for the uvicorn worker; `application` is for Gunicorn's own workers.
"""

from predict_service.asgi import wsgi_to_asgi

_HEADERS = [("Content-Type", "application/json")]
_BODIES = {"/health": b'{"status":"ok"}\n', "/predict": b'{"score":0.75}\n'}


def application(environ, start_response):
    body = _BODIES.get(environ["PATH_INFO"])
    if body is None:
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]
    start_response("200 OK", [*_HEADERS, ("Content-Length", str(len(body)))])
    return [body]


asgi_application = wsgi_to_asgi(application)
