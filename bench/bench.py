"""Side-by-side load test: the service as shipped, the raw-WSGI floor and the FastAPI/uvicorn peer.

Every server is started (its start-up timed to the first healthy answer) and warmed up; then each
round loads GET /predict on each server in turn with wrk, at each concurrency, in an order rotated
from round to round since this box is noisy. Last, the RSS of each worker is read and all stop.
The table gives medians over the rounds and the ratios to the peer and to the floor, from the
same run.

Run through bench/run.sh (it makes .venv-bench and installs wrk); see bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the bench venv's bin/
sys.path.insert(0, str(REPO))
import cost  # noqa: E402 - bench/cost.py, beside this file

from tests.dockerfile import python_env  # noqa: E402 - the repository root is not on the path

SHIPPED, FLOOR, PEER = "flask-gunicorn", "raw-wsgi-gunicorn", "fastapi-uvicorn"
PEER_WORKERS = 2  # the comparison: FastAPI+uvicorn with 2 workers


@dataclass
class Server:
    name: str
    command: list[str]  # "{port}" is replaced by the port
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = REPO  # another checkout for --baseline


GUNICORN = [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "--bind", "127.0.0.1:{port}"]


def floor_command(env: dict[str, str]) -> list[str]:
    """The bare callable under the same config: through the bridge for the uvicorn worker."""
    own_worker = env.get("GUNICORN_WORKER_CLASS", "uvicorn") != "uvicorn"
    app = "raw_wsgi:application" if own_worker else "raw_wsgi:asgi_application"
    return [*GUNICORN, "--pythonpath", "bench", app]


def base_servers() -> dict[str, Server]:
    return {
        # The service exactly as the image runs it (only the bind address differs: loopback),
        # with the image's Python flags (PYTHONOPTIMIZE=2); the floor under the same.
        SHIPPED: Server(SHIPPED, GUNICORN, python_env()),
        FLOOR: Server(FLOOR, floor_command({}), python_env()),
        PEER: Server(
            PEER,
            [
                str(BIN / "uvicorn"),
                "--app-dir",
                "bench",
                "peer_fastapi:app",
                "--host",
                "127.0.0.1",
                "--port",
                "{port}",
            ],
            # uvicorn reads its --workers default from WEB_CONCURRENCY: a variant can change it.
            {"WEB_CONCURRENCY": str(PEER_WORKERS)},
        ),
    }


def variant(spec: str, servers: dict[str, Server]) -> Server:
    """NAME=BASE:VAR=VALUE,VAR=VALUE — BASE (default: the shipped service) with extra env."""
    name, _, rest = spec.partition("=")
    base_name, _, assignments = rest.partition(":") if ":" in rest else (SHIPPED, "", rest)
    base = servers[base_name]
    env = {**base.env, **dict(pair.split("=", 1) for pair in assignments.split(",") if pair)}
    command = floor_command(env) if base_name == FLOOR else base.command
    return Server(name, command, env)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, process: subprocess.Popen, timeout: float = 30) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return time.perf_counter() - started
        except OSError:
            time.sleep(0.01)
    raise RuntimeError(f"no healthy answer from {url} within {timeout} s")


def worker_rss_mb(master: int) -> list[float]:
    """RSS of each worker process (the master's children, minus multiprocessing's helper)."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    sizes = []
    for pid in children:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            status = Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:  # a worker being recycled
            continue
        if b"resource_tracker" in cmdline:
            continue
        kib = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
        sizes.append(round(kib / 1024, 1))
    return sizes


def cpu_seconds(master: int) -> tuple[float, float]:
    """User and system CPU of the server so far (master and workers). Divided by the requests
    served, it is the server's cost per request: a figure the noise of a shared box barely moves,
    where req/s moves with whatever else runs. System apart: the kernel's share (the sockets, the
    log line's write), which the instruction counts (instructions.py) leave out."""

    def stat(pid) -> list[int]:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            return [int(value) for value in fields[11:15]]
        except FileNotFoundError:  # a worker exiting: its time reaches the master's children time
            return [0, 0, 0, 0]

    # utime, stime, then cutime, cstime: the CPU of workers the master has reaped (recycled ones).
    utime, stime, cutime, cstime = stat(master)
    user, system = utime + cutime, stime + cstime
    for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split():
        utime, stime, _, _ = stat(pid)
        user, system = user + utime, system + stime
    ticks = os.sysconf("SC_CLK_TCK")
    return user / ticks, system / ticks


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * _UNITS[unit]


def wrk(url: str, connections: int, seconds: int) -> dict:
    """One wrk run (one thread: the other core is the server's); its numbers, parsed."""
    output = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
    ).stdout
    percentiles = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)$", output, re.MULTILINE))
    served = re.search(r"(\d+) requests in", output)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = (int(non_2xx.group(1)) if non_2xx else 0) + (
        sum(map(int, socket_errors.groups())) if socket_errors else 0
    )
    if not (served and rate and "99" in percentiles):  # no answer at all: say so, keep going
        print(f"wrk {url} c{connections}: no usable result:\n{output}", file=sys.stderr)
        return {"rps": 0.0, "p50_ms": math.nan, "p99_ms": math.nan, "requests": 0, "errors": 1}
    return {
        "rps": float(rate.group(1)),
        "p50_ms": _ms(percentiles["50"]),
        "p99_ms": _ms(percentiles["99"]),
        "requests": int(served.group(1)),
        "errors": errors,
    }


@dataclass
class Running:
    server: Server
    process: subprocess.Popen
    base: str
    startup_s: float


def start(server: Server, logs: Path) -> Running:
    port = free_port()
    command = [part.replace("{port}", str(port)) for part in server.command]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **server.env}
    env.pop("PORT", None)
    base = f"http://127.0.0.1:{port}"
    # stdout to a file, as a container runtime takes it: logging costs what it costs in production.
    with (
        open(logs / f"{server.name}.stdout", "ab") as out,
        open(logs / f"{server.name}.stderr", "ab") as err,
    ):
        process = subprocess.Popen(command, cwd=server.cwd, env=env, stdout=out, stderr=err)
    try:
        startup = wait_healthy(f"{base}/health", process)
    except Exception:
        stop(process)
        raise
    return Running(server, process, base, round(startup, 3))


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def load(running: Running, connections: int, seconds: int) -> dict:
    user_before, system_before = cpu_seconds(running.process.pid)
    result = wrk(f"{running.base}/predict", connections, seconds)
    user, system = cpu_seconds(running.process.pid)
    per_request = 1e6 / max(result["requests"], 1)
    result["cpu_us_per_req"] = round((user - user_before + system - system_before) * per_request, 1)
    result["system_us_per_req"] = round((system - system_before) * per_request, 1)
    return result


def summarize(samples: dict[str, list[dict]], connections: list[int]) -> list[dict]:
    rows = []
    for name, runs in samples.items():
        for c in connections:
            key = f"c{c}"
            rows.append(
                {
                    "server": name,
                    "connections": c,
                    "rps": statistics.median(r[key]["rps"] for r in runs),
                    "p50_ms": statistics.median(r[key]["p50_ms"] for r in runs),
                    "p99_ms": statistics.median(r[key]["p99_ms"] for r in runs),
                    "cpu_us": statistics.median(r[key]["cpu_us_per_req"] for r in runs),
                    "system_us": statistics.median(r[key]["system_us_per_req"] for r in runs),
                    "errors": sum(r[key]["errors"] for r in runs),
                    "startup_s": statistics.median(r["startup_s"] for r in runs),
                    "rss_mb": max(max(r["rss_mb"], default=0) for r in runs),
                    "workers": statistics.median(len(r["rss_mb"]) for r in runs),
                    "rounds_rps": [r[key]["rps"] for r in runs],
                }
            )
    by_key = {(row["server"], row["connections"]): row for row in rows}
    for row in rows:
        for label, ref in (("x_peer", PEER), ("x_floor", FLOOR)):
            other = by_key.get((ref, row["connections"]))
            row[label] = round(row["rps"] / other["rps"], 2) if other and other["rps"] else None
        # The per-round ratio to the peer: each round's servers ran minutes apart at most.
        other = by_key.get((PEER, row["connections"]))
        if other:
            pairs = zip(row["rounds_rps"], other["rounds_rps"], strict=True)
            ratios = [a / b for a, b in pairs if b]  # a round wrk got no answer in is left out
            if ratios:
                row["x_peer_range"] = [round(min(ratios), 2), round(max(ratios), 2)]
    return rows


def table(rows: list[dict], rounds: int, duration: int) -> str:
    lines = [
        f"wrk -t1 -d{duration}s on GET /predict, 127.0.0.1; medians of {rounds} interleaved "
        f"round(s); ratios from this run; RSS = largest worker seen",
        "",
        "| server | conns | req/s | p50 ms | p99 ms | errors | x FastAPI (rounds) | x raw WSGI "
        "| server CPU µs/req (system) | start-up s | RSS/worker MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        span = r.get("x_peer_range")
        peer = f"{r['x_peer']:.2f}" if r["x_peer"] is not None else "-"
        peer += f" ({span[0]:.2f}-{span[1]:.2f})" if span else ""
        floor = f"{r['x_floor']:.2f}" if r["x_floor"] is not None else "-"
        lines.append(
            f"| {r['server']} | {r['connections']} | {r['rps']:,.0f} | {r['p50_ms']:.1f} "
            f"| {r['p99_ms']:.1f} | {r['errors']} | {peer} | {floor} "
            f"| {r['cpu_us']:.0f} ({r['system_us']:.0f}) "
            f"| {r['startup_s']:.2f} "
            f"| {r['rss_mb']:.1f} |"
        )
    return "\n".join(lines)


def cost_table(rows: list[dict]) -> str:
    """Fargate's cost per million requests for each server, at the highest concurrency run."""
    top = max(r["connections"] for r in rows)
    here = cost.this_architecture()
    lines = [
        f"Fargate cost per million GET /predict ({cost.REGION} prices read {cost.PRICES_READ}; "
        f"{cost.TASK_VCPU} vCPU / {cost.TASK_GB} GB task at {cost.CPU_TARGET:.0%} CPU, the "
        f"stack's defaults; measured on {here}, the other architecture estimated: "
        f"{cost.ESTIMATE})",
        "",
        "| server | conns | req/s per vCPU | p99 ms (target "
        f"{cost.P99_TARGET_MS:,} ms) | USD per million, {cost.X86_64} | USD per million, "
        f"{cost.ARM64} |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if r["connections"] != top or not r["cpu_us"]:
            continue
        per_vcpu = 1e6 / r["cpu_us"]
        held = "" if r["p99_ms"] <= cost.P99_TARGET_MS else " (over target)"
        prices = [
            f"{cost.per_million(per_vcpu, arch):.4f}" + ("" if arch == here else " (est.)")
            for arch in (cost.X86_64, cost.ARM64)
        ]
        lines.append(
            f"| {r['server']} | {top} | {per_vcpu:,.0f} | {r['p99_ms']:.1f}{held} | "
            + " | ".join(prices)
            + " |"
        )
    return "\n".join(lines)


def chart(rows: list[dict], connections: list[int], path: Path) -> None:
    import matplotlib  # only the chart needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    servers = list(dict.fromkeys(r["server"] for r in rows))
    figure, axes = plt.subplots(1, len(connections), figsize=(5 * len(connections), 4.2))
    axes = axes if len(connections) > 1 else [axes]
    for ax, c in zip(axes, connections, strict=True):
        by_server = {r["server"]: r for r in rows if r["connections"] == c}
        chosen = [by_server[s] for s in servers]
        bars = ax.bar(range(len(servers)), [r["rps"] for r in chosen], color="tab:blue")
        for bar, r in zip(bars, chosen, strict=True):
            ax.annotate(
                f"{r['rps']:,.0f}\np99 {r['p99_ms']:.0f} ms",
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=8,
            )
        ax.set_xticks(range(len(servers)), servers, rotation=20, ha="right", fontsize=8)
        ax.set_title(f"GET /predict, {c} connections")
        ax.set_ylabel("requests/s (median)")
        ax.margins(y=0.2)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of load before measuring")
    parser.add_argument("--connections", type=int, nargs="+", default=[32, 4])
    parser.add_argument(
        "--only", nargs="+", default=[SHIPPED, FLOOR, PEER], help="which base servers to run"
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        help="NAME=[BASE:]VAR=VALUE,...: a base server (default: the shipped one) with extra env",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another checkout (e.g. a git worktree of an earlier commit): its service runs too, "
        "as 'baseline', for a before/after from the same run",
    )
    parser.add_argument(
        "--python",
        action="append",
        default=[],
        metavar="NAME=VENV",
        help="the shipped service from this checkout on another venv's interpreter (e.g. one per "
        "Python version; the venv needs the service's dependencies)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    parser.add_argument(
        "--pieces-number", type=int, default=20000, help="calls per piece in pieces.py (0: skip)"
    )
    args = parser.parse_args()

    servers = base_servers()
    chosen = [servers[name] for name in args.only] + [variant(v, servers) for v in args.variant]
    if args.baseline:
        baseline = args.baseline.resolve()
        env = {**python_env(), "PYTHONPATH": str(baseline)}  # its own predict_service first
        chosen.append(Server("baseline", GUNICORN, env, cwd=baseline))
    for spec in args.python:
        name, _, venv = spec.partition("=")
        command = [str(Path(venv).resolve() / "bin" / "gunicorn"), *GUNICORN[1:]]
        chosen.append(Server(name, command, {**python_env(), "PYTHONPATH": str(REPO)}))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.out / stamp
    logs = out / "logs"
    logs.mkdir(parents=True)

    # All servers up at once (idle ones cost nothing), then short runs interleaved finely: the
    # noise of a shared box then hits every server alike instead of whichever ran at a bad moment.
    samples: dict[str, list[dict]] = {s.name: [] for s in chosen}
    running: list[Running] = []
    try:
        for server in chosen:
            running.append(start(server, logs))
            print(f"{server.name}: healthy after {running[-1].startup_s:.2f} s", flush=True)
        for r in running:
            wrk(f"{r.base}/predict", 32, args.warmup)
        for round_number in range(args.rounds):
            shift = round_number % len(running)
            for r in running[shift:] + running[:shift]:
                sample = {f"c{c}": load(r, c, args.duration) for c in args.connections}
                sample["startup_s"] = r.startup_s
                samples[r.server.name].append(sample)
            print(
                f"round {round_number + 1}/{args.rounds}: "
                + ", ".join(
                    f"{name} {runs[-1][f'c{args.connections[0]}']['rps']:,.0f}"
                    for name, runs in samples.items()
                ),
                flush=True,
            )
        for r in running:
            rss = worker_rss_mb(r.process.pid)
            for sample in samples[r.server.name]:
                sample["rss_mb"] = rss
    finally:
        for r in running:
            stop(r.process)

    rows = summarize(samples, args.connections)
    text = table(rows, args.rounds, args.duration) + "\n\n" + cost_table(rows)
    (out / "table.md").write_text(text + "\n")
    (out / "results.json").write_text(
        json.dumps(
            {"args": {**vars(args), "out": str(out)}, "samples": samples, "rows": rows}, default=str
        )
    )
    chart(rows, args.connections, out / "chart.png")
    latest = args.out / "latest"
    latest.unlink(missing_ok=True)
    latest.symlink_to(out.name)
    print(f"\n{text}\n\nresults, logs and chart: {out.relative_to(REPO)}")
    if args.pieces_number:
        print("\nper-request pieces, in-process:", flush=True)
        subprocess.run(
            [
                sys.executable,
                "bench/pieces.py",
                "--number",
                str(args.pieces_number),
                "--out",
                str(out / "pieces.json"),
            ],
            cwd=REPO,
            check=True,
            timeout=300,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
