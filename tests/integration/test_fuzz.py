"""Schemathesis generates requests from the served /openapi.json and checks every response
against it: no 5xx; status codes, content types, headers and bodies as documented; invalid
input rejected.

It runs through its CLI: the pytest plugin of schemathesis 4.32 breaks under pytest 9
("'Function' object has no attribute '_nodeid'").
"""

import subprocess

import pytest

from tests.helpers import VENV_BIN

pytestmark = pytest.mark.integration


def test_every_response_conforms_to_the_document(gunicorn_server, tmp_path):
    completed = subprocess.run(
        [
            str(VENV_BIN / "schemathesis"),
            "run",
            f"{gunicorn_server.base_url}/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            "100",
        ],
        cwd=tmp_path,  # schemathesis/hypothesis leave their caches in the working directory
        capture_output=True,
        text=True,
        timeout=180,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-4000:]
    assert "No issues found" in output
    assert "2 passed" in output  # both operations were exercised
