"""The client library closes its TCP socket when the connection ends, whoever ends it: no CLOSE-WAIT
socket lingers after the gateway closes, and none stays open after a reconnecting client is left."""

from __future__ import annotations

from urllib.parse import urlsplit

import psutil
import trio

from moltbot.client import Backoff, open_gateway_client, open_reconnecting_client
from tests.conftest import TOKEN

FAST = Backoff(initial=0.05, maximum=0.2)
SOCKET_DEADLINE = 5.0  # seconds a closed connection's socket may take to go


def client_sockets(url: str) -> list[tuple[int, str]]:
    """(local port, TCP state) of this process's sockets connected *to* the gateway's port (the gateway
    runs in this process too, but its sockets have that port as their local one)."""
    port = urlsplit(url).port
    process = psutil.Process()
    connections = process.net_connections(kind="tcp") if hasattr(process, "net_connections") \
        else process.connections(kind="tcp")
    return sorted((c.laddr.port, c.status) for c in connections if c.raddr and c.raddr.port == port)


async def wait_for_sockets(url: str, predicate) -> list[tuple[int, str]]:
    """Poll (with a deadline) until ``predicate(client_sockets(url))`` holds; fail with what was left."""
    sockets = client_sockets(url)
    with trio.move_on_after(SOCKET_DEADLINE):
        while not predicate(sockets):
            await trio.sleep(0.02)
            sockets = client_sockets(url)
    assert predicate(sockets), f"client sockets left: {sockets}"
    return sockets


async def test_the_client_closes_its_socket_when_the_gateway_closes(gateway):
    with trio.fail_after(10):
        async with open_gateway_client(gateway.url, token=TOKEN) as client:
            [(port, status)] = client_sockets(gateway.url)
            assert status == psutil.CONN_ESTABLISHED
            gateway.request_restart("test", gateway.config)
            closed = await client.wait_closed()
            assert closed.code == 1012
            # still inside the block, the client object alive: its socket must be gone already
            await wait_for_sockets(gateway.url, lambda sockets: port not in dict(sockets))


async def test_the_reconnecting_client_closes_each_dropped_connection(gateway):
    with trio.fail_after(10):
        async with open_reconnecting_client(gateway.url, token=TOKEN, backoff=FAST) as client:
            [(first, _)] = client_sockets(gateway.url)
            connects = client.connects
            gateway.request_restart("test", gateway.config)
            await client.wait_reconnected(connects)
            sockets = await wait_for_sockets(gateway.url, lambda sockets: first not in dict(sockets))
            assert [status for _, status in sockets] == [psutil.CONN_ESTABLISHED]
            old = client.client  # kept alive past the block: only an explicit close frees its socket
        await wait_for_sockets(gateway.url, lambda sockets: not sockets)
        assert old is not None


async def test_leaving_the_reconnecting_client_closes_the_connection_politely(gateway):
    with trio.fail_after(10):
        async with open_reconnecting_client(gateway.url, token=TOKEN, backoff=FAST) as client:
            current = client.client
            assert len(client_sockets(gateway.url)) == 1
        await wait_for_sockets(gateway.url, lambda sockets: not sockets)
        assert current is not None and current.closed is not None
        # closed with a close frame (1000), not just cancelled and dropped
        assert (current.closed.code, current.closed.reason) in ((1000, None), (1000, ""))
