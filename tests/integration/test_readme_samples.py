"""The README's sample responses are what the real server sends: each `$ curl ...` line of a
`console` block is replayed against Gunicorn on 127.0.0.1 and its output compared with the lines
under it, byte for byte except the Date header and generated request ids."""

from __future__ import annotations

import http.client
import re
import shlex
from urllib.parse import urlsplit

import pytest

from tests.helpers import REPO_ROOT

README = REPO_ROOT / "README.md"
SAMPLE_HOSTS = {"localhost:8000", "127.0.0.1:8000"}
# What changes on every request: the clock, and an id the server makes when the caller sent none.
VARYING = [
    (re.compile(r"^date: .+$", re.MULTILINE | re.IGNORECASE), "date: <date>"),
    (re.compile(r"\b[0-9a-f]{32}\b"), "<generated request id>"),
]


def samples() -> list[tuple[str, str]]:
    """(command, expected output) for each `$ ` line of the README's console blocks."""
    found = []
    for block in re.findall(r"^```console\n(.*?)^```", README.read_text(), re.M | re.S):
        for sample in re.split(r"^\$ ", block, flags=re.MULTILINE)[1:]:
            command, _, output = sample.partition("\n")
            found.append((command, output.rstrip("\n")))
    return found


def replay(command: str, base_url: str) -> str:
    """What `curl [-s] [-i] [-X METHOD] [-H 'Name: value']... URL` prints, from the real server.
    http.client keeps the status line's reason and the header names as the server sent them."""
    args = shlex.split(command)
    assert args[0] == "curl", command
    method, headers, include, url = "GET", {}, False, None
    words = iter(args[1:])
    for word in words:
        if word == "-H":
            name, _, value = next(words).partition(":")
            headers[name] = value.strip()
        elif word == "-X":
            method = next(words)
        elif re.fullmatch(r"-[si]+", word):
            include = include or "i" in word
        elif word.startswith("-"):
            pytest.fail(f"the sample uses curl's {word}, which this test does not replay")
        else:
            url = urlsplit(word if "://" in word else f"http://{word}")
    assert url is not None and url.netloc in SAMPLE_HOSTS, command
    server = urlsplit(base_url)
    connection = http.client.HTTPConnection(server.hostname, server.port, timeout=10)
    try:
        target = url.path + (f"?{url.query}" if url.query else "")
        connection.request(method, target, headers=headers)
        response = connection.getresponse()
        body = response.read().decode()
    finally:
        connection.close()
    if not include:
        return body
    version = f"HTTP/{response.version // 10}.{response.version % 10}"
    headers = [f"{name}: {value}" for name, value in response.getheaders()]
    head = [f"{version} {response.status} {response.reason}", *headers]
    return "\n".join(head) + "\n\n" + body


def normalised(text: str) -> str:
    """A trailing newline does not show in a console, so the README cannot show it either."""
    text = text.rstrip("\n")
    for pattern, placeholder in VARYING:
        text = pattern.sub(placeholder, text)
    return text


def test_the_readme_shows_a_full_response():
    """Guards the replay below against reading nothing: one sample shows status line and headers."""
    assert any(output.startswith("HTTP/1.1 ") for _, output in samples())


@pytest.mark.parametrize(("command", "expected"), samples(), ids=[c for c, _ in samples()])
def test_the_readme_sample_is_what_the_server_sends(gunicorn_server, command, expected):
    assert normalised(replay(command, gunicorn_server.base_url)) == normalised(expected)
