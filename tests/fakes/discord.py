"""A fake Discord: the Gateway (WebSocket, JSON frames) and the REST API (``/api/v10``) on 127.0.0.1.

    async with open_fake_discord(TOKEN) as fake:
        ... (point ``channels.discord.apiBase`` at fake.api_base; ``GET /gateway/bot`` names the socket) ...
        fake.push_message(channel_id=DM, author=USER, content="hi")       # a DM
        await fake.wait_for(lambda: fake.messages_in(DM))

Gateway: hello (``heartbeat_interval`` = ``fake.heartbeat_ms``), identify (token checked: close 4004;
``fake.deny_intents`` closes 4014 when the message content intent is asked for) → READY with a session id
and ``resume_gateway_url`` (``/resume`` on the same port) → ``GUILD_CREATE`` per guild; resume replays the
session's dispatches after the client's ``seq`` → RESUMED (an unknown session: op 9 false). Heartbeats
are acked unless ``fake.ack_heartbeats`` is false. ``reconnect()`` sends op 7, ``invalidate(resumable)``
op 9, ``close(code)`` closes the live socket. REST: ``POST /channels/{id}/messages`` (2,000-character limit,
``nonce`` + ``enforce_nonce`` answered with the message already created, per-channel rate-limit bucket
of ``bucket_size`` per ``bucket_window`` s with ``X-RateLimit-*`` headers, a 429 with ``retry_after``
when exceeded or scripted by ``rate_limit_next``), ``POST /channels/{id}/typing``, ``POST
/users/@me/channels``, ``GET /channels/{id}`` (10003 Unknown Channel), ``GET /users/@me``,
``GET /gateway/bot``. ``fail_next(status, code)`` scripts the next create's error; ``drop_next_create``
creates the message, then drops the connection without answering (a send whose outcome is unknown).
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import re
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import attrs
import h11
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest, serve_websocket

from . import _receive_request

BOT_ID = "100000000000000001"
MESSAGE_CONTENT = 1 << 15
_ids = itertools.count(1_200_000_000_000_000_000)


def snowflake() -> str:
    return str(next(_ids))


@attrs.define(eq=False)
class Live:
    """One connected gateway client."""

    path: str
    outgoing: trio.MemorySendChannel[Any]
    session: str | None = None
    identified: bool = False


@attrs.define(eq=False)
class SessionLog:
    events: list[dict[str, Any]] = attrs.field(factory=list)
    seq: int = 0


class FakeDiscord:
    def __init__(self, token: str) -> None:
        self.token = token
        self.port = self.ws_port = 0
        self.heartbeat_ms = 41250
        self.ack_heartbeats = True
        self.deny_intents = False
        self.revoke_gateway = False  # identify closes with 4004 although REST accepts the token
        self.bucket_size, self.bucket_window = 50, 1.0
        self.guilds: list[dict[str, Any]] = []
        self.channels: dict[str, dict[str, Any]] = {}
        self.messages: list[dict[str, Any]] = []  # every message created, in order
        self.requests: list[tuple[str, str, dict[str, Any]]] = []  # (method, path, body)
        self.request_times: list[tuple[float, str]] = []
        self.typing: list[str] = []
        self.identifies: list[dict[str, Any]] = []
        self.resumes: list[dict[str, Any]] = []
        self.heartbeats: list[tuple[float, Any]] = []
        self.closes: list[int] = []  # close codes the clients sent
        self.paths: list[str] = []  # gateway connection paths, in order
        self.live: list[Live] = []
        self.max_live = 0
        self.rate_limited = 0
        self.sessions: dict[str, SessionLog] = {}
        self._scripted: deque[tuple[int, dict[str, Any], dict[str, str]]] = deque()
        self._drop_next = False
        self.create_delay = 0.0  # seconds a create is answered after the message exists (benchmarks)
        self.honour_nonce = True
        self.on_create: Callable[[dict[str, Any]], None] = lambda message: None
        self._nonces: dict[tuple[str, str], dict[str, Any]] = {}
        self._buckets: dict[str, tuple[float, int]] = {}
        self.changed = trio.Event()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}"

    def _changed(self) -> None:
        self.changed.set()
        self.changed = trio.Event()

    async def wait_for(self, predicate: Callable[[], Any]) -> None:
        while not predicate():
            await self.changed.wait()

    def messages_in(self, channel_id: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["channel_id"] == channel_id]

    # --- world ------------------------------------------------------------------------------------------

    def add_guild(
        self,
        guild_id: str,
        name: str,
        channels: dict[str, str],
        threads: dict[str, tuple[str, str]] | None = None,
    ) -> None:
        """A guild with text channels ``{id: name}`` and threads ``{id: (name, parentId)}``."""
        chans = [{"id": cid, "name": n, "type": 0, "guild_id": guild_id} for cid, n in channels.items()]
        thrs = [
            {"id": tid, "name": n, "type": 11, "parent_id": p, "guild_id": guild_id}
            for tid, (n, p) in (threads or {}).items()
        ]
        for item in chans + thrs:
            self.channels[item["id"]] = item
        self.guilds.append({"id": guild_id, "name": name, "channels": chans, "threads": thrs})

    def push_message(
        self,
        *,
        channel_id: str,
        author: str,
        content: str,
        guild_id: str | None = None,
        mentions_bot: bool = False,
        username: str = "user",
        bot: bool = False,
        message_id: str | None = None,
    ) -> dict[str, Any]:
        """Dispatch a ``MESSAGE_CREATE`` to the live session; the event's data (to dispatch again)."""
        data: dict[str, Any] = {
            "id": message_id or snowflake(),
            "channel_id": channel_id,
            "content": content,
            "type": 0,
            "author": {"id": author, "username": username, **({"bot": True} if bot else {})},
            "mentions": [{"id": BOT_ID, "username": "moltbot", "bot": True}] if mentions_bot else [],
            "timestamp": "2026-12-02T08:00:00.000000+00:00",
        }
        if guild_id:
            data["guild_id"] = guild_id
        self.dispatch("MESSAGE_CREATE", data)
        return data

    def dispatch(self, event: str, data: Any) -> None:
        """Send a dispatch (op 0) on the newest identified connection (logged for a resume)."""
        live = next((c for c in reversed(self.live) if c.session), None)
        assert live is not None and live.session is not None, "no identified gateway connection"
        self._emit(live, event, data)

    def _emit(self, live: Live, event: str, data: Any) -> None:
        assert live.session is not None
        live.outgoing.send_nowait(self.queue_event(live.session, event, data))

    def queue_event(self, session: str, event: str, data: Any) -> dict[str, Any]:
        """Log a dispatch in ``session`` (sent on a resume of it, if no socket has it now)."""
        log = self.sessions[session]
        log.seq += 1
        frame = {"op": 0, "t": event, "s": log.seq, "d": data}
        log.events.append(frame)
        return frame

    def message_data(self, *, channel_id: str, author: str, content: str) -> dict[str, Any]:
        return {
            "id": snowflake(),
            "channel_id": channel_id,
            "content": content,
            "type": 0,
            "author": {"id": author, "username": "user"},
            "mentions": [],
        }

    def reconnect(self) -> None:
        self.live[-1].outgoing.send_nowait({"op": 7, "d": None})

    def invalidate(self, resumable: bool) -> None:
        self.live[-1].outgoing.send_nowait({"op": 9, "d": resumable})

    def close(self, code: int, reason: str = "") -> None:
        self.live[-1].outgoing.send_nowait(("close", code, reason))

    def rate_limit_next(self, retry_after: float, *, global_: bool = False) -> None:
        body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": global_}
        headers = {
            "retry-after": str(math.ceil(retry_after)),
            "x-ratelimit-scope": "global" if global_ else "user",
        }
        if global_:
            headers["x-ratelimit-global"] = "true"
        self._scripted.append((429, body, headers))

    def fail_next(self, status: int, code: int = 0, message: str = "error") -> None:
        self._scripted.append((status, {"message": message, "code": code}, {}))

    def drop_next_create(self) -> None:
        self._drop_next = True

    # --- gateway ------------------------------------------------------------------------------------------

    async def serve_gateway(self, request: WebSocketRequest) -> None:
        ws = await request.accept()
        send, receive = trio.open_memory_channel[Any](math.inf)
        live = Live(request.path, send)
        self.paths.append(request.path)
        self.live.append(live)
        self.max_live = max(self.max_live, len(self.live))
        self._changed()
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._pump, ws, receive, nursery.cancel_scope)
                try:
                    await ws.send_message(
                        json.dumps({"op": 10, "d": {"heartbeat_interval": self.heartbeat_ms}})
                    )
                    while True:
                        frame = json.loads(await ws.get_message())
                        self._on_frame(live, frame)
                except ConnectionClosed as exc:
                    if exc.reason.code is not None:
                        self.closes.append(exc.reason.code)
                    nursery.cancel_scope.cancel()
        finally:
            self.live.remove(live)
            self._changed()

    async def _pump(
        self, ws: WebSocketConnection, receive: trio.MemoryReceiveChannel[Any], scope: trio.CancelScope
    ) -> None:
        async for item in receive:
            try:
                if isinstance(item, tuple):
                    await ws.aclose(item[1], item[2])
                    scope.cancel()
                    return
                await ws.send_message(json.dumps(item))
            except ConnectionClosed:
                return

    def _on_frame(self, live: Live, frame: dict[str, Any]) -> None:
        op, data = frame.get("op"), frame.get("d")
        if op == 1:
            self.heartbeats.append((trio.current_time(), data))
            if self.ack_heartbeats:
                live.outgoing.send_nowait({"op": 11})
        elif op == 2:
            self.identifies.append(data)
            if data.get("token") != self.token or self.revoke_gateway:
                live.outgoing.send_nowait(("close", 4004, "Authentication failed."))
            elif self.deny_intents and data.get("intents", 0) & MESSAGE_CONTENT:
                live.outgoing.send_nowait(("close", 4014, "Disallowed intent(s)."))
            else:
                live.session = snowflake()
                self.sessions[live.session] = SessionLog()
                self._emit(
                    live,
                    "READY",
                    {
                        "v": 10,
                        "session_id": live.session,
                        "resume_gateway_url": f"{self.ws_url}/resume",
                        "user": {"id": BOT_ID, "username": "moltbot", "bot": True},
                        "guilds": [{"id": g["id"], "unavailable": True} for g in self.guilds],
                    },
                )
                for guild in self.guilds:
                    self._emit(live, "GUILD_CREATE", guild)
        elif op == 6:
            self.resumes.append(data)
            log = self.sessions.get(data.get("session_id"))
            if log is None or data.get("token") != self.token:
                live.outgoing.send_nowait({"op": 9, "d": False})
                return
            live.session = data["session_id"]
            for event in log.events:
                if event["s"] > (data.get("seq") or 0):
                    live.outgoing.send_nowait(event)
            self._emit(live, "RESUMED", {})
        self._changed()

    # --- REST ---------------------------------------------------------------------------------------------

    async def serve_rest(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                request = await _receive_request(conn, stream)
                if request is None:
                    return
                body = json.loads(request.body) if request.body else {}
                path = request.path.removeprefix("/api/v10")
                self.requests.append((request.method, path, body))
                self.request_times.append((trio.current_time(), path))
                status, reply, headers = self._answer(request.method, path, body, request.headers)
                self._changed()
                if status == 0:  # created, but the answer is lost
                    return
                if self.create_delay and status == 200 and path.endswith("/messages"):
                    await trio.sleep(self.create_delay)  # Discord has it already, whoever hangs up now
                data = json.dumps(reply).encode() if reply is not None else b""
                head = [("content-length", str(len(data))), *headers.items()]
                if reply is not None:
                    head.append(("content-type", "application/json"))
                await stream.send_all(conn.send(h11.Response(status_code=status, headers=head)))
                await stream.send_all(conn.send(h11.Data(data=data)))
                await stream.send_all(conn.send(h11.EndOfMessage()))
                conn.start_next_cycle()
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
            pass
        finally:
            await stream.aclose()

    def _answer(
        self, method: str, path: str, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, Any, dict[str, str]]:
        if headers.get("authorization") != f"Bot {self.token}":
            return 401, {"message": "401: Unauthorized", "code": 0}, {}
        if (method, path) == ("GET", "/gateway/bot"):
            return (
                200,
                {
                    "url": self.ws_url,
                    "shards": 1,
                    "session_start_limit": {
                        "total": 1000,
                        "remaining": 999,
                        "reset_after": 14400000,
                        "max_concurrency": 1,
                    },
                },
                {},
            )
        if (method, path) == ("GET", "/users/@me"):
            return 200, {"id": BOT_ID, "username": "moltbot", "bot": True}, {}
        if (method, path) == ("POST", "/users/@me/channels"):
            dm = {
                "id": f"9{body['recipient_id']}"[:19],
                "type": 1,
                "recipients": [{"id": body["recipient_id"]}],
            }
            self.channels[dm["id"]] = dm
            return 200, dm, {}
        guild = re.fullmatch(r"/guilds/(\d+)", path)
        if method == "GET" and guild is not None:
            known = next((g for g in self.guilds if g["id"] == guild.group(1)), None)
            if known is None:
                return 404, {"message": "Unknown Guild", "code": 10004}, {}
            return 200, {"id": known["id"], "name": known["name"]}, {}
        match = re.fullmatch(r"/channels/(\d+)(/messages|/typing)?", path)
        if match is None:
            return 404, {"message": "404: Not Found", "code": 0}, {}
        channel_id, tail = match.groups()
        if channel_id not in self.channels:
            return 404, {"message": "Unknown Channel", "code": 10003}, {}
        if method == "GET" and tail is None:
            return 200, self.channels[channel_id], {}
        if method == "POST" and tail == "/typing":
            self.typing.append(channel_id)
            return 204, None, {}
        if method == "POST" and tail == "/messages":
            return self._create(channel_id, body)
        return 405, {"message": "405: Method Not Allowed", "code": 0}, {}

    def _create(self, channel_id: str, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        now = trio.current_time()
        start, used = self._buckets.get(channel_id, (now, 0))
        if now - start >= self.bucket_window:
            start, used = now, 0
        if self._scripted:
            status, reply, headers = self._scripted.popleft()
            self.rate_limited += status == 429
            return status, reply, headers
        if used >= self.bucket_size:
            self.rate_limited += 1
            retry = round(self.bucket_window - (now - start), 3)
            return 429, {"message": "You are being rate limited.", "retry_after": retry, "global": False}, {}
        used += 1
        self._buckets[channel_id] = (start, used)
        limits = {
            "x-ratelimit-limit": str(self.bucket_size),
            "x-ratelimit-remaining": str(self.bucket_size - used),
            "x-ratelimit-reset-after": f"{self.bucket_window - (now - start):.3f}",
            "x-ratelimit-bucket": "fakebucket-messages",
        }
        content = body.get("content")
        if not isinstance(content, str) or not content or len(content) > 2000:
            return 400, {"message": "Invalid Form Body", "code": 50035}, limits
        nonce = body.get("nonce")
        if nonce and body.get("enforce_nonce") and self.honour_nonce and (channel_id, nonce) in self._nonces:
            return 200, self._nonces[(channel_id, nonce)], limits
        message = {
            "id": snowflake(),
            "channel_id": channel_id,
            "content": content,
            "nonce": nonce,
            "author": {"id": BOT_ID, "username": "moltbot", "bot": True},
            "message_reference": body.get("message_reference"),
            "allowed_mentions": body.get("allowed_mentions"),
        }
        self.messages.append(message)
        self.on_create(message)
        if nonce:
            self._nonces[(channel_id, nonce)] = message
        if self._drop_next:
            self._drop_next = False
            return 0, None, {}
        return 200, message, limits


@asynccontextmanager
async def open_fake_discord(token: str) -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord(token)
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            functools.partial(trio.serve_tcp, fake.serve_rest, 0, host="127.0.0.1")
        )
        fake.port = listeners[0].socket.getsockname()[1]
        server = await nursery.start(serve_websocket, fake.serve_gateway, "127.0.0.1", 0, None)
        fake.ws_port = server.port
        yield fake
        nursery.cancel_scope.cancel()
