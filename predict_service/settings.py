"""Settings read from the environment and validated once, at start-up, by a marshmallow schema:
a bad value is reported the way bad request input is, in one line that names the variable."""

import re
from collections.abc import Mapping
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")


class OriginList(fields.String):
    """Comma-separated origins, each scheme://host[:port] as a browser sends it in Origin."""

    def _deserialize(self, value, attr, data, **kwargs) -> tuple[str, ...]:
        items = super()._deserialize(value, attr, data, **kwargs).split(",")
        origins = tuple(item.strip() for item in items if item.strip())
        if bad := [origin for origin in origins if not _ORIGIN.fullmatch(origin)]:
            raise ValidationError(f"not scheme://host[:port]: {', '.join(bad)}.")
        return origins


class SettingsError(ValueError):
    """An environment value the service cannot start with; the message is one line."""


class SettingsSchema(Schema):
    """Every setting the app reads, with its default (Gunicorn's own are in gunicorn.conf.py)."""

    class Meta:
        unknown = EXCLUDE  # the environment holds much more than our settings

    PREDICT_SCORE = fields.Float(  # the score GET /predict returns
        load_default=0.75, allow_nan=False, validate=validate.Range(min=0, max=1)
    )
    LOG_LEVEL = fields.String(load_default="INFO", validate=validate.OneOf(LOG_LEVELS))
    ACCESS_LOG = fields.Boolean(load_default=True)  # one JSON line a request (middleware.py)
    EMF_METRICS = fields.Boolean(load_default=True)  # the request's metrics in that line
    # The metrics' Service dimension (the task sets its stack name); a CloudWatch dimension value.
    SERVICE_NAME = fields.String(load_default="predict-api", validate=validate.Length(1, 250))
    # Strict-Transport-Security max-age in s (the task sets it when the ALB has a certificate).
    HSTS_MAX_AGE = fields.Integer(load_default=0, validate=validate.Range(min=0))
    API_DOCS = fields.Boolean(load_default=True)  # /docs (the OpenAPI document stays)
    # Origins whose browser pages may call the API, comma-separated; none by default.
    CORS_ALLOWED_ORIGINS = OriginList(load_default=())


_SCHEMA = SettingsSchema()


def load_settings(
    environ: Mapping[str, str], overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Validated settings from environ, with overrides (e.g. from tests) taking precedence."""
    data = {name: environ[name] for name in _SCHEMA.fields if name in environ}
    data.update({k: v for k, v in (overrides or {}).items() if k in _SCHEMA.fields})
    if isinstance(data.get("LOG_LEVEL"), str):
        data["LOG_LEVEL"] = data["LOG_LEVEL"].upper()
    try:
        return _SCHEMA.load(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{name}={data.get(name)!r}: {' '.join(messages)}"
            for name, messages in sorted(error.normalized_messages().items())
        )
        raise SettingsError(f"invalid setting {problems}") from None
