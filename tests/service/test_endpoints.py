"""The published contract: /health and /predict, their exact bodies, HEAD, and the score setting."""

import pytest

from predict_service import create_app


def test_health_answers_ok(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == {"status": "ok"}


def test_predict_returns_the_published_score(client):
    response = client.get("/predict")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == {"score": 0.75}


@pytest.mark.parametrize("path", ["/health", "/predict", "/openapi.json"])
def test_head_works_where_get_does(client, path):
    response = client.head(path)
    assert response.status_code == 200
    assert response.data == b""
    assert response.headers["X-Request-ID"]


@pytest.mark.parametrize("path", ["/health/", "/predict/"])
def test_trailing_slash_is_served_not_redirected(client, path):
    response = client.get(path)
    assert response.status_code == 200


def test_score_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("PREDICT_SCORE", "0.5")
    response = create_app({"TESTING": True}).test_client().get("/predict")
    assert response.get_json() == {"score": 0.5}


def test_overrides_win_over_the_environment(monkeypatch):
    monkeypatch.setenv("PREDICT_SCORE", "0.5")
    app = create_app({"TESTING": True, "PREDICT_SCORE": 0.25})
    assert app.test_client().get("/predict").get_json() == {"score": 0.25}
