"""The API's input and output shapes. The views and the OpenAPI document both use these."""

from marshmallow import RAISE, Schema, fields, validate


class NoQueryArgsSchema(Schema):
    """Neither endpoint takes query parameters: an unknown one is rejected, never ignored."""

    class Meta:
        unknown = RAISE


class HealthSchema(Schema):
    status = fields.String(
        required=True,
        metadata={"description": "Always `ok` while the process serves.", "example": "ok"},
    )


class PredictionSchema(Schema):
    score = fields.Float(
        required=True,
        validate=validate.Range(min=0, max=1),
        metadata={"description": "The model's score, between 0 and 1.", "example": 0.75},
    )


class ProblemSchema(Schema):
    """RFC 9457 problem details: the one shape of every error this service returns."""

    type = fields.String(required=True, metadata={"example": "about:blank"})
    title = fields.String(required=True, metadata={"example": "Bad Request"})
    status = fields.Integer(required=True, metadata={"example": 400})
    detail = fields.String(required=True)
    instance = fields.String(required=True, metadata={"description": "The request path."})
    request_id = fields.String(
        required=True, metadata={"description": "Quote it when reporting a problem."}
    )
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "Per-field messages, for input that failed validation."},
    )
