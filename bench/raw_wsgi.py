"""The floor Gunicorn itself imposes: a bare WSGI callable answering the same two routes with the
same bodies, with no framework, no validation, no request id and no app logging (Gunicorn's own
access-log line, from gunicorn.conf.py, still runs)."""

_HEADERS = [("Content-Type", "application/json")]
_BODIES = {"/health": b'{"status":"ok"}\n', "/predict": b'{"score":0.75}\n'}


def application(environ, start_response):
    body = _BODIES.get(environ["PATH_INFO"])
    if body is None:
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]
    start_response("200 OK", [*_HEADERS, ("Content-Length", str(len(body)))])
    return [body]
