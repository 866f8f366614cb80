"""The fixes our hypercorn servers run with (``gateway/httpserver.py``, ``gateway/wsclose.py``): each in
effect on our servers' connections only, refused on code they were not written for, and every await in
them bounded (a shielded cleanup has its own deadline).

The bounds are driven with fakes of hypercorn's ``TCPServer`` parts on trio's autojump clock (no socket:
each fake stalls where a peer or an app could stall it; the fix must give up, not wait).
"""

from __future__ import annotations

import types

import pytest
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.events import Closed
from hypercorn.protocol import ws_stream
from hypercorn.protocol.h11 import H11Protocol
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import ConnectionState
from wsproto import ConnectionType
from wsproto.connection import Connection

from moltbot.gateway import httpserver, hypercorn_pin, wsclose
from moltbot.gateway.httpserver import ConnectionServer

READ_DATA = "hypercorn.trio.tcp_server.TCPServer._read_data"


async def _nothing(*args) -> None:
    pass


def _h11() -> H11Protocol:
    return H11Protocol(None, HypercornConfig(), WorkerContext(None), None, ConnectionState({}), False, None, None,
                       _nothing)


def _ws_stream() -> ws_stream.WSStream:
    return ws_stream.WSStream(None, HypercornConfig(), WorkerContext(None), None, False, None, None, _nothing, 1)


async def test_our_connections_get_our_protocol_stream_and_wsproto_connection():
    server = ConnectionServer.__new__(ConnectionServer)
    server.protocol = types.SimpleNamespace(protocol=_h11())  # as ``run`` assigns its ProtocolWrapper
    protocol = server.protocol.protocol
    assert type(protocol) is httpserver.ClosingH11Protocol
    protocol.stream = _ws_stream()  # as ``_create_stream`` assigns a WebSocket's stream
    assert type(protocol.stream) is wsclose.ClosingWSStream
    protocol.stream.connection = Connection(ConnectionType.SERVER)  # as ``_accept`` assigns it
    assert type(protocol.stream.connection) is wsclose.FailingConnection


async def test_hypercorns_own_objects_stay_hypercorns():
    protocol = _h11()
    protocol.stream = _ws_stream()
    assert type(protocol) is H11Protocol and type(protocol.stream) is ws_stream.WSStream
    assert ws_stream.Connection is Connection


def test_the_installed_hypercorn_is_the_code_the_fixes_were_written_for():
    hypercorn_pin.check_fix_targets(hypercorn_pin.fix_targets())


def test_changed_code_under_a_fix_is_refused_naming_it():
    async def _read_data(self):  # what a new hypercorn might do instead
        pass

    with pytest.raises(RuntimeError) as caught:
        hypercorn_pin.check_fix_targets({**hypercorn_pin.fix_targets(), READ_DATA: _read_data})
    assert READ_DATA in str(caught.value) and "hypercorn>=0.18,<0.19" in str(caught.value)


class Stall:
    """An await that never ends by itself; records whether it was cancelled."""

    def __init__(self) -> None:
        self.cancelled = False
        self.calls = 0

    async def __call__(self, *args) -> None:
        self.calls += 1
        try:
            await trio.sleep(1000)
        except trio.Cancelled:
            self.cancelled = True
            raise


async def _eof(max_bytes) -> bytes:
    return b""


def _server(**stream) -> ConnectionServer:
    """A ``ConnectionServer`` over fakes: its stream, idle timer and protocol."""
    server = ConnectionServer.__new__(ConnectionServer)
    server.config = types.SimpleNamespace(read_timeout=None)
    server.stream = types.SimpleNamespace(**{"send_eof": _nothing, "aclose": _nothing, "receive_some": _eof,
                                             **stream})
    server.idle_task = types.SimpleNamespace(stop=_nothing)
    server.protocol = types.SimpleNamespace(handle=_nothing)
    return server


async def test_telling_the_app_after_the_peer_left_is_bounded(autojump_clock):
    server, stall = _server(), Stall()
    server.protocol.handle = stall
    await server._read_data()
    assert stall.cancelled


async def test_a_stalled_final_close_gives_up_and_drops_the_socket(autojump_clock):
    stall = Stall()
    server = _server(aclose=stall)
    await server._close()
    assert stall.cancelled and stall.calls == 2  # the bounded close, then aclose_forcefully


async def test_a_stalled_half_close_is_bounded(autojump_clock):
    stall = Stall()
    server = _server(send_eof=stall)
    await server.protocol_send(Closed())
    assert stall.cancelled


async def test_a_refused_connection_is_closed_without_waiting(autojump_clock, monkeypatch):
    monkeypatch.setattr(httpserver.ADMISSION, "capacity", lambda: 0)
    stall = Stall()
    await httpserver.admitted_connection(None, None, None, None, None, types.SimpleNamespace(aclose=stall))
    assert stall.cancelled


async def test_a_close_reply_read_with_the_tail_of_an_oversized_message_ends_the_stream():
    """The peer's close reply arriving in the same read as the rest of a refused message is still seen:
    the stream ends (hypercorn's own loop dropped it, and both sides waited for each other)."""
    from hypercorn.protocol.events import Data, StreamClosed
    from wsproto.events import CloseConnection, TextMessage

    sent = []

    async def send(event):
        sent.append(event)

    stream = wsclose.ClosingWSStream.__new__(wsclose.ClosingWSStream)
    stream.connection = Connection(ConnectionType.SERVER)
    stream.buffer = ws_stream.WebsocketBuffer(10)
    stream.send = send
    stream.stream_id = 1
    client = Connection(ConnectionType.CLIENT)

    async def app_put(message):  # the app is told its connection ended; the message never reaches it
        assert message == {"type": "websocket.disconnect", "code": 1009}, message

    stream.app_put = app_put
    stream.connection.receive_data(client.send(TextMessage(data="a" * 20, message_finished=False)))
    await stream._handle_events()
    assert stream.connection.state.name == "LOCAL_CLOSING"  # 1009 sent
    # The message's tail and the peer's close reply, in one read.
    tail = client.send(TextMessage(data="b" * 20, message_finished=True))
    stream.connection.receive_data(tail + client.send(CloseConnection(code=1009)))
    await stream._handle_events()
    assert any(isinstance(event, StreamClosed) for event in sent)
    assert sum(isinstance(event, Data) for event in sent) == 1  # the close frame, once
