"""The API's endpoints: a liveness check and the prediction."""

from __future__ import annotations

from flask import Blueprint, current_app

from predict_service.openapi import documented
from predict_service.schemas import HealthSchema, NoQueryArgsSchema, PredictionSchema
from predict_service.validation import load_query_args

bp = Blueprint("api", __name__)

# Schemas are built once: building one costs far more than using it.
_no_query_args = NoQueryArgsSchema()
_health = HealthSchema()
_prediction = PredictionSchema()


@bp.get("/health")
@documented(
    summary="Liveness check",
    description="Answers while the process can serve; checks no dependency, so it stays cheap.",
    response_schema=HealthSchema,
    query_schema=NoQueryArgsSchema,
)
def health():
    load_query_args(_no_query_args)
    return current_app.json.response(_health.dump({"status": "ok"}))


@bp.get("/predict")
@documented(
    summary="Score",
    description="Returns the model's score (the PREDICT_SCORE setting, 0.75 by default).",
    response_schema=PredictionSchema,
    query_schema=NoQueryArgsSchema,
)
def predict():
    load_query_args(_no_query_args)
    score = current_app.config["PREDICT_SCORE"]
    return current_app.json.response(_prediction.dump({"score": score}))
