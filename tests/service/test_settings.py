"""Settings from the environment: defaults, and a one-line error naming the variable."""

import re

import pytest

from predict_service import create_app
from predict_service.settings import SettingsError, load_settings


def test_defaults():
    assert load_settings({}) == {
        "PREDICT_SCORE": 0.75,
        "LOG_LEVEL": "INFO",
        "ACCESS_LOG": True,
        "EMF_METRICS": True,
        "SERVICE_NAME": "predict-api",
        "HSTS_MAX_AGE": 0,
        "API_DOCS": True,
        "CORS_ALLOWED_ORIGINS": (),
    }


@pytest.mark.parametrize(
    "raw, expected", [("0", False), ("off", False), ("no", False), ("1", True), ("true", True)]
)
def test_access_log_switch(raw, expected):
    assert load_settings({"ACCESS_LOG": raw})["ACCESS_LOG"] is expected


def test_access_log_switch_refuses_anything_else():
    with pytest.raises(SettingsError, match=r"^invalid setting ACCESS_LOG='sometimes': "):
        load_settings({"ACCESS_LOG": "sometimes"})


@pytest.mark.parametrize("raw, expected", [("0", 0.0), ("1", 1.0), ("0.3", 0.3), (" 0.9 ", 0.9)])
def test_valid_scores(raw, expected):
    assert load_settings({"PREDICT_SCORE": raw})["PREDICT_SCORE"] == expected


@pytest.mark.parametrize("raw", ["abc", "", "1.01", "-0.1", "nan", "inf", "0,5"])
def test_invalid_score_is_one_line_naming_the_variable(raw):
    expected = rf"^invalid setting PREDICT_SCORE={re.escape(repr(raw))}: "
    with pytest.raises(SettingsError, match=expected) as excinfo:
        load_settings({"PREDICT_SCORE": raw})
    assert "\n" not in str(excinfo.value)


def test_log_level_is_case_insensitive_and_checked():
    assert load_settings({"LOG_LEVEL": "debug"})["LOG_LEVEL"] == "DEBUG"
    with pytest.raises(SettingsError, match="LOG_LEVEL"):
        load_settings({"LOG_LEVEL": "loud"})


def test_app_factory_refuses_to_start_with_a_bad_value(monkeypatch):
    monkeypatch.setenv("PREDICT_SCORE", "2")
    with pytest.raises(SettingsError, match="PREDICT_SCORE"):
        create_app()


def test_unrelated_environment_is_ignored():
    assert load_settings({"PATH": "/bin", "HOME": "/root"})["PREDICT_SCORE"] == 0.75


@pytest.mark.parametrize(("raw", "header"), [("0", None), ("31536000", "max-age=31536000")])
def test_hsts_header_follows_its_setting(raw, header):
    response = create_app({"TESTING": True, "HSTS_MAX_AGE": raw}).test_client().get("/nope")
    assert response.headers.get("Strict-Transport-Security") == header


@pytest.mark.parametrize(("name", "raw"), [("HSTS_MAX_AGE", "-5"), ("SERVICE_NAME", "")])
def test_metric_and_header_settings_are_checked(name, raw):
    with pytest.raises(SettingsError, match=rf"^invalid setting {name}="):
        load_settings({name: raw})
