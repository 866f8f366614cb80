"""hypercorn serving with the fixes our servers need, applied per server instance, never to hypercorn itself.

``serve`` is ``hypercorn.trio.serve`` for one server of ours (the gateway's listener, the canvas host, the
browser control service and its relay): it accepts through ``ADMISSION`` (the process-wide connection
cap) and serves each accepted socket with ``ConnectionServer``, a subclass of hypercorn's ``TCPServer``.
hypercorn builds the HTTP/1.1 protocol and the WebSocket stream of a connection itself, by class name, so
``ConnectionServer`` turns the ones of its own connections into our subclasses as they are made
(``ClosingH11Protocol`` here, ``wsclose.ClosingWSStream`` and ``wsclose.FailingConnection``): a
class swap of those objects only, so another hypercorn server in the same process (an embedder's) runs
hypercorn's code unchanged.

Why each fix is needed is told where it is made. What they override or rely on is fingerprinted
(``hypercorn_pin.py``): after an upgrade any of it may have changed and a fix would fail silently (a stuck
socket, a lost close frame), so ``serve`` refuses to start instead, naming what changed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from functools import partial
from random import randint
from typing import Any

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.events import Closed, Event, RawData
from hypercorn.protocol.h11 import H11Protocol
from hypercorn.protocol.ws_stream import WSStream
from hypercorn.trio.lifespan import Lifespan
from hypercorn.trio.statsd import StatsdLogger
from hypercorn.trio.tcp_server import MAX_RECV, TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import ConnectionState
from hypercorn.utils import ShutdownError, raise_shutdown, repr_socket_addr, wrap_app

from . import wsclose
from .hypercorn_pin import check_once

try:
    import resource
except ImportError:  # not on Windows: no descriptor limit to read
    resource = None  # type: ignore[assignment]

log = logging.getLogger("moltbot.http")

__all__ = ["ADMISSION", "ConnectionServer", "serve"]

LINGER_SECONDS = 2.0  # after our half-close, how long what the peer still sends is read and discarded
RECYCLE_SECONDS = (
    5.0  # how long hypercorn's end-of-request bookkeeping may wait for the app to take its disconnect
)
CLOSE_SECONDS = 1.0  # how long a shielded close step (half-close, closing the socket) may take
FD_RESERVE_MIN = 32  # file descriptors kept free for files, pipes and DNS when connections pile up


class ClosingH11Protocol(H11Protocol):
    """hypercorn's HTTP/1.1 protocol, whose end-of-request bookkeeping survives the app's cancellation.

    hypercorn ends a request from inside the app's own task: the app's last ``send`` runs
    ``_maybe_recycle``, which first hands the app ``http.disconnect`` and then either recycles the
    connection for keep-alive (restarting the idle timer) or closes it. quart-trio answers that
    disconnect by cancelling its nursery, i.e. the very task doing the bookkeeping, so the next checkpoint
    raised ``Cancelled``: after an early answer (401/404/405/413 sent before the request body arrived) the
    socket was never closed and stayed in CLOSE-WAIT after the peer left; after a normal request the idle
    timer was never restarted, so an idle keep-alive connection was never timed out. Here it runs
    shielded, bounded by ``RECYCLE_SECONDS`` (past it the connection is closed).

    A WebSocket stream it makes becomes a ``wsclose.ClosingWSStream`` (``stream`` is assigned by
    ``_create_stream``).
    """

    @property
    def stream(self) -> Any:
        return self.__dict__.get("stream")

    @stream.setter
    def stream(self, stream: Any) -> None:
        if type(stream) is WSStream:
            stream.__class__ = wsclose.ClosingWSStream
        self.__dict__["stream"] = stream

    async def _maybe_recycle(self) -> None:
        with trio.CancelScope(shield=True, deadline=trio.current_time() + RECYCLE_SECONDS) as scope:
            await super()._maybe_recycle()
        if scope.cancelled_caught:  # the app never took its disconnect: give the connection up
            # protocol_send's Closed: a half-close and telling the app, each bounded.
            with trio.CancelScope(
                shield=True, deadline=trio.current_time() + CLOSE_SECONDS + RECYCLE_SECONDS
            ):
                await self.send(Closed())


class ConnectionServer(TCPServer):
    """One accepted connection: hypercorn's ``TCPServer`` closing every connection once its answer is out,
    whatever the app's task is doing.

    - Closing is a lingering close, as nginx and Apache do: half-close (FIN after the answer), then the
      reader keeps reading and discards what the peer still sends until its EOF or ``LINGER_SECONDS``,
      and only then the socket is closed, so a peer still sending a refused body is not answered with an
      RST that destroys the answer it has not read yet.
    - When the reader ends (peer EOF, error, linger over) the idle timer is stopped, so the socket is
      closed at once instead of after ``keep_alive_timeout``.
    - The final ``_close`` is shielded, so a cancelled connection task still releases its socket; like
      every shielded step here it has its own bound (``CLOSE_SECONDS``; past it the socket is closed
      forcefully), and telling the app its connection closed is bounded by ``RECYCLE_SECONDS``.
    - hypercorn half-closes outside its send lock: a close frame sent from the reader task could collide
      with it, and ``BusyResourceError`` escaped the connection task and took the whole listener down
      (seen in CI); that is treated as what it is, a socket being closed.

    Its HTTP/1.1 protocol is a ``ClosingH11Protocol`` (``protocol`` is assigned by ``run``).
    """

    _closing = False  # our half-close was sent: what the peer still sends is read and discarded
    _reader: trio.CancelScope | None = None  # around the reader loop; its deadline is the linger's end

    @property
    def protocol(self) -> Any:
        try:
            return self.__dict__["protocol"]
        except KeyError:  # before ``run`` made it
            raise AttributeError("protocol") from None

    @protocol.setter
    def protocol(self, wrapper: Any) -> None:
        if type(getattr(wrapper, "protocol", None)) is H11Protocol:
            wrapper.protocol.__class__ = ClosingH11Protocol
        self.__dict__["protocol"] = wrapper

    def _reader_scope(self) -> trio.CancelScope:
        if self._reader is None:
            self._reader = trio.CancelScope()
        return self._reader

    async def protocol_send(self, event: Event) -> None:
        if isinstance(event, Closed):
            self._closing = True
            with trio.CancelScope(shield=True, deadline=trio.current_time() + CLOSE_SECONDS):
                try:
                    await self.stream.send_eof()
                except (
                    trio.BrokenResourceError,
                    trio.BusyResourceError,
                    trio.ClosedResourceError,
                    AttributeError,
                ):
                    pass  # already gone, a send in progress (closed below anyway) or TLS (no half-close)
            reader = self._reader_scope()
            reader.deadline = min(reader.deadline, trio.current_time() + LINGER_SECONDS)
            # Tells the app (a send on its queue): bounded, should an app not read its queue.
            with trio.CancelScope(shield=True, deadline=trio.current_time() + RECYCLE_SECONDS):
                await self.protocol.handle(Closed())
            return
        try:
            await super().protocol_send(event)
        except trio.BusyResourceError:
            with trio.move_on_after(RECYCLE_SECONDS):
                await self.protocol.handle(Closed())

    async def _read_data(self) -> None:
        with self._reader_scope():
            while True:
                try:
                    with trio.fail_after(self.config.read_timeout or math.inf):
                        data = await self.stream.receive_some(MAX_RECV)
                except (trio.ClosedResourceError, trio.BrokenResourceError, trio.TooSlowError):
                    break
                if self._closing:
                    if not data:
                        break
                    continue  # lingering: the rest of a refused body, or requests after our close
                await self.protocol.handle(RawData(bytes(data)))
                if not data:
                    break
        with trio.move_on_after(RECYCLE_SECONDS):  # as in protocol_send: an app that does not read its queue
            await self.idle_task.stop()
            await self.protocol.handle(Closed())

    async def _close(self) -> None:
        with trio.CancelScope(shield=True, deadline=trio.current_time() + CLOSE_SECONDS) as scope:
            await super()._close()
        if scope.cancelled_caught:  # e.g. a TLS peer that does not read our close_notify: drop the socket
            await trio.aclose_forcefully(self.stream)


class _Admission:
    """Process-wide count of open connections, capped below the file-descriptor limit.

    At ``RLIMIT_NOFILE`` every ``open()`` fails, not only ``accept()``: a pairing-file read raised EMFILE
    in a channel task and the gateway exited. trio's accept loop already survives EMFILE (it logs and
    backs off 100 ms); this cap keeps a reserve (an eighth of the limit, at least ``FD_RESERVE_MIN``)
    for everything else, by closing a connection accepted beyond it at once (logged, at most every
    10 s). The limit is read at each accept, so raising it (``ulimit -n``) takes effect without restart.
    """

    def __init__(self) -> None:
        self.open = 0
        self.refused = 0
        self._logged_at = -math.inf

    def capacity(self) -> float:
        if resource is None:
            return math.inf
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return math.inf
        return max(soft - max(FD_RESERVE_MIN, soft // 8), soft // 2)

    def admit(self) -> bool:
        capacity = self.capacity()
        if self.open < capacity:
            self.open += 1
            return True
        self.refused += 1
        now = trio.current_time()
        if now - self._logged_at >= 10:
            self._logged_at = now
            log.warning(
                "refusing connections: %d open, the cap is %d (file-descriptor limit %d minus a reserve); "
                "%d refused so far; raise the limit with `ulimit -n`",
                self.open,
                capacity,
                resource.getrlimit(resource.RLIMIT_NOFILE)[0],
                self.refused,
            )
        return False


ADMISSION = _Admission()


async def admitted_connection(
    app: Any, config: HypercornConfig, context: Any, state: Any, upgrades: Any, stream: Any
) -> None:
    """Serve one accepted socket if ``ADMISSION`` admits it (else close it at once, cancelled or not).

    ``upgrades`` (``upgrade.Upgrades``, or None): WebSocket upgrades take the lean path; it owns them.
    """
    if not ADMISSION.admit():
        await trio.aclose_forcefully(stream)
        return
    released = False

    def release() -> None:
        nonlocal released
        if not released:
            released = True
            ADMISSION.open -= 1

    try:
        if upgrades is not None:
            stream = await upgrades.route(stream, release)
            if stream is None:
                return
        await ConnectionServer(app, config, context, state, stream)
        release()
    except BaseException:
        release()  # (once: a socket the lean path took is released by it)
        raise


async def serve(
    app: Any,
    config: HypercornConfig,
    *,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    upgrades: Any = None,
    task_status: Any = trio.TASK_STATUS_IGNORED,
) -> None:
    """``hypercorn.trio.serve`` (its ``worker_serve``, TCP only) with each socket served by
    ``admitted_connection``; ``task_status.started(binds)`` once bound, as hypercorn's."""
    check_once()
    app = wrap_app(app, config.wsgi_max_body_size, None)
    config.set_statsd_logger_class(StatsdLogger)
    lifespan_state: dict[str, Any] = {}
    lifespan = Lifespan(app, config, lifespan_state)
    max_requests = None
    if config.max_requests is not None:
        max_requests = config.max_requests + randint(0, config.max_requests_jitter)
    context = WorkerContext(max_requests)

    async with trio.open_nursery() as lifespan_nursery:
        await lifespan_nursery.start(lifespan.handle_lifespan)
        await lifespan.wait_for_startup()

        async with trio.open_nursery() as server_nursery:
            sockets = config.create_sockets()
            if sockets.quic_sockets:
                raise ValueError("QUIC (HTTP/3) binds are not served here")
            ssl_context = config.create_ssl_context()
            listeners: list[Any] = []
            binds = []
            for sock in sockets.secure_sockets:
                sock.listen(config.backlog)
                listeners.append(
                    trio.SSLListener(
                        trio.SocketListener(trio.socket.from_stdlib_socket(sock)),
                        ssl_context,  # type: ignore[arg-type]  # secure sockets come with a context
                        https_compatible=True,
                    )
                )
                binds.append(f"https://{repr_socket_addr(sock.family, sock.getsockname())}")
            for sock in sockets.insecure_sockets:
                sock.listen(config.backlog)
                listeners.append(trio.SocketListener(trio.socket.from_stdlib_socket(sock)))
                binds.append(f"http://{repr_socket_addr(sock.family, sock.getsockname())}")
            for bind in binds:
                await config.log.info(f"Running on {bind} (CTRL + C to quit)")

            task_status.started(binds)
            handler = partial(
                admitted_connection, app, config, context, ConnectionState(lifespan_state.copy()), upgrades
            )
            try:
                async with trio.open_nursery(strict_exception_groups=True) as nursery:
                    if shutdown_trigger is not None:
                        nursery.start_soon(raise_shutdown, shutdown_trigger)
                    nursery.start_soon(raise_shutdown, context.terminate.wait)
                    nursery.start_soon(
                        partial(trio.serve_listeners, handler, listeners, handler_nursery=server_nursery)
                    )
                    await trio.sleep_forever()
            except BaseExceptionGroup as error:
                _, other_errors = error.split((ShutdownError, KeyboardInterrupt))
                if other_errors is not None:
                    raise other_errors from None  # the rest of the group: what went wrong
            finally:
                await context.terminated.set()
                server_nursery.cancel_scope.deadline = trio.current_time() + config.graceful_timeout

        await lifespan.wait_for_shutdown()
        lifespan_nursery.cancel_scope.cancel()
