"""CORS_ALLOWED_ORIGINS: which other origins' pages may read the API, errors included."""

import pytest

from predict_service import create_app
from predict_service.middleware import MAX_BODY_BYTES
from predict_service.settings import SettingsError, load_settings

ALLOWED = "https://app.example"
OTHER = "https://evil.example"


@pytest.fixture
def cors_app():
    app = create_app({"TESTING": True, "CORS_ALLOWED_ORIGINS": f"{ALLOWED}, http://127.0.0.1:8080"})

    @app.get("/predict-broken")
    def broken():
        raise RuntimeError("boom")

    return app


@pytest.fixture
def cors_client(cors_app):
    return cors_app.test_client()


REQUESTS = {
    200: lambda c, h: c.get("/predict", headers=h),
    400: lambda c, h: c.get("/predict?foo=1", headers=h),
    404: lambda c, h: c.get("/nope", headers=h),
    405: lambda c, h: c.delete("/predict", headers=h),
    500: lambda c, h: c.get("/predict-broken", headers=h),
}


@pytest.mark.parametrize("status", sorted(REQUESTS))
def test_allowed_origin_can_read_every_answer_errors_included(cors_client, status):
    response = REQUESTS[status](cors_client, {"Origin": ALLOWED})
    assert response.status_code == status
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    exposed = response.headers["Access-Control-Expose-Headers"].lower()
    assert "x-request-id" in exposed


def test_422_carries_the_headers_too(cors_app):
    # No endpoint takes a parameter yet, so a 422 comes from a route of the test's own.
    from marshmallow import Schema, fields

    from predict_service.api import load_query_args

    class Limit(Schema):
        n = fields.Integer()

    @cors_app.get("/predict-limited")
    def limited():
        return load_query_args(Limit())

    response = cors_app.test_client().get("/predict-limited?n=x", headers={"Origin": ALLOWED})
    assert response.status_code == 422
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED


def test_second_origin_of_the_list_is_allowed(cors_client):
    response = cors_client.get("/predict", headers={"Origin": "http://127.0.0.1:8080"})
    assert response.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:8080"


@pytest.mark.parametrize("status", sorted(REQUESTS))
def test_other_origin_gets_no_cors_headers(cors_client, status):
    response = REQUESTS[status](cors_client, {"Origin": OTHER})
    assert response.status_code == status
    assert not [name for name, _ in response.headers.items() if name.startswith("Access-Control-")]


def test_preflight_is_answered_for_an_allowed_origin(cors_client):
    response = cors_client.options(
        "/predict",
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "X-Request-ID",
        },
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "GET" in response.headers["Access-Control-Allow-Methods"]
    assert "x-request-id" in response.headers["Access-Control-Allow-Headers"].lower()


def test_preflight_for_a_method_the_api_lacks_is_not_granted(cors_client):
    response = cors_client.options(
        "/predict", headers={"Origin": ALLOWED, "Access-Control-Request-Method": "DELETE"}
    )
    assert "Access-Control-Allow-Methods" not in response.headers


def test_by_default_no_origin_is_allowed(client):
    response = client.get("/predict", headers={"Origin": ALLOWED})
    assert "Access-Control-Allow-Origin" not in response.headers
    preflight = client.options(
        "/predict", headers={"Origin": ALLOWED, "Access-Control-Request-Method": "GET"}
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers


def test_the_oversized_body_413_is_answered_before_flask(cors_client):
    # Outside Flask (errors.RefuseOversizedBody), so without CORS headers; a browser cannot send a
    # body on GET anyway, and every other method is a 405 that carries them.
    response = cors_client.get(
        "/predict", data=b"x" * (MAX_BODY_BYTES + 1), headers={"Origin": ALLOWED}
    )
    assert response.status_code == 413


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("", ()),
        (" ", ()),
        ("https://a.example", ("https://a.example",)),
        ("https://a.example,http://localhost:3000", ("https://a.example", "http://localhost:3000")),
        (" https://a.example , ", ("https://a.example",)),
    ],
)
def test_origins_setting_is_a_comma_separated_list(raw, expected):
    assert load_settings({"CORS_ALLOWED_ORIGINS": raw})["CORS_ALLOWED_ORIGINS"] == expected


@pytest.mark.parametrize(
    "raw",
    [
        "a.example",  # no scheme
        "https://a.example/",  # a browser's Origin has no path
        "https://a.example/app",
        "ftp://a.example",
        "*",
        "https://a.example:port",
        "https://user@a.example",
        "https://a.example,nope",
    ],
)
def test_a_bad_origin_stops_start_up_with_one_line_naming_the_variable(raw):
    with pytest.raises(SettingsError, match=r"^invalid setting CORS_ALLOWED_ORIGINS=") as excinfo:
        create_app({"CORS_ALLOWED_ORIGINS": raw})
    assert "\n" not in str(excinfo.value)
