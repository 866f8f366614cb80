"""Fakes of outside services that speak the real wire format over loopback (127.0.0.1, port 0).

``FakeHttpServer`` is a tiny HTTP/1.1 server (trio + h11) that records every request and answers from a
script of ``Reply`` objects, one per request, in order. A reply can stream its body chunk by chunk and
then end normally, drop the connection mid-body (``then="disconnect"``) or keep the response open until
the client goes away (``then="hang"``); each ``RecordedRequest.disconnected`` is set when the client
closed the connection while its reply was still in flight. The format-specific fakes
(``tests.fakes.openai``, ``tests.fakes.anthropic``) build replies and route paths.
"""

from __future__ import annotations

import functools
import json
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any, Literal

import attrs
import h11
import trio


@attrs.define
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""
    disconnected: trio.Event = attrs.field(factory=trio.Event)

    def json(self) -> Any:
        return json.loads(self.body)


@attrs.frozen
class Reply:
    """A scripted response: status, headers, body pieces (each sent as one chunk) and how it ends."""

    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    chunks: tuple[bytes, ...] = ()
    then: Literal["end", "disconnect", "hang"] = "end"


def json_reply(status: int, body: Any, headers: Iterable[tuple[str, str]] = ()) -> Reply:
    data = json.dumps(body).encode()
    return Reply(status, (("content-type", "application/json"), ("content-length", str(len(data))),
                          *headers), (data,))


ReplySource = Reply | Callable[[RecordedRequest], Reply]


class FakeHttpServer:
    """Records requests and answers each from the script (see the module docstring).

    ``route(request)`` may answer without consuming the script (a wrong path, a bad key). When the script
    is empty the ``default`` reply (or a 500 saying so) is sent, so a test that asked for too few
    replies fails loudly.
    """

    def __init__(self, replies: Iterable[ReplySource] = (), *, default: ReplySource | None = None,
                 route: Callable[[RecordedRequest], Reply | None] | None = None) -> None:
        self.replies: deque[ReplySource] = deque(replies)
        self.default = default
        self.requests: list[RecordedRequest] = []
        self.route = route
        self.port = 0
        self.connections = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def queue(self, *replies: ReplySource) -> None:
        self.replies.extend(replies)

    def _next_reply(self, request: RecordedRequest) -> Reply:
        routed = self.route(request) if self.route else None
        if routed is not None:
            return routed
        source = self.replies.popleft() if self.replies else self.default
        if source is None:
            return json_reply(500, {"error": {"message": "fake server: no scripted reply left"}})
        return source(request) if callable(source) else source

    async def handle(self, stream: trio.SocketStream) -> None:
        """Serve one connection: requests in turn (keep-alive) until either side closes."""
        self.connections += 1
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                request = await _receive_request(conn, stream)
                if request is None:
                    return
                self.requests.append(request)
                if not await self._send(conn, stream, request, self._next_reply(request)):
                    return
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return
                conn.start_next_cycle()
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
            pass
        finally:
            await stream.aclose()

    async def _send(self, conn: h11.Connection, stream: trio.SocketStream, request: RecordedRequest,
                    reply: Reply) -> bool:
        """Send the reply; False when the connection must close after it."""
        try:
            await stream.send_all(conn.send(h11.Response(status_code=reply.status, headers=list(reply.headers))))
            for chunk in reply.chunks:
                await stream.send_all(conn.send(h11.Data(data=chunk)))
            if reply.then == "disconnect":
                return False
            if reply.then == "hang":
                while await stream.receive_some(65536):
                    pass
                request.disconnected.set()
                return False
            await stream.send_all(conn.send(h11.EndOfMessage()))
            return True
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            request.disconnected.set()
            return False


async def _receive_request(conn: h11.Connection, stream: trio.SocketStream) -> RecordedRequest | None:
    request: RecordedRequest | None = None
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await stream.receive_some(65536))
        elif isinstance(event, h11.Request):
            headers = {name.decode().lower(): value.decode() for name, value in event.headers}
            request = RecordedRequest(event.method.decode(), event.target.decode(), headers)
        elif isinstance(event, h11.Data) and request is not None:
            request.body += bytes(event.data)
        elif isinstance(event, h11.EndOfMessage):
            return request
        elif isinstance(event, h11.ConnectionClosed):
            return None


@asynccontextmanager
async def open_fake_server(server: FakeHttpServer) -> AsyncIterator[FakeHttpServer]:
    """Serve ``server`` on 127.0.0.1 (port 0, set on ``server.port``) until the block ends."""
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(functools.partial(trio.serve_tcp, server.handle, 0, host="127.0.0.1"))
        server.port = listeners[0].socket.getsockname()[1]
        yield server
        nursery.cancel_scope.cancel()


def fail_after(seconds: float):
    """Decorate an async test so it fails (instead of hanging) after ``seconds`` on the Trio clock."""

    def decorate(test):
        @functools.wraps(test)
        async def bounded(*args: Any, **kwargs: Any) -> Any:
            with trio.fail_after(seconds):
                return await test(*args, **kwargs)

        return bounded

    return decorate
