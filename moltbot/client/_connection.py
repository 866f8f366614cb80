"""A Trio client for the gateway's WebSocket control plane (trio-websocket + ``protocol.ClientHandshake``).

``open_gateway_client(url, token=…)`` is the context-manager form: the client's reader task lives in a
nursery the context manager owns. ``connect_gateway_client(nursery, url, …)`` is for callers who own the
nursery. ``call(method, params)`` sends one request and waits for its response (with
``expect_final=True`` an ``{status: "accepted"}`` response is only an acknowledgement and the call waits
for the second response on the same id, as ``agent`` sends them); ``subscribe()`` gives a bounded channel
of events (a subscriber that does not keep up loses events, counted in ``dropped``).

With ``watch_ticks=True`` the client closes the connection 4000 "tick timeout" when nothing (no tick, no
other frame) has arrived for more than twice the gateway's ``policy.tickIntervalMs``: a half-open
connection is noticed even when the client itself has nothing to send. ``_reconnect.py`` builds the
long-lived mode on top (reconnect with backoff).

The client opens the TCP (or TLS) stream itself and hands it to trio-websocket (``wrap_client_stream``),
so it can close it: trio-websocket, as an RFC 6455 client, answers a server's close frame and then waits
for the server to close TCP, but never closes its own socket afterwards (it would sit in CLOSE-WAIT until
garbage-collected). When the connection ends, whoever ends it, the reader closes the stream.
"""

from __future__ import annotations

import itertools
import json
import platform
import ssl
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio
from trio_websocket import ConnectionClosed, HandshakeError, WebSocketConnection, wrap_client_stream

from .._util import close_of, collapse_single_exception_group
from .._version import __version__
from ..protocol import (
    UNSET,
    ClientHandshake,
    DeviceKeyPair,
    EventFrame,
    HelloOk,
    RemoteProtocolError,
    RequestFrame,
    ResponseFrame,
    encode_frame,
    sign_connect,
    structure_frame,
)
from ._hello import parse_hello

__all__ = [
    "ClientStatistics",
    "GatewayClient",
    "GatewayClosed",
    "connect_gateway_client",
    "open_gateway_client",
]

CHALLENGE_FALLBACK_SECONDS = 0.75
CLOSE_TICK_TIMEOUT = 4000
MAX_MESSAGE_SIZE = 16 * 1024 * 1024
CLOSE_TIMEOUT = 1.0  # bound on a close handshake (and a TLS close_notify) when the client closes
Stream = trio.SocketStream | trio.SSLStream[trio.SocketStream]


class GatewayClosed(Exception):
    """The connection to the gateway ended; ``code``/``reason`` are the WebSocket close, when known."""

    def __init__(self, code: int | None, reason: str | None) -> None:
        super().__init__(f"gateway closed the connection ({code}{': ' + reason if reason else ''})")
        self.code = code
        self.reason = reason


@attrs.define
class _Pending:
    expect_final: bool = False
    done: trio.Event = attrs.field(factory=trio.Event)
    frame: ResponseFrame | None = None
    accepted: Any = None  # the first, non-final payload of an expect_final call


@attrs.frozen
class ClientStatistics:
    """What a ``GatewayClient`` has seen: requests waiting, events lost to slow subscribers, seq gaps."""

    pending_requests: int
    subscribers: int
    dropped_events: int
    seq_gaps: int
    last_seq: int | None
    seconds_since_last_frame: float


def connect_params(
    *,
    token: str | None = None,
    password: str | None = None,
    client_id: str = "gateway-client",
    mode: str = "backend",
    role: str = "operator",
    scopes: list[str] | None = None,
    min_protocol: int = 3,
    max_protocol: int = 7,
    display_name: str | None = None,
    instance_id: str | None = None,
    commands: list[str] | None = None,
    caps: list[str] | None = None,
) -> dict[str, Any]:
    """The ``connect`` params object this client sends (``commands``/``caps``: what a node offers)."""
    client: dict[str, Any] = {
        "id": client_id,
        "version": __version__,
        "platform": platform.system().lower() or "unknown",
        "mode": mode,
        "instanceId": instance_id or str(uuid.uuid4()),
    }
    if display_name:
        client["displayName"] = display_name
    params: dict[str, Any] = {
        "minProtocol": min_protocol,
        "maxProtocol": max_protocol,
        "client": client,
        "role": role,
    }
    if scopes:
        params["scopes"] = scopes
    if commands is not None:
        params["commands"] = commands
    if caps is not None:
        params["caps"] = caps
    auth = {key: value for key, value in (("token", token), ("password", password)) if value}
    if auth:
        params["auth"] = auth
    return params


class GatewayClient:
    """A connected, authenticated client. Use ``open_gateway_client``/``connect_gateway_client``."""

    def __init__(self, ws: WebSocketConnection, hello: HelloOk, stream: Stream | None = None) -> None:
        self._ws = ws
        self._stream = stream  # the TCP/TLS stream under ``ws``, closed when the connection ends
        self.hello = hello
        self.hello_payload: Any = None  # the hello-ok JSON as received, new fields included
        self._ids = itertools.count(1)
        self._pending: dict[str, _Pending] = {}
        self._subscribers: list[trio.MemorySendChannel[EventFrame]] = []
        self.dropped = 0
        self.seq_gaps = 0
        self.last_seq: int | None = None
        self.closed: GatewayClosed | None = None
        self._last_frame_at = trio.current_time()
        self._finished = trio.Event()

    @property
    def protocol(self) -> int:
        return self.hello.protocol

    async def call(self, method: str, params: Any = None, *, expect_final: bool = False) -> Any:
        """Send a request and return its payload (JSON value, ``None`` when absent).

        Args:
            expect_final: a response whose payload has ``status: "accepted"`` is not the answer; wait for
                the next response with the same id (``agent``, ``chat.send`` runs).

        Raises:
            RemoteProtocolError: the gateway answered ``ok:false`` (its code, message and details).
            GatewayClosed: the connection ended first.

        Cancellation: bound it with ``trio.fail_after`` (the call waits as long as the connection lives);
        a cancelled call's late response is discarded.
        """
        request_id = f"r{next(self._ids)}"
        frame: dict[str, Any] = {"type": "req", "id": request_id, "method": method}
        if params is not None:
            frame["params"] = params
        pending = self._pending[request_id] = _Pending(expect_final)
        try:
            await self._send(json.dumps(frame, separators=(",", ":")))
            await pending.done.wait()
        finally:
            self._pending.pop(request_id, None)
        response = pending.frame
        if response is None:
            raise self.closed or GatewayClosed(None, None)
        if not response.ok:
            error = response.error
            if error is None:
                raise RemoteProtocolError("UNAVAILABLE", "request failed without an error")
            raise RemoteProtocolError(
                error.code,
                error.message,
                details=None if error.details is UNSET else error.details,
                retry_after_ms=error.retry_after_ms,
            )
        return None if response.payload is UNSET else response.payload

    def subscribe(self, max_buffer: int = 1000) -> trio.MemoryReceiveChannel[EventFrame]:
        """A channel receiving every later ``EventFrame``; closed when the connection ends."""
        send, receive = trio.open_memory_channel[EventFrame](max_buffer)
        self._subscribers.append(send)
        return receive

    def statistics(self) -> ClientStatistics:
        return ClientStatistics(
            pending_requests=len(self._pending),
            subscribers=len(self._subscribers),
            dropped_events=self.dropped,
            seq_gaps=self.seq_gaps,
            last_seq=self.last_seq,
            seconds_since_last_frame=trio.current_time() - self._last_frame_at,
        )

    async def wait_closed(self) -> GatewayClosed:
        """Wait until the connection has ended (and every pending call was failed); return why."""
        await self._finished.wait()
        assert self.closed is not None
        return self.closed

    async def send_raw(self, text: str) -> None:
        """Send arbitrary text (for tests and the conformance harness)."""
        await self._send(text)

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Close: a close frame and the close handshake (bounded by the caller), then the socket."""
        try:
            await self._ws.aclose(code, reason)
        finally:
            await self._close_stream()

    async def _close_stream(self) -> None:
        if self._stream is not None:
            await _close_stream(self._stream)

    async def _send(self, text: str) -> None:
        if self.closed:
            raise self.closed
        try:
            await self._ws.send_message(text)
        except ConnectionClosed as exc:
            raise GatewayClosed(*close_of(exc)) from None

    async def _serve_reader(self) -> None:
        try:
            while True:
                message = await self._ws.get_message()
                self._last_frame_at = trio.current_time()
                self._dispatch(json.loads(message))
        except ConnectionClosed as exc:
            if self.closed is None:
                self.closed = GatewayClosed(*close_of(exc))
        finally:
            if self.closed is None:
                self.closed = GatewayClosed(None, None)
            # The gateway closed (its close frame is answered by now) or the connection broke: close
            # our side of the socket rather than leave it in CLOSE-WAIT.
            await self._close_stream()
            for pending in self._pending.values():
                pending.done.set()
            for channel in self._subscribers:
                channel.close()
            self._finished.set()

    async def _watch_ticks(self, interval_ms: int) -> None:
        """Close 4000 "tick timeout" once nothing has arrived for more than ``2 × interval_ms``."""
        allowance = 2 * interval_ms / 1000
        while not self._finished.is_set():
            deadline = self._last_frame_at + allowance
            if trio.current_time() > deadline:
                self.closed = GatewayClosed(CLOSE_TICK_TIMEOUT, "tick timeout")
                with trio.move_on_after(CLOSE_TIMEOUT):
                    await self.aclose(CLOSE_TICK_TIMEOUT, "tick timeout")
                return
            with trio.move_on_after(deadline - trio.current_time() + 0.001):
                await self._finished.wait()

    def _dispatch(self, data: Any) -> None:
        try:
            frame = structure_frame(_envelope(data))
        except RemoteProtocolError:
            return
        if isinstance(frame, ResponseFrame):
            pending = self._pending.get(frame.id)
            if pending is None:
                return
            if (
                pending.expect_final
                and frame.ok
                and isinstance(frame.payload, dict)
                and frame.payload.get("status") == "accepted"
            ):
                pending.accepted = frame.payload
                return
            pending.frame = frame
            pending.done.set()
        elif isinstance(frame, EventFrame):
            if frame.seq is not None:
                if self.last_seq is not None and frame.seq > self.last_seq + 1:
                    self.seq_gaps += 1
                self.last_seq = frame.seq
            for channel in list(self._subscribers):
                try:
                    channel.send_nowait(frame)
                except trio.WouldBlock:
                    self.dropped += 1
                except trio.BrokenResourceError:
                    self._subscribers.remove(channel)


async def _close_stream(stream: Stream) -> None:
    """Close the socket now (idempotent), even in a cancelled scope; a TLS close_notify that cannot be sent
    within ``CLOSE_TIMEOUT`` does not keep it open."""
    with trio.CancelScope(shield=True):
        with trio.move_on_after(CLOSE_TIMEOUT):
            try:
                await stream.aclose()
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass  # already dead or closed
            return
        await trio.aclose_forcefully(stream)


async def _open_stream(url: str) -> tuple[Stream, str, str]:
    """Open the TCP (``ws://``) or TLS (``wss://``) stream for ``url``; return it, the Host header and the
    request target."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("ws", "wss"):
        raise ValueError(f"gateway URL must start with ws:// or wss://, got {url!r}")
    if not parts.hostname:
        raise ValueError(f"gateway URL has no host: {url!r}")
    secure = parts.scheme == "wss"
    port = parts.port or (443 if secure else 80)
    host = parts.hostname
    if secure:
        stream: Stream = await trio.open_ssl_over_tcp_stream(
            host, port, ssl_context=ssl.create_default_context(), https_compatible=True
        )
    else:
        stream = await trio.open_tcp_stream(host, port)
    host_header = f"[{host}]" if ":" in host else host
    if port != (443 if secure else 80):
        host_header = f"{host_header}:{port}"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return stream, host_header, target


async def _handshake(
    ws: WebSocketConnection, params: dict[str, Any], device: DeviceKeyPair | None
) -> tuple[HelloOk, Any]:
    signer = None
    if device is not None:

        def signer(nonce: str | None) -> dict[str, Any]:
            return sign_connect(device, params, nonce=nonce)

    handshake = ClientHandshake(params, signer=signer)
    with trio.move_on_after(CHALLENGE_FALLBACK_SECONDS):
        while not handshake.sent:
            reply = handshake.receive(_envelope(json.loads(await ws.get_message())))
            if isinstance(reply, RequestFrame):  # the connect, once the challenge is in (HelloOk comes after)
                await ws.send_message(encode_frame(reply))
    if not handshake.sent:
        await ws.send_message(encode_frame(handshake.connect_frame()))
    while True:
        data = _envelope(json.loads(await ws.get_message()))
        if (
            isinstance(data, dict)
            and data.get("type") == "res"
            and data.get("id") == handshake.request_id
            and data.get("ok") is True
        ):
            # Read hello-ok ourselves, tolerant of a newer server's additions (``_hello``); the raw
            # payload stays available as ``GatewayClient.hello_payload``.
            return parse_hello(data.get("payload")), data.get("payload")
        reply = handshake.receive(data)
        if isinstance(reply, HelloOk):
            return reply, data.get("payload")


def _envelope(data: Any) -> Any:
    """A frame without the envelope keys a newer server added (protocol 4.x: ``recipientProfileId``,
    …): they carry nothing this client acts on, and the strict frame classes would refuse them."""
    if not isinstance(data, dict):
        return data
    kind = data.get("type")
    known = _ENVELOPE_KEYS.get(kind) if isinstance(kind, str) else None
    return data if known is None or data.keys() <= known else {k: v for k, v in data.items() if k in known}


_ENVELOPE_KEYS = {
    "req": frozenset({"type", "id", "method", "params", "traceparent"}),
    "res": frozenset({"type", "id", "ok", "payload", "error"}),
    "event": frozenset({"type", "event", "payload", "seq", "stateVersion"}),
}


async def connect_gateway_client(
    nursery: trio.Nursery,
    url: str,
    *,
    connect_timeout: float = 10.0,
    device: DeviceKeyPair | None = None,
    extra_headers: list[tuple[str, str]] | None = None,
    watch_ticks: bool = False,
    **params: Any,
) -> GatewayClient:
    """Connect and authenticate; the client's reader runs in ``nursery`` until the connection closes.

    Keyword arguments are those of ``connect_params`` (``token``, ``password``, ``client_id``, ``mode``,
    ``role``, ``scopes``, ``min_protocol``, ``max_protocol``, ``display_name``, ``instance_id``, ``commands``,
    ``caps``). With ``device`` the connect is signed over the challenge nonce;
    ``extra_headers`` are sent with the WebSocket upgrade. ``watch_ticks`` closes the connection
    4000 "tick timeout" when the gateway falls silent for more than twice its ``tickIntervalMs``.

    Raises:
        RemoteProtocolError: the gateway refused the connect (bad token, protocol mismatch, …).
        GatewayClosed: the connection could not be opened or was closed during the handshake.
        trio.TooSlowError: no ``hello-ok`` within ``connect_timeout``.
    """
    try:
        with trio.fail_after(connect_timeout):
            stream, host_header, target = await _open_stream(url)
            ws = None
            try:
                ws = await wrap_client_stream(
                    nursery,
                    stream,
                    host_header,
                    target,
                    extra_headers=None
                    if extra_headers is None
                    else [(name.encode(), value.encode()) for name, value in extra_headers],
                    max_message_size=MAX_MESSAGE_SIZE,
                )
                hello, hello_payload = await _handshake(ws, connect_params(**params), device)
            except BaseException:
                if ws is not None:
                    with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_TIMEOUT):
                        await ws.aclose()
                await _close_stream(stream)
                raise
    except ConnectionClosed as exc:
        raise GatewayClosed(*close_of(exc)) from None
    except (HandshakeError, OSError) as exc:
        raise GatewayClosed(None, f"cannot connect to {url}: {exc}") from None
    client = GatewayClient(ws, hello, stream)
    client.hello_payload = hello_payload
    nursery.start_soon(client._serve_reader)
    if watch_ticks and hello.policy.tick_interval_ms > 0:
        nursery.start_soon(client._watch_ticks, hello.policy.tick_interval_ms)
    return client


@asynccontextmanager
async def open_gateway_client(url: str, **kwargs: Any) -> AsyncIterator[GatewayClient]:
    """``async with open_gateway_client(url, token=…) as client:`` (see ``connect_gateway_client``)."""
    with collapse_single_exception_group():
        async with trio.open_nursery() as nursery:
            client = await connect_gateway_client(nursery, url, **kwargs)
            try:
                yield client
            finally:
                with trio.CancelScope(shield=True), trio.move_on_after(1):
                    await client.aclose()
                nursery.cancel_scope.cancel()


__all__ += ["connect_params"]
