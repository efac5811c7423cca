"""CORS as a browser enforces it: a page on an allowed origin reads the API; others are refused."""

import pytest

pytestmark = pytest.mark.integration

# Runs in the page: what its script can see of a cross-origin GET.
FETCH = """async (url) => {
  try {
    const response = await fetch(url, {headers: {"X-Request-ID": "from-the-page"}});
    return {status: response.status, body: await response.json(),
            requestId: response.headers.get("X-Request-ID")};
  } catch (error) {
    return {error: String(error)};
  }
}"""


def test_a_page_on_an_allowed_origin_reads_the_score(page, api, other_origins):
    allowed, _ = other_origins
    page.goto(f"{allowed}/")
    result = page.evaluate(FETCH, f"{api}/predict")
    # The X-Request-ID header made it a preflighted request: the preflight passed too.
    assert result == {"status": 200, "body": {"score": 0.75}, "requestId": "from-the-page"}


def test_a_page_on_an_allowed_origin_reads_an_error_too(page, api, other_origins):
    allowed, _ = other_origins
    page.goto(f"{allowed}/")
    result = page.evaluate(FETCH, f"{api}/predict?foo=1")
    assert result["status"] == 400
    assert result["body"]["errors"] == {"foo": ["Unknown field."]}
    assert result["body"]["request_id"] == result["requestId"] == "from-the-page"


def test_a_page_on_another_origin_is_refused_by_the_browser(page, api, other_origins):
    _, refused = other_origins
    page.goto(f"{refused}/")
    result = page.evaluate(FETCH, f"{api}/predict")
    assert result == {"error": "TypeError: Failed to fetch"}
