"""The long-lived client: one logical connection that outlives gateway restarts and silent drops.

Theory of operation. ``open_reconnecting_client`` runs ``_serve`` in a nursery it owns. ``_serve``
connects with ``watch_ticks`` (so a half-open connection ends with 4000 "tick timeout" after twice the
gateway's tick interval), publishes the connection, forwards its events to the subscribers, waits for it
to end, and connects again after a delay that starts at ``Backoff.initial`` (1 s) and doubles up to
``Backoff.maximum`` (30 s); a successful ``hello-ok`` resets it (the reference client's schedule).

Rule 1. The first connection is made before the ``async with`` body starts, and its failure is raised
        there: a wrong URL or token is reported at once, not retried forever.
Rule 2. Later failures (closed, unreachable, too slow) are retried, except a refused ``connect``
        (``RemoteProtocolError``: token mismatch, protocol mismatch), which ends the client with that error:
        retrying a refusal would only run into the gateway's auth rate limit.
Rule 3. A call made while disconnected waits for the next connection; a call in flight when the
        connection drops raises ``GatewayClosed``, because only the caller knows whether the request may be
        sent again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio

from .._backoff import Backoff
from .._util import collapse_single_exception_group
from ..protocol import EventFrame
from ._connection import CLOSE_TIMEOUT, GatewayClient, GatewayClosed, connect_gateway_client

__all__ = ["Backoff", "ReconnectStatistics", "ReconnectingClient", "open_reconnecting_client"]

DEFAULT_BACKOFF = Backoff()  # 1 s doubling to 30 s, no jitter: the reference client's schedule


@attrs.frozen
class ReconnectStatistics:
    connected: bool
    connects: int  # successful hellos, the first included
    failed_attempts: int  # connect attempts that failed since the start
    last_close_code: int | None
    last_close_reason: str | None
    dropped_events: int  # events a slow subscriber did not take


class ReconnectingClient:
    """A gateway client that reconnects by itself. Create it with ``open_reconnecting_client``."""

    def __init__(self, url: str, backoff: Backoff, connect_kwargs: dict[str, Any]) -> None:
        self.url = url
        self.backoff = backoff
        self._connect_kwargs = connect_kwargs
        self.client: GatewayClient | None = None
        self._changed = trio.Event()
        self._subscribers: list[trio.MemorySendChannel[EventFrame]] = []
        self.connects = 0
        self.failed_attempts = 0
        self.last_close: GatewayClosed | None = None
        self.dropped = 0

    async def wait_connected(self) -> GatewayClient:
        """The current connection, waiting for the next one while there is none."""
        while self.client is None:
            await self._changed.wait()
        return self.client

    async def wait_reconnected(self, after: int) -> GatewayClient:
        """Wait until more than ``after`` connections have been made (pass ``connects`` read earlier)."""
        while self.connects <= after or self.client is None:
            await self._changed.wait()
        return self.client

    async def call(self, method: str, params: Any = None, *, expect_final: bool = False) -> Any:
        """``GatewayClient.call`` on the current connection, waiting for one first (bound it with
        ``trio.fail_after``).

        Raises:
            GatewayClosed: the connection ended while the request was in flight (rule 3).
        """
        client = await self.wait_connected()
        return await client.call(method, params, expect_final=expect_final)

    def subscribe(self, max_buffer: int = 1000) -> trio.MemoryReceiveChannel[EventFrame]:
        """Events of every connection from now on; closed when the client ends (events sent while
        disconnected are lost: compare ``seq`` to notice)."""
        send, receive = trio.open_memory_channel[EventFrame](max_buffer)
        self._subscribers.append(send)
        return receive

    def statistics(self) -> ReconnectStatistics:
        close = self.last_close
        return ReconnectStatistics(
            connected=self.client is not None,
            connects=self.connects,
            failed_attempts=self.failed_attempts,
            last_close_code=close.code if close else None,
            last_close_reason=close.reason if close else None,
            dropped_events=self.dropped,
        )

    async def _close_current(self) -> None:
        """Leaving the client: close the current connection with a close frame (bounded), then its socket
        (cancelling the reader alone would leave the socket open until garbage-collected)."""
        current = self.client
        if current is not None:
            with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_TIMEOUT):
                await current.aclose()
            await current._close_stream()

    def _publish(self, client: GatewayClient | None) -> None:
        self.client = client
        self._changed.set()
        self._changed = trio.Event()

    async def _serve(
        self, *, task_status: trio.TaskStatus[ReconnectingClient] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Connect, serve, reconnect after a delay; forever (rules 1 and 2)."""
        delays = self.backoff.delays()
        started = False
        try:
            while True:
                try:
                    with collapse_single_exception_group():
                        async with trio.open_nursery() as nursery:
                            client = await connect_gateway_client(
                                nursery, self.url, watch_ticks=True, **self._connect_kwargs
                            )
                            self.connects += 1
                            delays = self.backoff.delays()
                            nursery.start_soon(self._forward, client.subscribe())
                            self._publish(client)
                            if not started:
                                started = True
                                task_status.started(self)
                            self.last_close = await client.wait_closed()
                            self._publish(None)
                            nursery.cancel_scope.cancel()
                except (GatewayClosed, trio.TooSlowError) as exc:
                    if not started:
                        raise
                    self.failed_attempts += 1
                    if isinstance(exc, GatewayClosed):
                        self.last_close = exc
                    self._publish(None)
                await trio.sleep(next(delays))
        finally:
            self._publish(None)
            for channel in self._subscribers:
                channel.close()

    async def _forward(self, events: trio.MemoryReceiveChannel[EventFrame]) -> None:
        async for frame in events:
            for channel in list(self._subscribers):
                try:
                    channel.send_nowait(frame)
                except trio.WouldBlock:
                    self.dropped += 1
                except trio.BrokenResourceError:
                    self._subscribers.remove(channel)


@asynccontextmanager
async def open_reconnecting_client(
    url: str, *, backoff: Backoff = DEFAULT_BACKOFF, **kwargs: Any
) -> AsyncIterator[ReconnectingClient]:
    """``async with open_reconnecting_client(url, token=…) as client:`` a client that reconnects by itself.

    Keyword arguments are those of ``connect_gateway_client`` (``token``, ``password``, ``device``,
    ``client_id``, ``scopes``, ``connect_timeout``, …); ticks are always watched.

    Raises:
        RemoteProtocolError: the gateway refused a connect (at once for the first one, rule 2 later).
        GatewayClosed, trio.TooSlowError: the first connection could not be made (rule 1).

    Cancellation: leaving the block closes the current connection (close frame 1000, then its socket)
    and ends the reconnect loop.
    """
    client = ReconnectingClient(url, backoff, kwargs)
    with collapse_single_exception_group():
        async with trio.open_nursery() as nursery:
            await nursery.start(client._serve)
            try:
                yield client
            finally:
                await client._close_current()
                nursery.cancel_scope.cancel()
