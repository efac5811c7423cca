"""/docs in a real browser: the page renders both operations and "Try it out" calls the API."""

import pytest

pytestmark = pytest.mark.integration


def test_docs_render_both_operations_from_the_app_alone(page, api):
    requested, violations = [], []
    page.on("request", lambda request: requested.append(request.url))
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.goto(f"{api}/docs")
    paths = page.locator(".opblock-summary-path")
    paths.first.wait_for()
    assert sorted(paths.all_inner_texts()) == ["/health", "/predict"]
    assert [url for url in requested if not url.startswith(api)] == []
    assert violations == []


def test_try_it_out_on_predict_shows_the_score(page, api):
    page.goto(f"{api}/docs")
    operation = page.locator(
        ".opblock", has=page.locator(".opblock-summary-path", has_text="/predict")
    )
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    operation.locator("button.execute").click()
    live = operation.locator(".live-responses-table")
    live.wait_for()
    row = live.locator("tbody tr.response")
    assert row.locator(".response-col_status").inner_text().strip() == "200"
    body = row.locator(".response-col_description pre").first.inner_text()
    assert body.replace(" ", "").replace("\n", "") == '{"score":0.75}'
