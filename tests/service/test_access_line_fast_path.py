"""The access line's fast path (jsonlog.JsonLinesHandler.write_fields): the same line as the
logging module would write, taken only when logging would hand the record to that one handler."""

import functools
import io
import json
import logging
from datetime import UTC, datetime

import pytest

from predict_service import create_app, jsonlog
from predict_service.accesslog import ACCESS_LOGGER
from predict_service.jsonlog import (
    JsonFormatter,
    JsonLinesHandler,
    info_with_fields,
    sole_json_handler,
)

ACCESS = logging.getLogger(ACCESS_LOGGER)


@pytest.fixture
def only_json_handler():
    """The root logger as logging_config() leaves it in production: one JsonLinesHandler.

    pytest's own capture handlers are lifted off the root for the test (they would, rightly, send
    the line down the usual path). pytest adds them again as each test phase starts, so this is
    set up on first use, inside the test: use the fixture's value first thing in the test."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    stream = io.StringIO()
    handler = JsonLinesHandler(stream)
    handler.setFormatter(JsonFormatter())

    def install():
        root.handlers[:] = [handler]
        root.setLevel(logging.INFO)
        assert sole_json_handler(ACCESS) is handler  # the fast path is on, before any change
        return handler, stream

    yield install
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)


def entries(stream):
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_fast_path_writes_the_line_without_a_log_record(only_json_handler, monkeypatch):
    _handler, stream = only_json_handler()

    def no_records(*args, **kwargs):
        raise AssertionError("the access line went through a LogRecord")

    monkeypatch.setattr(logging.Logger, "makeRecord", no_records)
    create_app({"TESTING": True}).test_client().get("/predict", headers={"X-Request-ID": "fast-1"})
    [entry] = entries(stream)
    assert (entry["logger"], entry["request_id"], entry["status"]) == (ACCESS_LOGGER, "fast-1", 200)


def test_fast_path_line_is_the_line_logging_would_write(only_json_handler, monkeypatch):
    """Byte for byte JsonFormatter's line for the same record at the same instant."""
    handler, stream = only_json_handler()
    fields = {"request_id": "same-1", "status": 200, "count": 2**70, "path": "/café"}
    record = logging.LogRecord(
        ACCESS_LOGGER, logging.INFO, __file__, 1, "%s", ("GET /café 200",), None
    )
    record.fields = fields
    monkeypatch.setattr(jsonlog.time, "time", lambda: record.created)
    handler.write_fields(ACCESS_LOGGER, "GET /café 200", fields)
    assert stream.getvalue() == handler.format(record) + "\n"


@pytest.mark.parametrize(
    "change",
    [
        "filter on the access logger",
        "handler on a parent logger",
        "access logger does not propagate",
        "second handler on the root",
        "a formatter of the user's",
        "a filter on the handler",
        "a plain StreamHandler",
        "Logger.callHandlers patched (as Sentry's logging integration does)",
        "Logger.handle patched",
        "Logger.callHandlers patched with functools.wraps",
    ],
)
def test_any_other_logging_set_up_takes_the_usual_path(only_json_handler, change):
    handler, stream = only_json_handler()
    parent = logging.getLogger(ACCESS_LOGGER.rpartition(".")[0])
    undo = []
    if change == "filter on the access logger":
        marker = logging.Filter("nothing-matches")
        ACCESS.addFilter(marker)
        undo.append(lambda: ACCESS.removeFilter(marker))
    elif change == "handler on a parent logger":
        extra = logging.NullHandler()
        parent.addHandler(extra)
        undo.append(lambda: parent.removeHandler(extra))
    elif change == "access logger does not propagate":
        ACCESS.propagate = False
        undo.append(lambda: setattr(ACCESS, "propagate", True))
    elif change == "second handler on the root":
        logging.getLogger().addHandler(logging.NullHandler())
    elif change == "a formatter of the user's":
        handler.setFormatter(type("Mine", (JsonFormatter,), {})())
    elif change == "a filter on the handler":
        handler.addFilter(lambda record: True)
    elif change == "a plain StreamHandler":
        logging.getLogger().handlers[:] = [logging.StreamHandler(stream)]
    elif change.startswith("Logger."):
        name = change.split()[0].split(".")[1]
        original = getattr(logging.Logger, name)
        patched = lambda self, record: original(self, record)  # noqa: E731
        if "functools.wraps" in change:
            patched = functools.wraps(original)(patched)
        setattr(logging.Logger, name, patched)
        undo.append(lambda: setattr(logging.Logger, name, original))
    try:
        assert sole_json_handler(ACCESS) is None
    finally:
        for step in undo:
            step()


def test_a_logger_class_of_the_users_takes_the_usual_path(only_json_handler):
    only_json_handler()
    mine = type("MyLogger", (logging.Logger,), {})("predict_service.mine")
    mine.parent = logging.getLogger()
    assert sole_json_handler(mine) is None


@pytest.mark.parametrize("how", ["logging.disable", "logger.disabled", "logger level WARNING"])
def test_a_disabled_access_logger_writes_nothing(only_json_handler, how):
    _handler, stream = only_json_handler()
    saved_level = ACCESS.level
    try:
        if how == "logging.disable":
            logging.disable(logging.INFO)
        elif how == "logger.disabled":
            ACCESS.disabled = True
        else:
            ACCESS.setLevel(logging.WARNING)
        info_with_fields(ACCESS, "GET /predict 200", {"status": 200})
        create_app({"TESTING": True}).test_client().get("/predict")
    finally:
        logging.disable(logging.NOTSET)
        ACCESS.disabled = False
        ACCESS.setLevel(saved_level)
    assert stream.getvalue() == ""


def test_the_level_name_follows_add_level_name(only_json_handler):
    _handler, stream = only_json_handler()
    logging.addLevelName(logging.INFO, "NOTICE")
    try:
        info_with_fields(ACCESS, "GET /predict 200", {"status": 200})
    finally:
        logging.addLevelName(logging.INFO, "INFO")
    [entry] = entries(stream)
    assert entry["level"] == "NOTICE"


def test_a_field_that_cannot_be_written_is_reported_not_raised(only_json_handler, capsys):
    _handler, stream = only_json_handler()

    class Unprintable:
        def __str__(self):
            raise ValueError("no text for this one")

    info_with_fields(ACCESS, "GET /predict 200", {"odd": Unprintable()})
    assert stream.getvalue() == ""
    assert "Logging error" in capsys.readouterr().err


def test_a_handler_level_above_info_still_drops_the_line(only_json_handler):
    handler, stream = only_json_handler()
    handler.setLevel(logging.WARNING)
    create_app({"TESTING": True}).test_client().get("/predict")
    assert stream.getvalue() == ""


def test_usual_path_writes_the_same_line(only_json_handler):
    """A capture handler beside ours: the line goes through logging, and reads the same."""
    _handler, stream = only_json_handler()
    captured = io.StringIO()
    capture = logging.StreamHandler(captured)
    capture.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(capture)
    create_app({"TESTING": True}).test_client().get("/nope", headers={"X-Request-ID": "usual-1"})
    [ours], [theirs] = entries(stream), entries(captured)
    assert ours == theirs
    assert (ours["message"], ours["request_id"], ours["status"]) == (
        "GET /nope 404",
        "usual-1",
        404,
    )


def test_a_failing_stream_loses_the_line_not_the_request(only_json_handler, capsys):
    _handler, stream = only_json_handler()
    stream.close()
    response = create_app({"TESTING": True}).test_client().get("/predict")
    assert response.status_code == 200
    assert "Logging error" in capsys.readouterr().err  # reported as logging reports its own


@pytest.mark.parametrize(
    "created",
    [
        0.0,
        -0.5,  # before 1970: the fraction counts up from the second before
        -1.9995,
        1.9994999,
        1.9995,
        1.9999996,  # rounds up into the next second, as datetime does
        1_700_000_000.0,
        1_700_000_000.0005,
        1_764_358_496.123456,
        4_102_444_799.9996,  # the last instant of 2099
        3_980_789_581.3699994,  # float error that a plain * 1000 gets wrong
    ],
)
def test_line_time_is_datetimes_iso_format(created):
    formatter = JsonFormatter()
    expected = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    assert formatter.format_time(created) == expected
    assert formatter.format_time(created) == expected  # the cached second gives the same


def test_line_time_follows_the_clock_across_seconds():
    formatter = JsonFormatter()
    for created in (100.5, 101.25, 100.75, 86_400.0, 99.999):
        expected = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
        assert formatter.format_time(created) == expected
