"""Request input through marshmallow schemas, mapped onto the error shape in errors.py."""

from __future__ import annotations

from typing import Any

from flask import request
from marshmallow import Schema, ValidationError

from predict_service.errors import InputError


def load_query_args(schema: Schema) -> dict[str, Any]:
    """The query string loaded by schema: 400 naming unknown parameters, 422 for invalid values."""
    try:
        # An empty query string (nearly every request) needs no parsing to be {}.
        return schema.load(request.args.to_dict() if request.query_string else {})
    except ValidationError as error:
        messages = error.normalized_messages()
        unknown_message = schema.error_messages["unknown"]
        unknown = sorted(name for name, msgs in messages.items() if msgs == [unknown_message])
        if unknown:
            raise InputError(
                400, f"Unknown query parameter(s): {', '.join(unknown)}.", messages
            ) from None
        raise InputError(422, "Invalid query parameter value(s).", messages) from None
