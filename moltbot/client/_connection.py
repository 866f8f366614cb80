"""A Trio client for the gateway's WebSocket control plane (trio-websocket + ``protocol.ClientHandshake``).

``open_gateway_client(url, token=…)`` is the context-manager form: the client's reader task lives in a
nursery the context manager owns. ``connect_gateway_client(nursery, url, …)`` is for callers who own the
nursery. ``call(method, params)`` sends one request and waits for its response; ``subscribe()`` gives a
bounded channel of events (a subscriber that does not keep up loses events, counted in ``dropped``).
"""

from __future__ import annotations

import itertools
import json
import platform
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio
from trio_websocket import ConnectionClosed, HandshakeError, WebSocketConnection, connect_websocket_url

from .. import __version__
from .._util import collapse_single_exception_group
from ..protocol import (
    UNSET,
    ClientHandshake,
    EventFrame,
    HelloOk,
    RemoteProtocolError,
    ResponseFrame,
    encode_frame,
    structure_frame,
)
from ..protocol._device import DeviceKeyPair, sign_connect

__all__ = ["GatewayClient", "GatewayClosed", "connect_gateway_client", "open_gateway_client"]

CHALLENGE_FALLBACK_SECONDS = 0.75
MAX_MESSAGE_SIZE = 16 * 1024 * 1024


class GatewayClosed(Exception):
    """The connection to the gateway ended; ``code``/``reason`` are the WebSocket close, when known."""

    def __init__(self, code: int | None, reason: str | None) -> None:
        super().__init__(f"gateway closed the connection ({code}{': ' + reason if reason else ''})")
        self.code = code
        self.reason = reason


@attrs.define
class _Pending:
    done: trio.Event = attrs.field(factory=trio.Event)
    frame: ResponseFrame | None = None


def connect_params(*, token: str | None = None, password: str | None = None, client_id: str = "gateway-client",
                   mode: str = "backend", role: str = "operator", scopes: list[str] | None = None,
                   min_protocol: int = 3, max_protocol: int = 7, display_name: str | None = None,
                   instance_id: str | None = None, commands: list[str] | None = None,
                   caps: list[str] | None = None) -> dict[str, Any]:
    """The ``connect`` params object this client sends (``commands``/``caps``: what a node offers)."""
    client: dict[str, Any] = {"id": client_id, "version": __version__,
                              "platform": platform.system().lower() or "unknown", "mode": mode,
                              "instanceId": instance_id or str(uuid.uuid4())}
    if display_name:
        client["displayName"] = display_name
    params: dict[str, Any] = {"minProtocol": min_protocol, "maxProtocol": max_protocol, "client": client,
                              "role": role}
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

    def __init__(self, ws: WebSocketConnection, hello: HelloOk) -> None:
        self._ws = ws
        self.hello = hello
        self._ids = itertools.count(1)
        self._pending: dict[str, _Pending] = {}
        self._subscribers: list[trio.MemorySendChannel] = []
        self.dropped = 0
        self.last_seq: int | None = None
        self.closed: GatewayClosed | None = None

    @property
    def protocol(self) -> int:
        return self.hello.protocol

    async def call(self, method: str, params: Any = None) -> Any:
        """Send a request and return its payload (JSON value, ``None`` when absent).

        Raises:
            RemoteProtocolError: the gateway answered ``ok:false`` (its code, message and details).
            GatewayClosed: the connection ended first.

        Cancellation: bound it with ``trio.fail_after``; a cancelled call's late response is discarded.
        """
        request_id = f"r{next(self._ids)}"
        frame: dict[str, Any] = {"type": "req", "id": request_id, "method": method}
        if params is not None:
            frame["params"] = params
        pending = self._pending[request_id] = _Pending()
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
            raise RemoteProtocolError(error.code, error.message,
                                      details=None if error.details is UNSET else error.details,
                                      retry_after_ms=error.retry_after_ms)
        return None if response.payload is UNSET else response.payload

    def subscribe(self, max_buffer: int = 1000) -> trio.MemoryReceiveChannel:
        """A channel receiving every later ``EventFrame``; closed when the connection ends."""
        send, receive = trio.open_memory_channel(max_buffer)
        self._subscribers.append(send)
        return receive

    async def send_raw(self, text: str) -> None:
        """Send arbitrary text (for tests and the conformance harness)."""
        await self._send(text)

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        await self._ws.aclose(code, reason)

    async def _send(self, text: str) -> None:
        if self.closed:
            raise self.closed
        try:
            await self._ws.send_message(text)
        except ConnectionClosed as exc:
            raise GatewayClosed(exc.reason.code, exc.reason.reason) from None

    async def _serve_reader(self) -> None:
        try:
            while True:
                message = await self._ws.get_message()
                self._dispatch(json.loads(message))
        except ConnectionClosed as exc:
            self.closed = GatewayClosed(exc.reason.code, exc.reason.reason)
        finally:
            if self.closed is None:
                self.closed = GatewayClosed(None, None)
            for pending in self._pending.values():
                pending.done.set()
            for channel in self._subscribers:
                channel.close()

    def _dispatch(self, data: Any) -> None:
        try:
            frame = structure_frame(data)
        except RemoteProtocolError:
            return
        if isinstance(frame, ResponseFrame):
            pending = self._pending.get(frame.id)
            if pending is not None:
                pending.frame = frame
                pending.done.set()
        elif isinstance(frame, EventFrame):
            if frame.seq is not None:
                self.last_seq = frame.seq
            for channel in list(self._subscribers):
                try:
                    channel.send_nowait(frame)
                except trio.WouldBlock:
                    self.dropped += 1
                except trio.BrokenResourceError:
                    self._subscribers.remove(channel)


async def _handshake(ws: WebSocketConnection, params: dict[str, Any], device: DeviceKeyPair | None) -> HelloOk:
    signer = None
    if device is not None:
        def signer(nonce: str | None) -> dict[str, Any]:
            return sign_connect(device, params, nonce=nonce)
    handshake = ClientHandshake(params, signer=signer)
    with trio.move_on_after(CHALLENGE_FALLBACK_SECONDS):
        while not handshake.sent:
            reply = handshake.receive(json.loads(await ws.get_message()))
            if reply is not None:
                await ws.send_message(encode_frame(reply))
    if not handshake.sent:
        await ws.send_message(encode_frame(handshake.connect_frame()))
    while True:
        reply = handshake.receive(json.loads(await ws.get_message()))
        if isinstance(reply, HelloOk):
            return reply


async def connect_gateway_client(nursery: trio.Nursery, url: str, *, connect_timeout: float = 10.0,
                                 device: DeviceKeyPair | None = None,
                                 extra_headers: list[tuple[str, str]] | None = None, **params: Any) -> GatewayClient:
    """Connect and authenticate; the client's reader runs in ``nursery`` until the connection closes.

    Keyword arguments are those of ``connect_params`` (``token``, ``password``, ``client_id``, ``mode``,
    ``role``, ``scopes``, ``min_protocol``, ``max_protocol``, ``display_name``, ``instance_id``, ``commands``,
    ``caps``). With ``device`` the connect is signed over the challenge nonce (reference §5.5);
    ``extra_headers`` are sent with the WebSocket upgrade.

    Raises:
        RemoteProtocolError: the gateway refused the connect (bad token, protocol mismatch, …).
        GatewayClosed: the connection could not be opened or was closed during the handshake.
        trio.TooSlowError: no ``hello-ok`` within ``connect_timeout``.
    """
    try:
        with trio.fail_after(connect_timeout):
            ws = await connect_websocket_url(nursery, url, max_message_size=MAX_MESSAGE_SIZE,
                                             extra_headers=extra_headers)
            try:
                hello = await _handshake(ws, connect_params(**params), device)
            except BaseException:
                with trio.CancelScope(shield=True), trio.move_on_after(1):
                    await ws.aclose()
                raise
    except ConnectionClosed as exc:
        raise GatewayClosed(exc.reason.code, exc.reason.reason) from None
    except (HandshakeError, OSError) as exc:
        raise GatewayClosed(None, f"cannot connect to {url}: {exc}") from None
    client = GatewayClient(ws, hello)
    nursery.start_soon(client._serve_reader)
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
