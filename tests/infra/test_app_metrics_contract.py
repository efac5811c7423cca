"""The metrics the alarms and the dashboard read are exactly the ones the app emits, both ways:
measured on a real Gunicorn's access lines, against the rendered templates."""

from __future__ import annotations

import re

import requests

from predict_service import create_app
from predict_service.metrics import UNMATCHED_ROUTE
from tests.emf import emf_problems, emitted_metrics
from tests.integration.conftest import start_gunicorn

from .conftest import app_metric_references, monitoring_params, render

# 200, 400, 404, 405 and 500: every kind of answer, so every emitted combination shows.
CASES = [
    ("GET", "/predict"),
    ("GET", "/predict?x=1"),
    ("GET", "/nowhere"),
    ("POST", "/health"),
    ("GET", "/explode"),
]


def test_templates_read_exactly_the_metrics_the_app_emits(tmp_path):
    server = start_gunicorn(tmp_path, "slow_app:create_slow_asgi_app()")
    try:
        for method, path in CASES:
            requests.request(method, f"{server.base_url}{path}", timeout=5)
    finally:
        server.stop()
    lines = [entry for entry in server.log_entries() if "_aws" in entry]
    assert len(lines) >= len(CASES)  # and the start-up probes of /health
    assert all(emf_problems(line) == [] for line in lines)
    emitted = set().union(*(emitted_metrics(line) for line in lines))
    referenced = app_metric_references()
    assert referenced - emitted == set(), "the templates read metrics the app never emits"
    assert emitted - referenced == set(), "the app emits metrics nothing reads (and bills)"


def test_the_dashboard_draws_routes_the_app_has():
    routes = {rule.rule for rule in create_app({"TESTING": True}).url_map.iter_rules()}
    monitoring = render("monitoring.yaml", monitoring_params())
    dashboard = monitoring["Resources"]["Dashboard"]["Properties"]["DashboardBody"]
    drawn = set(re.findall(r'"Route",\s*"([^"]+)"', dashboard))
    assert drawn == routes | {UNMATCHED_ROUTE}
