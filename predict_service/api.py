"""The API's endpoints: a liveness check and the prediction."""

from __future__ import annotations

from flask import Blueprint, current_app

from predict_service.openapi import documented
from predict_service.schemas import HealthSchema, NoQueryArgsSchema, PredictionSchema
from predict_service.validation import load_query_args

bp = Blueprint("api", __name__)

# Built once: building a schema costs far more than using it. The response schemas only document
# the answers (marshmallow validates on load, not on dump; the score was validated at start-up).
_no_query_args = NoQueryArgsSchema()


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
