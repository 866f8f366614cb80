"""What a check works with: raw WebSocket peers that record and validate every frame, under deadlines.

A check is ``async def check(ctx: CheckContext) -> str | None``. It opens peers with ``ctx.open()``
(a bare WebSocket that has read ``connect.challenge``) or ``ctx.session()`` (one that has also completed
the handshake), sends whatever it likes (garbage included), and reads with deadlines on the real clock.
It ends by returning (pass, with an optional note), ``ctx.skip(reason)`` or ``ctx.fail(reason, frame)``.
Every frame a peer receives is checked against the envelope schema (``frames.schema.json``) first, so a
malformed frame fails whichever check meets it, with that frame as the evidence.
"""

from __future__ import annotations

import collections
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, NoReturn

import attrs
import trio
from trio_websocket import ConnectionClosed, DisconnectionTimeout, HandshakeError, open_websocket_url

from .._util import close_of
from .._version import __version__
from ..protocol import DeviceKeyPair, sign_connect
from ._spec import Spec
from ._spec4 import Spec4
from ._target import Target

__all__ = ["CheckContext", "CheckFailed", "CheckSkipped", "Options", "Peer", "PeerClosed"]

# Every operator scope both protocols know; at 4 operator.admin implies the rest.
HARNESS_SCOPES = (
    "operator.admin",
    "operator.read",
    "operator.write",
    "operator.approvals",
    "operator.pairing",
)
_TRANSCRIPT_FRAMES = 30
_TRANSCRIPT_CHARS = 400
_UNSET: Any = object()


class CheckFailed(Exception):
    """The target did something the spec does not allow; ``frame`` is the evidence, when there is one."""

    def __init__(self, reason: str, frame: Any = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.frame = frame


class CheckSkipped(Exception):
    """The check does not apply to this target (an optional feature, a version, a missing hook)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PeerClosed(CheckFailed):
    """The connection closed while the check expected it to stay open."""

    def __init__(self, code: int | None, reason: str, waiting_for: str) -> None:
        super().__init__(f"connection closed ({code} {reason!r}) while waiting for {waiting_for}")
        self.code = code
        self.close_reason = reason


@attrs.frozen
class Options:
    """Timing of a run. ``frame_timeout`` bounds each read; ``max_wait`` caps waits for slow features
    (tick cadence, handshake timeout), which are skipped when they would take longer."""

    frame_timeout: float = 5.0
    max_wait: float = 5.0
    check_timeout: float = 30.0


@attrs.frozen
class Closed:
    """How a connection ended: close code and reason, and the frames received before the close."""

    code: int | None
    reason: str
    frames: list[Any]

    def responses(self) -> list[dict[str, Any]]:
        return [f for f in self.frames if isinstance(f, dict) and f.get("type") == "res"]


class Peer:
    """One WebSocket to the target, driven by hand. Records a transcript; validates what it receives."""

    def __init__(self, ws: Any, ctx: CheckContext, label: str) -> None:
        self.ws = ws
        self.ctx = ctx
        self.label = label
        self.challenge: dict[str, Any] = {}  # empty until read
        self.hello: dict[str, Any] = {}  # hello-ok's payload, once ``ctx.session()`` has completed
        self.events: list[dict[str, Any]] = []  # events skipped while waiting for something else
        self._ids = 0

    def next_id(self, prefix: str = "r") -> str:
        self._ids += 1
        return f"{prefix}{self._ids}"

    async def send(self, value: Any, *, binary: bool = False) -> None:
        """Send a JSON value (encoded), or text/bytes as they are; bytes go in a binary frame."""
        message = value if isinstance(value, (str, bytes)) else json.dumps(value)
        if binary and isinstance(message, str):
            message = message.encode()
        self.ctx.record(self.label, "→", message)
        try:
            await self.ws.send_message(message)
        except ConnectionClosed as exc:
            raise PeerClosed(*close_of(exc), "a send to complete") from None

    async def receive(self, within: float | None = None, *, waiting_for: str = "a frame") -> dict[str, Any]:
        """The next frame, decoded and checked against the envelope schema."""
        timeout = self.ctx.options.frame_timeout if within is None else within
        message = None
        with trio.move_on_after(timeout):
            try:
                message = await self.ws.get_message()
            except ConnectionClosed as exc:
                raise PeerClosed(*close_of(exc), waiting_for) from None
        if message is None:
            self.ctx.fail(f"no frame within {timeout:g} s while waiting for {waiting_for}")
        return self._decode(message)

    def _decode(self, message: str | bytes) -> dict[str, Any]:
        self.ctx.record(self.label, "←", message)
        try:
            frame: dict[str, Any] = json.loads(message)  # an object once frame_problem passes
        except ValueError:
            self.ctx.fail("the gateway sent a message that is not JSON", message)
        problem = self.ctx.spec.frame_problem(frame)
        if problem is not None:
            self.ctx.fail(f"frame does not match {self.ctx.spec.label}: {problem}", frame)
        return frame

    async def response(self, request_id: str, within: float | None = None) -> dict[str, Any]:
        """The ``res`` for ``request_id`` (events met on the way are kept in ``events``)."""
        with trio.move_on_after(self.ctx.options.frame_timeout if within is None else within):
            while True:
                frame = await self.receive(waiting_for=f"the response to {request_id!r}")
                if frame.get("type") == "res":
                    if frame.get("id") == request_id:
                        return frame
                    self.ctx.fail(f"unexpected response (waiting for id {request_id!r})", frame)
                self.events.append(frame)
        self.ctx.fail(f"no response to {request_id!r} in time")

    async def event(self, name: str, within: float | None = None) -> dict[str, Any]:
        """The next event called ``name`` (other events are kept in ``events``)."""
        with trio.move_on_after(self.ctx.options.frame_timeout if within is None else within):
            while True:
                frame = await self.receive(waiting_for=f"a {name!r} event")
                if frame.get("type") == "event" and frame.get("event") == name:
                    return frame
                if frame.get("type") == "res":
                    self.ctx.fail(f"unexpected response while waiting for a {name!r} event", frame)
                self.events.append(frame)
        self.ctx.fail(f"no {name!r} event in time")

    async def call(
        self, method: str, params: Any = _UNSET, *, request_id: str | None = None, binary: bool = False
    ) -> dict[str, Any]:
        """Send a request and return its ``res`` frame (``ok`` true or false)."""
        request_id = request_id or self.next_id()
        frame: dict[str, Any] = {"type": "req", "id": request_id, "method": method}
        if params is not _UNSET:
            frame["params"] = params
        await self.send(frame, binary=binary)
        return await self.response(request_id)

    async def call_ok(self, method: str, params: Any = _UNSET) -> Any:
        """Call ``method``; fail the check unless it succeeds. Returns the payload."""
        response = await self.call(method, params)
        if response.get("ok") is not True:
            self.ctx.fail(f"{method} failed", response)
        return response.get("payload")

    async def call_error(
        self,
        method: str,
        params: Any = _UNSET,
        *,
        code: str = "INVALID_REQUEST",
        message: str | None = None,
        prefix: str | None = None,
    ) -> dict[str, Any]:
        """Call ``method``; fail unless it answers ``ok:false`` with ``code`` and the given message."""
        response = await self.call(method, params)
        error = response.get("error") or {}
        if response.get("ok") is not False or error.get("code") != code:
            self.ctx.fail(f"{method}: expected {'an' if code[:1] in 'AEIOU' else 'a'} {code} error", response)
        text = error.get("message", "")
        if message is not None and text != message:
            self.ctx.fail(f"{method}: expected error message {message!r}", response)
        if prefix is not None and not text.startswith(prefix):
            self.ctx.fail(f"{method}: expected an error message starting {prefix!r}", response)
        return response

    async def closed(self, within: float | None = None, *, waiting_for: str = "the close") -> Closed:
        """Read until the target closes the connection; fail if it stays open past ``within`` seconds."""
        timeout = self.ctx.options.frame_timeout if within is None else within
        frames: list[Any] = []
        with trio.move_on_after(timeout):
            try:
                while True:
                    frames.append(self._decode(await self.ws.get_message()))
            except ConnectionClosed as exc:
                self.ctx.record(self.label, "←", "<close {} {!r}>".format(*close_of(exc)))
                return Closed(*close_of(exc), frames)
        self.ctx.fail(
            f"connection still open after {timeout:g} s (expected {waiting_for})",
            frames[-1] if frames else None,
        )

    async def ping(self) -> None:
        """Prove the connection still works: a cheap read method must answer ``ok``."""
        method = self.ctx.ping_method()
        await self.call_ok(method, {} if method != "health" else _UNSET)


async def _close_tcp(ws: Any) -> None:
    """Close the TCP connection under a trio-websocket client.

    After a close the *server* started, trio-websocket's client reads the server's FIN and stops without
    closing its socket, which then sits in CLOSE-WAIT until garbage collection. A gateway that waits for
    its clients' sockets to end before restarting (the original's does, for up to 5 s) would be held up
    by the harness itself.
    """
    stream = getattr(ws, "_stream", None)
    if stream is None:
        return
    with trio.CancelScope(shield=True):
        try:
            await stream.aclose()
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass


class CheckContext:
    """Everything a check may use: the target, the spec, the negotiated version and what hello-ok said."""

    def __init__(
        self,
        target: Target,
        spec: Spec | Spec4,
        options: Options,
        *,
        protocol: int,
        hello: dict[str, Any] | None = None,
        versions: tuple[int, ...] = (),
    ) -> None:
        self.target = target
        self.spec = spec
        self.options = options
        self.protocol = protocol
        self.hello = hello or {}
        self.versions = versions  # the protocol versions the target accepted in the probe
        self.transcript: collections.deque[str] = collections.deque(maxlen=_TRANSCRIPT_FRAMES)
        self._peers = 0

    # --- what the target advertised -------------------------------------------------------------

    @property
    def methods(self) -> list[str]:
        return list((self.hello.get("features") or {}).get("methods") or [])

    @property
    def events(self) -> list[str]:
        return list((self.hello.get("features") or {}).get("events") or [])

    @property
    def policy(self) -> dict[str, Any]:
        return dict(self.hello.get("policy") or {})

    def ping_method(self) -> str:
        """``health`` when advertised, else a read method without required params."""
        if "health" in self.methods:
            return "health"
        for name in self.spec.methods_in_scope("read"):
            if name in self.methods and not self.spec.required_params(name):
                return name
        self.skip("the target advertises no read method the harness can call to check a connection")

    @property
    def protocol4(self) -> bool:
        """This check validates against OpenClaw's protocol-4 contract (``Spec4``)."""
        return bool(getattr(self.spec, "protocol4", False))

    def node_session_params(self) -> dict[str, Any]:
        """``session()`` params of a node. At 4 a node needs a device identity (a device-less node is
        refused NOT_PAIRED "device identity required"; loopback pairs a new device automatically), so a
        fresh key is made for it; at 3 and 7 a node connects with the shared secret alone."""
        client = {**self.connect_params()["client"], "id": "node-host", "mode": "node"}
        params: dict[str, Any] = {"role": "node", "scopes": None, "client": client}
        if self.protocol4:
            params["device"] = DeviceKeyPair.generate()
        return params

    def scope_probe_method(self) -> str:
        """A read method whose refusal shows a scope or role decision. At 4 not ``health``: OpenClaw
        answers ``health`` to every connected client, whatever its role and scopes (code:
        ``authorizeGatewayMethod`` returns early for it), although its schema lists it as read."""
        if not self.protocol4:
            return self.ping_method()
        for name in ("status", *self.spec.methods_in_scope("read")):
            if name != "health" and name in self.methods and not self.spec.required_params(name):
                return name
        self.skip("the target advertises no read method besides health to check a scope decision with")

    # --- outcomes -------------------------------------------------------------------------------

    def fail(self, reason: str, frame: Any = None) -> NoReturn:
        raise CheckFailed(reason, frame)

    def skip(self, reason: str) -> NoReturn:
        raise CheckSkipped(reason)

    def expect(self, condition: object, reason: str, frame: Any = None) -> None:
        if not condition:
            self.fail(reason, frame)

    def record(self, label: str, direction: str, message: str | bytes) -> None:
        if isinstance(message, bytes):
            text = f"<binary {len(message)} bytes> {message[:80]!r}"
        else:
            text = (
                message
                if len(message) <= _TRANSCRIPT_CHARS
                else f"{message[:_TRANSCRIPT_CHARS]}… ({len(message)} chars)"
            )
        self.transcript.append(f"{label} {direction} {text}")

    # --- connections ----------------------------------------------------------------------------

    def connect_params(
        self, *, protocol: tuple[int, int] | None = None, auth: Any = _UNSET, **overrides: Any
    ) -> dict[str, Any]:
        """``connect`` params for this run: the target's credentials, this check's protocol version.

        ``overrides`` replace top-level keys (``client``, ``role``, ``scopes``, …); a value of ``None``
        removes the key.
        """
        low, high = protocol or (self.protocol, self.protocol)
        params: dict[str, Any] = {
            "minProtocol": low,
            "maxProtocol": high,
            # "cli"/"cli": an id every version of the enum has, a mode that keeps it out of presence, and
            # the client kind OpenClaw lets keep its scopes without a device identity on direct loopback
            # ("test"/"test" gets its scopes cleared there).
            "client": {
                "id": "cli",
                "displayName": "moltbot-conformance",
                "version": __version__,
                "platform": "conformance",
                "mode": "cli",
                "instanceId": f"moltbot-conformance-{uuid.uuid4()}",
            },
            # Explicit scopes at every version: protocol 4 grants none when none are asked for.
            "role": "operator",
            "scopes": list(HARNESS_SCOPES),
        }
        credentials = self.target.auth() if auth is _UNSET else auth
        if credentials:
            params["auth"] = credentials
        params.update(overrides)
        return {key: value for key, value in params.items() if value is not None}

    @asynccontextmanager
    async def open(self, *, read_challenge: bool = True) -> AsyncIterator[Peer]:
        """A bare WebSocket to the target; by default it has read (and checked) ``connect.challenge``."""
        self._peers += 1
        label = f"peer{self._peers}"
        ws = None
        try:
            async with open_websocket_url(
                self.target.url,
                max_message_size=64 * 1024 * 1024,
                connect_timeout=self.options.frame_timeout,
                disconnect_timeout=2.0,
            ) as ws:
                peer = Peer(ws, self, label)
                if read_challenge:
                    peer.challenge = await peer.receive(waiting_for="connect.challenge")
                    if peer.challenge.get("event") != "connect.challenge":
                        self.fail("the first frame is not the connect.challenge event", peer.challenge)
                yield peer
        except HandshakeError as exc:
            if isinstance(exc, DisconnectionTimeout):
                # The target did not finish the close handshake in time: not what any check is about,
                # but an error the check's body raised before it must not be lost.
                if isinstance(exc.__context__, Exception) and not isinstance(
                    exc.__context__, trio.TooSlowError
                ):
                    raise exc.__context__ from None
                return
            self.fail(f"cannot open a WebSocket to {self.target.url}: {exc!r}")
        finally:
            if ws is not None:
                await _close_tcp(ws)

    @asynccontextmanager
    async def session(self, **params: Any) -> AsyncIterator[Peer]:
        """A peer that completed the handshake (``peer.hello`` is the hello-ok payload).

        ``params`` go to ``connect_params`` (``protocol=``, ``role=``, ``scopes=``, ``client=``, …);
        ``device=`` a ``DeviceKeyPair`` signs the connect over the challenge nonce (``node_identity``).
        """
        device = params.pop("device", None)
        async with self.open() as peer:
            connect = self.connect_params(**params)
            if device is not None:
                nonce = ((peer.challenge or {}).get("payload") or {}).get("nonce")
                connect["device"] = sign_connect(
                    device, connect, nonce=nonce if isinstance(nonce, str) else None
                )
            response = await peer.call("connect", connect, request_id="connect")
            if response.get("ok") is not True:
                self.fail("connect was refused", response)
            peer.hello = response.get("payload") or {}
            yield peer
