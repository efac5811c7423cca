"""Request ids: taken from the caller or the ALB when sane, generated otherwise, always echoed."""

import pytest

TRACE_ID = "Root=1-67891233-abcdef012345678912345678;Parent=463ac35c9f6413ad;Sampled=1"


def test_callers_id_is_echoed(client):
    response = client.get("/predict", headers={"X-Request-ID": "order-42.retry_1"})
    assert response.headers["X-Request-ID"] == "order-42.retry_1"


def test_alb_trace_id_is_used_when_no_request_id(client):
    response = client.get("/health", headers={"X-Amzn-Trace-Id": TRACE_ID})
    assert response.headers["X-Request-ID"] == TRACE_ID


def test_callers_id_wins_over_the_trace_id(client):
    headers = {"X-Request-ID": "mine", "X-Amzn-Trace-Id": TRACE_ID}
    assert client.get("/health", headers=headers).headers["X-Request-ID"] == "mine"


def test_generated_ids_are_unique(client):
    ids = {client.get("/health").headers["X-Request-ID"] for _ in range(20)}
    assert len(ids) == 20
    assert all(len(i) == 32 for i in ids)


@pytest.mark.parametrize(
    "bad",
    [
        "a" * 201,  # too long for a log line or a header we echo
        "has space",
        'quote"d',
        "<script>",
        "-starts-with-dash",
        "tab\there",
    ],
)
def test_insane_ids_are_replaced(client, bad):
    chosen = client.get("/health", headers={"X-Request-ID": bad}).headers["X-Request-ID"]
    assert chosen != bad
    assert len(chosen) == 32


def test_insane_request_id_falls_back_to_a_sane_trace_id(client):
    headers = {"X-Request-ID": "no good", "X-Amzn-Trace-Id": TRACE_ID}
    assert client.get("/health", headers=headers).headers["X-Request-ID"] == TRACE_ID


def test_id_at_the_length_limit_is_kept(client):
    headers = {"X-Request-ID": "a" * 200}
    assert client.get("/health", headers=headers).headers["X-Request-ID"] == "a" * 200


def test_error_responses_carry_the_id_too(client):
    response = client.get("/nope", headers={"X-Request-ID": "err-7"})
    assert response.headers["X-Request-ID"] == "err-7"
    assert response.get_json(force=True)["request_id"] == "err-7"
