"""One Discord Gateway connection: hello → identify or resume → heartbeats and dispatches, to its end.

Theory of operation: the gateway speaks JSON frames ``{op, d, s, t}`` over a WebSocket. It opens with
op 10 *hello* (``heartbeat_interval``); we answer with op 2 *identify* (token, intents) or, when a
previous connection left a session, op 6 *resume* (``session_id`` + the last sequence we handled) on that
session's ``resume_gateway_url``. The first heartbeat goes at a random point of the first interval (so a
fleet reconnecting at once does not beat in step), then one per interval, each carrying the last
sequence number; a heartbeat whose op 11 *ack* has not arrived by the next one means a zombie connection:
we close it (code 4000, which keeps the session resumable) and resume on a new one. Op 1 asks for a
heartbeat now; op 7 *reconnect* closes and resumes; op 9 *invalid session* resumes when its ``d`` is
true, else waits 1–5 s and identifies afresh. Dispatches (op 0) go to ``handler`` in order; the sequence
number moves only once the handler has returned (the message is durably received), so a resume replays
what was not (``SessionFile`` keeps the session across a restart of the process, so a new connection
resumes it too, within Discord's resume window). Close codes: 4004 (bad token), 4010–4014 (shards, version, intents) are fatal —
``GatewayFatal``, a ``ChannelUnavailable``: the account stops with that error and is not retried in a
loop; 4007/4009 need a new session; any other close resumes. ``run`` returns ``"resume"`` or
``"identify"``; a connection that fails before *hello* raises ``GatewayLost``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs
import trio
from trio_websocket import ConnectionClosed, HandshakeError, WebSocketConnection, open_websocket_url

from ..._util import close_of
from ...protocol import RemoteProtocolError, dumps, parse_json
from ...store.atomic import write_atomic
from ..base import ChannelError, ChannelUnavailable

log = logging.getLogger("moltbot.channels.discord")

DISPATCH, HEARTBEAT, IDENTIFY, RESUME, RECONNECT, INVALID_SESSION, HELLO, HEARTBEAT_ACK = (
    0,
    1,
    2,
    6,
    7,
    9,
    10,
    11,
)
GUILDS, GUILD_MESSAGES, DIRECT_MESSAGES, MESSAGE_CONTENT = 1 << 0, 1 << 9, 1 << 12, 1 << 15
INTENTS = GUILDS | GUILD_MESSAGES | DIRECT_MESSAGES | MESSAGE_CONTENT
API_VERSION = 10
FATAL_CLOSES = {
    4004: "authentication failed: the bot token is not valid",
    4010: "invalid shard",
    4011: "sharding required (too many guilds for one connection)",
    4012: "invalid gateway API version",
    4013: "invalid intents",
    4014: "disallowed intents: enable the Message Content intent for this bot in the Discord Developer Portal",
}
NEW_SESSION_CLOSES = (4007, 4009)  # invalid sequence, session timed out: identify, do not resume
KEEP_SESSION_CLOSE = 4000  # what we close with to resume (1000/1001 would end the session)
HELLO_TIMEOUT = 20.0
CONNECT_TIMEOUT = 15.0
MAX_FRAME = 8 * 1024 * 1024  # a big guild's GUILD_CREATE is large; anything past this closes the socket
INVALID_SESSION_DELAY = (1.0, 5.0)  # Discord's advice before identifying again after op 9 false

Handler = Callable[[str, dict[str, Any]], Awaitable[None]]


class GatewayFatal(ChannelUnavailable):
    """Discord refused this bot for good (token, intents …): retrying the same config cannot help."""


class GatewayLost(ChannelError):
    """The connection failed before the session was up (network, handshake, no hello)."""


@attrs.define
class Session:
    session_id: str
    resume_url: str
    seq: int | None = None


class SessionFile:
    """The session a restarted gateway resumes: ``<stateDir>/credentials/discord-<account>-session.json``
    (0600, written atomically). The sequence in it is the last *handled* one, or older: a resume from an
    older one only replays events the receipts already know. Tied to the token by a digest; a file for
    another token, one older than ``max_age`` seconds, or a damaged one is ignored."""

    def __init__(self, path: Path | None, token: str, *, max_age: float) -> None:
        self.path = path
        self._bot = hashlib.sha256(token.encode()).hexdigest()[:16]
        self._max_age = max_age

    def load(self, now: float) -> Session | None:
        if self.path is None:
            return None
        try:
            data = json.loads(self.path.read_text("utf-8"))
            session = Session(str(data["sessionId"]), str(data["resumeUrl"]), data.get("seq"))
            fresh = data.get("bot") == self._bot and now - float(data["savedAt"]) <= self._max_age
        except (OSError, ValueError, KeyError, TypeError):
            return None
        url_ok = session.resume_url.startswith(("wss://", "ws://")) and len(session.resume_url) < 500
        seq_ok = session.seq is None or (isinstance(session.seq, int) and session.seq >= 0)
        return session if fresh and url_ok and seq_ok and session.session_id else None

    def save(self, session: Session | None, now: float) -> None:
        if self.path is None:
            return
        if session is None:
            self.path.unlink(missing_ok=True)
            return
        record = {
            "version": 1,
            "bot": self._bot,
            "sessionId": session.session_id,
            "resumeUrl": session.resume_url,
            "seq": session.seq,
            "savedAt": now,
        }
        write_atomic(self.path, json.dumps(record) + "\n")


def with_query(url: str) -> str:
    return url if "?" in url else f"{url.rstrip('/')}/?v={API_VERSION}&encoding=json"


class GatewayConnection:
    """One WebSocket to the gateway. ``session`` (in and out) is what a resume needs."""

    def __init__(
        self,
        url: str,
        token: str,
        handler: Handler,
        *,
        session: Session | None = None,
        intents: int = INTENTS,
        on_frame: Callable[[], None] = lambda: None,
        on_ready: Callable[[dict[str, Any]], None] = lambda data: None,
    ) -> None:
        self.url = url
        self.session = session
        self._token = token
        self._handler = handler
        self._intents = intents
        self._on_frame = on_frame
        self._on_ready = on_ready
        self._acked = True
        self._zombie = False
        self.ready = False  # READY or RESUMED arrived on this connection
        self.heartbeats = 0
        self._seq_before_ready: int | None = None  # a sequence seen before READY (none in practice)

    async def run(self) -> str:
        """Serve the connection until it ends: ``"resume"`` or ``"identify"`` next (or an exception)."""
        outcome: str | BaseException
        try:
            async with open_websocket_url(
                with_query(self.url),
                max_message_size=MAX_FRAME,
                connect_timeout=CONNECT_TIMEOUT,
                disconnect_timeout=2.0,
            ) as ws:
                finished = False
                try:
                    outcome = await self._session(ws)
                    finished = True
                finally:
                    if not finished and not ws.closed:  # stopping: close so the next start can resume
                        with trio.CancelScope(shield=True), trio.move_on_after(1.0):
                            await ws.aclose(KEEP_SESSION_CLOSE, "restarting")
                if isinstance(outcome, str) and not ws.closed:
                    await ws.aclose(KEEP_SESSION_CLOSE if outcome == "resume" else 1000)
        except ConnectionClosed as exc:
            outcome = self._closed(*close_of(exc))
        except (HandshakeError, OSError, trio.BrokenResourceError) as exc:
            outcome = GatewayLost(f"discord gateway: {type(exc).__name__}: {exc}")
        if isinstance(outcome, BaseException):  # raised here, outside the nurseries (no exception groups)
            raise outcome
        return outcome

    async def _session(self, ws: WebSocketConnection) -> str | BaseException:
        hello = None
        with trio.move_on_after(HELLO_TIMEOUT):
            while hello is None:
                hello = await self._receive(ws)
        if hello is None or hello.get("op") != HELLO:
            return GatewayLost("no hello from the Discord gateway")
        interval = float((hello.get("d") or {}).get("heartbeat_interval") or 41250) / 1000
        await self._send(ws, self._resume() if self.session else self._identify())
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._heartbeat, ws, max(interval, 0.01))
            try:
                outcome: str | BaseException = await self._serve(ws)
            except ConnectionClosed as exc:
                outcome = self._closed(*close_of(exc))
            nursery.cancel_scope.cancel()
        return outcome

    def _closed(self, code: int | None, reason: str | None) -> str | BaseException:
        if self._zombie:
            return "resume" if self.session else "identify"
        if code in FATAL_CLOSES:
            return GatewayFatal(f"discord gateway closed {code}: {FATAL_CLOSES[code]}")
        log.info(
            "discord gateway closed %s %s; %s",
            code,
            reason or "",
            "new session" if code in NEW_SESSION_CLOSES or not self.session else "resuming",
        )
        if code in NEW_SESSION_CLOSES:
            self.session = None
            return "identify"
        return "resume" if self.session else "identify"

    def _identify(self) -> dict[str, Any]:
        return {
            "op": IDENTIFY,
            "d": {
                "token": self._token,
                "intents": self._intents,
                "properties": {"os": "linux", "browser": "moltbot", "device": "moltbot"},
            },
        }

    def _resume(self) -> dict[str, Any]:
        assert self.session is not None
        return {
            "op": RESUME,
            "d": {"token": self._token, "session_id": self.session.session_id, "seq": self.session.seq},
        }

    async def _send(self, ws: WebSocketConnection, frame: dict[str, Any]) -> None:
        await ws.send_message(dumps(frame))

    async def _receive(self, ws: WebSocketConnection) -> dict[str, Any] | None:
        """The next frame (None for one that is not a JSON object: logged, skipped)."""
        raw = await ws.get_message()
        self._on_frame()
        try:
            frame = parse_json(raw if isinstance(raw, str) else raw.decode("utf-8", "replace"))
        except RemoteProtocolError as exc:
            log.warning("discord gateway: unreadable frame skipped: %s", exc)
            return None
        return frame if isinstance(frame, dict) else None

    @property
    def seq(self) -> int | None:
        return self.session.seq if self.session else self._seq_before_ready

    async def _heartbeat(self, ws: WebSocketConnection, interval: float) -> None:
        await trio.sleep(interval * random.random())
        while True:
            if not self._acked:
                log.warning("discord gateway: heartbeat not acknowledged; reconnecting")
                self._zombie = True
                await ws.aclose(KEEP_SESSION_CLOSE, "heartbeat not acknowledged")
                return
            self._acked = False
            try:
                await self._send(ws, {"op": HEARTBEAT, "d": self.seq})
            except ConnectionClosed:
                return  # the receiving side sees the close and decides what next
            self.heartbeats += 1
            await trio.sleep(interval)

    async def _serve(self, ws: WebSocketConnection) -> str:
        while True:
            frame = await self._receive(ws)
            if frame is None:
                continue
            op, data = frame.get("op"), frame.get("d")
            if op == HEARTBEAT_ACK:
                self._acked = True
            elif op == HEARTBEAT:
                await self._send(ws, {"op": HEARTBEAT, "d": self.seq})
            elif op == RECONNECT:
                log.info("discord gateway asked to reconnect (op 7); resuming")
                return "resume" if self.session else "identify"
            elif op == INVALID_SESSION:
                if data is True and self.session:
                    return "resume"
                self.session = None
                await trio.sleep(random.uniform(*INVALID_SESSION_DELAY))
                return "identify"
            elif op == DISPATCH:
                await self._dispatch(frame.get("t"), data, frame.get("s"))

    async def _dispatch(self, event: Any, data: Any, seq: Any) -> None:
        if not isinstance(data, dict):
            data = {"_unreadable": data}  # handed on: the handler dead-letters what it cannot read
        if event == "READY":  # its own sequence counts as handled: a saved session resumes after it
            seq_now = seq if isinstance(seq, int) else self._seq_before_ready
            self.session = Session(
                str(data.get("session_id") or ""),
                str(data.get("resume_gateway_url") or self.url),
                seq_now,
            )
        if event in ("READY", "RESUMED"):
            self.ready = True
            self._on_ready(data)
        if isinstance(event, str):
            await self._handler(event, data)
        if isinstance(seq, int):  # handled (durably received): a resume starts after it
            if self.session is not None:
                self.session.seq = seq
            else:
                self._seq_before_ready = seq
