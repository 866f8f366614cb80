"""The small interface a connection speaks to, and its two implementations.

``gateway.connection`` never sees quart, hypercorn or ASGI messages: it reads and writes text and closes
with a code. ``AsgiWebSocket`` adapts hypercorn's ASGI WebSocket; ``MemoryTransport`` pairs two ends in
memory for tests and embedders.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import attrs
import trio

from ..protocol import MAX_PREAUTH_BYTES

PREAUTH_TOO_LARGE = "preauth payload too large"  # today's OpenClaw's close reason


class TransportClosed(Exception):
    """The peer went away (or the socket was closed); ``code`` is the close code when known."""

    def __init__(self, code: int | None = None, reason: str = "") -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason


@attrs.frozen
class Peer:
    """What admission needs to know of a client's connection, read once from the socket and the upgrade
    request (the Host/Origin guard's verdicts, ``origin.RequestFacts``, never a second copy of its rules).

    ``address``: the socket's peer; ``client``: the address auth failures count against (the forwarded
    client behind a trusted proxy); ``local``: direct-local (the owner's machine); ``direct``: local and no
    proxy at all; ``origin``/``own_origin``: the browser's Origin and whether it is the gateway's own;
    ``host``: the Host name asked for; ``local_host``: the address the connection came in on;
    ``forwarded_proto``: a proxy's X-Forwarded-Proto; ``tls``: the socket is TLS; ``tailscale``: what
    Tailscale Serve claims (unverified).
    """

    address: str
    client: str
    local: bool
    direct: bool
    origin: str | None = None
    own_origin: bool = False
    host: str | None = None
    local_host: str | None = None
    forwarded_proto: str | None = None
    tls: bool = False
    tailscale: Any = None


class Transport(Protocol):
    facts: Peer  # what admission reads (below ``gateway/`` only this value travels, never the transport)

    @property
    def peer(self) -> str: ...

    @property
    def local(self) -> bool: ...

    # Optional (``getattr`` with a default): the upgrade request's Host name, the local address it came
    # in on, and its X-Forwarded-Proto; they build ``hello-ok.canvasHostUrl``.
    # request_host: str | None; local_host: str | None; forwarded_proto: str | None
    # And what the Host/Origin guard found (``gateway.origin.RequestFacts``): the browser's ``Origin`` (None:
    # not a browser) and whether it is the gateway's own (a foreign one never gets this far), the address
    # auth failures count against, and whether the client is direct-local through no proxy.
    # origin: str | None; own_origin: bool; client: str; direct: bool
    # tailscale: ServeClaim | None (Serve's unverified identity headers); tailscale_identity: the verified
    # TailscaleIdentity, set by device admission when the client authenticated with it.
    # try_send(text) -> bool and pending: bool (the lean WebSocket's): a frame written at once when the
    # line is free, without a writer task (``Connection.send``).

    async def receive_text(self) -> str | bytes: ...

    async def send_text(self, text: str) -> None: ...

    async def close(self, code: int, reason: str = "") -> None: ...


# hypercorn's TCP server half-closes (send_eof) outside its send lock when the peer goes away, so a send
# racing with that raises BusyResourceError: for us it means the same as a closed socket.
_SEND_FAILURES = (trio.BrokenResourceError, trio.ClosedResourceError, trio.BusyResourceError, OSError)


def _host_name(host: str) -> str:
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _hypercorn_batchable(stream: Any) -> bool:
    """Whether ``stream`` is a connected hypercorn ``WSStream`` whose internals ``send_texts`` knows."""
    global _WS_STREAM
    if _WS_STREAM is None:
        try:
            from hypercorn.protocol.ws_stream import ASGIWebsocketState, WSStream
        except ImportError:  # pragma: no cover - hypercorn is a dependency
            _WS_STREAM = ()
        else:
            _WS_STREAM = (WSStream, ASGIWebsocketState.CONNECTED)
    if not _WS_STREAM:  # pragma: no cover
        return False
    stream_type, connected = _WS_STREAM
    return (isinstance(stream, stream_type) and getattr(stream, "state", None) is connected
            and hasattr(stream, "connection") and hasattr(stream, "send"))


_WS_STREAM: tuple[Any, ...] | None = None


class AsgiWebSocket:
    """One ASGI ``websocket`` connection (hypercorn's) behind the ``Transport`` interface."""

    __slots__ = ("_closed", "_receive", "_send", "client", "direct", "facts", "forwarded_proto", "local", "local_host",
                 "origin", "own_origin", "peer", "request_host", "tailscale", "tailscale_identity")

    def __init__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        from .origin import facts_of

        self._receive = receive
        self._send = send
        self._closed = False
        client = scope.get("client") or ("", 0)
        self.peer = str(client[0])
        headers = dict(scope.get("headers") or [])
        host = _host_name(headers.get(b"host", b"").decode("latin-1").lower())
        facts = facts_of(scope)  # the guard's verdicts, never a second copy of its rules
        self.local, self.direct, self.client = facts.local, facts.direct, facts.client
        self.origin, self.own_origin = facts.origin, facts.own_origin
        # What the client claims through Tailscale Serve, and who it is once tailscaled confirmed it.
        self.tailscale, self.tailscale_identity = facts.tailscale, None
        self.request_host = host or None
        server = scope.get("server") or (None, None)
        self.local_host = str(server[0]) if server[0] else None
        proto = headers.get(b"x-forwarded-proto")
        self.forwarded_proto = proto.decode("latin-1").strip().lower() if proto else None
        self.facts = Peer(address=self.peer, client=self.client, local=self.local, direct=self.direct,
                          origin=self.origin, own_origin=self.own_origin, host=self.request_host,
                          local_host=self.local_host, forwarded_proto=self.forwarded_proto,
                          tls=scope.get("scheme") in ("wss", "https"), tailscale=self.tailscale)

    async def accept(self) -> None:
        message = await self._receive()
        if message["type"] != "websocket.connect":
            raise TransportClosed(None, "no websocket.connect")
        await self._send({"type": "websocket.accept"})
        self._limit_message_size(MAX_PREAUTH_BYTES, PREAUTH_TOO_LARGE)

    def lift_preauth_limit(self, max_payload: int) -> None:
        """Authenticated: messages up to ``max_payload`` are read from now on (``gateway.maxPayload``)."""
        self._limit_message_size(max_payload, "")

    def _limit_message_size(self, limit: int, reason: str) -> None:
        """Set how large a message hypercorn buffers before it closes 1009 with ``reason``: until hello-ok
        a stranger may make it hold 64 KiB (characters), not ``maxPayload`` (``wsclose.ClosingWSStream``
        reads the reason). Any other server: the handshake's own check is
        the only one."""
        stream = getattr(self._send, "__self__", None)
        buffer = getattr(stream, "buffer", None)
        if buffer is not None and hasattr(buffer, "max_length"):
            buffer.max_length = limit
            stream.too_large_reason = reason  # type: ignore[union-attr]

    async def receive_text(self) -> str | bytes:
        message = await self._receive()
        if message["type"] == "websocket.receive":
            text = message.get("text")
            return text if text is not None else message.get("bytes") or b""
        self._closed = True
        raise TransportClosed(message.get("code"), message.get("reason") or "")

    async def send_text(self, text: str) -> None:
        if self._closed:
            raise TransportClosed()
        try:
            await self._send({"type": "websocket.send", "text": text})
        except _SEND_FAILURES as exc:
            self._closed = True
            raise TransportClosed() from exc

    async def send_texts(self, texts: list[str]) -> None:
        """Several text messages in one socket write when the server is hypercorn (its ``WSStream``
        encodes each ASGI message and writes it on its own: a syscall, a lock and a cancel scope per
        frame); each is still its own WebSocket message. Any other server: one ASGI send each."""
        stream: Any = getattr(self._send, "__self__", None)  # hypercorn's WSStream, when batchable
        if len(texts) == 1 or not _hypercorn_batchable(stream):
            for text in texts:
                await self.send_text(text)
            return
        if self._closed:
            raise TransportClosed()
        from hypercorn.protocol.events import Data
        from wsproto.events import TextMessage
        from wsproto.utilities import LocalProtocolError

        if stream.closed:  # what hypercorn's app_send does: the app may finish after a close
            return
        chunks = []
        for text in texts:
            try:
                chunks.append(stream.connection.send(TextMessage(data=text)))
            except LocalProtocolError:  # closing: hypercorn drops such frames too
                break
        if not chunks:
            return
        try:
            await stream.send(Data(stream_id=stream.stream_id, data=b"".join(chunks)))
        except _SEND_FAILURES as exc:
            self._closed = True
            raise TransportClosed() from exc

    async def close(self, code: int, reason: str = "") -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self._send({"type": "websocket.close", "code": code, "reason": reason})
        except _SEND_FAILURES:
            pass


class MemoryTransport:
    """One end of an in-memory text transport; ``memory_transport_pair()`` makes two."""

    def __init__(self, send: trio.MemorySendChannel, receive: trio.MemoryReceiveChannel,
                 peer: str = "127.0.0.1", local: bool = True) -> None:
        self._send_channel = send
        self._receive_channel = receive
        self.peer = self.client = peer
        self.local = self.direct = local  # nothing proxies a memory transport
        self.facts = Peer(address=peer, client=peer, local=local, direct=local)
        self.close_code: int | None = None
        self.close_reason = ""

    async def receive_text(self) -> str | bytes:
        try:
            item = await self._receive_channel.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise TransportClosed(self.close_code) from None
        if isinstance(item, TransportClosed):
            self.close_code, self.close_reason = item.code, item.reason
            raise item
        return item

    async def send_text(self, text: str) -> None:
        try:
            await self._send_channel.send(text)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise TransportClosed() from None

    async def close(self, code: int, reason: str = "") -> None:
        self.close_code, self.close_reason = code, reason
        try:
            self._send_channel.send_nowait(TransportClosed(code, reason))
        except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        await self._send_channel.aclose()


def memory_transport_pair(buffer: float = math.inf) -> tuple[MemoryTransport, MemoryTransport]:
    """Two connected transports (client end, server end)."""
    a_send, b_receive = trio.open_memory_channel(buffer)
    b_send, a_receive = trio.open_memory_channel(buffer)
    return MemoryTransport(a_send, a_receive), MemoryTransport(b_send, b_receive)
