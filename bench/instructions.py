"""Instructions each server executes a request, counted by valgrind's callgrind instead of timed.

A count does not move with the box's noise, unlike req/s and CPU seconds. Each server runs as
bench.py starts it but with one worker, under callgrind (every process it forks is counted); 32
client threads send GET /predict on keep-alive connections. Each server runs twice, with N and
with 5N requests: the difference over 4N is a request's cost without start-up and shutdown.
--cache-sim adds valgrind's simulated L1 instruction-cache misses and branch mispredictions, which
cost cycles that an instruction count does not show. Not counted: the kernel's share (system
calls), and work driven by timers (uvicorn's 0.1 s tick, Gunicorn's heartbeat) is not separated
from the requests: it grows with a run's length, in the service a little more than in the peer.

Run through bench/run.sh --instructions (it makes .venv-bench); valgrind must be installed.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import bench

CLIENTS = 32  # as bench.py's wrk -c32; --clients changes it
# Under callgrind a server starts 20-50 times slower; Gunicorn's worker timeout is raised to match,
# or its master would replace the worker while it is still importing the app.
START_TIMEOUT_S = 600
EVENTS = {"Ir": "instructions", "I1mr": "L1 instruction misses", "Bcm": "conditional branch misses"}


def _requests(base: str, count: int, clients: int) -> None:
    port = int(base.rsplit(":", 1)[1])

    def one_client(number: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for _ in range(number):
            connection.request("GET", "/predict")
            response = connection.getresponse()
            body = response.read()
            if response.status != 200 or b'"score"' not in body:
                raise RuntimeError(f"unexpected answer {response.status}: {body[:200]!r}")
        connection.close()

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one_client, [count // clients] * clients))


def _healthy(base: str, process) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} under valgrind")
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=5):
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"no answer from {base} within {START_TIMEOUT_S} s under valgrind")


class Failed(Exception):
    """A server run that did not give whole counts; the message says why."""


def counted(server: bench.Server, requests: int, args, scratch: Path) -> dict[str, int]:
    """Every event callgrind counted over every process of one server run serving requests."""
    out = scratch / f"{server.name}-{requests}"
    out.mkdir()
    port = bench.free_port()
    command = [part.replace("{port}", str(port)) for part in server.command]
    valgrind = ["valgrind", "--tool=callgrind", "--trace-children=yes", "--quiet"]
    valgrind += [f"--callgrind-out-file={out}/callgrind.%p"]
    if args.cache_sim:
        valgrind += ["--cache-sim=yes", "--branch-sim=yes"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **server.env}  # as bench.start sets it
    env.pop("PORT", None)
    env.update(WEB_CONCURRENCY="1", GUNICORN_CMD_ARGS=f"--timeout {START_TIMEOUT_S}")
    with open(out / "output", "wb") as output:
        process = subprocess.Popen(
            [*valgrind, *command], cwd=server.cwd, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _healthy(base, process)
        _requests(base, requests, args.clients)
    except Exception as error:
        raise Failed(f"{error}; its output ends:\n{_tail(out / 'output')}") from None
    finally:
        process.terminate()  # each process writes its counts as it exits: give it the time
        try:
            process.wait(timeout=START_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()  # its counts are lost: said below
            process.wait()
    totals: dict[str, int] = {}
    files = sorted(out.glob("callgrind.*"))
    for path in files:
        text = path.read_text(errors="replace")
        names = re.search(r"^events: (.+)$", text, re.MULTILINE)
        values = re.search(r"^summary: (.+)$", text, re.MULTILINE)
        if not (names and values):
            raise Failed(f"{path.name} has no counts (killed before it wrote them?)")
        for name, value in zip(names[1].split(), values[1].split(), strict=True):
            totals[name] = totals.get(name, 0) + int(value)
    # uvicorn ends by re-raising SIGTERM (-15), which is a clean end; SIGKILL is not.
    if not files or process.returncode == -signal.SIGKILL:
        raise Failed(
            f"exit {process.returncode}, {len(files)} count files: {_tail(out / 'output')}"
        )
    return totals


def _tail(path: Path) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-15:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=640, help="N (default 640)")
    parser.add_argument("--clients", type=int, default=CLIENTS, help=f"default {CLIENTS}")
    parser.add_argument("--cache-sim", action="store_true", help="also cache and branch misses")
    args = parser.parse_args(argv)
    if args.clients < 1 or args.requests < args.clients or args.requests % args.clients:
        parser.error("--requests must be a positive multiple of --clients (at least 1)")
    if shutil.which("valgrind") is None:
        print("instructions: valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    servers = bench.base_servers()
    chosen = [servers[bench.SHIPPED], servers[bench.PEER]]
    events = [e for e in EVENTS if args.cache_sim or e == "Ir"]
    per_request: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-instructions-") as folder:
        scratch = Path(folder)
        for server in chosen:
            n1 = args.requests
            print(
                f"instructions: {server.name}: {n1}, then {5 * n1} requests, {args.clients} clients"
            )
            # One after the other: a port bench.free_port picks is only free, not held.
            try:
                small, large = (counted(server, n, args, scratch) for n in (n1, 5 * n1))
            except Failed as failure:
                print(f"instructions: {server.name}: {failure}", file=sys.stderr)
                return 1
            per_request[server.name] = {e: (large[e] - small[e]) / (4 * n1) for e in events}
    peer = per_request[bench.PEER]
    header = " | ".join(f"{EVENTS[e]} a request | x peer" for e in events)
    print(f"\n| server | {header} |")
    print("|---|" + "---:|---:|" * len(events))
    for name, counts in per_request.items():
        cells = " | ".join(f"{counts[e]:,.0f} | {counts[e] / peer[e]:.3f}" for e in events)
        print(f"| {name} | {cells} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
