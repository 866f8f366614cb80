"""Every close the gateway starts completes the WebSocket close handshake (issue 16, item 2).

What the peer was sent before the close frame (a refused ``connect``'s error ``res``, the ``shutdown``
event) and the close frame itself reach it before the TCP connection ends: after its close frame the
gateway waits for the peer's (RFC 6455 §7.1.1), then closes; a peer that never answers is dropped
after a bound. Over real loopback sockets, with a client that answers the close only when told to.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import attrs
import pytest
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Request, TextMessage

from moltbot.gateway import httpserver, wsclose
from tests.conftest import connect_frame

PREMATURE_WINDOW = 0.5  # how long a TCP end before our close reply is looked for (it came in ~0.2 ms)


@attrs.define
class Peer:
    """A WebSocket client over a trio socket that answers the server's close frame only in ``reply``."""

    stream: trio.SocketStream
    ws: WSConnection
    messages: list[dict] = attrs.Factory(list)
    close: CloseConnection | None = None
    _reply: bytes = b""
    _partial: str = ""

    @classmethod
    async def connect(cls, url: str) -> Peer:
        parts = urlsplit(url)
        peer = cls(await trio.open_tcp_stream("127.0.0.1", parts.port), WSConnection(ConnectionType.CLIENT))
        await peer.stream.send_all(peer.ws.send(Request(host=f"127.0.0.1:{parts.port}", target="/")))
        return peer

    async def send(self, text: str) -> None:
        await self.stream.send_all(self.ws.send(TextMessage(data=text)))

    async def next_message(self) -> dict | None:
        """The next text message; ``None`` once the server's close frame is read (``self.close``)."""
        while not self.messages and self.close is None:
            data = await self.stream.receive_some(65536)
            assert data, f"the TCP connection ended before any close frame (after {self.messages})"
            self.ws.receive_data(data)
            for event in self.ws.events():
                if isinstance(event, TextMessage):
                    self._partial += event.data
                    if event.message_finished:
                        self.messages.append(json.loads(self._partial))
                        self._partial = ""
                elif isinstance(event, CloseConnection):
                    self.close = event
                    self._reply = self.ws.send(event.response())  # sent only by ``reply``
                    # the messages read with it (one TCP read can hold the last frames and the close) first
                else:
                    assert isinstance(event, AcceptConnection), event
        return self.messages.pop(0) if self.messages else None

    async def until_close(self) -> list[dict]:
        """Every message up to the server's close frame."""
        seen = []
        while (message := await self.next_message()) is not None:
            seen.append(message)
        return seen

    async def tcp_ended_within(self, seconds: float) -> bool:
        """Whether the server ends the TCP connection (FIN or reset) within ``seconds``."""
        with trio.move_on_after(seconds):
            try:
                while await self.stream.receive_some(65536):
                    pass
            except trio.BrokenResourceError:
                pass
            return True
        return False

    async def reply(self) -> None:
        await self.stream.send_all(self._reply)


@pytest.fixture
def patient(monkeypatch):
    """The gateway waits a minute for a close reply: any TCP end before ours is the bug, not the bound."""
    monkeypatch.setattr(wsclose, "CLOSE_REPLY_SECONDS", 60.0)


async def handshake_refused(peer: Peer, frame: str) -> list[dict]:
    assert (await peer.next_message())["event"] == "connect.challenge"
    await peer.send(frame)
    return await peer.until_close()


async def hello(peer: Peer) -> None:
    """Connect with the right token, then wait for a ``health`` answer: the connection is registered
    (hello-ok is sent just before), so broadcasts and a drain reach it."""
    assert (await peer.next_message())["event"] == "connect.challenge"
    await peer.send(connect_frame())
    assert (await peer.next_message())["ok"] is True
    await peer.send(json.dumps({"type": "req", "id": "h1", "method": "health"}))
    while (await peer.next_message()).get("id") != "h1":
        pass


async def assert_close_handshake_completes(peer: Peer) -> None:
    """No TCP end while our close reply is due; once it is sent, the server ends the connection."""
    assert not await peer.tcp_ended_within(PREMATURE_WINDOW), "TCP ended before the close reply"
    await peer.reply()
    with trio.fail_after(10):
        assert await peer.tcp_ended_within(30)


@pytest.mark.parametrize(("params", "code", "reason"), [
    ({"auth": {"token": "wrong"}}, 1008, "unauthorized: gateway token mismatch"),
    ({"minProtocol": 99, "maxProtocol": 99}, 1002, "protocol mismatch"),
], ids=["wrong-token", "protocol-mismatch"])
async def test_a_refused_connect_sends_the_error_and_the_close_then_waits_for_the_close_reply(
        gateway, patient, params, code, reason):
    peer = await Peer.connect(gateway.url)
    with trio.fail_after(10):
        (answer,) = await handshake_refused(peer, connect_frame(**params))
    assert answer["type"] == "res" and answer["ok"] is False
    assert peer.close.code == code and peer.close.reason.startswith(reason)
    await assert_close_handshake_completes(peer)


async def test_a_first_message_over_64_kib_closes_1009_then_waits_for_the_close_reply(gateway, patient):
    """hypercorn's own 1009 already waited; the app is now told of it and returns at once, which must not
    end the TCP connection before the peer's answer."""
    peer = await Peer.connect(gateway.url)
    with trio.fail_after(10):
        assert await handshake_refused(peer, "x" * 70_000) == []
    assert (peer.close.code, peer.close.reason) == (1009, "preauth payload too large")
    await assert_close_handshake_completes(peer)


async def test_a_handshake_timeout_closes_1000_then_waits_for_the_close_reply(make_config, patient):
    from moltbot.gateway.app import open_gateway

    async with open_gateway(make_config(handshake_timeout_ms=200), port=0, env={}) as gateway:
        peer = await Peer.connect(gateway.url)
        with trio.fail_after(10):
            assert [frame["event"] for frame in await peer.until_close()] == ["connect.challenge"]
        assert (peer.close.code, peer.close.reason) == (1000, "handshake timeout")
        await assert_close_handshake_completes(peer)


async def test_a_restart_sends_shutdown_and_1012_then_waits_for_the_close_reply(gateway, patient):
    peer = await Peer.connect(gateway.url)
    with trio.fail_after(10):
        await hello(peer)
        gateway.request_restart("test restart", gateway.config)
        frames = await peer.until_close()
    assert "shutdown" in [frame.get("event") for frame in frames]
    assert (peer.close.code, peer.close.reason) == (1012, "service restart")
    await assert_close_handshake_completes(peer)


@pytest.fixture
def impatient(monkeypatch):
    monkeypatch.setattr(wsclose, "CLOSE_REPLY_SECONDS", 0.2)
    monkeypatch.setattr(httpserver, "LINGER_SECONDS", 0.2)


async def dropped(peer: Peer) -> None:
    """The server ends the TCP connection of a peer that neither answers nor closes, and then refuses
    what it sends (reset): the socket is gone, not merely half-closed."""
    with trio.fail_after(10):
        assert await peer.tcp_ended_within(30)
        with pytest.raises(trio.BrokenResourceError):
            while True:
                await peer.stream.send_all(b"\x00")
                await trio.sleep(0.05)


async def test_a_peer_that_never_answers_a_refusal_is_dropped_after_the_bound(gateway, impatient):
    """The wait for the close reply is bounded (before the fix there was no wait to bound)."""
    peer = await Peer.connect(gateway.url)
    with trio.fail_after(10):
        await handshake_refused(peer, connect_frame(auth={"token": "wrong"}))
    await dropped(peer)


async def test_a_peer_that_never_answers_a_1009_after_hello_is_dropped_and_unregistered(gateway, impatient):
    """Past ``maxPayload`` hypercorn closes 1009 itself; the connection ends too, not only the frame."""
    runtime = await gateway.current_runtime()
    peer = await Peer.connect(gateway.url)
    with trio.fail_after(10):
        await hello(peer)
        await peer.send("x" * (runtime.config.gateway.max_payload + 1))
        await peer.until_close()
    assert peer.close.code == 1009
    await dropped(peer)
    assert not runtime.broadcaster.connections  # the socket is closed only once the app has returned


async def test_a_slow_consumer_gets_its_1008_then_the_gateway_waits_for_the_close_reply(make_config, patient):
    from moltbot.gateway.app import open_gateway

    async with open_gateway(make_config(max_buffered_bytes=64 * 1024), port=0, env={}) as gateway:
        runtime = await gateway.current_runtime()
        peer = await Peer.connect(gateway.url)
        with trio.fail_after(20):
            await hello(peer)
            for sent in range(5000):  # the peer reads nothing: its socket fills, then its queue
                if not runtime.broadcaster.connections:
                    break
                runtime.broadcaster.broadcast("agent", {"n": sent, "text": "z" * 32 * 1024}, droppable=False)
                await trio.lowlevel.checkpoint()
            else:
                raise AssertionError("never judged slow")
            await peer.until_close()
        assert (peer.close.code, peer.close.reason) == (1008, "slow consumer")
        await assert_close_handshake_completes(peer)
