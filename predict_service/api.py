"""The API's endpoints: a liveness check and the prediction, with their query input checked."""

from functools import cache
from typing import Any

from flask import Blueprint, current_app, request
from marshmallow import Schema, ValidationError

from predict_service.errors import INVALID_QUERY, InputError, unknown_query
from predict_service.openapi import documented
from predict_service.schemas import HealthSchema, NoQueryArgsSchema, PredictionSchema

bp = Blueprint("api", __name__)

# Built once: building a schema costs far more than using it. The response schemas only document
# the answers (the score was validated at start-up).
_no_query_args = NoQueryArgsSchema()


@cache
def _loaded_empty(schema: Schema) -> dict[str, Any]:
    return schema.load({})


def load_query_args(schema: Schema) -> dict[str, Any]:
    """The query string loaded by schema: 400 naming unknown parameters, 422 for invalid values."""
    try:
        if not request.query_string:  # nearly every request; loading nothing is always the same
            return dict(_loaded_empty(schema))
        return schema.load(request.args.to_dict())
    except ValidationError as error:
        messages = error.normalized_messages()
        unknown_message = schema.error_messages["unknown"]
        unknown = sorted(name for name, msgs in messages.items() if msgs == [unknown_message])
        if unknown:
            raise InputError(400, unknown_query(unknown), messages) from None
        raise InputError(422, INVALID_QUERY, messages) from None


@bp.get("/health")
@documented(
    summary="Liveness check",
    description="Answers while the process can serve; checks no dependency, so it stays cheap.",
    response_schema=HealthSchema,
    query_schema=NoQueryArgsSchema,
)
def health():
    load_query_args(_no_query_args)
    return {"status": "ok"}


@bp.get("/predict")
@documented(
    summary="Score",
    description="Returns the model's score (the PREDICT_SCORE setting, 0.75 by default).",
    response_schema=PredictionSchema,
    query_schema=NoQueryArgsSchema,
)
def predict():
    load_query_args(_no_query_args)
    return {"score": current_app.config["PREDICT_SCORE"]}
