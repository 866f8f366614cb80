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
    trio_run.TCPServer, ws_stream.Connection,
], ids=["protocol_send", "_read_data", "_close", "_maybe_recycle", "run.TCPServer", "ws_stream.Connection"])
def test_each_patch_is_in_effect(patched):
    assert patched.__module__ == "moltbot.gateway.listener"


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
