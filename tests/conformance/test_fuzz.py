"""Hostile clients against one in-process gateway: a hypothesis state machine, floods and memory.

The gateway runs in the test's Trio loop; hypothesis drives the state machine from a worker thread
(``trio.to_thread.run_sync``), and each rule does its socket I/O back in the loop with
``trio.from_thread.run``. Clients are raw sockets (``moltbot.conformance._wire``), so a rule can send
anything: valid and invalid frames, random text and bytes, invalid UTF-8, 10,000-deep nesting, an
oversize message, floods, or vanish at any step of the handshake; and, since issue 15, lone UTF-16
surrogates in keys and values, arrays of 100,000 items, requests nested 100,000 deep or holding a
10,000-digit integer (with an id: they must be answered), before and after hello-ok.

Invariants, checked after every step or at the end of every example:
- every request with an id is answered exactly once, unless the connection is closed with an allowed
  code (1000, 1002, 1008, 1009), and a first message that is not a valid ``connect`` always closes;
- a request beyond the parser's limits (too deep, too long an integer) is answered INVALID_REQUEST with
  its id, and as a first message (under 64 KiB) answered, then closed 1008;
- no frame a client reads carries Python exception text ("maximum recursion depth", "Exceeds the limit");
- a bystander client stays connected and answers ``health``;
- no handler raised (``gateway.stats.handler_errors`` stays 0);
- once the example's clients are gone, the gateway's task tree returns to its idle size.
"""

from __future__ import annotations

import gc
import itertools
import json
import tracemalloc
from typing import Any

import attrs
import pytest
import trio
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from moltbot.client import open_gateway_client
from moltbot.conformance import Target, run_conformance
from moltbot.conformance._wire import OPCODE_BINARY, OPCODE_TEXT, RawWebSocket, abort, build_frame, open_tcp
from moltbot.gateway.app import open_gateway
from tests.conftest import TOKEN, WS_PATH_ENV
from tests.strategies import examples

ALLOWED_CLOSES = {1000, 1002, 1008, 1009}
MAX_PAYLOAD = 524288
PREAUTH_MAX = 65536
STEP_SECONDS = 10
IDLE_SECONDS = 5
FUZZ_SETTINGS = settings(max_examples=examples(15), stateful_step_count=10, deadline=None, database=None,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
METHODS = ["health", "status", "system-presence", "last-heartbeat", "system-event", "connect", "nope.unknown"]


def connect_frame(request_id: str = "c") -> bytes:
    params = {"minProtocol": 3, "maxProtocol": 7, "auth": {"token": TOKEN},
              "client": {"id": "test", "version": "1", "platform": "fuzz", "mode": "ui"}}
    return json.dumps({"type": "req", "id": request_id, "method": "connect", "params": params}).encode()


PRE_REQUEST_LINGER = ("trio._highlevel_serve_listeners._run_handler", "hypercorn.trio.tcp_server.TCPServer._idle_timeout")


def _subtree(task: trio.lowlevel.Task) -> list[str]:
    names = [task.name]
    for nursery in task.child_nurseries:
        for child in nursery.child_tasks:
            names += _subtree(child)
    return names


def count_tasks(*, lingering: bool = False) -> int:
    """Every task of this Trio run, found by walking the tree down from the root task.

    Unless ``lingering``, a connection hypercorn still holds although its peer closed it before sending
    a request (exactly ``PRE_REQUEST_LINGER``: the handler and its keep-alive timer) is not counted:
    hypercorn frees those after ``keep_alive_timeout`` (30 s), which
    ``test_connection_closed_before_its_request_frees_its_tasks_promptly`` pins as a known issue.
    """
    def walk(task: trio.lowlevel.Task) -> int:
        if not lingering and task.name == PRE_REQUEST_LINGER[0] and tuple(_subtree(task)) == PRE_REQUEST_LINGER:
            return 0
        return 1 + sum(walk(child) for nursery in task.child_nurseries for child in nursery.child_tasks)

    return walk(trio.lowlevel.current_root_task())


async def settle_tasks(idle: int, *, seconds: float = IDLE_SECONDS, lingering: bool = False) -> int:
    """Poll until the task tree is back to ``idle`` tasks (or fewer); return the last count."""
    with trio.move_on_after(seconds):
        while (count := count_tasks(lingering=lingering)) > idle:  # noqa: ASYNC110 (no event tells when a task ends)
            await trio.sleep(0.02)
    return count


# --- messages ----------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=8,
)
frame_like = st.fixed_dictionaries(
    {"type": st.sampled_from(["req", "res", "event", "nope"])},
    optional={"id": st.text(max_size=6) | st.integers(), "method": st.sampled_from(METHODS) | st.text(max_size=10),
              "params": json_values, "event": st.text(max_size=8), "ok": st.booleans(), "extra": json_values},
)
DEEP = {"deep arrays": "[" * 10_000 + "]" * 10_000, "deep objects": '{"a":' * 10_000 + "1" + "}" * 10_000}
# Text a client must never read: Python's own exception messages (issue 15, requirement 10).
PYTHON_TEXT = ("recursion", "Exceeds the limit", "Traceback", "codec can't", "object has no attribute", "Errno")


@attrs.frozen
class Message:
    """One hostile message: ``opcode`` and ``payload`` as sent; ``request_id`` if it is a request with an id;
    ``frame_id`` if it is a JSON object with a string ``id`` of any ``type`` (after hello-ok, an invalid frame
    is answered with the frame's own id if present, else "invalid")."""

    label: str
    opcode: int
    payload: bytes
    request_id: str | None = None
    frame_id: str | None = None
    answered: bool = False  # a request refused by the reader itself: its answer precedes any later one

    @property
    def oversize(self) -> bool:
        return len(self.payload) > MAX_PAYLOAD


def _from_frame(frame: dict, binary: bool) -> Message:
    frame_id = frame.get("id") if isinstance(frame.get("id"), str) else None
    request_id = frame_id if frame.get("type") == "req" else None
    return Message("frame", OPCODE_BINARY if binary else OPCODE_TEXT, json.dumps(frame).encode(), request_id,
                   frame_id)


# Lone UTF-16 surrogates ("\ud800" is a valid JSON escape) in keys and values: data, never an exception.
surrogate_text = st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF) | st.sampled_from("a\u00e9"),
                         min_size=1, max_size=6)
surrogate_values = st.recursive(
    surrogate_text | st.integers(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(surrogate_text, children, max_size=3),
    max_leaves=6,
)
# Values the parser or the validator once choked on: huge arrays (100,000 items: 1.7 s and 4.8 MB of
# errors before), nesting past the limit (once silence), integers of more than 4300 digits (silence).
HUGE = {
    "huge array of ints": "[" + "0," * 99_999 + "0]",
    "huge array of strings": "[" + '"a",' * 99_999 + '"a"]',
    "huge object": "{" + ",".join(f'"k{i}":0' for i in range(20_000)) + "}",
}
LIMITS = {
    "deep params": "[" * 100_000 + "]" * 100_000,
    "deep objects params": '{"a":' * 1_000 + "1" + "}" * 1_000,
    "huge integer": "9" * 10_000,
    "huge negative integer": "-" + "1" * 5_000,
}


def _request_with(label: str, params: str, request_id: str, method: str, *, answered: bool) -> Message:
    payload = f'{{"type":"req","id":{json.dumps(request_id)},"method":{json.dumps(method)},"params":{params}}}'
    return Message(label, OPCODE_TEXT, payload.encode(), request_id, request_id, answered and bool(request_id))


request_ids = st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=1, max_size=6)
limit_requests = st.builds(
    lambda name, request_id, method: _request_with(name, LIMITS[name], request_id, method, answered=True),
    st.sampled_from(sorted(LIMITS)), request_ids, st.sampled_from(METHODS))
huge_requests = st.builds(
    lambda name, request_id, method: _request_with(name, HUGE[name], request_id, method, answered=False),
    st.sampled_from(sorted(HUGE)), request_ids, st.sampled_from(METHODS))
surrogate_frames = st.builds(
    lambda frame, extra: {**extra, **frame},
    st.fixed_dictionaries({"type": st.just("req"), "id": request_ids,
                           "method": st.sampled_from(METHODS) | surrogate_text},
                          optional={"params": surrogate_values}),
    st.dictionaries(surrogate_text, surrogate_values, max_size=2),
)

messages = st.one_of(
    st.builds(_from_frame, frame_like, st.booleans()),
    json_values.map(lambda value: Message("json", OPCODE_TEXT, json.dumps(value).encode())),
    st.text(max_size=40).map(lambda text: Message("text", OPCODE_TEXT, text.encode())),
    st.binary(max_size=40).map(lambda data: Message("bytes", OPCODE_BINARY, data)),
    st.just(Message("invalid utf-8", OPCODE_BINARY, b'{"type":"req","id":"\xff","method":"health"}')),
    st.sampled_from(sorted(DEEP)).map(lambda name: Message(name, OPCODE_TEXT, DEEP[name].encode())),
    st.just(Message("oversize", OPCODE_TEXT, b'"' + b"a" * MAX_PAYLOAD + b'"')),
    st.builds(_from_frame, surrogate_frames, st.booleans()),
    limit_requests,
    huge_requests,
)


# --- clients -----------------------------------------------------------------------------------------

@attrs.define(eq=False)
class Client:
    """A raw client and what the model knows about it."""

    raw: RawWebSocket
    state: str = "open"  # open (challenge read) → ready (hello-ok) → closed
    ids: itertools.count = attrs.field(factory=itertools.count)

    def next_id(self) -> str:
        return f"fuzz-request-{next(self.ids)}"

    async def send(self, opcode: int, payload: bytes) -> None:
        try:
            await self.raw.send_frame(opcode, payload)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass  # the gateway closed first (1009 may arrive before the upload ends): read the close next

    async def read_until(self, request_id: str) -> tuple[list[dict], dict | None]:
        """Responses read before the one for ``request_id``, and that one (``None`` if the socket closed)."""
        others: list[dict] = []
        while (message := await self.raw.receive()) is not None:
            frame = clean(message)
            if frame.get("type") != "res":
                continue
            if frame.get("id") == request_id:
                return others, frame
            others.append(frame)
        self.state = "closed"
        return others, None

    async def wait_closed(self) -> tuple[int | None, list[dict]]:
        code, received = await self.raw.wait_closed()
        self.state = "closed"
        return code, [clean(m) for m in received]


def clean(message: str | bytes) -> dict:
    """A received frame, checked to be JSON that carries no Python exception text."""
    assert not any(marker in str(message) for marker in PYTHON_TEXT), message[:300]
    return json.loads(message)


class GatewayMachine(RuleBasedStateMachine):
    """Random sequences of clients doing valid and hostile things, one rule at a time.

    ``opened`` holds clients that have read the challenge and said nothing yet, ``ready`` those that
    completed the handshake; a rule that ends a client consumes it from its bundle.
    """

    opened = Bundle("opened")
    ready = Bundle("ready")

    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world
        self.live: list[Client] = []
        self.streams: list[trio.SocketStream] = []

    def run(self, fn: Any, *args: Any) -> Any:
        async def bounded() -> Any:
            with trio.fail_after(STEP_SECONDS):
                return await fn(*args)

        return trio.from_thread.run(bounded)

    async def _open(self) -> Client:
        raw = await RawWebSocket.connect(self.world.url)
        challenge = json.loads(await raw.receive())
        assert challenge["event"] == "connect.challenge"
        client = Client(raw)
        self.live.append(client)
        return client

    @staticmethod
    async def _handshake(client: Client) -> Client:
        await client.send(OPCODE_TEXT, connect_frame())
        others, hello = await client.read_until("c")
        assert not others and hello is not None and hello["ok"], (others, hello)
        client.state = "ready"
        return client

    # --- before hello-ok -----------------------------------------------------------------------

    @rule(target=opened)
    def open_client(self) -> Client:
        return self.run(self._open)

    @rule(target=ready)
    def open_ready_client(self) -> Client:
        async def go() -> Client:
            return await self._handshake(await self._open())

        return self.run(go)

    @rule(target=ready, client=consumes(opened))
    def handshake(self, client: Client) -> Client:
        return self.run(self._handshake, client)

    @rule(client=consumes(opened), method=st.sampled_from(METHODS[:-2]))
    def request_before_connect(self, client: Client, method: str) -> None:
        """A first request other than connect: its error reply, then close 1008."""
        async def go() -> None:
            request_id = client.next_id()
            await client.send(OPCODE_TEXT, json.dumps({"type": "req", "id": request_id, "method": method}).encode())
            code, frames = await client.wait_closed()
            assert code == 1008 and [f["id"] for f in frames if f.get("type") == "res"] == [request_id]

        self.run(go)

    @rule(client=consumes(opened), message=messages)
    def hostile_first_message(self, client: Client, message: Message) -> None:
        """Anything but a valid connect as the first message closes with an allowed code."""
        async def go() -> None:
            await client.send(message.opcode, message.payload)
            code, frames = await client.wait_closed()
            assert code in ALLOWED_CLOSES, (message.label, code)
            assert code == 1009 or not message.oversize
            replies = [f for f in frames if f.get("type") == "res"]
            assert len(replies) <= 1 and all(f["id"] == message.request_id for f in replies), replies
            if message.answered and len(message.payload) <= PREAUTH_MAX:  # refused with its id, then closed
                assert code == 1008 and len(replies) == 1, (message.label, code, replies)

        self.run(go)

    # --- after hello-ok ------------------------------------------------------------------------

    @rule(client=ready, method=st.sampled_from(METHODS))
    def request(self, client: Client, method: str) -> None:
        """Every request is answered exactly once, with its own id."""
        async def go() -> None:
            request_id = client.next_id()
            await client.send(OPCODE_TEXT, json.dumps({"type": "req", "id": request_id, "method": method}).encode())
            others, response = await client.read_until(request_id)
            assert not others and response is not None, (others, response)

        self.run(go)

    @rule(target=ready, client=consumes(ready), message=messages)
    def hostile(self, client: Client, message: Message) -> Any:
        """Answered (with its id, or "invalid") or ignored; only an oversize message closes (1009)."""
        async def go() -> bool:
            await client.send(message.opcode, message.payload)
            if message.oversize:
                code, _ = await client.wait_closed()
                assert code == 1009, code
                return False
            ping = client.next_id()
            await client.send(OPCODE_TEXT, json.dumps({"type": "req", "id": ping, "method": "health"}).encode())
            others, response = await client.read_until(ping)
            assert response is not None and response["ok"], (message.label, response)
            assert len(others) <= 1 and all(f["id"] in ("invalid", message.frame_id) for f in others), others
            if message.answered:  # refused by the reader: answered, with its id, before the ping
                assert [(f["id"], f["error"]["code"]) for f in others] == [(message.request_id, "INVALID_REQUEST")]
            return True

        return client if self.run(go) else multiple()

    @rule(client=ready, count=st.integers(min_value=1, max_value=500))
    def flood(self, client: Client, count: int) -> None:
        """A burst of requests sent without reading a reply: each is answered exactly once."""
        async def go() -> None:
            ids = [client.next_id() for _ in range(count)]
            await client.raw.send_raw(b"".join(
                build_frame(OPCODE_TEXT, json.dumps({"type": "req", "id": i, "method": "health"}).encode())
                for i in ids))
            answered: list[str] = []
            while len(answered) < count and (message := await client.raw.receive()) is not None:
                frame = json.loads(message)
                if frame.get("type") == "res":
                    answered.append(frame["id"])
            assert sorted(answered) == sorted(ids)

        self.run(go)

    # --- going away ----------------------------------------------------------------------------

    def _vanish(self, client: Client, reset: bool) -> None:
        client.state = "closed"
        if reset:
            trio.from_thread.run_sync(client.raw.abort)
        else:
            self.run(client.raw.aclose)

    @rule(client=consumes(ready), reset=st.booleans())
    def vanish(self, client: Client, reset: bool) -> None:
        """A connected client's socket disappears without a WebSocket close (TCP reset or FIN)."""
        self._vanish(client, reset)

    @rule(client=consumes(opened), reset=st.booleans())
    def vanish_after_challenge(self, client: Client, reset: bool) -> None:
        self._vanish(client, reset)

    @rule(step=st.sampled_from(["tcp only", "half an upgrade", "half a frame", "after connect", "half-open"]),
          reset=st.booleans())
    def vanish_mid_handshake(self, step: str, reset: bool) -> None:
        """A socket that goes at another step of the handshake; "half-open" stays until the example ends."""
        async def go() -> None:
            if step in ("tcp only", "half-open"):
                stream = await open_tcp(self.world.url)
            elif step == "half an upgrade":
                stream = await open_tcp(self.world.url)
                await stream.send_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: webs")
            else:
                raw = await RawWebSocket.connect(self.world.url)
                await raw.receive()
                frame = build_frame(OPCODE_TEXT, connect_frame())
                await raw.send_raw(frame if step == "after connect" else frame[:7])
                stream = raw.stream
            if step == "half-open":
                self.streams.append(stream)
            elif reset:
                abort(stream)
            else:
                await stream.aclose()

        self.run(go)

    # --- invariants ----------------------------------------------------------------------------

    @invariant()
    def bystander_is_unaffected(self) -> None:
        health = self.run(self.world.bystander.call, "health")
        assert health["ok"] and self.world.bystander.closed is None
        assert self.world.gateway.stats.handler_errors == 0

    def teardown(self) -> None:
        async def close_all() -> int:
            for client in self.live:
                client.raw.abort()
            for stream in self.streams:
                abort(stream)
            return await settle_tasks(self.world.idle_tasks)

        count = trio.from_thread.run(close_all)
        assert count <= self.world.idle_tasks, f"{count} tasks, {self.world.idle_tasks} when idle"


@attrs.define
class World:
    url: str
    gateway: Any
    bystander: Any
    idle_tasks: int = 0


@pytest.fixture
async def world(make_config):
    async with open_gateway(make_config(), port=0, env=WS_PATH_ENV) as gateway:
        async with open_gateway_client(gateway.url, token=TOKEN, client_id="cli", mode="cli") as bystander:
            await bystander.call("health")
            await trio.sleep(0.2)  # the health refresh a connect triggers has finished
            yield World(gateway.url, gateway, bystander, count_tasks())


async def test_gateway_survives_random_hostile_clients(world):
    def run() -> None:
        run_state_machine_as_test(lambda: GatewayMachine(world), settings=FUZZ_SETTINGS)

    with trio.fail_after(120):
        await trio.to_thread.run_sync(run)
    assert (await world.bystander.call("health"))["ok"]


async def test_connection_closed_before_its_request_frees_its_tasks_promptly(world):
    # Was a strict xfail (hypercorn held such a connection until keep_alive_timeout); our servers'
    # connections stop the idle timer when the reader ends (moltbot/gateway/httpserver.py).
    stream = await open_tcp(world.url)
    await trio.sleep(0.1)  # accepted: hypercorn has started serving it
    abort(stream)
    assert await settle_tasks(world.idle_tasks, seconds=2, lingering=True) <= world.idle_tasks


async def test_abrupt_disconnects_at_every_handshake_step_leave_no_task(world):
    report = await run_conformance(Target(world.url, token=TOKEN), checks=["robustness.abrupt_disconnects"])
    assert report.ok, report.table()
    assert await settle_tasks(world.idle_tasks) <= world.idle_tasks


async def _flood(url: str, count: int) -> None:
    raw = await RawWebSocket.connect(url)
    try:
        await raw.receive()
        await raw.send_frame(OPCODE_TEXT, connect_frame())
        burst = b"".join(build_frame(OPCODE_TEXT, json.dumps({"type": "req", "id": f"f{i}", "method": "health"})
                                     .encode()) for i in range(count))
        await raw.send_raw(burst)
        answered = 0
        while answered < count and (message := await raw.receive()) is not None:
            frame = json.loads(message)
            if frame.get("type") == "res" and frame["id"] != "c":
                answered += 1
        assert answered == count, (raw.close_code, raw.close_reason)
    finally:
        raw.abort()


async def test_memory_returns_to_baseline_after_floods(world):
    """2,000 requests sent without reading, twice over: what they allocated is released."""
    tracemalloc.start()
    try:
        with trio.fail_after(60):
            await _flood(world.url, 2000)  # warm-up: caches, code paths, interned strings
            await settle_tasks(world.idle_tasks)
            gc.collect()
            baseline = tracemalloc.get_traced_memory()[0]
            for _ in range(2):
                await _flood(world.url, 2000)
            await settle_tasks(world.idle_tasks)
            gc.collect()
            after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert after - baseline < 2 * 1024 * 1024, f"{(after - baseline) / 1024:.0f} KiB retained after floods"
    assert (await world.bystander.call("health"))["ok"]
