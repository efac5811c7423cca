"""Response JSON through orjson keeps what Flask's default provider promises."""

import dataclasses
import decimal
import json
import uuid
from datetime import UTC, datetime

from flask import Flask

from predict_service import create_app
from predict_service.json_provider import OrjsonProvider


def test_the_app_uses_it(app):
    assert isinstance(app.json, OrjsonProvider)


def test_same_output_as_flasks_default_for_what_flask_handles(app):
    @dataclasses.dataclass
    class Point:
        x: int

    value = {
        "b": 1,
        "a": [1.5, None, True],
        "when": datetime(2026, 11, 28, 4, 0, tzinfo=UTC),
        "id": uuid.UUID(int=1),
        "amount": decimal.Decimal("1.10"),
        "point": Point(3),
    }
    stock = Flask("stock").json
    assert json.loads(app.json.dumps(value)) == json.loads(stock.dumps(value))
    assert json.loads(app.json.dumps(value))["when"] == "Sat, 28 Nov 2026 04:00:00 GMT"
    assert app.json.dumps({"b": 1, "a": 2}) == '{"a":2,"b":1}'  # sorted, compact


def test_non_ascii_is_utf8_and_round_trips(app):
    text = app.json.dumps({"name": "café"})
    assert "café" in text
    assert json.loads(text) == {"name": "café"}


def test_debug_mode_still_indents():
    debug_app = create_app({"TESTING": True})
    debug_app.debug = True
    with debug_app.app_context():
        body = debug_app.json.response({"a": 1}).get_data(as_text=True)
    assert body == '{\n  "a": 1\n}\n'


def test_what_orjson_alone_would_refuse_is_still_encoded(app):
    stock = Flask("stock").json
    for value in ({2: "b", 1: "a"}, {"big": 2**70}):
        assert json.loads(app.json.dumps(value)) == json.loads(stock.dumps(value))
