"""Every error is problem+json with the right status: never an HTML page, never a traceback."""

import pytest
from flask import Blueprint
from marshmallow import Schema, fields, validate

from predict_service import create_app
from predict_service.api import load_query_args
from predict_service.errors import PROBLEM_MIMETYPE
from predict_service.middleware import MAX_BODY_BYTES

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance", "request_id"}


def assert_problem(response, status):
    assert response.status_code == status
    assert response.mimetype == PROBLEM_MIMETYPE
    body = response.get_json(force=True)
    assert body.keys() >= PROBLEM_KEYS
    assert body["status"] == status
    assert body["request_id"] == response.headers["X-Request-ID"]
    text = response.get_data(as_text=True)
    assert "<html" not in text.lower()
    assert "Traceback" not in text
    return body


def test_unknown_query_parameter_is_a_400_naming_it(client):
    body = assert_problem(client.get("/predict?verbose=1&zeta=2"), 400)
    assert "verbose" in body["detail"]
    assert "zeta" in body["detail"]
    assert set(body["errors"]) == {"verbose", "zeta"}


def test_unknown_query_parameter_on_health_too(client):
    assert_problem(client.get("/health?x"), 400)


def test_unknown_path_is_a_404(client):
    body = assert_problem(client.get("/nope"), 404)
    assert body["instance"] == "/nope"


def test_double_slash_is_a_404_not_a_redirect(client):
    assert_problem(client.get("//predict"), 404)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_wrong_method_is_a_405_with_allow(client, method):
    response = client.open("/predict", method=method)
    assert_problem(response, 405)
    allowed = {m.strip() for m in response.headers["Allow"].split(",")}
    assert {"GET", "HEAD"} <= allowed
    assert method not in allowed


def test_unhandled_error_is_a_500_with_the_request_id_and_no_details(caplog):
    app = create_app({"TESTING": True})

    @app.get("/explode")
    def explode():
        raise RuntimeError("secret internals")

    response = app.test_client().get("/explode", headers={"X-Request-ID": "boom-1"})
    body = assert_problem(response, 500)
    assert body["request_id"] == "boom-1"
    assert "secret internals" not in response.get_data(as_text=True)
    # The traceback is logged instead, with the id.
    logged = [r for r in caplog.records if r.exc_info]
    assert logged
    assert "secret internals" in caplog.text


class _LimitSchema(Schema):
    limit = fields.Integer(required=True, validate=validate.Range(min=1, max=10))


def test_invalid_value_is_a_422_naming_the_field():
    """A well-formed request with an unacceptable value; the current endpoints take no parameters,
    so the mapping is proven on a route added here."""
    app = create_app({"TESTING": True})
    bp = Blueprint("extra", __name__)
    schema = _LimitSchema()

    @bp.get("/limited")
    def limited():
        return load_query_args(schema)

    app.register_blueprint(bp)
    client = app.test_client()
    assert client.get("/limited?limit=3").get_json() == {"limit": 3}
    body = assert_problem(client.get("/limited?limit=99"), 422)
    assert list(body["errors"]) == ["limit"]
    body = assert_problem(client.get("/limited?limit=3&other=1"), 400)
    assert "other" in body["detail"]


def test_head_of_an_error_has_no_body(client):
    response = client.head("/nope")
    assert response.status_code == 404
    assert response.data == b""


def test_declared_body_over_the_limit_is_a_413_before_routing(client):
    """Whatever the server: a declared Content-Length over the limit never reaches a view."""
    response = client.post(
        "/predict", data=b"x" * (MAX_BODY_BYTES + 1), headers={"X-Request-ID": "big-1"}
    )
    assert response.status_code == 413  # not the 405 that routing would give
    assert response.mimetype == "application/problem+json"
    assert response.json["request_id"] == "big-1"
    assert client.post("/predict", data=b"x" * MAX_BODY_BYTES).status_code == 405
