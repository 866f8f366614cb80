"""Reload and restart benchmark, run by hand (not by pytest): hot reload latency and restart downtime.

    python bench/bench_reload_restart.py [--reps 20] [--no-hot] [--no-process]

(a) Hot reload, in this process (``open_gateway(config, port=0, env={}, watch_config=True)``): a hot-only
    change (``agents.defaults.maxConcurrent``) written to the config file, atomically (temp file +
    ``os.replace``) and in place (truncate + write), with ``gateway.reload.debounceMs`` 300 and 50; timed
    from just before the write to ``gateway.next_reload()`` being set (the change applied). Target:
    p90 ≤ debounce + 50 ms. Breakdown: the watcher alone (``serve_config_watch`` with debounce 0, write
    to callback) and ``reload_config()`` alone (no watcher, called by hand after the write).
(b) Restart downtime, the gateway as its own process (``python -m moltbot gateway --port 0`` with a
    temporary ``HOME``, ``commands.restart`` true, ``debounceMs`` 300), one raw client connected:
    - SIGUSR1 → the first hello-ok, from the new Runtime, of a client reconnecting in a tight loop that
      starts at the signal. A hello-ok can come from the old Runtime (the WebSocket was accepted before it
      started draining); such a connection is always closed 1012, so a hello-ok counts only once a
      ``health`` request sent on it after the first client saw its own close is answered (the time taken
      is the hello-ok's arrival; the check is not timed). Target: p90 ≤ 150 ms (no agent run in flight);
      the first restart is reported separately.
    - a restart-kind change (``gateway.tickIntervalMs``), written atomically → the first hello-ok whose
      ``policy.tickIntervalMs`` is the new value. The reconnect loop starts when the connected client
      gets the ``shutdown`` event (as a real client would; polling through the debounce window would
      only load the 2 cores).
    Breakdown from the client (``shutdown`` event and close 1012 on the connected client) and from the
    gateway's log (``restarting in-process`` timestamp, ``restart done in N ms``).

Both parts also run with a config of realistic size (~4.5 KB: ten agents, five model providers; hot
reload with an atomic write at debounceMs 300, SIGUSR1, and five restart-kind changes): the config file is
parsed with the pure-Python json5 package, whose cost grows with the file and is paid on every reload and
on every SIGUSR1 restart (the file is re-read before the drain).

Prints a markdown table with the original gateway's published figures (../shared/original/README.md) and
writes everything to bench/results/reload_restart.json (gitignored). Every loop is bounded in count and
time; only 127.0.0.1 is used; the gateway process is killed in ``finally``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import trio
from trio_websocket import ConnectionClosed, HandshakeError, WebSocketConnection, open_websocket_url

from moltbot.config.load import load_config
from moltbot.config.watch import serve_config_watch
from moltbot.gateway.app import open_gateway

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"

TOKEN = "bench-token-0123456789"
MAX_MESSAGE_SIZE = 16 * 1024 * 1024

MAX_FRAMES_PER_WAIT = 10_000
START_TIMEOUT = 30.0  # process start to its listening line
ATTEMPT_TIMEOUT = 1.0  # one reconnect attempt: WS open + challenge + connect → hello-ok
RECONNECT_LIMIT = 10.0  # the whole reconnect loop
MAX_ATTEMPTS = 2_000  # reconnect attempts per measurement
CONFIRM_TIMEOUT = 5.0  # checking that a hello-ok came from the new Runtime
STEP_TIMEOUT = 10.0  # anything else that waits on the gateway
SETTLE = 0.3  # quiet time between repetitions

HOT_SLACK_MS = 50.0
RESTART_TARGET_MS = 150.0
SAME_PORT_TARGET_MS = 25.0  # SIGUSR1 → next hello-ok with the listener kept (same port), 0 refused connects

ORIGINAL = {  # ../shared/original/README.md, measured on this machine kind
    "sigusr1_first_ms": 330.0,
    "sigusr1_ms": "28–30",
    "hot_reload_s": 0.52,
    "restart_change_s": 0.84,
}


class BenchError(Exception):
    pass


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- statistics -----------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)]


def summary(seconds: list[float]) -> dict[str, Any]:
    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 1)

    return {
        "n": len(seconds),
        "p50_ms": ms(percentile(seconds, 0.5)),
        "p90_ms": ms(percentile(seconds, 0.9)),
        "min_ms": ms(min(seconds) if seconds else None),
        "max_ms": ms(max(seconds) if seconds else None),
        "samples_ms": [ms(value) for value in seconds],
    }


# --- config file writes ---------------------------------------------------------------------------


def write_atomic(path: Path, text: str) -> None:
    temp = path.with_name(f".{path.name}.bench.tmp")
    temp.write_text(text)
    os.replace(temp, path)


def write_in_place(path: Path, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)


WRITERS: dict[str, Callable[[Path, str], None]] = {"atomic": write_atomic, "in-place": write_in_place}


# --- (a) hot reload, in process -------------------------------------------------------------------


def filler() -> dict[str, Any]:
    """Ten agents and five model providers: a config of realistic size (~4.5 KB with indent 2)."""
    return {
        "agents": {
            "list": [
                {"id": f"agent{i}", "name": f"Agent {i}", "workspace": f"~/work/agent{i}"} for i in range(10)
            ]
        },
        "models": {
            "providers": {
                f"provider{i}": {
                    "baseUrl": f"https://llm{i}.example.invalid/v1",
                    "api": "openai-completions",
                    "models": [{"id": f"model-{j}", "name": f"Model {j}"} for j in range(6)],
                }
                for i in range(5)
            }
        },
    }


def hot_config(debounce_ms: int, max_concurrent: int | None = None, large: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {"gateway": {"auth": {"token": TOKEN}, "reload": {"debounceMs": debounce_ms}}}
    if large:
        data.update(filler())
    if max_concurrent is not None:
        data.setdefault("agents", {})["defaults"] = {"maxConcurrent": max_concurrent}
    return data


def dump(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2) + "\n"


def config_dir(tmp: Path, name: str) -> tuple[Path, dict[str, str]]:
    folder = tmp / name
    (folder / "state").mkdir(parents=True)
    return folder / "moltbot.json", {"HOME": str(folder), "CLAWDBOT_STATE_DIR": str(folder / "state")}


async def hot_reload(
    tmp: Path, debounce_ms: int, mode: str, reps: int, large: bool = False
) -> dict[str, Any]:
    """File write → ``next_reload()`` set, with the gateway's own watcher."""
    path, env = config_dir(tmp, f"hot-{debounce_ms}-{mode}-{'large' if large else 'small'}")
    path.write_text(dump(hot_config(debounce_ms, large=large)))
    write = WRITERS[mode]
    samples: list[float] = []
    decisions: list[str | None] = []
    extra_reloads = 0
    config = load_config(path, env=env)
    async with open_gateway(config, port=0, env={}, watch_config=True) as gateway:
        with trio.fail_after(STEP_TIMEOUT):
            await gateway.watch_ready.wait()
        await trio.sleep(SETTLE)
        for rep in range(reps):
            value = 10 + rep  # the default is 4: every write is a change
            text = dump(hot_config(debounce_ms, value, large))
            reloads = gateway.stats.reloads
            done = gateway.next_reload()
            start = time.perf_counter()
            write(path, text)
            with trio.fail_after(debounce_ms / 1000 + STEP_TIMEOUT):
                await done.wait()
            samples.append(time.perf_counter() - start)
            decisions.append(gateway.last_reload)
            if gateway.config.agents.defaults.max_concurrent != value:
                raise BenchError(f"maxConcurrent {value} not applied (decision {gateway.last_reload})")
            await trio.sleep(debounce_ms / 1000 + 0.15)  # a second reload of the same write would show here
            extra_reloads += gateway.stats.reloads - reloads - 1
    return {
        "debounce_ms": debounce_ms,
        "write": mode,
        "config_bytes": path.stat().st_size,
        **summary(samples),
        "decisions": sorted(set(map(str, decisions))),
        "extra_reloads": extra_reloads,
    }


async def watcher_only(tmp: Path, mode: str, reps: int) -> dict[str, Any]:
    """File write → ``serve_config_watch``'s callback with debounce 0: the watcher's own latency."""
    path, _ = config_dir(tmp, f"watch-{mode}")
    path.write_text(dump(hot_config(0)))
    write = WRITERS[mode]
    fired = [trio.Event()]
    calls = [0]

    async def on_change() -> None:
        calls[0] += 1
        fired[0].set()

    samples: list[float] = []
    async with trio.open_nursery() as nursery:
        with trio.fail_after(STEP_TIMEOUT):
            await nursery.start(partial(serve_config_watch, path, on_change, debounce_ms=lambda: 0))
        await trio.sleep(SETTLE)
        for rep in range(reps):
            fired[0] = event = trio.Event()
            text = dump(hot_config(0, 10 + rep))
            start = time.perf_counter()
            write(path, text)
            with trio.fail_after(STEP_TIMEOUT):
                await event.wait()
            samples.append(time.perf_counter() - start)
            await trio.sleep(0.1)
        nursery.cancel_scope.cancel()
    return {"write": mode, **summary(samples), "callbacks": calls[0]}


async def reload_call_only(tmp: Path, reps: int, large: bool = False) -> dict[str, Any]:
    """``await gateway.reload_config()`` by hand after a write (no watcher): read, parse, plan, apply."""
    path, env = config_dir(tmp, f"reload-call-{'large' if large else 'small'}")
    path.write_text(dump(hot_config(300, large=large)))
    samples: list[float] = []
    async with open_gateway(load_config(path, env=env), port=0, env={}, watch_config=False) as gateway:
        for rep in range(reps):
            write_atomic(path, dump(hot_config(300, 10 + rep, large)))
            start = time.perf_counter()
            with trio.fail_after(STEP_TIMEOUT):
                decision = await gateway.reload_config()
            samples.append(time.perf_counter() - start)
            if decision != "hot":
                raise BenchError(f"reload_config() decided {decision!r}")
    return {"config_bytes": path.stat().st_size, **summary(samples)}


# --- (b) restart, gateway as a process ------------------------------------------------------------


# "… listening on ws://…:PORT (pid N; log PATH[; canvas URL]); Ctrl-C stops it": the log path ends at the first
# ";" or ")" (the canvas part came after it and was read as part of the path, so no restart was ever found).
_LISTENING = re.compile(r"listening on (ws://127\.0\.0\.1:\d+) \(pid (\d+); log ([^;)]+)")
# The structured log's restart lines: "restart done in N ms (reason); serving port P (why)".
_RESTART_DONE = re.compile(r"restart done in (\d+(?:\.\d+)?) ms")


class GatewayProcess:
    """``python -m moltbot gateway --port 0`` with a temporary HOME; stderr goes to a file."""

    def __init__(self, tmp: Path, name: str, debounce_ms: int = 300, large: bool = False) -> None:
        self.home = tmp / name
        self.config_path = self.home / ".clawdbot" / "moltbot.json"
        self.config_path.parent.mkdir(parents=True, mode=0o700)
        self.data: dict[str, Any] = {
            "gateway": {"mode": "local", "auth": {"token": TOKEN}, "reload": {"debounceMs": debounce_ms}},
            "commands": {"restart": True},
        }
        if large:
            self.data.update(filler())
        self.config_path.write_text(dump(self.data))
        self.config_bytes = self.config_path.stat().st_size
        self.stderr_path = tmp / f"{name}.stderr"
        self.popen: subprocess.Popen | None = None
        self.url = ""
        self.log_path: Path | None = None
        self.started = 0.0

    def start(self) -> None:
        env = {
            key: value for key, value in os.environ.items() if not key.startswith(("CLAWDBOT_", "MOLTBOT_"))
        }
        env["HOME"] = str(self.home)
        with open(self.stderr_path, "wb") as stderr:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "moltbot", "gateway", "--port", "0"],
                env=env,
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                start_new_session=True,
            )
        self.started = time.perf_counter()

    async def wait_listening(self) -> None:
        with trio.move_on_after(START_TIMEOUT):
            for _ in range(int(START_TIMEOUT / 0.01)):
                text = self.stderr_path.read_text(errors="replace")
                if match := _LISTENING.search(text):
                    self.url, self.log_path = match.group(1), Path(match.group(3))
                    return
                if self.popen is None or self.popen.poll() is not None:
                    raise BenchError(f"gateway exited early:\n{text[-3000:]}")
                await trio.sleep(0.01)
        raise BenchError(f"gateway did not print its listening line within {START_TIMEOUT} s")

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self) -> int | None:
        """SIGTERM, wait up to 8 s, then SIGKILL; returns the exit code."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=8)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)
        return self.popen.returncode

    def log_entries(self) -> list[dict[str, Any]]:
        if self.log_path is None or not self.log_path.exists():
            return []
        entries = []
        for line in self.log_path.read_text(errors="replace").splitlines()[:100_000]:
            try:
                entries.append(json.loads(line))
            except ValueError:
                pass
        return entries


def connect_request(request_id: str) -> str:
    params = {
        "minProtocol": 3,
        "maxProtocol": 3,
        "client": {"id": "test", "version": "1", "platform": "linux", "mode": "test"},
        "auth": {"token": TOKEN},
    }
    return json.dumps(
        {"type": "req", "id": request_id, "method": "connect", "params": params}, separators=(",", ":")
    )


async def wait_response(ws: WebSocketConnection, request_id: str) -> dict[str, Any]:
    for _ in range(MAX_FRAMES_PER_WAIT):
        frame = json.loads(await ws.get_message())
        if frame.get("type") == "res" and frame.get("id") == request_id:
            return frame
    raise BenchError(f"no response to {request_id} within {MAX_FRAMES_PER_WAIT} frames")


async def handshake(ws: WebSocketConnection) -> tuple[dict[str, Any], float]:
    """connect.challenge, connect, hello-ok; returns the hello-ok payload and its arrival time."""
    for _ in range(MAX_FRAMES_PER_WAIT):
        frame = json.loads(await ws.get_message())
        if frame.get("type") == "event" and frame.get("event") == "connect.challenge":
            break
    else:
        raise BenchError("no connect.challenge")
    await ws.send_message(connect_request("c1"))
    response = await wait_response(ws, "c1")
    arrived = time.perf_counter()
    if not response.get("ok"):
        raise BenchError(f"connect refused: {response.get('error')}")
    return response["payload"], arrived


def open_ws(url: str, timeout: float = ATTEMPT_TIMEOUT):
    return open_websocket_url(
        url, max_message_size=MAX_MESSAGE_SIZE, connect_timeout=timeout, disconnect_timeout=0.5
    )


class Observer:
    """The client connected before the restart: records the ``shutdown`` event and the close."""

    def __init__(self) -> None:
        self.shutdown_at: float | None = None
        self.closed_at: float | None = None
        self.close_code: int | None = None
        self.got_shutdown = trio.Event()
        self.closed = trio.Event()

    async def run(self, ws: WebSocketConnection) -> None:
        try:
            for _ in range(MAX_FRAMES_PER_WAIT):
                frame = json.loads(await ws.get_message())
                if frame.get("type") == "event" and frame.get("event") == "shutdown":
                    self.shutdown_at = time.perf_counter()
                    self.got_shutdown.set()
        except ConnectionClosed as exc:
            self.closed_at = time.perf_counter()
            self.close_code = int(exc.reason.code)
        finally:
            self.got_shutdown.set()
            self.closed.set()


Confirm = Callable[[dict[str, Any], WebSocketConnection], Awaitable[bool]]


def _refused(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


async def reconnect(url: str, confirm: Confirm) -> dict[str, Any]:
    """Reconnect in a tight loop until a hello-ok that ``confirm`` accepts; returns its arrival time."""
    counts = {"attempts": 0, "stale": 0, "errors": 0, "refused": 0, "timeouts": 0}
    deadline = time.perf_counter() + RECONNECT_LIMIT
    for _ in range(MAX_ATTEMPTS):
        if time.perf_counter() > deadline:
            break
        counts["attempts"] += 1
        try:
            async with open_ws(url) as ws:
                with trio.move_on_after(ATTEMPT_TIMEOUT) as attempt:
                    hello, arrived = await handshake(ws)
                if attempt.cancelled_caught:
                    counts["timeouts"] += 1
                    continue
                with trio.fail_after(CONFIRM_TIMEOUT):
                    accepted = await confirm(hello, ws)
                if accepted:
                    return {"hello_at": arrived, **counts}
                counts["stale"] += 1
        except (OSError, HandshakeError, ConnectionClosed, BenchError) as exc:
            counts["errors"] += 1
            if _refused(exc):  # the listener was closed: the same-port restart must never cause one
                counts["refused"] += 1
            await trio.sleep(0.002)  # refused: do not spin
    raise BenchError(f"no hello-ok from the new runtime within {RECONNECT_LIMIT} s ({counts})")


async def one_restart(
    gateway: GatewayProcess, trigger: Callable[[], None], confirm_factory, start_on_shutdown: bool
) -> dict[str, Any]:
    """Connect one client, ``trigger()`` the restart, reconnect; times are relative to the trigger."""
    observer = Observer()
    async with open_ws(gateway.url, STEP_TIMEOUT) as ws:
        with trio.fail_after(STEP_TIMEOUT):
            await handshake(ws)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(observer.run, ws)
            await trio.sleep(0.05)  # the post-connect presence/health events go out first
            wall = time.time()
            start = time.perf_counter()
            trigger()
            if start_on_shutdown:
                with trio.fail_after(STEP_TIMEOUT + 2):
                    await observer.got_shutdown.wait()
            result = await reconnect(gateway.url, confirm_factory(observer))
            with trio.move_on_after(STEP_TIMEOUT):
                await observer.closed.wait()
            nursery.cancel_scope.cancel()

    def rel(value: float | None) -> float | None:
        return None if value is None else value - start

    return {
        "wall": wall,
        "downtime": result["hello_at"] - start,
        "shutdown": rel(observer.shutdown_at),
        "closed": rel(observer.closed_at),
        "close_code": observer.close_code,
        **{key: value for key, value in result.items() if key != "hello_at"},
    }


def confirm_by_health(observer: Observer) -> Confirm:
    """New Runtime iff a ``health`` sent after the first client saw its close is answered."""

    async def confirm(hello: dict[str, Any], ws: WebSocketConnection) -> bool:
        await observer.closed.wait()
        try:
            await ws.send_message(json.dumps({"type": "req", "id": "h1", "method": "health"}))
            response = await wait_response(ws, "h1")
        except ConnectionClosed:
            return False
        return bool(response.get("ok"))

    return confirm


def confirm_by_tick(expected: int) -> Callable[[Observer], Confirm]:
    async def confirm(hello: dict[str, Any], ws: WebSocketConnection) -> bool:
        return hello.get("policy", {}).get("tickIntervalMs") == expected

    return lambda _observer: confirm


def server_restart_marks(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per restart, from the gateway's log: when it began (wall) and its own 'restart done in N ms'."""
    marks: list[dict[str, Any]] = []
    for entry in entries:
        msg = str(entry.get("msg", ""))
        if msg.startswith("restarting in-process"):
            began = datetime.fromisoformat(entry["ts"]).timestamp()
            marks.append({"began_wall": began, "done_ms": None, "reason": msg.split(": ", 1)[-1]})
        elif (match := _RESTART_DONE.match(msg)) and marks:
            marks[-1]["done_ms"] = float(match.group(1))
    return marks


async def restarts(tmp: Path, reps: int, change_reps: int, large: bool = False) -> dict[str, Any]:
    gateway = GatewayProcess(tmp, "home-large" if large else "home", large=large)
    out: dict[str, Any] = {"config_bytes": gateway.config_bytes}
    try:
        gateway.start()
        await gateway.wait_listening()
        out["start_to_listening_s"] = round(time.perf_counter() - gateway.started, 3)
        await trio.sleep(1.0)  # let the start settle; the first restart is still the process's first
        sigusr1: list[dict[str, Any]] = []
        for rep in range(reps):
            sigusr1.append(
                await one_restart(
                    gateway,
                    lambda: os.kill(gateway.pid, signal.SIGUSR1),
                    confirm_by_health,
                    start_on_shutdown=False,
                )
            )
            log(f"  SIGUSR1 #{rep + 1}: {sigusr1[-1]['downtime'] * 1000:.1f} ms")
            await trio.sleep(SETTLE)
        changes: list[dict[str, Any]] = []
        for rep in range(change_reps):
            tick = 20_000 + rep
            gateway.data["gateway"]["tickIntervalMs"] = tick
            text = dump(gateway.data)
            changes.append(
                await one_restart(
                    gateway,
                    partial(write_atomic, gateway.config_path, text),
                    confirm_by_tick(tick),
                    start_on_shutdown=True,
                )
            )
            log(f"  tickIntervalMs change #{rep + 1}: {changes[-1]['downtime'] * 1000:.1f} ms")
            await trio.sleep(SETTLE)
        if not gateway.alive():
            raise BenchError("the gateway process died")
    finally:
        out["exit_code"] = gateway.stop()
    marks = server_restart_marks(gateway.log_entries())
    if len(marks) == reps + change_reps:
        for sample, mark in zip(sigusr1 + changes, marks, strict=True):
            sample["server_began"] = mark["began_wall"] - sample["wall"]
            sample["server_done_ms"] = mark["done_ms"]
    else:
        out["log_warning"] = f"{len(marks)} restarts in the gateway log, expected {reps + change_reps}"
    out["sigusr1"] = restart_summary(sigusr1)
    out["config_change"] = restart_summary(changes)
    out["log_findings"] = [
        f"{e.get('level')}: {e.get('msg')}"
        for e in gateway.log_entries()
        if str(e.get("level")).lower() in ("warning", "error", "critical")
    ][:20]
    return out


def restart_summary(samples: list[dict[str, Any]]) -> dict[str, Any]:
    if not samples:
        return {}

    def series(key: str, rows: list[dict[str, Any]]) -> list[float]:
        return [row[key] for row in rows if row.get(key) is not None]

    warm = samples[1:]
    return {
        "first_ms": round(samples[0]["downtime"] * 1000, 1),
        "all": summary(series("downtime", samples)),
        "after_first": summary(series("downtime", warm)),
        "shutdown_event": summary(series("shutdown", samples)),
        "client_closed": summary(series("closed", samples)),
        "server_began": summary(series("server_began", samples)),
        "server_restart_done": summary([value / 1000 for value in series("server_done_ms", samples)]),
        "close_codes": sorted({row["close_code"] for row in samples if row["close_code"] is not None}),
        "attempts": sum(row["attempts"] for row in samples),
        "stale_hello_ok": sum(row["stale"] for row in samples),
        "errors": sum(row["errors"] for row in samples),
        "refused": sum(row.get("refused", 0) for row in samples),
        "timeouts": sum(row["timeouts"] for row in samples),
        "rows": [
            {
                key: (
                    round(value * 1000, 1)
                    if key in ("downtime", "shutdown", "closed", "server_began") and value is not None
                    else value
                )
                for key, value in row.items()
                if key != "wall"
            }
            for row in samples
        ],
    }


# --- report ---------------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def triple(stats: dict[str, Any] | None) -> str:
    if not stats or not stats.get("n"):
        return "—"
    return f"{_ms(stats['p50_ms'])} / {_ms(stats['p90_ms'])} / {_ms(stats['max_ms'])}"


def mark(ok: bool | None) -> str:
    return "" if ok is None else " ✓" if ok else " ✗"


def size(nbytes: int | None) -> str:
    return "" if not nbytes else f"{nbytes / 1024:.1f} KB config"


def restart_rows(part: dict[str, Any], label: str, with_original: bool) -> list[str]:
    rows = []
    sig = part.get("sigusr1")
    if sig:
        warm = sig["after_first"]
        ok = warm["p90_ms"] is not None and warm["p90_ms"] <= RESTART_TARGET_MS
        rows.append(
            f"| SIGUSR1 → hello-ok, first restart, {label} | {_ms(sig['first_ms'])} | "
            f"{ORIGINAL['sigusr1_first_ms'] if with_original else '—'} | |"
        )
        rows.append(
            f"| SIGUSR1 → hello-ok, restarts 2–{sig['all']['n']}, {label} | {triple(warm)}{mark(ok)} | "
            f"{ORIGINAL['sigusr1_ms'] if with_original else '—'} | p90 ≤ {RESTART_TARGET_MS:.0f} |"
        )
        same = warm["p50_ms"] is not None and warm["p50_ms"] <= SAME_PORT_TARGET_MS and not sig.get("refused")
        rows.append(
            f"| same-port restart, SIGUSR1 → next hello-ok (p50), {label}; refused connects | "
            f"{_ms(warm['p50_ms'])}; {sig.get('refused', 0)} refused{mark(same)} | — | "
            f"≤ {SAME_PORT_TARGET_MS:.0f}, 0 refused |"
        )
    change = part.get("config_change")
    if change:
        original = f"{ORIGINAL['restart_change_s'] * 1000:.0f}" if with_original else "—"
        rows.append(
            f"| restart-kind change (gateway.tickIntervalMs), write → hello-ok on the new runtime, "
            f"debounceMs 300, {label} (n={change['all']['n']}, first {_ms(change['first_ms'])}) | "
            f"{triple(change['all'])} | {original} | |"
        )
    return rows


def breakdown_rows(part: dict[str, Any], label: str) -> list[str]:
    rows = []
    for name, what in (("sigusr1", "SIGUSR1"), ("config_change", "tickIntervalMs change")):
        step = part.get(name)
        if not step:
            continue
        what = f"{what} ({label})"
        rows += [
            f"| {what}: trigger → gateway logs 'restarting in-process' (wall clock, 1 ms steps) | "
            f"{triple(step['server_began'])} |",
            f"| {what}: the gateway's own 'restart done in' (drain + new Runtime) | "
            f"{triple(step['server_restart_done'])} |",
            f"| {what}: trigger → `shutdown` event on the connected client | {triple(step['shutdown_event'])} |",
            f"| {what}: trigger → close {step['close_codes']} on the connected client | "
            f"{triple(step['client_closed'])} |",
            f"| {what}: reconnect attempts / hello-oks from the old runtime / errors (refused) / timeouts | "
            f"{step['attempts']} / {step['stale_hello_ok']} / {step['errors']} ({step.get('refused', 0)}) / "
            f"{step['timeouts']} |",
        ]
    return rows


def table(report: dict[str, Any]) -> str:
    lines = ["| figure (ms: p50 / p90 / max) | ours | original | target |", "| --- | --- | --- | --- |"]
    for row in report.get("hot", []):
        target = row["debounce_ms"] + HOT_SLACK_MS
        ok = row["p90_ms"] is not None and row["p90_ms"] <= target
        original = f"{ORIGINAL['hot_reload_s'] * 1000:.0f}" if row["debounce_ms"] == 300 else "—"
        lines.append(
            f"| hot reload, {row['write']} write → applied, debounceMs {row['debounce_ms']}, "
            f"{size(row.get('config_bytes'))} (n={row['n']}) | {triple(row)}{mark(ok)} | {original} | "
            f"p90 ≤ {target:.0f} |"
        )
    for key in ("restart", "restart_large"):
        part = report.get(key)
        if part:
            lines += restart_rows(part, size(part.get("config_bytes")), key == "restart")
    lines += ["", "Where the time goes (ms: p50 / p90 / max)", "", "| step | ours |", "| --- | --- |"]
    for row in report.get("watcher_only", []):
        lines.append(f"| watcher alone, {row['write']} write → callback (debounce 0) | {triple(row)} |")
    for row in report.get("reload_call", []):
        lines.append(
            f"| `reload_config()` alone (read, parse, plan, apply), {size(row.get('config_bytes'))} | "
            f"{triple(row)} |"
        )
    for key in ("restart", "restart_large"):
        part = report.get(key)
        if part:
            lines += breakdown_rows(part, size(part.get("config_bytes")))
    return "\n".join(lines)


def git_commit() -> str | None:
    try:
        result = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None


async def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    report: dict[str, Any] = {}
    if not args.no_hot:
        report["hot"], report["watcher_only"], report["reload_call"] = [], [], []
        for debounce_ms in (300, 50):
            for mode in WRITERS:
                log(f"hot reload, debounceMs {debounce_ms}, {mode} write ×{args.reps}")
                report["hot"].append(await hot_reload(tmp, debounce_ms, mode, args.reps))
        log(f"hot reload, debounceMs 300, atomic write, large config ×{args.reps}")
        report["hot"].append(await hot_reload(tmp, 300, "atomic", args.reps, large=True))
        for mode in WRITERS:
            log(f"watcher alone, {mode} write ×{args.reps}")
            report["watcher_only"].append(await watcher_only(tmp, mode, args.reps))
        for large in (False, True):
            log(f"reload_config() alone{', large config' if large else ''} ×{args.reps}")
            report["reload_call"].append(await reload_call_only(tmp, args.reps, large))
    if not args.no_process:
        log(f"gateway process: SIGUSR1 ×{args.reps}, tickIntervalMs change ×{args.change_reps}")
        report["restart"] = await restarts(tmp, args.reps, args.change_reps)
        large_changes = min(5, args.change_reps)
        log(f"gateway process, large config: SIGUSR1 ×{args.reps}, tickIntervalMs change ×{large_changes}")
        report["restart_large"] = await restarts(tmp, args.reps, large_changes, large=True)
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=20, help="repetitions per figure (default 20)")
    parser.add_argument(
        "--change-reps", type=int, default=20, help="restart-kind config changes (default 20)"
    )
    parser.add_argument("--no-hot", action="store_true", help="skip (a), the in-process hot reload figures")
    parser.add_argument("--no-process", action="store_true", help="skip (b), the restart figures")
    args = parser.parse_args()
    args.reps = max(2, min(args.reps, 500))
    args.change_reps = max(1, min(args.change_reps, 500))
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="moltbot-bench-rr-") as folder:
        try:
            report = trio.run(run, args, Path(folder))
        except Exception:
            traceback.print_exc()
            return 1
    report["meta"] = {
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "commit": git_commit(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "reps": args.reps,
        "original": ORIGINAL,
    }
    print(table(report))
    print(
        f"\nload average before/after: {report['meta']['loadavg_before']} / {report['meta']['loadavg_after']} "
        f"({report['meta']['cpus']} cores)"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "reload_restart.json").write_text(json.dumps(report, indent=2) + "\n")
    log(f"wrote {RESULTS / 'reload_restart.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
