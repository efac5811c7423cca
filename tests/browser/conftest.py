"""A real browser (the system's chromium, driven by Playwright) against a real Gunicorn.

Where no browser can run, these tests skip with the reason, unless REQUIRE_ALL_CHECKS=1 (CI sets
it): then they fail, so a machine without a browser cannot pass them silently.
scripts/install-browser.sh installs chromium.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.integration.conftest import start_gunicorn

BROWSERS = ("chromium", "google-chrome")
PAGE = b"<!doctype html><html><head><title>another origin</title></head><body></body></html>"


def _unavailable(reason: str):
    if os.environ.get("REQUIRE_ALL_CHECKS") == "1":
        pytest.fail(f"browser tests cannot run: {reason} (REQUIRE_ALL_CHECKS=1)", pytrace=False)
    pytest.skip(f"browser tests cannot run: {reason}")


# Package scope: Playwright's sync API keeps an event loop running in this thread while it is
# open, so it must be closed before other packages' tests call asyncio.run().
@pytest.fixture(scope="package")
def browser() -> Iterator:
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        _unavailable("playwright is not installed")
    # Debian's chromium here; GitHub's Ubuntu runners come with Google Chrome.
    executable = next(filter(None, map(shutil.which, BROWSERS)), None)
    if executable is None:
        _unavailable(f"none of {', '.join(BROWSERS)} on PATH (scripts/install-browser.sh)")
    with sync_playwright() as playwright:
        try:
            # Root needs --no-sandbox; Playwright's own browser download is neither used nor needed.
            browser = playwright.chromium.launch(
                executable_path=executable, headless=True, args=["--no-sandbox"]
            )
        except Error as error:
            _unavailable(f"chromium did not start: {str(error).splitlines()[0]}")
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


class _OnePage(BaseHTTPRequestHandler):
    """Any GET gets the same empty HTML page: all a test needs is an origin to run a script in."""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args):  # keep pytest's output clean
        pass


@pytest.fixture(scope="package")
def other_origins() -> Iterator[tuple[str, str]]:
    """Two page servers on loopback ports of their own: two origins other than the API's."""
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), _OnePage) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield tuple(f"http://127.0.0.1:{server.server_address[1]}" for server in servers)
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="package")
def api(tmp_path_factory, other_origins) -> Iterator[str]:
    """The service under Gunicorn, allowing the first of other_origins (not the second)."""
    allowed, _ = other_origins
    server = start_gunicorn(tmp_path_factory.mktemp("gunicorn"), CORS_ALLOWED_ORIGINS=allowed)
    yield server.base_url
    server.stop()
