"""The listener's hypercorn patches: each in effect, refused on code they were not written for, and every
await in them bounded (STYLE.md §5: a shielded cleanup has its own deadline).

The bounds are driven with fakes of hypercorn's ``TCPServer`` parts on trio's autojump clock (no socket:
each fake stalls where a peer or an app could stall it; the patch must give up, not wait).
"""

from __future__ import annotations

import types

import pytest
import trio
from hypercorn.events import Closed
from hypercorn.protocol import ws_stream
from hypercorn.protocol.h11 import H11Protocol
from hypercorn.trio import run as trio_run
from hypercorn.trio.tcp_server import TCPServer

from moltbot.gateway import listener

READ_DATA = "hypercorn.trio.tcp_server.TCPServer._read_data"


@pytest.mark.parametrize("patched", [
    TCPServer.protocol_send, TCPServer._read_data, TCPServer._close, H11Protocol._maybe_recycle,
    trio_run.TCPServer, ws_stream.Connection, ws_stream.WSStream._handle_events, ws_stream.WSStream.app_send,
    ws_stream.WSStream.handle,
], ids=["protocol_send", "_read_data", "_close", "_maybe_recycle", "run.TCPServer", "ws_stream.Connection",
        "WSStream._handle_events", "WSStream.app_send", "WSStream.handle"])
def test_each_patch_is_in_effect(patched):
    assert patched.__module__ in ("moltbot.gateway.listener", "moltbot.gateway.wsclose")


def test_the_installed_hypercorn_is_the_code_the_patches_were_written_for():
    listener.check_patch_targets(listener.ORIGINALS)


def test_changed_code_under_a_patch_is_refused_naming_it():
    async def _read_data(self):  # what a new hypercorn might do instead
        pass

    with pytest.raises(RuntimeError) as caught:
        listener.check_patch_targets({**listener.ORIGINALS, READ_DATA: _read_data})
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


async def _nothing(*args) -> None:
    pass


async def _eof(max_bytes) -> bytes:
    return b""


def _server(**stream) -> types.SimpleNamespace:
    fake = types.SimpleNamespace(config=types.SimpleNamespace(read_timeout=None),
                                 stream=types.SimpleNamespace(**{"send_eof": _nothing, "aclose": _nothing,
                                                                 "receive_some": _eof, **stream}),
                                 idle_task=types.SimpleNamespace(stop=_nothing))
    fake.protocol = types.SimpleNamespace(handle=_nothing)
    return fake


async def test_telling_the_app_after_the_peer_left_is_bounded(autojump_clock):
    server, stall = _server(), Stall()
    server.protocol.handle = stall
    await TCPServer._read_data(server)
    assert stall.cancelled


async def test_a_stalled_final_close_gives_up_and_drops_the_socket(autojump_clock):
    stall = Stall()
    server = _server(aclose=stall)
    await TCPServer._close(server)
    assert stall.cancelled and stall.calls == 2  # the bounded close, then aclose_forcefully


async def test_a_stalled_half_close_is_bounded(autojump_clock):
    stall = Stall()
    server = _server(send_eof=stall)
    await TCPServer.protocol_send(server, Closed())
    assert stall.cancelled


async def test_a_refused_connection_is_closed_without_waiting(autojump_clock, monkeypatch):
    monkeypatch.setattr(listener.ADMISSION, "capacity", lambda: 0)
    stall = Stall()
    await trio_run.TCPServer(None, None, None, None, types.SimpleNamespace(aclose=stall))
    assert stall.cancelled


async def test_a_close_reply_read_with_the_tail_of_an_oversized_message_ends_the_stream():
    """The peer's close reply arriving in the same read as the rest of a refused message is still seen:
    the stream ends (hypercorn's own loop dropped it, and both sides waited for each other)."""
    from hypercorn.protocol.events import Data, StreamClosed
    from wsproto import ConnectionType
    from wsproto.connection import Connection
    from wsproto.events import CloseConnection, TextMessage

    sent = []

    async def send(event):
        sent.append(event)

    stream = ws_stream.WSStream.__new__(ws_stream.WSStream)
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
