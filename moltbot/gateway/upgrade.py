"""The first read of every accepted socket: a WebSocket upgrade becomes a lean connection, the rest is HTTP.

Theory of operation. hypercorn's trio worker accepts (``httpserver.serve``) and makes one task per socket; in
that task ``Upgrades.route`` reads the first request's head with h11 (bounded in size by hypercorn's
``h11_max_incomplete_size`` and in time by ``keep_alive_timeout``, as hypercorn bounds an idle socket:
a head that never ends is a slow-loris, closed). Then:
- a valid WebSocket upgrade (HTTP/1.1, ``Upgrade: websocket``, ``Connection: upgrade``, a key, version 13;
  any path: the path is not checked, as in the reference) is judged by the Host/Origin guard
  (``origin.check_request``, the same rules as for HTTP: 421/403 refused before the upgrade), answered
  101 without extensions (no permessage-deflate: its zlib state would cost more than the rest of an idle
  connection), and handed to the Runtime current at that moment as ONE task in its connection nursery
  (``connection.start_client``) driving a ``websocket.WebSocket``; the listener's task returns at once;
- anything else (HTTP, a malformed head, an upgrade hypercorn should refuse) goes to hypercorn with the
  bytes already read replayed (``Replayed``), so every HTTP route, limit and answer stays hypercorn's and
  Quart's.
The socket's admission slot (``httpserver.ADMISSION``) is given back when the socket is finally closed,
which for a WebSocket is after its lingering close, in the listener's closer nursery.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import h11
import trio
from wsproto.utilities import generate_accept_token

from . import origin
from .connection import start_client
from .transport import Peer
from .websocket import WebSocket

if TYPE_CHECKING:
    from .app import Gateway

log = logging.getLogger("moltbot.http")

RECEIVE_BYTES = 65536


class Replayed(trio.abc.HalfCloseableStream):
    """A socket stream whose first reads return bytes already read from it (for hypercorn's parser)."""

    __slots__ = ("_pending", "_stream")

    def __init__(self, stream: Any, pending: bytes) -> None:
        self._stream = stream
        self._pending = pending

    @property
    def socket(self) -> Any:  # hypercorn reads the addresses from it (and has no TLS here)
        return self._stream.socket

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._pending:
            size = len(self._pending) if max_bytes is None else max_bytes
            data, self._pending = self._pending[:size], self._pending[size:]
            await trio.lowlevel.checkpoint()
            return data
        return await self._stream.receive_some(max_bytes)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self._stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self._stream.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        await self._stream.send_eof()

    async def aclose(self) -> None:
        await self._stream.aclose()


def _taken(stream: Any) -> Any:
    """The socket as a stream of its own: trio's accept loop closes the stream it handed to the listener's
    task when that task returns, and this connection lives on in the Runtime's nursery. The descriptor is
    detached from the old socket object (whose close is then a no-op) into a new one."""
    if not isinstance(stream, trio.SocketStream):  # pragma: no cover - no TLS on this listener
        raise RuntimeError("the lean WebSocket path takes plain TCP sockets only")
    return trio.SocketStream(trio.socket.socket(fileno=stream.socket.detach()))


def _is_upgrade(request: h11.Request) -> bool:
    """What hypercorn's ``Handshake.is_valid`` accepts as a WebSocket upgrade (it answers the rest)."""
    if request.http_version != b"1.1":
        return False
    upgrade = key = version = None
    connection_upgrade = False
    for name, value in request.headers:
        if name == b"upgrade":
            upgrade = value.strip().lower()
        elif name == b"connection":
            connection_upgrade = connection_upgrade or any(
                token.strip().lower() == b"upgrade" for token in value.split(b",")
            )
        elif name == b"sec-websocket-key":
            key = value
        elif name == b"sec-websocket-version":
            version = value.strip()
    return upgrade == b"websocket" and connection_upgrade and key is not None and version == b"13"


def _address(value: Any) -> tuple[str, int]:
    return (str(value[0]), int(value[1])) if isinstance(value, tuple) else (str(value), 0)


def _host_name(host: str) -> str:
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def peer_of(scope: dict[str, Any], facts: origin.RequestFacts, *, tls: bool) -> Peer:
    """The admission value of an upgrade: read once, from the request and the guard's verdicts."""
    host = _host_name((origin.header(scope, b"host") or "").lower())
    proto = origin.header(scope, b"x-forwarded-proto")
    return Peer(
        address=scope["client"][0],
        client=facts.client,
        local=facts.local,
        direct=facts.direct,
        origin=facts.origin,
        own_origin=facts.own_origin,
        host=host or None,
        local_host=scope["server"][0] or None,
        forwarded_proto=proto.lower() if proto else None,
        tls=tls,
        tailscale=facts.tailscale,
    )


class Upgrades:
    """One listener's router: the gateway whose current Runtime gets the connections, and the nursery
    where sockets end (lingering closes), which the listener owns."""

    __slots__ = ("closer", "gateway", "head_limit", "head_seconds")

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.closer: trio.Nursery | None = None
        self.head_limit = 16 * 1024  # hypercorn's h11_max_incomplete_size (set from its config)
        self.head_seconds = 5.0  # hypercorn's keep_alive_timeout (idem)

    async def route(self, stream: Any, on_end: Any) -> Any:
        """Read the first request head; return the stream for hypercorn (replaying what was read), or
        None when this took the socket (it then calls ``on_end`` once the socket is closed)."""
        parser = h11.Connection(h11.SERVER, max_incomplete_event_size=self.head_limit)
        received = bytearray()
        request = None
        with trio.move_on_after(self.head_seconds) as timer:
            try:
                while request is None:
                    data = await stream.receive_some(RECEIVE_BYTES)
                    received += data
                    parser.receive_data(data)
                    event = parser.next_event()
                    if isinstance(event, h11.Request):
                        request = event
                    elif event is not h11.NEED_DATA or not data:
                        break
            except h11.RemoteProtocolError:
                pass  # hypercorn answers it (400, 431) from the replayed bytes
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                await trio.aclose_forcefully(stream)
                on_end()
                return None
        if timer.cancelled_caught:  # the head never ended (slow-loris): hypercorn would time it out too
            await trio.aclose_forcefully(stream)
            on_end()
            return None
        if request is None or not _is_upgrade(request):
            return Replayed(stream, bytes(received))
        trailing, _ = parser.trailing_data
        try:
            await self._upgrade(stream, request, bytes(trailing), on_end)
        except BaseException:
            await trio.aclose_forcefully(stream)
            on_end()
            raise
        return None

    async def _upgrade(self, stream: Any, request: h11.Request, trailing: bytes, on_end: Any) -> None:
        sock = getattr(stream, "socket", None) or stream.transport_stream.socket
        scope = {
            "type": "websocket",
            "headers": list(request.headers),
            "path": request.target.decode("latin-1"),
            "client": _address(sock.getpeername()),
            "server": _address(sock.getsockname()),
            "scheme": "ws",
        }
        runtime = await self.gateway.current_runtime()
        config = runtime.config.gateway
        facts = origin.request_facts(scope, config)
        answer = origin.check_request(scope, config, facts)
        transport = WebSocket(
            _taken(stream),
            peer_of(scope, facts, tls=isinstance(stream, trio.SSLStream)),
            trailing=trailing,
            closer=self.closer,
        )
        transport.on_end = on_end
        try:
            if answer is not None:
                await self._refuse(transport, answer)
                return
            key = next(value for name, value in request.headers if name == b"sec-websocket-key")
            await transport.stream.send_all(
                b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n"
                b"connection: Upgrade\r\nsec-websocket-accept: " + generate_accept_token(key) + b"\r\n\r\n"
            )
        except BaseException:
            transport.finish_now()
            raise
        start_client(runtime, transport)

    async def _refuse(self, transport: WebSocket, answer: origin.Answer) -> None:
        """The guard's refusal as the whole HTTP answer, then the socket's lingering close."""
        body = answer.body.encode("utf-8")
        headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            *answer.headers,
            (b"connection", b"close"),
        ]
        writer = h11.Connection(h11.SERVER)
        writer.receive_data(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")  # h11 answers only a request it has seen
        writer.next_event()
        data = writer.send(h11.Response(status_code=answer.status, headers=headers)) + writer.send(
            h11.Data(data=body)
        )
        data += writer.send(h11.EndOfMessage())
        with trio.move_on_after(1):
            await transport.stream.send_all(data)
        transport.finish()
