"""A fake Slack: the Web API (``POST /api/<method>``, bearer token, JSON) and Socket Mode (a WebSocket).

    async with open_fake_slack() as fake:
        ... (point ``apiRoot`` at fake.api_root; tokens fake.bot_token / fake.app_token) ...
        await fake.wait_connected()
        envelope = await fake.push_message(channel="D1", user="U1", text="hi", channel_type="im")
        await fake.wait_acked(envelope)
        await fake.wait_posted(1); fake.posted[0]["text"]

As Slack: ``auth.test`` answers for the bot token (``user_id`` ``UBOT``); ``apps.connections.open`` (app
token only) hands out a single-use ``ws://`` URL whose connection starts with ``hello``; envelopes are
``{"envelope_id", "type": "events_api", "payload": <event_callback>, "retry_attempt", "retry_reason"}``
and acks ``{"envelope_id"}`` are recorded; ``redeliver(envelope)`` sends one again with
``retry_attempt + 1`` (what Slack does after 3 s without an ack); ``disconnect(reason)`` sends
``{"type": "disconnect", "reason"}`` and closes; ``silent_next`` makes the next URL one whose peer says
hello and then never answers (pings included); ``redeliver_unacked`` sends envelopes not acknowledged
again on the next connection (``retry_attempt`` + 1, up to 3, as Slack); ``post_delay`` keeps each
``chat.postMessage`` open for a while (a request in flight to kill). ``fail(method, error=…, status=…,
retry_after=…)`` scripts the next answer of ``method`` (HTTP 429 with ``Retry-After``, or ``ok: false``).
"""

from __future__ import annotations

import functools
import itertools
import json
import random
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import h11
import trio
import trio_websocket
import wsproto
import wsproto.events

from . import _receive_request

BOT_TOKEN = "xoxb-fake-bot-token"
APP_TOKEN = "xapp-1-fake-app-token"
BOT_USER = "UBOT"
TEAM = "T0FAKE"


class FakeSlack:
    def __init__(self) -> None:
        self.bot_token, self.app_token = BOT_TOKEN, APP_TOKEN
        self.bot_tokens, self.app_tokens = {BOT_TOKEN}, {APP_TOKEN}  # ``add_app`` adds more apps
        self.port = self.ws_port = 0
        self.calls: list[tuple[str, dict[str, Any], dict[str, str]]] = []
        self.posted: list[dict[str, Any]] = []
        self.failures: dict[str, deque[dict[str, Any]]] = {}
        self.acks: list[str] = []
        self.tickets: set[str] = set()
        self.connections: list[trio_websocket.WebSocketConnection] = []
        self.opened = 0  # WebSocket connections accepted over the fake's life
        self.redeliver_unacked = False  # as Slack: an envelope not acked is sent again on the next connection
        self.unacked: dict[str, dict[str, Any]] = {}
        self.post_delay = 0.0  # each chat.postMessage takes this long (0.5–1.5×); posted even if the client hangs up
        self.silent_next = False  # the next apps.connections.open hands out a socket that goes silent
        self.silent_port = 0
        self.silent_opened = 0
        self.current: trio_websocket.WebSocketConnection | None = None
        self._changed = trio.Event()
        self._ids = itertools.count(1)
        self._ts = itertools.count(1)

    @property
    def api_root(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def add_app(self, name: str) -> tuple[str, str]:
        """Another app on this fake (its bot and app tokens): one more account for a gateway."""
        bot, app = f"xoxb-{name}", f"xapp-1-{name}"
        self.bot_tokens.add(bot)
        self.app_tokens.add(app)
        return bot, app

    def changed(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def wait_for(self, predicate) -> None:
        while not predicate():
            await self._changed.wait()

    async def wait_posted(self, count: int) -> None:
        await self.wait_for(lambda: len(self.posted) >= count)

    async def wait_connected(self, count: int = 1) -> None:
        """Until ``count`` connections have been opened and the latest is live."""
        await self.wait_for(lambda: self.opened >= count and self.current is not None)

    async def wait_acked(self, envelope: dict[str, Any], times: int = 1) -> None:
        await self.wait_for(lambda: self.acks.count(envelope["envelope_id"]) >= times)

    def method_calls(self, method: str) -> list[dict[str, Any]]:
        return [body for name, body, _ in self.calls if name == method]

    def fail(self, method: str, *, error: str | None = None, status: int = 200,
             retry_after: float | None = None) -> None:
        self.failures.setdefault(method, deque()).append(
            {"error": error, "status": status, "retry_after": retry_after})

    # --- Socket Mode ----------------------------------------------------------------------------

    def envelope(self, event: dict[str, Any]) -> dict[str, Any]:
        number = next(self._ids)
        return {"envelope_id": f"env-{number}", "type": "events_api", "accepts_response_payload": False,
                "retry_attempt": 0, "retry_reason": "",
                "payload": {"token": "verification", "team_id": TEAM, "api_app_id": "AFAKE", "event": event,
                            "type": "event_callback", "event_id": f"Ev{number:08d}", "event_time": 1700000000}}

    def message_event(self, *, channel: str, user: str, text: str, channel_type: str = "im",
                      thread_ts: str | None = None, kind: str = "message", ts: str | None = None) -> dict[str, Any]:
        event: dict[str, Any] = {"type": kind, "channel": channel, "user": user, "text": text,
                                 "ts": ts or f"1700000000.{next(self._ts):06d}", "team": TEAM,
                                 "client_msg_id": f"c-{next(self._ids)}"}
        if kind == "message":
            event["channel_type"] = channel_type
        if thread_ts:
            event["thread_ts"] = thread_ts
        return event

    async def send_envelope(self, envelope: dict[str, Any]) -> None:
        if self.redeliver_unacked:
            self.unacked[envelope["envelope_id"]] = envelope
        await self.wait_connected(self.opened or 1)
        assert self.current is not None
        try:
            await self.current.send_message(json.dumps(envelope))
        except trio_websocket.ConnectionClosed:
            if not self.redeliver_unacked:
                raise  # otherwise sent again on the next connection, as Slack does

    async def push_message(self, **fields: Any) -> dict[str, Any]:
        """Send a message event in a fresh envelope; the envelope (to wait for its ack, or redeliver)."""
        envelope = self.envelope(self.message_event(**fields))
        await self.send_envelope(envelope)
        return envelope

    async def redeliver(self, envelope: dict[str, Any]) -> dict[str, Any]:
        again = {**envelope, "retry_attempt": envelope["retry_attempt"] + 1, "retry_reason": "timeout"}
        await self.send_envelope(again)
        return again

    async def disconnect(self, reason: str = "refresh_requested") -> None:
        ws = self.current
        assert ws is not None
        self.current = None
        self.changed()
        await ws.send_message(json.dumps({"type": "disconnect", "reason": reason,
                                          "debug_info": {"host": "fake-applink"}}))
        await ws.aclose()

    async def _serve_ws(self, request: trio_websocket.WebSocketRequest) -> None:
        ticket = request.path.partition("ticket=")[2].partition("&")[0]
        if ticket not in self.tickets:
            await request.reject(401, body=b"invalid ticket")
            return
        self.tickets.discard(ticket)  # single use, as Slack's
        ws = await request.accept()
        self.connections.append(ws)
        self.opened += 1
        await ws.send_message(json.dumps({"type": "hello", "num_connections": 1,
                                          "debug_info": {"host": "fake-applink"},
                                          "connection_info": {"app_id": "AFAKE"}}))
        self.current = ws
        self.changed()
        try:
            for envelope in list(self.unacked.values()):  # Slack retries up to 3 times
                if envelope["retry_attempt"] < 3:
                    again = {**envelope, "retry_attempt": envelope["retry_attempt"] + 1, "retry_reason": "timeout"}
                    self.unacked[envelope["envelope_id"]] = again
                    await ws.send_message(json.dumps(again))
            while True:
                message = json.loads(await ws.get_message())
                if "envelope_id" in message:
                    self.acks.append(message["envelope_id"])
                    self.unacked.pop(message["envelope_id"], None)
                    self.changed()
        except trio_websocket.ConnectionClosed:
            pass
        finally:
            if self.current is ws:
                self.current = None
            self.changed()

    async def _serve_silent(self, stream: trio.SocketStream) -> None:
        """A Socket Mode connection that says hello and then never reads or answers again (pings
        included): an open socket whose peer is gone."""
        ws = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
        accepted = False
        while not accepted:
            data = await stream.receive_some(65536)
            if not data:
                return
            ws.receive_data(data)
            for event in ws.events():
                if isinstance(event, wsproto.events.Request):
                    await stream.send_all(ws.send(wsproto.events.AcceptConnection()))
                    await stream.send_all(ws.send(wsproto.events.TextMessage(json.dumps({"type": "hello"}))))
                    accepted = True
        self.silent_opened += 1
        self.changed()
        await trio.sleep_forever()

    # --- Web API --------------------------------------------------------------------------------

    def answer(self, method: str, body: dict[str, Any], token: str) -> tuple[int, dict[str, Any], list]:
        failures = self.failures.get(method)
        if failures:
            failure = failures.popleft()
            headers = [("retry-after", f"{failure['retry_after']:g}")] if failure["retry_after"] is not None else []
            return failure["status"], {"ok": False, "error": failure["error"] or "ratelimited"}, headers
        if method == "apps.connections.open":
            if token not in self.app_tokens:
                return 200, {"ok": False, "error": "not_allowed_token_type"}, []
            ticket = f"t{next(self._ids)}"
            self.tickets.add(ticket)
            port = self.ws_port
            if self.silent_next:
                self.silent_next, port = False, self.silent_port
            return 200, {"ok": True, "url": f"ws://127.0.0.1:{port}/link/?ticket={ticket}&app_id=AFAKE"}, []
        if token not in self.bot_tokens:
            return 200, {"ok": False, "error": "invalid_auth"}, []
        if method == "auth.test":
            return 200, {"ok": True, "url": "https://fake.slack.com/", "team": "Fake", "user": "moltbot",
                         "team_id": TEAM, "user_id": BOT_USER, "bot_id": "BFAKE"}, []
        if method == "chat.postMessage":
            channel, text = body.get("channel"), body.get("text")
            if not channel or not isinstance(text, str) or not text:
                return 200, {"ok": False, "error": "no_text" if channel else "channel_not_found"}, []
            if len(text) > 40_000:
                return 200, {"ok": False, "error": "msg_too_long"}, []
            ts = f"{int(time.time())}.{next(self._ts):06d}"
            self.posted.append({**body, "ts": ts})
            self.changed()
            return 200, {"ok": True, "channel": channel, "ts": ts,
                         "message": {"type": "message", "text": text, "user": BOT_USER, "ts": ts}}, []
        if method in ("conversations.history", "conversations.replies"):
            return 200, {"ok": True, "messages": self._history(body), "has_more": False}, []
        return 200, {"ok": False, "error": "unknown_method"}, []

    def _history(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """What the bot posted in a channel (``history``: not in threads) or a thread (``replies``), newest
        first, since ``oldest``; ``metadata`` only with ``include_all_metadata``."""
        oldest, thread = float(body.get("oldest") or 0), body.get("ts")
        out = []
        for posted in reversed(self.posted):
            if posted["channel"] != body.get("channel") or float(posted["ts"]) < oldest:
                continue
            if (posted.get("thread_ts") or None) != thread:
                continue
            message = {"type": "message", "user": BOT_USER, "text": posted["text"], "ts": posted["ts"]}
            if posted.get("metadata") and body.get("include_all_metadata"):
                message["metadata"] = posted["metadata"]
            out.append(message)
        return out[: int(body.get("limit") or 100)]

    async def handle(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                request = await _receive_request(conn, stream)
                if request is None:
                    return
                method = request.path.split("?", 1)[0].rpartition("/api/")[2]
                token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
                body = json.loads(request.body or b"{}")
                self.calls.append((method, body, request.headers))
                self.changed()
                if method == "chat.postMessage" and self.post_delay:
                    with trio.CancelScope(shield=True):  # Slack has the message once the request arrived
                        await trio.sleep(self.post_delay * random.uniform(0.5, 1.5))
                        status, answer, headers = self.answer(method, body, token)
                else:
                    status, answer, headers = self.answer(method, body, token)
                data = json.dumps(answer).encode()
                await stream.send_all(conn.send(h11.Response(status_code=status, headers=[
                    ("content-type", "application/json; charset=utf-8"), ("content-length", str(len(data))),
                    *headers])))
                await stream.send_all(conn.send(h11.Data(data=data)))
                await stream.send_all(conn.send(h11.EndOfMessage()))
                conn.start_next_cycle()
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
            pass
        finally:
            await stream.aclose()


@asynccontextmanager
async def open_fake_slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(functools.partial(trio.serve_tcp, fake.handle, 0, host="127.0.0.1"))
        fake.port = listeners[0].socket.getsockname()[1]
        server = await nursery.start(functools.partial(trio_websocket.serve_websocket, fake._serve_ws, "127.0.0.1",
                                                       0, None, disconnect_timeout=1.0))
        fake.ws_port = server.port
        silent = await nursery.start(functools.partial(trio.serve_tcp, fake._serve_silent, 0, host="127.0.0.1"))
        fake.silent_port = silent[0].socket.getsockname()[1]
        yield fake
        nursery.cancel_scope.cancel()
