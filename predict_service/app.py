"""The Flask class the service runs: stock Flask, set through its own extension points where the
stock choice costs a request time for a feature this API does not use (bench/README.md)."""

from typing import Any

import orjson
from flask import Flask, Response
from flask.json.provider import DefaultJSONProvider

from predict_service.middleware import RouteRecordingRequest


class OrjsonProvider(DefaultJSONProvider):
    """Flask's JSON through orjson (already the log lines' encoder). Keys keep their order."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return orjson.dumps(obj, default=self.default).decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return orjson.loads(s)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        if args and kwargs:
            raise TypeError("JSON takes either positional or keyword arguments, not both")
        obj = args[0] if len(args) == 1 else (args or kwargs or None)
        body = orjson.dumps(obj, default=self.default, option=orjson.OPT_APPEND_NEWLINE)
        return self._app.response_class(body, mimetype=self.mimetype)


class PredictFlask(Flask):
    json_provider_class = OrjsonProvider
    request_class = RouteRecordingRequest  # records the matched route for the access line
