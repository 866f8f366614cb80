"""Hostile-input benchmark, run by hand (not by pytest): what one bad peer costs everybody else (issue 15).

    python bench/bench_hostile.py [--cases all] [--held 1000,2000,5000] [--cycles 300] [--keepalive-wait 7]
    python bench/bench_hostile.py --url ws://127.0.0.1:18789 --token T [--pid N]   # a running gateway

Without ``--url`` it starts a gateway from this tree as a subprocess (``python -m moltbot gateway
--allow-unconfigured --port <free> --token …``, temporary HOME, ``/v1/responses`` enabled, the canvas host
off, the auth lockout raised so the bench's own failed connects never lock it out of its gateway).

1. Stalls and amplification. A bystander process (its own, so the bench's own work never shows in its
   figures) holds one authenticated connection and sends ``health`` back to back, noting each round trip.
   Each hostile frame or request is sent on its own connection; its window runs from the send until its
   answer (res, close or HTTP reply; "no answer in 10 s" otherwise) and three more bystander round trips.
   Figures per case: the bystander's round-trip p50/max in the window, the stall (max − idle p50),
   reply bytes / request bytes, and the gateway's RSS growth (settled RSS after − before).
2. Held connections: RSS and fds of the gateway with 1,000 / 2,000 / 5,000 authenticated connections
   (trio-websocket, opened in batches by 16 openers, each drained by a reader), then after they close.
3. Stuck clients: ``--cycles`` times, open a TCP connection, POST /tools/invoke with a wrong bearer with
   headers and body in two writes, read the 401, close; then as many that also send a second request on
   that connection (as a keep-alive client does) before closing. The gateway's fds and CLOSE-WAIT sockets
   before, right after, and after ``--keepalive-wait`` s; last, whether a ``Connection: close`` request's
   socket is closed after its answer.
Every wait is bounded. Prints markdown tables (each figure beside issue 15's limit) and writes
bench/results/hostile.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs
import psutil
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, connect_websocket_url

THIS = Path(__file__).resolve()
HERE = THIS.parent
REPO = HERE.parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))

import bench_gateway as bg  # noqa: E402  (process handling, the raw authenticated client)

TOKEN = "bench-token-0123456789"
ANSWER_TIMEOUT = 10.0  # one hostile answer, one bystander round trip, one HTTP reply
RECOVER_TIMEOUT = 30.0  # after a case, until the bystander gets quick answers again
START_TIMEOUT = 60.0
PACE = 0.002  # bystander pause between round trips: a stall S shows as a round trip ≥ S − PACE
MAX_REPLY_BYTES = 64 * 2**20
MAX_FRAMES = 100_000
NO_PROXY = "127.0.0.1,localhost"

LIMIT_STALL_MS = 50.0
LIMIT_RTT_MS = 100.0
LIMIT_REPLY_BYTES = 4096  # "an error res is at most a few KiB"

CONFIG: dict[str, Any] = {
    "gateway": {
        "auth": {"rateLimit": {"maxFailures": 1_000_000}},
        "http": {"endpoints": {"responses": {"enabled": True}}},
    },
    "canvasHost": {"enabled": False},
}


class BenchError(Exception):
    pass


# --- the gateway under test ---------------------------------------------------------------------------


@attrs.define
class Target:
    """The gateway: its URL, token and pid; ``server`` is set when this bench started it (and restarts it)."""

    url: str
    token: str
    pid: int
    server: bg.Server | None = None
    tmp: Path | None = None
    port: int = 0
    restarts: int = 0

    @property
    def http(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        return parts.hostname or "127.0.0.1", parts.port or 80

    def alive(self) -> bool:
        try:
            return psutil.Process(self.pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False


def _gateway_env(home: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "HOME": str(home),
        "CLAWDBOT_GATEWAY_TOKEN": TOKEN,
        "NO_PROXY": NO_PROXY,
        "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }
    for key in (
        "CLAWDBOT_GATEWAY_PORT",
        "CLAWDBOT_GATEWAY_PASSWORD",
        "CLAWDBOT_CONFIG_PATH",
        "CLAWDBOT_STATE_DIR",
    ):
        env.pop(key, None)
    return env


async def start_gateway(target: Target, registry: list[bg.Server]) -> None:
    """Start (or restart) the gateway of this tree on ``target.port``; returns once a client got hello-ok."""
    assert target.tmp is not None
    home = target.tmp / "home"
    state = home / ".clawdbot"
    state.mkdir(parents=True, mode=0o700, exist_ok=True)
    (state / "moltbot.json").write_text(json.dumps(CONFIG, indent=2) + "\n")
    argv = [
        sys.executable,
        "-m",
        "moltbot",
        "gateway",
        "--allow-unconfigured",
        "--port",
        str(target.port),
        "--token",
        TOKEN,
    ]
    server = bg._spawn(
        "gateway", argv, _gateway_env(home), target.tmp / f"gateway-{target.restarts}.log", home
    )
    server.file_logs = [state / "logs" / "*.log"]
    registry.append(server)
    match = await bg._wait_for_line(server, bg._LISTENING, START_TIMEOUT)
    server.url, server.token = match.group(1), TOKEN
    await bg.cold_start(server)
    target.server, target.url, target.token, target.pid = server, server.url, TOKEN, server.pid


async def ensure_alive(target: Target, registry: list[bg.Server]) -> str | None:
    """Restart a gateway this bench started if it died; returns what happened, for the report."""
    if target.alive():
        return None
    if target.server is None:
        raise BenchError(f"the gateway (pid {target.pid}) is gone")
    tail = target.server.log_path.read_text(errors="replace")[-600:]
    target.restarts += 1
    await start_gateway(target, registry)
    return f"gateway died (log tail: {tail!r}); restarted"


def find_listener_pid(url: str) -> int:
    port = urlsplit(url).port
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            return conn.pid
    raise BenchError(f"no process of this user listens on port {port}; pass --pid")


async def settled_rss(pid: int, limit: float = 15.0) -> int:
    """RSS once the gateway's CPU use has dropped (≤ ``limit`` s): queued frames written, garbage collected."""
    proc = psutil.Process(pid)
    proc.cpu_percent(None)
    quiet = 0
    with trio.move_on_after(limit):
        while quiet < 2:
            await trio.sleep(0.25)
            quiet = quiet + 1 if proc.cpu_percent(None) < 5.0 else 0
    return proc.memory_info().rss


async def sample_peak_rss(pid: int, peak: list[int]) -> None:
    """Keep the highest RSS seen in ``peak[0]`` (every 20 ms) until cancelled."""
    proc = psutil.Process(pid)
    while True:
        try:
            peak[0] = max(peak[0], proc.memory_info().rss)
        except psutil.NoSuchProcess:
            return
        await trio.sleep(0.02)


def fd_figures(pid: int) -> dict[str, int]:
    proc = psutil.Process(pid)
    conns = proc.net_connections(kind="tcp")
    return {
        "fds": proc.num_fds(),
        "tcp": len(conns),
        "close_wait": sum(1 for conn in conns if conn.status == psutil.CONN_CLOSE_WAIT),
    }


# --- the bystander (its own process) ------------------------------------------------------------------


def _emit(*fields: object) -> None:
    sys.stdout.write(" ".join(str(field) for field in fields) + "\n")
    sys.stdout.flush()


async def run_bystander(url: str, token: str) -> None:
    """Sequential ``health`` round trips forever, one line per round trip on stdout (monotonic clock, which
    is the same in every process): ``S <sent> <rtt>``, ``T <sent>`` when none came in ANSWER_TIMEOUT (then
    it reconnects), ``E <sent> <what>`` when the connection failed or was closed."""
    number = 0
    while True:
        try:
            async with trio.open_nursery() as nursery:
                ws = await bg.open_client(nursery, url, token, "cli")
                while True:
                    number += 1
                    request_id = f"b{number}"
                    sent = time.monotonic()
                    with trio.move_on_after(ANSWER_TIMEOUT) as scope:
                        await ws.send_message(f'{{"type":"req","id":"{request_id}","method":"health"}}')
                        await bg.wait_response(ws, request_id)
                    if scope.cancelled_caught:
                        _emit("T", f"{sent:.6f}")
                        break
                    _emit("S", f"{sent:.6f}", f"{time.monotonic() - sent:.6f}")
                    await trio.sleep(PACE)
                nursery.cancel_scope.cancel()
        except Exception as exc:  # noqa: BLE001 - whatever ends the connection is a figure; keep measuring
            _emit("E", f"{time.monotonic():.6f}", _why(exc))
            await trio.sleep(0.2)


def _why(exc: BaseException) -> str:
    """One line for what ended the bystander's connection: a close code and reason when there is one."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    if isinstance(exc, ConnectionClosed):
        return f"closed {exc.reason.code} {exc.reason.reason or ''}".strip()
    return repr(exc)[:200].replace("\n", " ")


@attrs.define
class Bystander:
    """The bystander process and the round trips it has reported: (sent, rtt or None for a timeout)."""

    samples: list[tuple[float, float | None]] = attrs.field(factory=list)
    errors: list[tuple[float, str]] = attrs.field(factory=list)
    arrived: trio.Event = attrs.field(factory=trio.Event)

    async def serve(self, target: Target, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        argv = [
            sys.executable,
            str(THIS),
            "--bystander",
            "--url",
            target.url,
            "--token",
            target.token,
            "--answer-timeout",
            str(ANSWER_TIMEOUT),
        ]
        async with trio.open_nursery() as nursery:
            process = await nursery.start(
                partial(
                    trio.run_process,
                    argv,
                    stdout=subprocess.PIPE,
                    check=False,
                    env={**os.environ, "NO_PROXY": NO_PROXY},
                )
            )
            task_status.started()
            pending = b""
            async for chunk in process.stdout:
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    self._note(line.decode(errors="replace").split(" ", 2))

    def _note(self, fields: list[str]) -> None:
        if fields[0] == "S":
            self.samples.append((float(fields[1]), float(fields[2])))
        elif fields[0] == "T":
            self.samples.append((float(fields[1]), None))
        elif fields[0] == "E":
            self.errors.append((float(fields[1]), fields[2] if len(fields) > 2 else ""))
        self.arrived.set()
        self.arrived = trio.Event()

    async def wait_quick(self, after: float, count: int, limit: float, quick: float = 1.0) -> bool:
        """Until ``count`` round trips sent after ``after`` answered within ``quick`` s (False on ``limit``)."""
        with trio.move_on_after(limit):
            while (
                sum(
                    1
                    for sent, rtt in self.samples[-200:]
                    if sent >= after and rtt is not None and rtt < quick
                )
                < count
            ):
                await self.arrived.wait()
            return True
        return False

    def window(self, start: float, end: float) -> dict[str, Any]:
        """Round trips overlapping [start, end]; a timeout counts as ANSWER_TIMEOUT."""
        rtts, timeouts = [], 0
        for sent, rtt in self.samples:
            span = ANSWER_TIMEOUT if rtt is None else rtt
            if sent <= end and sent + span >= start:
                rtts.append(span)
                timeouts += rtt is None
        rtts.sort()
        errors = [what for when, what in self.errors if start <= when <= end]
        out: dict[str, Any] = {
            "n": len(rtts),
            "timeouts": timeouts,
            "p50_ms": _ms(bg.percentile(rtts, 0.5)),
            "max_ms": _ms(rtts[-1] if rtts else None),
        }
        if errors:
            out["errors"] = errors[:5]
        return out


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


# --- hostile frames and requests ----------------------------------------------------------------------


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def connect_frame(request_id: str = "c1", **extra: Any) -> str:
    params = {
        "minProtocol": 3,
        "maxProtocol": 3,
        "client": {"id": "test", "version": "1", "platform": "linux", "mode": "cli"},
        **extra,
    }
    return _compact({"type": "req", "id": request_id, "method": "connect", "params": params})


def padded_connect(size: int) -> str:
    """A tokenless ``connect`` of exactly ``size`` bytes (the padding in ``userAgent``)."""
    base = connect_frame(userAgent="")
    return connect_frame(userAgent="x" * (size - len(base)))


def request_frame(request_id: str, method: str, params_json: str) -> str:
    return f'{{"type":"req","id":"{request_id}","method":"{method}","params":{params_json}}}'


def responses_request(host: str, port: int, token: str, size: int, content: Any = "hi") -> tuple[bytes, int]:
    """A ~``size``-byte /v1/responses body of user messages with ``content`` (None: no content, so every
    item is invalid); returns (request, items)."""
    item = _compact({"type": "message", "role": "user", **({} if content is None else {"content": content})})
    count = (size - 40) // (len(item) + 1)
    body = ('{"model":"moltbot","input":[' + ",".join([item] * count) + "]}").encode()
    head = (
        f"POST /v1/responses HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body, count


@attrs.frozen
class Case:
    key: str
    label: str
    stage: str  # "pre-auth" | "post-auth" | "http"
    build: Callable[[Target], Any]  # the frame (str) or the whole HTTP request (bytes, note)
    request_id: str | None = None


CASES = [
    Case(
        "connect_scopes",
        "connect, scopes = 100,000 non-strings",
        "pre-auth",
        lambda t: connect_frame(scopes=[0] * 100_000),
        "c1",
    ),
    Case("preauth_64k", "connect of 64 KiB + 1 bytes", "pre-auth", lambda t: padded_connect(65_537), "c1"),
    Case("preauth_1m", "connect of 1 MiB", "pre-auth", lambda t: padded_connect(2**20), "c1"),
    Case(
        "preauth_deep",
        "first frame nested 100,000 deep, with an id",
        "pre-auth",
        lambda t: request_frame("n1", "connect", "[" * 100_000 + "]" * 100_000),
        "n1",
    ),
    Case(
        "preview_keys",
        "sessions.preview, 100,000 keys",
        "post-auth",
        lambda t: request_frame("p1", "sessions.preview", _compact({"keys": ["a"] * 100_000})),
        "p1",
    ),
    Case(
        "preview_nonstrings",
        "sessions.preview, 100,000 non-string keys",
        "post-auth",
        lambda t: request_frame("p2", "sessions.preview", _compact({"keys": [0] * 100_000})),
        "p2",
    ),
    Case(
        "deep",
        "health params nested 100,000 deep, with an id",
        "post-auth",
        lambda t: request_frame("d1", "health", "[" * 100_000 + "]" * 100_000),
        "d1",
    ),
    Case(
        "bigint",
        "health params with a 10,000-digit integer",
        "post-auth",
        lambda t: request_frame("i1", "health", '{"n":' + "9" * 10_000 + "}"),
        "i1",
    ),
    Case(
        "responses_1m",
        "/v1/responses, 1 MiB body of input items (content strings)",
        "http",
        lambda t: responses_request(*t.http, t.token, 2**20),
    ),
    Case(
        "responses_parts",
        "/v1/responses, 1 MiB body of input items (content parts)",
        "http",
        lambda t: responses_request(*t.http, t.token, 2**20, [{"type": "input_text", "text": "hi"}]),
    ),
    Case(
        "responses_invalid",
        "/v1/responses, 1 MiB body of invalid input items (no content)",
        "http",
        lambda t: responses_request(*t.http, t.token, 2**20, None),
    ),
]


async def _read_answer(ws: WebSocketConnection, request_id: str | None, got: dict[str, Any]) -> None:
    """Frames until the ``res`` for ``request_id`` (then up to 1 s for a close) or the close."""
    for _ in range(MAX_FRAMES):
        try:
            message = await ws.get_message()
        except ConnectionClosed as exc:
            got["close"] = f"close {exc.reason.code} {exc.reason.reason or ''}".strip()[:70]
            return
        frame = json.loads(message)
        if frame.get("type") != "event":  # broadcasts (tick, health) are not this request's reply
            got["bytes"] += len(message.encode() if isinstance(message, str) else message)
        if frame.get("type") == "res" and frame.get("id") == request_id:
            error = frame.get("error") or {}
            got["res"] = (
                "res ok" if frame.get("ok") else f"res {error.get('code')}: {str(error.get('message'))[:70]}"
            )
            got["answered"] = time.monotonic()
            with trio.move_on_after(1.0):
                await _read_answer(ws, None, got)
            return


async def hostile_ws(target: Target, case: Case, frame: str, marks: dict[str, float]) -> dict[str, Any]:
    got: dict[str, Any] = {"bytes": 0}
    async with trio.open_nursery() as nursery:
        with trio.fail_after(ANSWER_TIMEOUT):
            if case.stage == "post-auth":
                ws = await bg.open_client(nursery, target.url, target.token, "cli")
            else:
                ws = await connect_websocket_url(nursery, target.url, max_message_size=MAX_REPLY_BYTES)
                await ws.get_message()  # connect.challenge
        marks["start"] = time.monotonic()
        with trio.move_on_after(ANSWER_TIMEOUT) as scope:
            try:
                await ws.send_message(frame)
            except ConnectionClosed as exc:
                got["close"] = (
                    f"close {exc.reason.code} {exc.reason.reason or ''}".strip() + " (while sending)"
                )
            else:
                await _read_answer(ws, case.request_id, got)
        if scope.cancelled_caught and "res" not in got:
            got["outcome"] = f"no answer in {ANSWER_TIMEOUT:.0f} s"
        marks["end"] = got.pop("answered", None) or time.monotonic()
        with trio.move_on_after(1):
            await ws.aclose()
        nursery.cancel_scope.cancel()
    got["outcome"] = " + ".join(
        filter(None, [got.pop("res", None), got.pop("close", None), got.get("outcome")])
    )
    return got


async def read_http(stream: trio.SocketStream) -> bytes:
    """One HTTP response: its head and Content-Length body (not until EOF: after an answer to a request
    with ``Connection: close`` the gateway keeps the socket open for a while)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = await stream.receive_some(65536)
        if not chunk:
            return data
        data += chunk
        if len(data) > MAX_REPLY_BYTES:
            raise BenchError("reply too large")
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    while len(body) < length:
        chunk = await stream.receive_some(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


async def hostile_http(target: Target, request: bytes, marks: dict[str, float]) -> dict[str, Any]:
    got: dict[str, Any] = {"bytes": 0}
    with trio.fail_after(ANSWER_TIMEOUT):
        stream = await trio.open_tcp_stream(*target.http)
    async with stream:
        marks["start"] = time.monotonic()
        with trio.move_on_after(ANSWER_TIMEOUT) as scope:
            try:
                await stream.send_all(request)
            except trio.BrokenResourceError:
                got["outcome"] = "closed while sending; "
            reply = await read_http(stream)
        marks["end"] = time.monotonic()
    if scope.cancelled_caught:
        got["outcome"] = f"no answer in {ANSWER_TIMEOUT:.0f} s"
        return got
    got["bytes"] = len(reply)
    status = reply.split(b"\r\n", 1)[0].decode(errors="replace")
    body = reply.partition(b"\r\n\r\n")[2]
    got["outcome"] = got.get("outcome", "") + f"{status[9:]} {body[:90].decode(errors='replace')}".strip()
    return got


async def run_case(
    target: Target, bystander: Bystander, case: Case, registry: list[bg.Server]
) -> dict[str, Any]:
    built = case.build(target)
    request, note = built if isinstance(built, tuple) else (built, None)
    size = len(request.encode() if isinstance(request, str) else request)
    rss_before = await settled_rss(target.pid)
    marks: dict[str, float] = {}
    peak = [rss_before]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(sample_peak_rss, target.pid, peak)
        if case.stage == "http":
            got = await hostile_http(target, request, marks)
        else:
            got = await hostile_ws(target, case, request, marks)
        nursery.cancel_scope.cancel()
    recovered = await bystander.wait_quick(marks["end"], 3, RECOVER_TIMEOUT)
    end = max(marks["end"], bystander.samples[-1][0] if bystander.samples else marks["end"])
    result: dict[str, Any] = {
        "label": case.label,
        "stage": case.stage,
        "request_bytes": size,
        "outcome": got["outcome"],
        "reply_bytes": got["bytes"],
        "amplification": round(got["bytes"] / size, 3),
        "error_reply": not got["outcome"].startswith(("res ok", "200", "202", "no answer")),
        "rss_peak_growth_mb": round((peak[0] - rss_before) / 2**20, 1),
        "answer_ms": round((marks["end"] - marks["start"]) * 1000, 1),
        "bystander": bystander.window(marks["start"], end),
    }
    if note is not None:
        result["items"] = note
    if not recovered:
        result["bystander_recovered"] = f"no quick bystander answers within {RECOVER_TIMEOUT:.0f} s"
    restarted = await ensure_alive(target, registry)
    if restarted:
        result["gateway"] = restarted
    else:
        result["rss_growth_mb"] = round((await settled_rss(target.pid) - rss_before) / 2**20, 1)
    return result


# --- held connections ---------------------------------------------------------------------------------


async def held_connections(target: Target, steps: list[int]) -> dict[str, Any]:
    """RSS/fds of the gateway with ``steps`` authenticated connections held open, then after closing."""
    out: dict[str, Any] = {
        "rss_idle_mb": round(await settled_rss(target.pid) / 2**20, 1),
        "fds_idle": psutil.Process(target.pid).num_fds(),
        "steps": [],
    }
    connections: list[WebSocketConnection] = []
    closing = [False]
    closed_by_gateway: dict[str, int] = {}

    async def drain(ws: WebSocketConnection) -> None:
        try:
            while True:
                await ws.get_message()
        except ConnectionClosed as exc:
            if not closing[0]:
                key = f"{exc.reason.code} {exc.reason.reason or ''}".strip()
                closed_by_gateway[key] = closed_by_gateway.get(key, 0) + 1

    async def opener(nursery: trio.Nursery, quota: int) -> None:
        for _ in range(quota):
            ws = await bg.open_client(nursery, target.url, target.token, "cli")
            connections.append(ws)
            nursery.start_soon(drain, ws)

    async with trio.open_nursery() as nursery:
        for step in steps:
            started, missing = time.monotonic(), step - len(connections)
            ramp: dict[str, Any] = {"target": step}
            try:
                with trio.fail_after(60 + missing * 0.1):
                    async with trio.open_nursery() as openers:
                        for index in range(bg.RAMP_CONCURRENCY):
                            quota = missing // bg.RAMP_CONCURRENCY + (index < missing % bg.RAMP_CONCURRENCY)
                            openers.start_soon(opener, nursery, quota)
            except (trio.TooSlowError, ExceptionGroup, OSError) as exc:
                out["ramp_error"] = repr(exc)[:300]
            ramp.update(opened=len(connections), ramp_s=round(time.monotonic() - started, 1))
            rss = await settled_rss(target.pid)
            ramp.update(
                rss_mb=round(rss / 2**20, 1),
                fds=psutil.Process(target.pid).num_fds(),
                kib_per_connection=round(
                    (rss / 2**20 - out["rss_idle_mb"]) * 1024 / max(1, len(connections)), 1
                ),
            )
            out["steps"].append(ramp)
            if "ramp_error" in out:
                break
        closing[0] = True
        await bg.close_all(connections, limit=60)
        nursery.cancel_scope.cancel()
    await trio.sleep(1)  # the gateway notices the closes
    out["rss_after_close_mb"] = round(await settled_rss(target.pid) / 2**20, 1)
    out["fds_after_close"] = psutil.Process(target.pid).num_fds()
    out["closed_by_gateway"] = closed_by_gateway
    return out


# --- stuck clients ------------------------------------------------------------------------------------


def _split_post(target: Target) -> tuple[bytes, bytes]:
    host, port = target.http
    body = b'{"tool":"sessions_list","args":{}}'
    head = (
        f"POST /tools/invoke HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer wrong-token\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head, body


async def _early_401(target: Target, stream: trio.SocketStream, gap: float) -> bytes:
    """Headers, then after ``gap`` the body in a second write (as curl, browsers and httpx send it: on
    loopback a body written right behind its headers usually lands in the same read, and the gateway's
    early answer is not exercised); returns the answer."""
    head, body = _split_post(target)
    await stream.send_all(head)
    await trio.sleep(gap)
    await stream.send_all(body)
    return await read_http(stream)


def _status(reply: bytes) -> str:
    return reply.split(b"\r\n", 1)[0].decode(errors="replace")[9:12] or "closed"


async def stuck_cycle(target: Target, gap: float, reuse_wait: float | None) -> str:
    """One client: the split POST, its 401, then (``reuse_wait`` set) a second request on the same
    keep-alive connection, waited for ``reuse_wait`` s, as a pooled HTTP client would; then close."""
    with trio.move_on_after(ANSWER_TIMEOUT):
        try:
            async with await trio.open_tcp_stream(*target.http) as stream:
                first = await _early_401(target, stream, gap)
                if reuse_wait is None or not first or b"connection: close" in first.lower():
                    return _status(first) + (
                        " + Connection: close" if b"connection: close" in first.lower() else ""
                    )
                await stream.send_all(b"".join(_split_post(target)))
                with trio.move_on_after(reuse_wait):
                    return f"{_status(first)}, then {_status(await read_http(stream))}"
                return f"{_status(first)}, then no answer in {reuse_wait:g} s"
        except (OSError, trio.BrokenResourceError) as exc:
            return f"failed: {type(exc).__name__}"
    return f"no answer in {ANSWER_TIMEOUT:.0f} s"


async def close_probe(target: Target, path: str = "/") -> str:
    """A request with ``Connection: close``: how long until the gateway closes the socket after its answer."""
    host, port = target.http
    with trio.fail_after(ANSWER_TIMEOUT):
        stream = await trio.open_tcp_stream(host, port)
    async with stream:
        await stream.send_all(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode()
        )
        started, status = time.monotonic(), ""
        with trio.move_on_after(ANSWER_TIMEOUT):
            status = _status(await read_http(stream))
            while await stream.receive_some(65536):
                pass
            return f"GET {path} {status}, socket closed by the gateway after {1000 * (time.monotonic() - started):.0f} ms"
        return f"GET {path} {status or 'no answer'}, socket still open after {ANSWER_TIMEOUT:.0f} s"


async def stuck_clients(target: Target, args: argparse.Namespace, reuse: bool) -> dict[str, Any]:
    """``args.cycles`` stuck-client cycles one after the other (with several at once the gateway is busier
    and reads body and headers together, so fewer get stuck), the gateway's fds/sockets before, right
    after and after ``args.keepalive_wait`` s."""
    out: dict[str, Any] = {
        "cycles": args.cycles,
        "reuse_wait_s": args.reuse_wait if reuse else None,
        "split_gap_ms": args.split_gap,
        "before": fd_figures(target.pid),
    }
    answers: dict[str, int] = {}
    started = time.monotonic()

    for _ in range(args.cycles):
        answer = await stuck_cycle(target, args.split_gap / 1000, args.reuse_wait if reuse else None)
        answers[answer] = answers.get(answer, 0) + 1
    out["cycles_s"] = round(time.monotonic() - started, 1)
    out["answers"] = answers
    out["right_after"] = fd_figures(target.pid)
    await trio.sleep(args.keepalive_wait)
    out["after_wait"] = fd_figures(target.pid)
    return out


# --- report -------------------------------------------------------------------------------------------


def _mark(ok: bool | None) -> str:
    return "" if ok is None else " ✓" if ok else " ✗"


def _kib(size: int) -> str:
    return f"{size / 1024:,.1f} KiB" if size < 2**20 else f"{size / 2**20:,.2f} MiB"


def cases_table(report: dict[str, Any]) -> str:
    idle = report["bystander_idle"]
    lines = [
        f"Bystander idle: health round trip p50 {idle['p50_ms']} ms, max {idle['max_ms']} ms "
        f"({idle['n']} round trips).",
        "",
        f"| case | stage | request | outcome | reply (≤ {LIMIT_REPLY_BYTES // 1024} KiB) | reply/request | "
        f"bystander rtt p50 / max ms (< {LIMIT_RTT_MS:.0f}) | stall ms (≤ {LIMIT_STALL_MS:.0f}) | "
        f"RSS growth MB, peak / kept |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for result in report["cases"].values():
        if "failed" in result:
            lines.append(
                f"| {result['label']} | {result.get('stage', '')} | | FAILED: {result['failed']} | | | | | |"
            )
            continue
        window = result["bystander"]
        worst = window["max_ms"]
        stall = (
            None if worst is None or idle["p50_ms"] is None else round(max(0.0, worst - idle["p50_ms"]), 1)
        )
        timeouts = f", {window['timeouts']} timed out" if window["timeouts"] else ""
        if window.get("errors"):
            timeouts += f"; bystander {', '.join(window['errors'])}"
        outcome = result["outcome"].replace("|", "/")
        growth = f"{result['rss_peak_growth_mb']} / {result.get('rss_growth_mb', result.get('gateway', ''))}"
        reply_ok = result["reply_bytes"] <= LIMIT_REPLY_BYTES if result["error_reply"] else None
        lines.append(
            f"| {result['label']} | {result['stage']} | {_kib(result['request_bytes'])} | {outcome} "
            f"({result['answer_ms']:.0f} ms) | {_kib(result['reply_bytes'])}"
            f"{_mark(reply_ok)} | {result['amplification']:g} | "
            f"{window['p50_ms']} / {worst}{timeouts}{_mark(worst is not None and worst < LIMIT_RTT_MS)} | "
            f"{stall}{_mark(stall is not None and stall <= LIMIT_STALL_MS)} | {growth} |"
        )
    return "\n".join(lines)


def held_table(held: dict[str, Any]) -> str:
    lines = [
        "| held authenticated connections | RSS MB | KiB / connection | gateway fds | ramp s |",
        "| --- | --- | --- | --- | --- |",
        f"| 0 | {held['rss_idle_mb']} | | {held['fds_idle']} | |",
    ]
    for step in held["steps"]:
        opened = (
            step["opened"] if step["opened"] == step["target"] else f"{step['opened']} of {step['target']}"
        )
        lines.append(
            f"| {opened} | {step['rss_mb']} | {step['kib_per_connection']} | {step['fds']} | {step['ramp_s']} |"
        )
    lines.append(f"| after closing all | {held['rss_after_close_mb']} | | {held['fds_after_close']} | |")
    window = held.get("bystander") or {}
    lines.append(
        f"\nbystander health round trip during the ramps: p50 {window.get('p50_ms')} ms, max "
        f"{window.get('max_ms')} ms ({window.get('n')} round trips)"
    )
    if held.get("ramp_error"):
        lines.append(f"\nramp stopped: {held['ramp_error']}")
    if held.get("closed_by_gateway"):
        lines.append(f"\nclosed by the gateway: {held['closed_by_gateway']}")
    return "\n".join(lines)


def stuck_table(stuck: dict[str, Any], keepalive_wait: float) -> str:
    lines = [
        f"| stuck-client cycles | fds before / right after / after {keepalive_wait:g} s | "
        f"CLOSE-WAIT before / right after / after {keepalive_wait:g} s (limit 0) | answers |",
        "| --- | --- | --- | --- |",
    ]
    for run in stuck.values():
        before, after, later = run["before"], run["right_after"], run["after_wait"]
        kind = (
            "split POST, 401, close"
            if run["reuse_wait_s"] is None
            else f"split POST, 401, second request (waited {run['reuse_wait_s']:g} s), close"
        )
        answers = ", ".join(f"{count}× {answer}" for answer, count in run["answers"].items())
        lines.append(
            f"| {run['cycles']} × {kind} | {before['fds']} / {after['fds']} / {later['fds']} | "
            f"{before['close_wait']} / {after['close_wait']} / {later['close_wait']}"
            f"{_mark(later['close_wait'] == 0)} | {answers} ({run['cycles_s']} s) |"
        )
    return "\n".join(lines)


# --- main ---------------------------------------------------------------------------------------------


async def fresh_gateway(target: Target, registry: list[bg.Server], bystander: Bystander) -> None:
    """A new gateway process for the next phase (only one this bench started), so one phase's memory and
    sockets do not show in the next one's figures; the bystander reconnects (same port)."""
    if target.server is None:
        return
    bg.stop_server(target.server)
    target.restarts += 1
    await start_gateway(target, registry)
    if not await bystander.wait_quick(time.monotonic(), 3, START_TIMEOUT):
        raise BenchError("the bystander did not reconnect to the new gateway")


async def run_cases(
    args: argparse.Namespace,
    target: Target,
    registry: list[bg.Server],
    bystander: Bystander,
    report: dict[str, Any],
) -> None:
    idle_start = time.monotonic()
    await trio.sleep(2.0)
    report["bystander_idle"] = bystander.window(idle_start, time.monotonic())
    for case in CASES:
        if args.cases != "all" and case.key not in args.cases.split(","):
            continue
        print(f"  {case.label} ...", file=sys.stderr)
        try:
            report["cases"][case.key] = await run_case(target, bystander, case, registry)
        except Exception as exc:  # noqa: BLE001 - one broken case must not hide the others' figures
            traceback.print_exc()
            report["cases"][case.key] = {
                "label": case.label,
                "stage": case.stage,
                "failed": f"{type(exc).__name__}: {exc}"[:300],
            }
            await ensure_alive(target, registry)


async def run_all(args: argparse.Namespace, target: Target, registry: list[bg.Server]) -> dict[str, Any]:
    report: dict[str, Any] = {"cases": {}}
    if target.server is None and target.tmp is not None:
        await start_gateway(target, registry)
    bystander = Bystander()
    async with trio.open_nursery() as nursery:
        await nursery.start(bystander.serve, target)
        if not await bystander.wait_quick(0.0, 1, START_TIMEOUT):
            raise BenchError(
                f"the bystander got no answer within {START_TIMEOUT:.0f} s: {bystander.errors[-3:]}"
            )
        await run_cases(args, target, registry, bystander, report)
        if args.held:
            await fresh_gateway(target, registry, bystander)
            print(f"  held connections {args.held} ...", file=sys.stderr)
            started = time.monotonic()
            report["held"] = await held_connections(target, [int(n) for n in args.held.split(",")])
            report["held"]["bystander"] = bystander.window(started, time.monotonic())
        if args.cycles:
            await fresh_gateway(target, registry, bystander)
            report["stuck"] = {}
            for name, reuse in (("close", False), ("reuse", True)):
                print(f"  {args.cycles} stuck-client cycles ({name}) ...", file=sys.stderr)
                report["stuck"][name] = await stuck_clients(target, args, reuse)
            report["connection_close"] = await close_probe(target)
        report["bystander_errors"] = [what for _, what in bystander.errors][:20]
        nursery.cancel_scope.cancel()
    if target.server is not None:
        report["gateway_log_findings"] = bg.log_findings(target.server)
    return report


def raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    if wanted < needed:
        print(f"warning: fd limit {wanted} < {needed}; held connections may fail", file=sys.stderr)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running gateway (ws://host:port); default: start one from this tree")
    parser.add_argument("--token", default=TOKEN)
    parser.add_argument("--pid", type=int, help="the running gateway's pid (default: the port's listener)")
    parser.add_argument(
        "--cases",
        default="all",
        help="comma-separated case keys, 'all', or '' for none: " + ",".join(case.key for case in CASES),
    )
    parser.add_argument("--held", default="1000,2000,5000", help="held connection counts ('' to skip)")
    parser.add_argument("--cycles", type=int, default=300, help="stuck-client cycles (0 to skip)")
    parser.add_argument(
        "--keepalive-wait",
        type=float,
        default=7.0,
        help="seconds to wait before counting sockets again (gateway keep-alive: 5 s)",
    )
    parser.add_argument(
        "--split-gap",
        type=float,
        default=10.0,
        help="ms between the POST's headers and its body (default 10)",
    )
    parser.add_argument(
        "--reuse-wait",
        type=float,
        default=0.25,
        help="s a reusing client waits for its second answer before closing (default 0.25)",
    )
    parser.add_argument(
        "--answer-timeout",
        type=float,
        default=ANSWER_TIMEOUT,
        help=f"s to wait for any one answer (default {ANSWER_TIMEOUT:g})",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "hostile.json")
    parser.add_argument("--bystander", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> int:
    global ANSWER_TIMEOUT
    args = parse_args()
    ANSWER_TIMEOUT = args.answer_timeout
    if args.bystander:
        trio.run(run_bystander, args.url, args.token)
        return 0
    held = [int(n) for n in args.held.split(",") if n]
    raise_fd_limit(
        max(held, default=0) * 2 + 1024
    )  # the gateway inherits it: one fd per connection there too
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    registry: list[bg.Server] = []
    started, load_start = time.time(), [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="bench-hostile-") as tmp:
        if args.url:
            target = Target(args.url, args.token, args.pid or find_listener_pid(args.url))
        else:
            target = Target("", TOKEN, 0, tmp=Path(tmp), port=bg.free_port())
        try:
            report = trio.run(run_all, args, target, registry)
        finally:
            for server in registry:
                bg.stop_server(server)
    report["meta"] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "duration_s": round(time.time() - started, 1),
        "commit": bg._git_commit(),
        "gateway": args.url or "this tree, subprocess",
        "restarts": target.restarts,
        "cpus": os.cpu_count(),
        "loadavg_start": load_start,
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "args": {k: str(v) for k, v in vars(args).items() if k != "token"},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    if report["cases"]:
        print(cases_table(report))
    if "held" in report:
        print("\n" + held_table(report["held"]))
    if "stuck" in report:
        print("\n" + stuck_table(report["stuck"], args.keepalive_wait))
        print(f"\nrequest with Connection: close: {report['connection_close']} (limit: closed at once)")
    for finding in report.get("gateway_log_findings") or []:
        print("gateway log:", finding)
    print(
        f"\nload average at start {load_start}, at end {report['meta']['loadavg_end']} "
        f"({os.cpu_count()} CPUs shared with whatever else runs); written to {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
