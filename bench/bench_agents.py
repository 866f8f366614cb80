"""Agent-turn benchmark, run by hand (not by pytest): turns/s and turn latency through the gateway.

    python bench/bench_agents.py [--seconds 5] [--sessions 50] [--max-concurrent N] [--py-spy]

(a) The echo provider (the offline default): ``agent`` turns through the WebSocket with 1 session and with
    ``--sessions`` (50) concurrent sessions: one connection per session (sessionKey ``agent:main:bench-N``),
    each sending ``agent`` requests with unique idempotencyKeys one after the other and waiting for the
    final ``res`` (the second one on the request id, after ``accepted``); events are skipped (counted).
    Turns/s and p50/p99 turn latency over ``--seconds`` after a warm-up.
(b) The gateway's added cost over a direct call to the model: a fake OpenAI-compatible server
    (``tests/fakes/openai.py``, in its own process, streaming a short fixed reply as real SSE) is called
    directly from this process (httpx, the very body the gateway sends — captured by the fake from the
    gateway's first request — one pooled client), p50/p99 one call at a time; then full ``agent`` turns
    through a gateway configured with that provider (``local/fake-model``), 1 session. The p50 difference is
    the gateway's added latency (target <= 2 ms). Then turns/s with ``--sessions`` sessions through the
    gateway vs as many concurrent direct calls (target <= 5 % throughput loss).

Every process is its own (gateway, fake server, this client) on 127.0.0.1; the CPU each used during each
measured window is reported, since the machine has 2 cores. Prints a markdown table and writes
bench/results/agents.json. ``--py-spy`` samples the gateway during its phases (figures then perturbed)
into bench/results/py-spy-agents-<phase>.txt.

``--max-concurrent`` sets ``agents.defaults.maxConcurrent`` (the main lane's global run limit) in both
gateways' config; by default it equals ``--sessions``, so that 50 sessions may run at once like the 50
direct calls they are compared with (``--max-concurrent 0`` keeps the gateway's default, 4).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs
import httpx
import psutil
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection

THIS = Path(__file__).resolve()
HERE = THIS.parent
REPO = HERE.parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))

import bench_gateway as bg  # noqa: E402  (process handling and the raw WebSocket client)

TOKEN = "bench-token-0123456789"
API_KEY = "sk-bench-0123456789"
MODEL = "fake-model"
MESSAGE = "hello there, how are you today?"
REPLY_PARTS = ("Hello", "! I am", " fine,", " thank", " you.")  # the fake's fixed streamed reply

MAX_FRAMES_PER_TURN = 100_000  # frames read while waiting for one turn's final res
MAX_FRAMES_PER_CONNECTION = 50_000_000
MAX_TURNS_PER_CLIENT = 1_000_000
MAX_SSE_LINES = 10_000
TURN_TIMEOUT = 60.0  # one turn (50 sessions queue behind the lane limit)
WARMUP_MAX = 120.0  # until every worker has finished one turn
START_TIMEOUT = 60.0
NO_PROXY = "127.0.0.1,localhost"

TARGET_ADDED_P50_MS = 2.0
TARGET_THROUGHPUT_LOSS = 0.05

_FAKE_LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:(\d+)) \(pid (\d+)")


class BenchError(Exception):
    pass


# --- the fake model server (this file run with --serve-fake-openai) -----------------------------------


class _Forget(list):
    """A list that keeps nothing: the fake records every request, which a benchmark must not."""

    def append(self, item: Any) -> None:
        pass


def serve_fake_openai(capture: Path | None) -> None:
    """Serve the fake Chat Completions API on 127.0.0.1 (port 0) until killed; write the first request
    body to ``capture`` (for the direct calls to replay)."""
    sys.path.insert(0, str(REPO))
    from tests.fakes.openai import open_fake_openai, text_reply

    async def serve() -> None:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async with open_fake_openai(default=text_reply(*REPLY_PARTS), api_key=API_KEY) as fake:
                fake.requests = _Forget()
                route = fake.route
                captured = [capture is None]

                def capturing(request: Any) -> Any:
                    answer = route(request) if route else None
                    if answer is None and not captured[0] and request.path.endswith("/chat/completions"):
                        captured[0] = True
                        tmp = capture.with_suffix(".tmp")
                        tmp.write_bytes(request.body)
                        os.replace(tmp, capture)
                    return answer

                fake.route = capturing
                print(f"fake openai listening on {fake.url} (pid {os.getpid()})", file=sys.stderr, flush=True)
                async for _ in signals:  # SIGTERM: leave the server's block, which closes it
                    break

    trio.run(serve)


# --- processes ----------------------------------------------------------------------------------------


def _child_env(home: Path | None = None) -> dict[str, str]:
    env = {**os.environ, "NO_PROXY": NO_PROXY, "no_proxy": NO_PROXY}
    for key in (
        "CLAWDBOT_GATEWAY_PORT",
        "CLAWDBOT_GATEWAY_PASSWORD",
        "CLAWDBOT_CONFIG_PATH",
        "CLAWDBOT_STATE_DIR",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ):
        env.pop(key, None)
    if home is not None:
        env["HOME"] = str(home)
        env["CLAWDBOT_GATEWAY_TOKEN"] = TOKEN
    return env


def _write_config(home: Path, config: dict[str, Any]) -> None:
    state = home / ".clawdbot"
    state.mkdir(parents=True, mode=0o700)
    if config:
        (state / "moltbot.json").write_text(json.dumps(config, indent=2) + "\n")


async def start_gateway(name: str, tmp: Path, registry: list[bg.Server], config: dict[str, Any]) -> bg.Server:
    """``python -m moltbot gateway --allow-unconfigured --port 0 --token …`` with a temporary HOME holding
    ``config`` as ``~/.clawdbot/moltbot.json``; returns once a client got hello-ok."""
    home = tmp / f"home-{name}"
    _write_config(home, config)
    server = bg._spawn(
        name,
        [sys.executable, "-m", "moltbot", "gateway", "--allow-unconfigured", "--port", "0", "--token", TOKEN],
        _child_env(home),
        tmp / f"{name}.log",
        home,
    )
    server.file_logs = [home / ".clawdbot" / "logs" / "*.log"]
    registry.append(server)
    match = await bg._wait_for_line(server, bg._LISTENING, START_TIMEOUT)
    server.url, server.token = match.group(1), TOKEN
    await bg.cold_start(server)
    return server


async def start_fake(tmp: Path, registry: list[bg.Server], capture: Path) -> bg.Server:
    server = bg._spawn(
        "fake-openai",
        [sys.executable, str(THIS), "--serve-fake-openai", "--capture", str(capture)],
        _child_env(),
        tmp / "fake-openai.log",
        tmp,
    )
    registry.append(server)
    match = await bg._wait_for_line(server, _FAKE_LISTENING, START_TIMEOUT)
    server.url = match.group(1)
    return server


def stop(server: bg.Server, registry: list[bg.Server]) -> list[str]:
    bg.stop_server(server)
    if server in registry:
        registry.remove(server)
    return bg.log_findings(server)


class CpuMeter:
    """CPU seconds used during a window by each named process, by this one (the client) and by the rest."""

    def __init__(self, servers: dict[str, bg.Server]) -> None:
        self.procs = {name: psutil.Process(server.pid) for name, server in servers.items()}
        self.procs["client"] = psutil.Process()
        self.used: dict[str, float] = {}
        self.wall = 0.0

    @staticmethod
    def _busy() -> float:
        times = psutil.cpu_times()
        return sum(times) - times.idle - getattr(times, "iowait", 0.0)

    def _sample(self) -> dict[str, float]:
        out = {}
        for name, proc in self.procs.items():
            times = proc.cpu_times()
            out[name] = times.user + times.system
        out["_busy"] = self._busy()
        return out

    def begin(self) -> None:
        self._start, self._t0 = self._sample(), time.perf_counter()

    def end(self) -> None:
        end = self._sample()
        self.wall = time.perf_counter() - self._t0
        self.used = {name: end[name] - self._start[name] for name in self.procs}
        self.used["other"] = max(0.0, end["_busy"] - self._start["_busy"] - sum(self.used.values()))

    def summary(self, count: int) -> dict[str, Any]:
        wall = self.wall or 1.0
        out: dict[str, Any] = {
            "cpu_percent": {name: round(100 * used / wall) for name, used in self.used.items()}
        }
        if count:
            out["cpu_us_per_turn"] = {
                name: round(1e6 * used / count) for name, used in self.used.items() if name != "other"
            }
        return out


# --- measuring ----------------------------------------------------------------------------------------


def in_window(completions: list[float], start_at: float, seconds: float) -> int:
    return sum(1 for finished in completions if start_at <= finished < start_at + seconds)


def summarize(
    samples: list[float], completions: list[float], start_at: float, seconds: float, extra: dict[str, Any]
) -> dict[str, Any]:
    """turns/s = turns that ended inside the window (the same window as the CPU figures: a steady-state
    rate even when a turn lasts longer than the window), latency percentiles of the turns that started
    inside it, and turns/s per slice of the window (≈1 s each)."""
    slices = max(1, min(10, round(seconds)))
    width = seconds / slices
    per_slice = [0] * slices
    for finished in completions:
        index = math.floor((finished - start_at) / width)
        if 0 <= index < slices:
            per_slice[index] += 1
    ended = sum(per_slice)
    result = {
        "turns": ended,
        "seconds": seconds,
        "per_s": round(ended / seconds, 1),
        **bg.latency_summary(samples),
        "per_s_slices": [round(n / width, 1) for n in per_slice],
    }
    result.update(extra)
    return result


@attrs.define
class Window:
    """The measured window, shared by the workers: ``start_at``/``stop_at`` are set once every worker has
    finished one turn (and at least the minimum warm-up passed), so that a slow first round (50 sessions
    queueing) is never measured."""

    workers: int
    start_at: float = math.inf
    stop_at: float = math.inf
    warmed: int = 0
    all_warm: trio.Event = attrs.field(factory=trio.Event)

    def warm(self) -> None:
        self.warmed += 1
        if self.warmed >= self.workers:
            self.all_warm.set()


async def measured_window(
    window: Window,
    workers: list[Callable[[], Awaitable[None]]],
    seconds: float,
    meter: CpuMeter,
    profile: bg.PySpy | None = None,
) -> None:
    """Run the workers through a warm-up then ``seconds`` of measure; the CPU meter (and the profiler)
    cover exactly the measured window. Each worker calls ``window.warm()`` after its first turn and stops
    starting turns at ``window.stop_at``."""
    min_warmup = min(1.0, max(0.3, seconds / 5))

    async def clock() -> None:
        await trio.sleep(min_warmup)
        with trio.fail_after(WARMUP_MAX):
            await window.all_warm.wait()
        window.start_at = time.perf_counter()
        window.stop_at = window.start_at + seconds
        meter.begin()
        if profile is not None:
            profile.start(seconds)
        await trio.sleep(seconds)
        meter.end()

    try:
        with trio.fail_after(min_warmup + WARMUP_MAX + seconds + TURN_TIMEOUT + 30):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(clock)
                for work in workers:
                    nursery.start_soon(work)
    finally:
        if profile is not None:
            profile.finish()


@attrs.define(eq=False)
class _Pending:
    """One turn in flight: when its ``accepted`` arrived, and its final ``res``."""

    accepted_at: float | None = None
    final: dict[str, Any] | None = None
    done: trio.Event = attrs.field(factory=trio.Event)


async def _dispatch(
    ws: WebSocketConnection, pending: dict[str, _Pending], window: Window, frames: list[int]
) -> None:
    """Read one connection's frames: responses go to their turn, everything received inside the measured
    window is counted (events are recognised without parsing them)."""
    for _ in range(MAX_FRAMES_PER_CONNECTION):
        try:
            message = await ws.get_message()
        except ConnectionClosed:
            return
        if window.start_at <= time.perf_counter() < window.stop_at:
            frames[0] += 1
        if message.startswith('{"type":"event"'):
            continue
        frame = json.loads(message)
        turn = pending.get(frame.get("id")) if frame.get("type") == "res" else None
        if turn is None:
            continue
        if frame.get("ok") and (frame.get("payload") or {}).get("status") == "accepted":
            turn.accepted_at = time.perf_counter()
            continue
        turn.final = frame
        turn.done.set()
    raise BenchError(f"more than {MAX_FRAMES_PER_CONNECTION} frames on one connection")


async def gateway_turns(
    server: bg.Server,
    sessions: int,
    seconds: float,
    watched: dict[str, bg.Server],
    profile: bg.PySpy | None = None,
    connections: int | None = None,
) -> dict[str, Any]:
    """``sessions`` sessions, each doing sequential ``agent`` turns (unique idempotencyKey, wait for the
    final ``res``), over ``connections`` connections (default: one per session; session i uses
    connection i mod connections). Turns that started in the measured window count (≈ exact window)."""
    connections = sessions if connections is None else connections
    tag = uuid.uuid4().hex[:8]
    samples: list[float] = []
    accepted: list[float] = []
    completions: list[float] = []
    frames = [0]
    errors: list[Any] = []
    window = Window(sessions)
    pending: list[dict[str, _Pending]] = [{} for _ in range(connections)]

    def client(
        index: int, ws: WebSocketConnection, mine: dict[str, _Pending]
    ) -> Callable[[], Awaitable[None]]:
        session_key = json.dumps(f"agent:main:bench-{index}")
        message = json.dumps(MESSAGE)

        async def run() -> None:
            for number in range(MAX_TURNS_PER_CLIENT):
                now = time.perf_counter()
                if now >= window.stop_at:
                    return
                request_id = f"t{index}-{number}"
                frame = (
                    '{"type":"req","id":"'
                    + request_id
                    + '","method":"agent","params":{"message":'
                    + message
                    + ',"sessionKey":'
                    + session_key
                    + ',"idempotencyKey":"'
                    + f"{tag}-{index}-{number}"
                    + '"}}'
                )
                turn = mine[request_id] = _Pending()
                try:
                    with trio.fail_after(TURN_TIMEOUT):
                        await ws.send_message(frame)
                        await turn.done.wait()
                finally:
                    del mine[request_id]
                finished = time.perf_counter()
                if number == 0:
                    window.warm()
                final = turn.final or {}
                if not final.get("ok") or (final.get("payload") or {}).get("status") != "ok":
                    if len(errors) < 20:
                        errors.append(final.get("error") or final.get("payload"))
                    continue
                completions.append(finished)
                if now >= window.start_at:
                    samples.append(finished - now)
                    if turn.accepted_at is not None:
                        accepted.append(turn.accepted_at - now)

        return run

    async with trio.open_nursery() as nursery:
        sockets = [await bg.open_client(nursery, server.url, server.token) for _ in range(connections)]
        await trio.sleep(0.2)  # let the connect-time broadcasts (presence, health) pass
        for ws, mine in zip(sockets, pending, strict=True):
            nursery.start_soon(_dispatch, ws, mine, window, frames)
        meter = CpuMeter(watched)
        await measured_window(
            window,
            [client(i, sockets[i % connections], pending[i % connections]) for i in range(sessions)],
            seconds,
            meter,
            profile,
        )
        await bg.close_all(sockets)
        nursery.cancel_scope.cancel()
    count = in_window(completions, window.start_at, seconds)
    extra = {
        "sessions": sessions,
        "connections": connections,
        "accepted_p50_ms": bg.latency_summary(sorted(accepted))["p50_ms"],
        "frames_received_per_turn": round(frames[0] / count, 1) if count else None,
        **meter.summary(count),
    }
    if errors:
        extra["errors"] = errors
    return summarize(sorted(samples), completions, window.start_at, seconds, extra)


async def _direct_call(client: httpx.AsyncClient, url: str, body: Any, headers: dict[str, str]) -> str:
    """One streaming Chat Completions call, decoded as the provider does (SSE lines, JSON per ``data:``),
    read to the end of the body so the connection goes back to the pool."""
    text = []
    done = False
    async with client.stream("POST", url, json=body, headers=headers) as response:
        if response.status_code != 200:
            raise BenchError(
                f"fake server answered {response.status_code}: {(await response.aread())[:300]!r}"
            )
        lines = 0
        async for line in response.aiter_lines():
            lines += 1
            if lines > MAX_SSE_LINES:
                raise BenchError("too many SSE lines")
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                done = True
                continue
            for choice in json.loads(data).get("choices") or ():
                text.append((choice.get("delta") or {}).get("content") or "")
    if not done:
        raise BenchError("the stream ended without [DONE]")
    return "".join(text)


async def direct_calls(
    fake: bg.Server,
    body: Any,
    concurrency: int,
    seconds: float,
    watched: dict[str, bg.Server],
    fresh_client: bool = False,
) -> dict[str, Any]:
    """``concurrency`` tasks each making sequential direct calls to the fake (one pooled httpx client, or
    a new client per call with ``fresh_client``, as the gateway's provider does when given none)."""
    url = f"{fake.url}/v1/chat/completions"
    headers = {
        "content-type": "application/json",
        "accept": "text/event-stream",
        "authorization": f"Bearer {API_KEY}",
    }
    samples: list[float] = []
    completions: list[float] = []
    errors: list[str] = []
    limits = httpx.Limits(max_connections=concurrency + 8, max_keepalive_connections=concurrency + 8)
    expected = "".join(REPLY_PARTS)

    async with httpx.AsyncClient(
        timeout=httpx.Timeout(TURN_TIMEOUT), limits=limits, trust_env=False
    ) as pooled:
        window = Window(concurrency)

        async def worker() -> None:
            for number in range(MAX_TURNS_PER_CLIENT):
                now = time.perf_counter()
                if number == 1:
                    window.warm()
                if now >= window.stop_at:
                    return
                with trio.fail_after(TURN_TIMEOUT):
                    if fresh_client:
                        async with httpx.AsyncClient(timeout=httpx.Timeout(TURN_TIMEOUT)) as client:
                            text = await _direct_call(client, url, body, headers)
                    else:
                        text = await _direct_call(pooled, url, body, headers)
                finished = time.perf_counter()
                if text != expected:
                    if len(errors) < 20:
                        errors.append(text[:200])
                    continue
                completions.append(finished)
                if now >= window.start_at:
                    samples.append(finished - now)

        meter = CpuMeter(watched)
        await measured_window(window, [worker] * concurrency, seconds, meter)
    extra: dict[str, Any] = {
        "concurrency": concurrency,
        "fresh_client": fresh_client,
        "request_bytes": len(json.dumps(body)),
        **meter.summary(in_window(completions, window.start_at, seconds)),
    }
    if errors:
        extra["errors"] = errors
    return summarize(sorted(samples), completions, window.start_at, seconds, extra)


async def one_turn(server: bg.Server, session_key: str) -> dict[str, Any]:
    """A single ``agent`` turn (warms the gateway's provider path, and makes the fake capture the body)."""
    async with trio.open_nursery() as nursery:
        ws = await bg.open_client(nursery, server.url, server.token)
        request = {
            "type": "req",
            "id": "w1",
            "method": "agent",
            "params": {
                "message": MESSAGE,
                "sessionKey": session_key,
                "idempotencyKey": f"warm-{uuid.uuid4().hex[:8]}",
            },
        }
        with trio.fail_after(TURN_TIMEOUT):
            await ws.send_message(json.dumps(request))
            for _ in range(MAX_FRAMES_PER_TURN):
                frame = json.loads(await ws.get_message())
                if (
                    frame.get("type") == "res"
                    and frame.get("id") == "w1"
                    and (frame.get("payload") or {}).get("status") != "accepted"
                ):
                    break
            else:
                raise BenchError("no final res to the warm-up turn")
        await bg.close_all([ws])
        nursery.cancel_scope.cancel()
    if not frame.get("ok"):
        raise BenchError(f"warm-up turn failed: {frame.get('error') or frame.get('payload')}")
    return frame


def _read_if_there(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


async def wait_for_file(path: Path, limit: float = 5.0) -> bytes:
    """The fake writes the captured body (temp + rename) as it answers the gateway's first request."""
    for _ in range(int(limit / 0.01)):
        data = _read_if_there(path)
        if data is not None:
            return data
        await trio.sleep(0.01)
    raise BenchError(f"the fake server did not capture a request body ({path})")


# --- phases ---------------------------------------------------------------------------------------------


def _profile(args: argparse.Namespace, server: bg.Server, phase: str) -> bg.PySpy | None:
    return bg.PySpy(server.pid, RESULTS / f"py-spy-agents-{phase}.txt") if args.py_spy else None


def _config(args: argparse.Namespace, fake_url: str | None = None) -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    limit = args.sessions if args.max_concurrent is None else args.max_concurrent
    if limit:
        defaults["maxConcurrent"] = limit
    config: dict[str, Any] = {}
    if fake_url is not None:
        defaults["model"] = f"local/{MODEL}"
        config["models"] = {
            "providers": {
                "local": {"baseUrl": f"{fake_url}/v1", "apiKey": API_KEY, "api": "openai-completions"}
            }
        }
    if defaults:
        config["agents"] = {"defaults": defaults}
    return config


async def phase(
    results: dict[str, Any], key: str, label: str, run: Callable[[], Awaitable[dict[str, Any]]]
) -> None:
    print(f"  {label} ...", file=sys.stderr)
    try:
        results[key] = await run()
    except Exception as exc:  # one phase failing must not lose the others' figures
        traceback.print_exc()
        results[key] = {"failed": f"{type(exc).__name__}: {exc}"}


async def run_all(args: argparse.Namespace, tmp: Path, registry: list[bg.Server]) -> dict[str, Any]:
    results: dict[str, Any] = {"config_echo": _config(args)}
    seconds, sessions = args.seconds, args.sessions

    # (a) the echo provider
    print("gateway (echo provider): starting", file=sys.stderr)
    echo_gw = await start_gateway("gateway-echo", tmp, registry, results["config_echo"])
    try:
        watched = {"gateway": echo_gw}
        await one_turn(echo_gw, "agent:main:bench-warm")
        await phase(
            results,
            "echo_1",
            "echo, 1 session",
            lambda: gateway_turns(echo_gw, 1, seconds, watched, _profile(args, echo_gw, "echo-1")),
        )
        await phase(
            results,
            f"echo_{sessions}",
            f"echo, {sessions} sessions",
            lambda: gateway_turns(
                echo_gw, sessions, seconds, watched, _profile(args, echo_gw, f"echo-{sessions}")
            ),
        )
        await phase(
            results,
            f"echo_{sessions}_1conn",
            f"echo, {sessions} sessions over 1 connection",
            lambda: gateway_turns(echo_gw, sessions, seconds, watched, connections=1),
        )
    finally:
        results["log_findings_echo"] = stop(echo_gw, registry)

    # (b) a fake OpenAI-compatible provider, direct and through the gateway
    print("fake openai + gateway (local/fake-model): starting", file=sys.stderr)
    capture = tmp / "first-request.json"
    fake = await start_fake(tmp, registry, capture)
    results["config_openai"] = _config(args, fake.url)
    gateway = None
    try:
        gateway = await start_gateway("gateway-openai", tmp, registry, results["config_openai"])
        warm = await one_turn(gateway, "agent:main:bench-warm")
        results["reply_text"] = (warm.get("payload") or {}).get("result", {}).get("text")
        body = json.loads(await wait_for_file(capture))
        results["request_body_keys"] = sorted(body)
        watched_direct = {"fake": fake}
        watched_gw = {"gateway": gateway, "fake": fake}
        await phase(
            results,
            "direct_1",
            "direct calls, 1 at a time",
            lambda: direct_calls(fake, body, 1, seconds, watched_direct),
        )
        await phase(
            results,
            "direct_fresh_1",
            "direct calls, 1 at a time, new httpx client per call",
            lambda: direct_calls(fake, body, 1, min(seconds, 2.0), watched_direct, fresh_client=True),
        )
        await phase(
            results,
            "openai_1",
            "gateway + fake, 1 session",
            lambda: gateway_turns(gateway, 1, seconds, watched_gw, _profile(args, gateway, "openai-1")),
        )
        await phase(
            results,
            f"direct_{sessions}",
            f"direct calls, {sessions} concurrent",
            lambda: direct_calls(fake, body, sessions, seconds, watched_direct),
        )
        await phase(
            results,
            f"openai_{sessions}",
            f"gateway + fake, {sessions} sessions",
            lambda: gateway_turns(
                gateway, sessions, seconds, watched_gw, _profile(args, gateway, f"openai-{sessions}")
            ),
        )
        await phase(
            results,
            f"openai_{sessions}_1conn",
            f"gateway + fake, {sessions} sessions over 1 connection",
            lambda: gateway_turns(gateway, sessions, seconds, watched_gw, connections=1),
        )
    finally:
        if gateway is not None:
            results["log_findings_openai"] = stop(gateway, registry)
        results["log_findings_fake"] = stop(fake, registry)
    return results


# --- report -------------------------------------------------------------------------------------------


def targets(results: dict[str, Any], sessions: int) -> dict[str, Any]:
    direct, through = results.get("direct_1", {}).get("p50_ms"), results.get("openai_1", {}).get("p50_ms")
    added = round(through - direct, 3) if direct is not None and through is not None else None
    direct99, through99 = results.get("direct_1", {}).get("p99_ms"), results.get("openai_1", {}).get("p99_ms")
    rate_d = results.get(f"direct_{sessions}", {}).get("per_s")
    rate_g = results.get(f"openai_{sessions}", {}).get("per_s")
    loss = round(1 - rate_g / rate_d, 3) if rate_d and rate_g is not None else None
    rate_1 = results.get(f"openai_{sessions}_1conn", {}).get("per_s")
    loss_1 = round(1 - rate_1 / rate_d, 3) if rate_d and rate_1 is not None else None
    return {
        "added_p50_ms": {
            "value": added,
            "target": f"<= {TARGET_ADDED_P50_MS}",
            "met": None if added is None else added <= TARGET_ADDED_P50_MS,
        },
        "added_p99_ms": {
            "value": round(through99 - direct99, 3)
            if direct99 is not None and through99 is not None
            else None
        },
        f"throughput_loss_{sessions}": {
            "value": loss,
            "target": f"<= {TARGET_THROUGHPUT_LOSS:.0%}",
            "met": None if loss is None else loss <= TARGET_THROUGHPUT_LOSS,
        },
        f"throughput_loss_{sessions}_1conn": {"value": loss_1},
    }


def _fmt(value: Any) -> str:
    return bg._fmt(value)


def table(report: dict[str, Any]) -> str:
    results, tgt, sessions = report["results"], report["targets"], report["meta"]["sessions"]

    def get(key: str, *path: str) -> Any:
        value: Any = results.get(key, {})
        if "failed" in value:
            return "failed"
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        return value

    def lat(key: str) -> str:
        return f"{_fmt(get(key, 'p50_ms'))} / {_fmt(get(key, 'p99_ms'))}"

    def cpu(key: str) -> str:
        shares = get(key, "cpu_percent")
        if not isinstance(shares, dict):
            return _fmt(shares)
        return " / ".join(f"{name} {value}" for name, value in shares.items())

    def per_turn(key: str) -> str:
        shares = get(key, "cpu_us_per_turn")
        if not isinstance(shares, dict):
            return _fmt(shares)
        return " / ".join(f"{name} {_fmt(value)}" for name, value in shares.items())

    def slices(key: str) -> str:
        pieces = get(key, "per_s_slices")
        return " → ".join(_fmt(p) for p in pieces) if isinstance(pieces, list) and pieces else _fmt(pieces)

    def mark(name: str) -> str:
        met = tgt[name]["met"]
        return f"{tgt[name]['target']} {'✓' if met else ('✗' if met is False else '')}".strip()

    n = sessions
    loss = tgt[f"throughput_loss_{n}"]["value"]
    rows = [
        ("**(a) echo provider**", "", ""),
        ("turns/s, 1 session", _fmt(get("echo_1", "per_s")), ""),
        ("  p50 / p99 turn (ms), 1 session", lat("echo_1"), ""),
        ("  turns/s per ≈1 s slice of the window, 1 session", slices("echo_1"), ""),
        ("  p50 request→accepted (ms), 1 session", _fmt(get("echo_1", "accepted_p50_ms")), ""),
        ("  CPU µs per turn, 1 session", per_turn("echo_1"), ""),
        (f"turns/s, {n} sessions", _fmt(get(f"echo_{n}", "per_s")), ""),
        (f"  p50 / p99 turn (ms), {n} sessions", lat(f"echo_{n}"), ""),
        (f"  turns/s per ≈1 s slice, {n} sessions", slices(f"echo_{n}"), ""),
        (
            f"  frames received per turn (all connections), {n} sessions",
            _fmt(get(f"echo_{n}", "frames_received_per_turn")),
            "",
        ),
        (f"  CPU µs per turn, {n} sessions", per_turn(f"echo_{n}"), ""),
        (f"  CPU %, {n} sessions", cpu(f"echo_{n}"), ""),
        (f"turns/s, {n} sessions over 1 connection (no fan-out)", _fmt(get(f"echo_{n}_1conn", "per_s")), ""),
        (f"  p50 / p99 turn (ms), {n} sessions over 1 connection", lat(f"echo_{n}_1conn"), ""),
        (f"  CPU µs per turn, {n} sessions over 1 connection", per_turn(f"echo_{n}_1conn"), ""),
        ("**(b) fake OpenAI provider**", "", ""),
        ("direct call p50 / p99 (ms), 1 at a time (pooled httpx client)", lat("direct_1"), ""),
        ("  direct call p50 / p99 (ms), new httpx client per call", lat("direct_fresh_1"), ""),
        ("gateway turn p50 / p99 (ms), 1 session", lat("openai_1"), ""),
        ("  turns/s per ≈1 s slice, 1 session", slices("openai_1"), ""),
        ("  CPU µs per turn, 1 session (gateway / fake / client)", per_turn("openai_1"), ""),
        ("added latency p50 (ms)", _fmt(tgt["added_p50_ms"]["value"]), mark("added_p50_ms")),
        ("  added latency p99 (ms)", _fmt(tgt["added_p99_ms"]["value"]), ""),
        (f"direct calls/s, {n} concurrent", _fmt(get(f"direct_{n}", "per_s")), ""),
        (f"  CPU µs per call, {n} concurrent (fake / client)", per_turn(f"direct_{n}"), ""),
        (f"  CPU %, {n} concurrent direct", cpu(f"direct_{n}"), ""),
        (f"gateway turns/s, {n} sessions", _fmt(get(f"openai_{n}", "per_s")), ""),
        (f"  p50 / p99 turn (ms), {n} sessions", lat(f"openai_{n}"), ""),
        (f"  CPU µs per turn, {n} sessions (gateway / fake / client)", per_turn(f"openai_{n}"), ""),
        (f"  CPU %, {n} sessions through the gateway", cpu(f"openai_{n}"), ""),
        (
            f"throughput loss, {n} sessions vs {n} direct",
            "–" if loss is None else f"{100 * loss:.1f}%",
            mark(f"throughput_loss_{n}"),
        ),
    ]
    loss_1 = tgt[f"throughput_loss_{n}_1conn"]["value"]
    rows += [
        (
            f"gateway turns/s, {n} sessions over 1 connection (no fan-out)",
            _fmt(get(f"openai_{n}_1conn", "per_s")),
            "",
        ),
        (f"  CPU µs per turn, {n} sessions over 1 connection", per_turn(f"openai_{n}_1conn"), ""),
        (
            f"  throughput loss vs {n} direct, 1 connection",
            "–" if loss_1 is None else f"{100 * loss_1:.1f}%",
            "",
        ),
    ]
    lines = ["| figure | value | target |", "| --- | --- | --- |"]
    lines += [f"| {label} | {value} | {target} |" for label, value, target in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Benchmark agent turns through the gateway (echo and a fake "
        "OpenAI provider) against direct calls."
    )
    parser.add_argument(
        "--seconds", type=float, default=5.0, help="measured duration of each phase (default 5)"
    )
    parser.add_argument(
        "--sessions", type=int, default=50, help="concurrent sessions / direct calls (default 50)"
    )
    parser.add_argument(
        "--max-concurrent",
        type=int,
        default=None,
        help="agents.defaults.maxConcurrent in the gateways' config (default: --sessions; "
        "0: the gateway's default)",
    )
    parser.add_argument("--py-spy", action="store_true", help="sample the gateway with py-spy in its phases")
    parser.add_argument("--out", type=Path, default=RESULTS / "agents.json")
    parser.add_argument("--serve-fake-openai", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--capture", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fake_openai:
        serve_fake_openai(args.capture)
        return 0
    if not (
        0 < args.seconds <= 600
        and 1 <= args.sessions <= 500
        and (args.max_concurrent is None or 0 <= args.max_concurrent <= 1000)
    ):
        parser.error("--seconds must be in (0, 600], --sessions in [1, 500], --max-concurrent in [0, 1000]")
    if not math.isfinite(args.seconds):
        parser.error("--seconds must be finite")
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM too runs the cleanup below
    bg.raise_fd_limit(4 * args.sessions + 512)
    RESULTS.mkdir(exist_ok=True)
    registry: list[bg.Server] = []
    tmp = Path(tempfile.mkdtemp(prefix="moltbot-bench-agents-"))
    started = time.time()
    load_start = [round(x, 2) for x in os.getloadavg()]
    try:
        results = trio.run(run_all, args, tmp, registry)
    finally:
        for server in list(registry):  # anything still running after an error or Ctrl-C
            bg.stop_server(server)
        shutil.rmtree(tmp, ignore_errors=True)
    report = {
        "meta": {
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
            "duration_s": round(time.time() - started, 1),
            "seconds": args.seconds,
            "sessions": args.sessions,
            "max_concurrent": args.max_concurrent,
            "py_spy": args.py_spy,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "trio": trio.__version__,
            "httpx": httpx.__version__,
            "loadavg_start": load_start,
            "loadavg_end": [round(x, 2) for x in os.getloadavg()],
            "commit": _git_commit(),
        },
        "results": results,
    }
    report["targets"] = targets(results, args.sessions)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(table(report))
    failed = False
    for key, value in results.items():
        if isinstance(value, dict) and value.get("failed"):
            failed = True
            print(f"\n{key} FAILED: {value['failed']}")
        if isinstance(value, dict) and value.get("errors"):
            print(f"\n{key}: error responses, e.g. {value['errors'][:3]}")
        if key.startswith("log_findings") and value:
            print(f"\n{key}:\n  " + "\n  ".join(value))
    print(
        f"\nload average at start {load_start}, at end {report['meta']['loadavg_end']} "
        f"({os.cpu_count()} CPUs shared by the gateway, the fake server and this client: see the CPU rows)"
    )
    print(f"written to {args.out}")
    return 1 if failed else 0


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
