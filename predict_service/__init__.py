"""Predict API: a small scoring service. `create_app()` is the application factory."""

import os
from collections.abc import Mapping
from typing import Any

import orjson
from flask import Flask
from flask.json.provider import DefaultJSONProvider
from flask_cors import CORS

from predict_service import api, docs, errors, openapi
from predict_service.jsonlog import configure_logging
from predict_service.middleware import RESPONSE_HEADER, RequestMiddleware, RouteRecordingRequest
from predict_service.settings import load_settings


class OrjsonProvider(DefaultJSONProvider):
    """Flask's JSON through orjson, the log lines' encoder, at a fraction of json's cost a response
    (bench/README.md). Always compact; keys keep their order (indent and sort_keys are ignored)."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return orjson.dumps(obj, default=self.default).decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return orjson.loads(s)


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. overrides (e.g. from tests) win over the environment; settings are validated
    here, so a bad value stops start-up with a one-line SettingsError naming the variable."""
    overrides = dict(overrides or {})
    settings = load_settings(os.environ, overrides)
    # Logging before the app exists, so Flask does not add its plain-text default handler.
    configure_logging(settings["LOG_LEVEL"])

    app = Flask(__name__, static_folder=None)  # no static files: /static/... is a plain 404
    app.json = OrjsonProvider(app)
    app.request_class = RouteRecordingRequest  # records the matched route for the access line
    app.config.update(settings)
    app.config.update({k: v for k, v in overrides.items() if k not in settings})
    # No redirects for "/health/" or "//health": a redirect would be an HTML page.
    app.url_map.strict_slashes = False
    app.url_map.merge_slashes = False

    errors.init_app(app)
    app.register_blueprint(api.bp)
    openapi.init_app(app)  # last: it documents the routes registered before it
    if settings["API_DOCS"]:
        app.register_blueprint(docs.bp)
    if settings["CORS_ALLOWED_ORIGINS"]:  # none: no hook at all, so no cost a request
        origins, ids = list(settings["CORS_ALLOWED_ORIGINS"]), [RESPONSE_HEADER]
        # The request id is exposed, so a page can quote it.
        CORS(app, origins=origins, methods=["GET", "HEAD"], allow_headers=ids, expose_headers=ids)
    app.wsgi_app = RequestMiddleware(app, settings)
    return app
