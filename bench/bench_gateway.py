"""Gateway benchmark, run by hand (not by pytest): ours vs a bare trio-websocket echo server vs the original.

    python bench/bench_gateway.py [--seconds 5] [--connects 200] [--idle 1000] [--no-echo] [--no-original]
                                  [--py-spy]

For each server, started as its own process on a loopback port, with ONE client implementation (raw
trio-websocket + json, in this process):
- cold start to the first hello-ok;
- connect+hello-ok latency over ``--connects`` sequential connects (open WS, connect.challenge, connect
  with the token, hello-ok res; then close — the close is not timed);
- ``health`` round trips/s and p50/p99 latency, 1 client and 16 concurrent clients, ``--seconds`` each
  (each client: send one request, wait for the ``res`` with its id, ignoring events, repeat);
- process RSS idle, and with ``--idle`` authenticated connections held open (each drained by a reader).
The echo server (bench/echo_server.py) is the ceiling for Python WebSockets here; the original gateway is
measured only when set up (../shared/original/setup.sh). Prints a markdown table with the targets and
writes everything to bench/results/latest.json. ``--py-spy`` also samples our gateway with py-spy during
the 16-client phase (its figures are then perturbed) and writes bench/results/py-spy-ours.txt.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import trio
from trio_websocket import ConnectionClosed, HandshakeError, WebSocketConnection, connect_websocket_url

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
SHARED_ORIGINAL = Path(os.environ.get("MOLTBOT_SHARED_ORIGINAL", REPO.parent / "shared" / "original"))
ORIGINAL_DIR = Path(os.environ.get("MOLTBOT_ORIGINAL_DIR", Path.home() / ".cache" / "moltbot-original"))
ORIGINAL_ENTRY = ORIGINAL_DIR / "clawdbot" / "node_modules" / "clawdbot" / "dist" / "entry.js"

OUR_TOKEN = "bench-token-0123456789"
ORIGINAL_TOKEN = "testtoken"
HOST = "127.0.0.1"
MAX_MESSAGE_SIZE = 16 * 1024 * 1024

# Bounds for every loop: frames read while waiting for one reply, requests per client per phase, etc.
MAX_FRAMES_PER_WAIT = 10_000
MAX_REQUESTS_PER_CLIENT = 5_000_000
MAX_DRAINED_FRAMES = 10_000_000
STEP_TIMEOUT = 10.0  # one connect / one request
START_TIMEOUT = 60.0  # process start to first hello-ok
RAMP_TIMEOUT = 180.0  # opening all idle connections
SETTLE_MAX = 15.0  # waiting for the server to go quiet before the RSS sample
RAMP_CONCURRENCY = 16

TARGET_RT_RATIO = 0.70
TARGET_KIB_PER_CONN = 30.0
TARGET_CONNECT_P50_MS = 5.0


class BenchError(Exception):
    pass


# --- processes ----------------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    pid: int
    log_path: Path
    url: str = ""
    token: str = ""
    popen: subprocess.Popen | None = None
    started_at: float = 0.0
    children: list[int] = field(default_factory=list)
    file_logs: list[Path] = field(default_factory=list)  # globs of log files besides the console's

    def rss(self) -> int:
        return psutil.Process(self.pid).memory_info().rss

    def alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        try:
            return psutil.Process(self.pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False


def stop_server(server: Server, grace: float = 8.0) -> None:
    """SIGTERM the server (and any children it started), wait up to ``grace`` s, then SIGKILL."""
    pids = [server.pid]
    try:
        pids += [child.pid for child in psutil.Process(server.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        pass
    pids += [pid for pid in server.children if pid not in pids]
    procs = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            proc.send_signal(signal.SIGTERM)
            procs.append(proc)
        except psutil.NoSuchProcess:
            pass
    if server.popen is not None:
        try:
            server.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    _, alive = psutil.wait_procs(procs, timeout=grace)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=3)
    if server.popen is not None and server.popen.poll() is None:
        server.popen.kill()
        server.popen.wait(timeout=3)


async def _wait_for_line(server: Server, pattern: re.Pattern[str], limit: float) -> re.Match[str]:
    with trio.move_on_after(limit):
        while True:
            text = server.log_path.read_text(errors="replace") if server.log_path.exists() else ""
            match = pattern.search(text)
            if match:
                return match
            if not server.alive():
                raise BenchError(f"{server.name} exited early; its log ({server.log_path}):\n{text[-3000:]}")
            await trio.sleep(0.005)
    raise BenchError(f"{server.name} did not print its listening line within {limit} s")


def _spawn(name: str, argv: list[str], env: dict[str, str], log_path: Path, cwd: Path) -> Server:
    log = open(log_path, "wb")  # noqa: SIM115 - the child owns it; closed right after the fork
    try:
        popen = subprocess.Popen(
            argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
    finally:
        log.close()
    return Server(name=name, pid=popen.pid, log_path=log_path, popen=popen, started_at=time.perf_counter())


_LISTENING = re.compile(r"listening on (ws://127\.0\.0\.1:(\d+)) \(pid (\d+)")


async def start_ours(tmp: Path, registry: list[Server]) -> Server:
    home = tmp / "home-ours"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "CLAWDBOT_GATEWAY_TOKEN": OUR_TOKEN}
    for key in (
        "CLAWDBOT_GATEWAY_PORT",
        "CLAWDBOT_GATEWAY_PASSWORD",
        "CLAWDBOT_CONFIG_PATH",
        "CLAWDBOT_STATE_DIR",
    ):
        env.pop(key, None)
    server = _spawn(
        "ours",
        [
            sys.executable,
            "-m",
            "moltbot",
            "gateway",
            "--allow-unconfigured",
            "--port",
            "0",
            "--token",
            OUR_TOKEN,
        ],
        env,
        tmp / "ours.log",
        home,
    )
    server.file_logs = [home / ".clawdbot" / "logs" / "*.log"]
    registry.append(server)
    match = await _wait_for_line(server, _LISTENING, START_TIMEOUT)
    server.url, server.token = match.group(1), OUR_TOKEN
    return server


async def start_echo(tmp: Path, registry: list[Server]) -> Server:
    server = _spawn(
        "echo",
        [sys.executable, str(HERE / "echo_server.py"), "--port", "0"],
        dict(os.environ),
        tmp / "echo.log",
        tmp,
    )
    registry.append(server)
    match = await _wait_for_line(server, _LISTENING, START_TIMEOUT)
    server.url, server.token = match.group(1), "unused"
    return server


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


async def start_original(tmp: Path, registry: list[Server]) -> Server:
    script = SHARED_ORIGINAL / "start-clawdbot.sh"
    if not script.exists():
        raise BenchError(f"missing {script}")
    port = free_port()
    state = tmp / "original-state"
    started = time.perf_counter()
    with trio.fail_after(30):
        result = await trio.run_process(
            ["bash", str(script), str(port), str(state)],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            stdin=b"",
        )
    stdout = result.stdout.decode(errors="replace").strip()
    if result.returncode != 0 or not stdout.isdigit():
        raise BenchError(
            f"start-clawdbot.sh failed ({result.returncode}): {stdout} "
            f"{result.stderr.decode(errors='replace')}"
        )
    server = Server(
        name="original",
        pid=int(stdout),
        log_path=state / "gateway.out",
        url=f"ws://{HOST}:{port}",
        token=ORIGINAL_TOKEN,
        started_at=started,
        file_logs=[state / "gateway.jsonl"],
    )
    registry.append(server)
    return server


# --- the client ---------------------------------------------------------------------------------------


def connect_request(request_id: str, token: str, mode: str = "test") -> str:
    params = {
        "minProtocol": 3,
        "maxProtocol": 3,
        "client": {"id": "test", "version": "1", "platform": "linux", "mode": mode},
        "auth": {"token": token},
    }
    return json.dumps(
        {"type": "req", "id": request_id, "method": "connect", "params": params}, separators=(",", ":")
    )


async def wait_response(
    ws: WebSocketConnection, request_id: str, skipped: list[int] | None = None
) -> dict[str, Any]:
    """Read frames until the ``res`` for ``request_id``; events and other frames are skipped (and
    counted in ``skipped[0]``)."""
    for index in range(MAX_FRAMES_PER_WAIT):
        frame = json.loads(await ws.get_message())
        if frame.get("type") == "res" and frame.get("id") == request_id:
            if skipped is not None:
                skipped[0] += index
            return frame
    raise BenchError(f"no response to {request_id} within {MAX_FRAMES_PER_WAIT} frames")


async def handshake(
    ws: WebSocketConnection, token: str, mode: str = "test", marks: list[float] | None = None
) -> dict[str, Any]:
    """connect.challenge, then connect; returns the hello-ok response. ``marks`` gets the challenge's
    arrival time and the hello-ok's size in bytes."""
    for _ in range(MAX_FRAMES_PER_WAIT):
        frame = json.loads(await ws.get_message())
        if frame.get("type") == "event" and frame.get("event") == "connect.challenge":
            break
    else:
        raise BenchError("no connect.challenge")
    if marks is not None:
        marks.append(time.perf_counter())
    await ws.send_message(connect_request("c1", token, mode))
    for _ in range(MAX_FRAMES_PER_WAIT):
        message = await ws.get_message()
        response = json.loads(message)
        if response.get("type") == "res" and response.get("id") == "c1":
            break
    else:
        raise BenchError("no connect response")
    if not response.get("ok"):
        raise BenchError(f"connect refused: {response.get('error')}")
    if marks is not None:
        marks.append(len(message.encode() if isinstance(message, str) else message))
    return response


async def open_client(
    nursery: trio.Nursery, url: str, token: str, mode: str = "test", marks: list[float] | None = None
) -> WebSocketConnection:
    """Connect and authenticate (bounded by STEP_TIMEOUT); the reader task lives in ``nursery``."""
    with trio.fail_after(STEP_TIMEOUT):
        ws = await connect_websocket_url(nursery, url, max_message_size=MAX_MESSAGE_SIZE)
        try:
            await handshake(ws, token, mode, marks)
        except BaseException:
            with trio.CancelScope(shield=True), trio.move_on_after(1):
                await ws.aclose()
            raise
    return ws


async def close_all(clients: list[WebSocketConnection], limit: float = 10.0) -> None:
    with trio.move_on_after(limit):
        async with trio.open_nursery() as nursery:
            for ws in clients:
                nursery.start_soon(ws.aclose)


def percentile(sorted_values: list[float], p: float) -> float | None:
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(p * len(sorted_values)))]


def latency_summary(samples: list[float]) -> dict[str, Any]:
    values = sorted(samples)

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 3)

    return {
        "n": len(values),
        "p50_ms": ms(percentile(values, 0.50)),
        "p99_ms": ms(percentile(values, 0.99)),
        "max_ms": ms(values[-1] if values else None),
    }


async def cold_start(server: Server) -> float:
    """Seconds from the process start to the first hello-ok (polling the port until it answers)."""
    deadline = trio.current_time() + START_TIMEOUT
    last_error: BaseException | None = None
    while trio.current_time() < deadline:
        if not server.alive():
            raise BenchError(f"{server.name} exited during start; see {server.log_path}")
        try:
            async with trio.open_nursery() as nursery:
                ws = await open_client(nursery, server.url, server.token)
                elapsed = time.perf_counter() - server.started_at
                await ws.aclose()
                nursery.cancel_scope.cancel()
            return elapsed
        except (OSError, HandshakeError, ConnectionClosed, trio.TooSlowError, BenchError) as exc:
            last_error = exc
        except ExceptionGroup as group:
            last_error = group
        await trio.sleep(0.05)
    raise BenchError(f"{server.name}: no hello-ok within {START_TIMEOUT} s (last error: {last_error!r})")


async def measure_connects(server: Server, count: int, warmup: int = 5) -> dict[str, Any]:
    """Sequential connects: total to hello-ok, split into open (TCP + upgrade + challenge) and connect
    request to hello-ok."""
    totals: list[float] = []
    opens: list[float] = []
    hellos: list[float] = []
    size = 0
    for index in range(warmup + count):
        marks: list[float] = []
        async with trio.open_nursery() as nursery:
            started = time.perf_counter()
            ws = await open_client(nursery, server.url, server.token, marks=marks)
            finished = time.perf_counter()
            with trio.move_on_after(STEP_TIMEOUT):
                await ws.aclose()
            nursery.cancel_scope.cancel()
        if index >= warmup:
            totals.append(finished - started)
            opens.append(marks[0] - started)
            hellos.append(finished - marks[0])
            size = int(marks[1])
    result = latency_summary(totals)
    result["open_p50_ms"] = latency_summary(opens)["p50_ms"]
    result["hello_p50_ms"] = latency_summary(hellos)["p50_ms"]
    result["hello_ok_bytes"] = size
    return result


async def measure_round_trips(
    server: Server, clients: int, seconds: float, profile: Any = None
) -> dict[str, Any]:
    """``clients`` connections each doing sequential ``health`` calls for ``seconds`` (after a warm-up).

    Returns the raw slice (samples, CPU seconds, …); ``summarize_round_trips`` merges slices."""
    samples: list[list[float]] = [[] for _ in range(clients)]
    errors: list[Any] = []
    skipped = [0]  # other frames (events) received while waiting, in the measured window
    frame_prefix = '{"type":"req","id":"'
    frame_suffix = '","method":"health","params":{}}'

    async def run_client(index: int, ws: WebSocketConnection, start_at: float, stop_at: float) -> None:
        mine = samples[index]
        for number in range(MAX_REQUESTS_PER_CLIENT):
            now = time.perf_counter()
            if now >= stop_at:
                return
            request_id = f"h{index}-{number}"
            with trio.fail_after(STEP_TIMEOUT):
                await ws.send_message(frame_prefix + request_id + frame_suffix)
                response = await wait_response(ws, request_id, skipped if now >= start_at else None)
            finished = time.perf_counter()
            if not response.get("ok"):
                if len(errors) < 20:
                    errors.append(response.get("error"))
                continue
            if now >= start_at:
                mine.append(finished - now)

    async with trio.open_nursery() as nursery:
        connections = [await open_client(nursery, server.url, server.token) for _ in range(clients)]
        await trio.sleep(0.2)  # let connect-time broadcasts (presence, health) pass
        warmup = min(1.0, max(0.2, seconds / 5))
        start_at = time.perf_counter() + warmup
        stop_at = start_at + seconds
        cpu = CpuMeter(server)

        async def window() -> None:  # CPU meter and profiler cover exactly the measured window
            await trio.sleep(start_at - time.perf_counter())
            cpu.begin()
            if profile is not None:
                profile.start(seconds)
            await trio.sleep(stop_at - time.perf_counter())
            cpu.end()

        try:
            with trio.fail_after(warmup + seconds + 30):
                async with trio.open_nursery() as workers:
                    workers.start_soon(window)
                    for index, ws in enumerate(connections):
                        workers.start_soon(run_client, index, ws, start_at, stop_at)
        finally:
            if profile is not None:
                profile.finish()
        await close_all(connections)
        nursery.cancel_scope.cancel()
    # Requests that started in the window but finished after it are counted: the window is ~exact.
    return {
        "samples": [value for per_client in samples for value in per_client],
        "seconds": seconds,
        "skipped": skipped[0],
        "errors": errors,
        "server_s": cpu.server_s,
        "client_s": cpu.client_s,
        "other_s": cpu.other_s,
        "wall_s": cpu.wall_s,
    }


def summarize_round_trips(slices: list[dict[str, Any]], clients: int) -> dict[str, Any]:
    merged = [value for piece in slices for value in piece["samples"]]
    seconds = sum(piece["seconds"] for piece in slices)
    wall = sum(piece["wall_s"] for piece in slices) or 1.0
    count = len(merged)
    result = {
        "clients": clients,
        "seconds": seconds,
        "round_trips": count,
        "per_s": round(count / seconds, 1),
        "per_s_slices": [round(len(piece["samples"]) / piece["seconds"], 1) for piece in slices],
        **latency_summary(merged),
        "events_per_rt": round(sum(piece["skipped"] for piece in slices) / count, 2) if count else None,
        "cpu_percent": {
            key: round(100 * sum(piece[f"{key}_s"] for piece in slices) / wall)
            for key in ("server", "client", "other")
        },
        "server_cpu_us_per_rt": round(1e6 * sum(piece["server_s"] for piece in slices) / count, 1)
        if count
        else None,
    }
    errors = [error for piece in slices for error in piece["errors"]]
    if errors:
        result["errors"] = errors[:20]
    return result


async def measure_idle(server: Server, count: int, mode: str = "test") -> dict[str, Any]:
    """RSS idle, then with ``count`` authenticated connections held open (each drained by a reader task).

    ``mode`` is the connect's ``client.mode``: "cli" clients are not in the presence list."""
    rss_idle = await settled_rss(server)
    closed_by_server: dict[str, int] = {}  # "code reason" -> count, closes before ours
    drained = [0, 0]  # frames, bytes
    we_close = False

    async def drain(ws: WebSocketConnection) -> None:
        try:
            for _ in range(MAX_DRAINED_FRAMES):
                message = await ws.get_message()
                drained[0] += 1
                drained[1] += len(message)
        except ConnectionClosed as exc:
            if not we_close:
                key = f"{exc.reason.code} {exc.reason.reason or ''}".strip()
                closed_by_server[key] = closed_by_server.get(key, 0) + 1

    connections: list[WebSocketConnection] = []
    ramp_error = None
    async with trio.open_nursery() as nursery:
        started = time.perf_counter()

        async def opener(quota: int) -> None:
            for _ in range(quota):
                ws = await open_client(nursery, server.url, server.token, mode)
                connections.append(ws)
                nursery.start_soon(drain, ws)

        quotas = [
            count // RAMP_CONCURRENCY + (1 if i < count % RAMP_CONCURRENCY else 0)
            for i in range(RAMP_CONCURRENCY)
        ]
        try:
            with trio.fail_after(RAMP_TIMEOUT):
                async with trio.open_nursery() as openers:
                    for quota in quotas:
                        openers.start_soon(opener, quota)
        except (trio.TooSlowError, ExceptionGroup) as exc:
            ramp_error = repr(exc)
        ramp_seconds = time.perf_counter() - started
        rss_with = await settled_rss(server)
        held = len(connections) - sum(closed_by_server.values())
        we_close = True
        await close_all(connections)
        nursery.cancel_scope.cancel()
    result = {
        "client_mode": mode,
        "rss_idle_mb": round(rss_idle / 2**20, 1),
        "connections": len(connections),
        "held": held,
        "closed_by_server": closed_by_server,
        "frames_received": drained[0],
        "mb_received": round(drained[1] / 2**20, 1),
        "ramp_seconds": round(ramp_seconds, 2),
        "rss_with_mb": round(rss_with / 2**20, 1),
        "kib_per_connection": round((rss_with - rss_idle) / 1024 / max(1, len(connections)), 1),
    }
    if ramp_error:
        result["ramp_error"] = ramp_error
    return result


async def settled_rss(server: Server) -> int:
    """RSS once the server's CPU use has dropped (≤ SETTLE_MAX s), so queued frames are gone."""
    proc = psutil.Process(server.pid)
    proc.cpu_percent(None)
    deadline = trio.current_time() + SETTLE_MAX
    quiet = 0
    while trio.current_time() < deadline and quiet < 2:
        await trio.sleep(0.25)
        quiet = quiet + 1 if proc.cpu_percent(None) < 5.0 else 0
    return proc.memory_info().rss


class PySpy:
    """``py-spy record`` of the gateway for one phase; the top of its flat profile goes to a text file."""

    def __init__(self, pid: int, out: Path) -> None:
        self.pid, self.out = pid, out
        self.proc: subprocess.Popen | None = None
        self.raw = out.with_suffix(".speedscope.txt")

    def start(self, seconds: float) -> None:
        exe = shutil.which("py-spy")
        if exe is None:
            print("py-spy not on PATH (pip install py-spy); not profiling", file=sys.stderr)
            return
        self.proc = subprocess.Popen(
            [
                exe,
                "record",
                "--pid",
                str(self.pid),
                "--format",
                "raw",
                "--duration",
                str(max(1, round(seconds))),
                "--rate",
                "250",
                "--nonblocking",
                "--output",
                str(self.raw),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def finish(self) -> None:
        if self.proc is None:
            return
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=3)
        summarize_collapsed(self.raw, self.out)


def summarize_collapsed(raw: Path, out: Path, top: int = 40) -> None:
    """Self and inclusive sample counts per function from py-spy's collapsed stacks."""
    if not raw.exists():
        return
    own: dict[str, int] = {}
    total: dict[str, int] = {}
    samples = 0
    with raw.open() as lines:
        for line in lines:
            stack, _, count_text = line.rstrip("\n").rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            samples += count
            frames = [re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")]
            own[frames[-1]] = own.get(frames[-1], 0) + count
            for frame in set(frames):
                total[frame] = total.get(frame, 0) + count
    packages: dict[str, int] = {}
    for name, n in own.items():
        where = name.rpartition("(")[2].rstrip(")")
        package = where.split("/")[0] if "/" in where else where.split(".")[0]
        packages[package] = packages.get(package, 0) + n
    report = [f"{samples} samples", "", "self %  package (file's top folder)"]
    report += [
        f"{100 * n / samples:5.1f}  {name}" for name, n in sorted(packages.items(), key=lambda kv: -kv[1])
    ]
    report += ["", "self %  function"]
    report += [
        f"{100 * n / samples:5.1f}  {name}" for name, n in sorted(own.items(), key=lambda kv: -kv[1])[:top]
    ]
    report += ["", "incl %  function"]
    report += [
        f"{100 * n / samples:5.1f}  {name}" for name, n in sorted(total.items(), key=lambda kv: -kv[1])[:top]
    ]
    out.write_text("\n".join(report) + "\n")


# --- phases ---------------------------------------------------------------------------------------------


class CpuMeter:
    """CPU used during a phase by the server, by this process (the client) and by everything else."""

    def __init__(self, server: Server) -> None:
        self.server = psutil.Process(server.pid)
        self.client = psutil.Process()

    @staticmethod
    def _busy() -> float:
        times = psutil.cpu_times()
        return sum(times) - times.idle - getattr(times, "iowait", 0.0)

    @staticmethod
    def _used(proc: psutil.Process) -> float:
        times = proc.cpu_times()
        return times.user + times.system

    def begin(self) -> None:
        self.wall = time.perf_counter()
        self.start = (self._busy(), self._used(self.server), self._used(self.client))

    def end(self) -> None:
        wall = time.perf_counter() - self.wall
        busy, server, client = (self._busy(), self._used(self.server), self._used(self.client))
        self.server_s = server - self.start[1]
        self.client_s = client - self.start[2]
        self.other_s = max(0.0, busy - self.start[0] - self.server_s - self.client_s)
        self.wall_s = wall


async def phase_round_trips(
    servers: dict[str, Server], clients: int, args: argparse.Namespace, results: dict[str, Any]
) -> None:
    """``args.rounds`` slices of ``args.seconds / rounds`` per server, alternating between the servers, so
    that load from other processes is spread over all of them."""
    slices: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}
    for round_index in range(args.rounds):
        for name, server in list(servers.items()):
            if name not in slices:
                continue
            profile = None
            if args.py_spy and name == "ours" and clients == 16 and round_index == 0:
                profile = PySpy(server.pid, RESULTS / "py-spy-ours.txt")
            print(
                f"  health, {clients} client(s), round {round_index + 1}/{args.rounds}: {name} ...",
                file=sys.stderr,
            )
            try:
                slices[name].append(
                    await measure_round_trips(server, clients, args.seconds / args.rounds, profile)
                )
            except Exception as exc:
                traceback.print_exc()
                results[name]["failed"] = f"health_{clients}: {type(exc).__name__}: {exc}"
                del slices[name]
    for name, pieces in slices.items():
        results[name][f"health_{clients}"] = summarize_round_trips(pieces, clients)


async def run_all(args: argparse.Namespace, tmp: Path, registry: list[Server]) -> dict[str, Any]:
    """Start every server (one at a time, for the cold-start figure), then run each phase on each server
    back to back, so that a change in the machine's load hits them alike."""
    results: dict[str, Any] = {}
    plan = [("ours", start_ours)]
    if not args.no_echo:
        plan.append(("echo", start_echo))
    if args.no_original:
        results["original"] = {"skipped": "--no-original"}
    elif not ORIGINAL_ENTRY.exists():
        print("original: not set up (run ../shared/original/setup.sh)", flush=True)
        results["original"] = {"skipped": "not set up (run ../shared/original/setup.sh)"}
    else:
        plan.append(("original", start_original))
    servers: dict[str, Server] = {}
    try:
        for name, start in plan:
            print(f"{name}: starting", file=sys.stderr)
            try:
                server = await start(tmp, registry)
                servers[name] = server
                results[name] = {"url": server.url, "pid": server.pid}
                results[name]["cold_start_s"] = round(await cold_start(server), 3)
                results[name]["rss_fresh_mb"] = round(server.rss() / 2**20, 1)
            except Exception as exc:
                traceback.print_exc()
                results[name] = {**results.get(name, {}), "failed": f"start: {type(exc).__name__}: {exc}"}
                servers.pop(name, None)

        await run_phase("connect", lambda s: measure_connects(s, args.connects), servers, results)
        for clients in (1, 16):
            await phase_round_trips(servers, clients, args, results)
        if args.idle:
            await run_phase("idle", lambda s: measure_idle(s, args.idle, args.idle_mode), servers, results)
    finally:
        for name, server in list(servers.items()):
            stop_server(server)
            registry.remove(server)
            results[name]["log_findings"] = log_findings(server)
    return results


async def run_phase(phase: str, run: Any, servers: dict[str, Server], results: dict[str, Any]) -> None:
    """``run(server)`` on each server in turn; a failure is recorded and the others still run."""
    for name, server in list(servers.items()):
        print(f"  {phase}: {name} ...", file=sys.stderr)
        try:
            results[name][phase] = await run(server)
        except Exception as exc:  # one server failing must not lose the others' figures
            traceback.print_exc()
            results[name]["failed"] = f"{phase}: {type(exc).__name__}: {exc}"


_BAD_LINE = re.compile(
    r"\b(WARNING|ERROR|CRITICAL|Traceback|Exception)\b|\berror\b|"
    r"\"(level|logLevelName)\": ?\"(warn|warning|error|fatal|critical)\"",
    re.IGNORECASE,
)


def log_findings(server: Server, limit: int = 12) -> list[str]:
    """Warning/error lines and tracebacks from the server's console log and its log files."""
    paths = [server.log_path] + [
        path for pattern in server.file_logs for path in sorted(pattern.parent.glob(pattern.name))
    ]
    found = []
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text(errors="replace").splitlines():
            if _BAD_LINE.search(line):
                found.append(f"{path.name}: {line[:300]}")
    if len(found) > limit:
        found = found[:limit] + [f"... and {len(found) - limit} more"]
    return found


# --- report -------------------------------------------------------------------------------------------


def _get(results: dict[str, Any], *path: str) -> Any:
    value: Any = results
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def targets(results: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for clients in (1, 16):
        ours, echo = (
            _get(results, "ours", f"health_{clients}", "per_s"),
            _get(results, "echo", f"health_{clients}", "per_s"),
        )
        ratio = round(ours / echo, 3) if ours and echo else None
        out[f"health_{clients}_vs_echo"] = {
            "value": ratio,
            "target": f">= {TARGET_RT_RATIO}",
            "met": None if ratio is None else ratio >= TARGET_RT_RATIO,
        }
    kib = _get(results, "ours", "idle", "kib_per_connection")
    out["kib_per_idle_connection"] = {
        "value": kib,
        "target": f"<= {TARGET_KIB_PER_CONN}",
        "met": None if kib is None else kib <= TARGET_KIB_PER_CONN,
    }
    p50 = _get(results, "ours", "connect", "p50_ms")
    out["connect_p50_ms"] = {
        "value": p50,
        "target": f"<= {TARGET_CONNECT_P50_MS}",
        "met": None if p50 is None else p50 <= TARGET_CONNECT_P50_MS,
    }
    return out


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(report: dict[str, Any]) -> str:
    results, tgt = report["servers"], report["targets"]
    names = [name for name in ("ours", "echo", "original") if name in results]

    def cell(name: str, *path: str) -> str:
        if "skipped" in results[name]:
            return "skipped"
        if "failed" in results[name] and _get(results, name, *path) is None:
            return "failed"
        return _fmt(_get(results, name, *path))

    def mark(key: str, target: str | None = None) -> str:
        met = tgt[key]["met"]
        return f"{target or tgt[key]['target']} {'✓' if met else ('✗' if met is False else '')}".strip()

    rows = [
        ("cold start to hello-ok (s)", ("cold_start_s",), ""),
        ("connect+hello-ok p50 (ms)", ("connect", "p50_ms"), mark("connect_p50_ms")),
        ("connect+hello-ok p99 (ms)", ("connect", "p99_ms"), ""),
        ("  p50 split: WS open+challenge / connect→hello-ok (ms)", None, ""),
        ("  hello-ok size (bytes)", ("connect", "hello_ok_bytes"), ""),
        ("health rt/s, 1 client", ("health_1", "per_s"), ""),
        ("  slowest–fastest slice (rt/s), 1 client", None, ""),
        ("  p50 / p99 (ms), 1 client", None, ""),
        ("  server CPU µs per rt, 1 client", ("health_1", "server_cpu_us_per_rt"), ""),
        ("health rt/s, 16 clients", ("health_16", "per_s"), ""),
        ("  slowest–fastest slice (rt/s), 16 clients", None, ""),
        ("  p50 / p99 (ms), 16 clients", None, ""),
        ("  server CPU µs per rt, 16 clients", ("health_16", "server_cpu_us_per_rt"), ""),
        ("  events received per rt, 16 clients", ("health_16", "events_per_rt"), ""),
        ("  CPU % server / client / other, 16 clients", None, ""),
        ("RSS fresh (MB)", ("rss_fresh_mb",), ""),
        ("RSS idle, before the idle conns (MB)", ("idle", "rss_idle_mb"), ""),
        ("RSS with idle conns (MB)", ("idle", "rss_with_mb"), ""),
        ("idle conns held / opened", None, ""),
        ("  time to open them (s)", ("idle", "ramp_seconds"), ""),
        ("  MB of events they received meanwhile", ("idle", "mb_received"), ""),
        ("KiB per idle connection", ("idle", "kib_per_connection"), mark("kib_per_idle_connection")),
    ]
    lines = ["| figure | " + " | ".join(names) + " | target |", "| --- |" + " --- |" * (len(names) + 1)]
    for label, path, target in rows:
        cells = []
        for name in names:
            if path is not None:
                cells.append(cell(name, *path))
            elif label.startswith("  p50 split"):
                cells.append(
                    f"{cell(name, 'connect', 'open_p50_ms')} / {cell(name, 'connect', 'hello_p50_ms')}"
                )
            elif label.startswith("  slowest"):
                key = "health_1" if "1 client" in label else "health_16"
                pieces = _get(results, name, key, "per_s_slices") or []
                cells.append(f"{_fmt(min(pieces))}–{_fmt(max(pieces))}" if pieces else cell(name, key, "x"))
            elif label.startswith("  CPU"):
                cpu = _get(results, name, "health_16", "cpu_percent") or {}
                cells.append(" / ".join(_fmt(cpu.get(k)) for k in ("server", "client", "other")))
            elif label.startswith("  p50"):
                key = "health_1" if "1 client" in label else "health_16"
                cells.append(f"{cell(name, key, 'p50_ms')} / {cell(name, key, 'p99_ms')}")
            else:
                cells.append(f"{cell(name, 'idle', 'held')} / {cell(name, 'idle', 'connections')}")
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {target} |")
    for clients in (1, 16):
        key = f"health_{clients}_vs_echo"
        value = tgt[key]["value"]
        lines.append(
            f"| ours / echo rt/s, {clients} client{'s' if clients > 1 else ''} | "
            + ("–" if value is None else f"{100 * value:.1f}%")
            + " |" * len(names)
            + f" {mark(key, f'>= {TARGET_RT_RATIO:.0%}')} |"
        )
    for clients in (1, 16):
        key = f"health_{clients}"
        ours, echo = (
            _get(results, "ours", key, "server_cpu_us_per_rt"),
            _get(results, "echo", key, "server_cpu_us_per_rt"),
        )
        value = f"{100 * echo / ours:.1f}%" if ours and echo else "–"
        lines.append(
            f"| echo / ours server CPU per rt, {clients} client{'s' if clients > 1 else ''} "
            f"(less load-sensitive) | {value}" + " |" * len(names) + " |"
        )
    if "original" in names and "skipped" not in results["original"]:
        for key, label in (("health_1", "1 client"), ("health_16", "16 clients")):
            ours, original = _get(results, "ours", key, "per_s"), _get(results, "original", key, "per_s")
            value = f"{100 * ours / original:.1f}%" if ours and original else "–"
            lines.append(f"| ours / original rt/s, {label} | {value}" + " |" * len(names) + " |")
    return "\n".join(lines)


def raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        new = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        if new < needed:
            print(f"warning: fd limit {new} < {needed}; idle connections may fail", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Benchmark the gateway against an echo server and the original."
    )
    parser.add_argument(
        "--seconds", type=float, default=5.0, help="duration of each round-trip phase (default 5)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="split each round-trip phase into this many slices, alternating servers (default 3)",
    )
    parser.add_argument("--connects", type=int, default=200, help="sequential connects timed (default 200)")
    parser.add_argument(
        "--idle", type=int, default=1000, help="idle connections for the RSS figure (default 1000)"
    )
    parser.add_argument(
        "--idle-mode",
        default="test",
        choices=["test", "cli"],
        help="client.mode of the idle connections (cli: not in presence; default test)",
    )
    parser.add_argument("--no-echo", action="store_true", help="skip the echo-server ceiling")
    parser.add_argument("--no-original", action="store_true", help="skip the original gateway even if set up")
    parser.add_argument("--py-spy", action="store_true", help="profile our gateway in the 16-client phase")
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args()
    if not (
        0 < args.seconds <= 600
        and 1 <= args.connects <= 100_000
        and 0 <= args.idle <= 10_000
        and 1 <= args.rounds <= 20
    ):
        parser.error(
            "--seconds must be in (0, 600], --connects in [1, 100000], --idle in [0, 10000], "
            "--rounds in [1, 20]"
        )
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM too runs the cleanup below
    raise_fd_limit(2 * args.idle + 512)  # children inherit it: the servers need one fd per connection too
    RESULTS.mkdir(exist_ok=True)
    registry: list[Server] = []
    tmp = Path(tempfile.mkdtemp(prefix="moltbot-bench-"))
    started = time.time()
    load_start = [round(x, 2) for x in os.getloadavg()]
    try:
        results = trio.run(run_all, args, tmp, registry)
    finally:
        for server in list(registry):  # anything still running after an error or Ctrl-C
            stop_server(server)
        shutil.rmtree(tmp, ignore_errors=True)
    report = {
        "meta": {
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
            "duration_s": round(time.time() - started, 1),
            "seconds": args.seconds,
            "rounds": args.rounds,
            "connects": args.connects,
            "idle": args.idle,
            "idle_mode": args.idle_mode,
            "py_spy": args.py_spy,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_start": load_start,
            "loadavg_end": [round(x, 2) for x in os.getloadavg()],
            "trio": trio.__version__,
            "commit": _git_commit(),
        },
        "servers": results,
    }
    report["targets"] = targets(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(table(report))
    for name, result in results.items():
        if result.get("failed"):
            print(f"\n{name} FAILED: {result['failed']}")
        for key in ("health_1", "health_16"):
            if result.get(key, {}).get("errors"):
                print(f"\n{name} {key}: error responses, e.g. {result[key]['errors'][:3]}")
        if result.get("idle", {}).get("closed_by_server"):
            print(f"\n{name}: idle connections closed by the server: {result['idle']['closed_by_server']}")
        if result.get("idle", {}).get("ramp_error"):
            print(f"\n{name}: idle ramp stopped: {result['idle']['ramp_error']}")
        if result.get("log_findings"):
            print(f"\n{name} log warnings/errors:\n  " + "\n  ".join(result["log_findings"]))
    print(
        f"\nload average at start {load_start}, at end {report['meta']['loadavg_end']} "
        f"(other processes share the {os.cpu_count()} CPUs: see 'other' CPU %)"
    )
    print(f"written to {args.out}")
    return 1 if any(result.get("failed") for result in results.values()) else 0


def _git_commit() -> str | None:
    try:
        return (
            subprocess.run(
                ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                capture_output=True,
                text=True,
                timeout=5,
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        return None


if __name__ == "__main__":
    sys.exit(main())
