"""The one listening port: hypercorn's trio worker serving the ASGI app (WebSocket at ``/`` plus HTTP)."""

# mypy: disable-error-code="method-assign,assignment,misc"
# (the patches below assign functions over hypercorn's methods and its TCPServer class, on purpose)
from __future__ import annotations

import hashlib
import inspect
import ipaddress
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve

from ..config.model import GatewayConfig
from . import wsclose

try:
    import resource
except ImportError:  # not on Windows: no descriptor limit to read
    resource = None

log = logging.getLogger("moltbot.http")


LINGER_SECONDS = 2.0  # after our half-close, how long what the peer still sends is read and discarded
RECYCLE_SECONDS = 5.0  # how long hypercorn's end-of-request bookkeeping may wait for the app to take its disconnect
CLOSE_SECONDS = 1.0  # how long a shielded close step (half-close, closing the socket) may take
FD_RESERVE_MIN = 32  # file descriptors kept free for files, pipes and DNS when connections pile up
KEEP_ALIVE_SECONDS = 5.0  # an idle HTTP connection, and a first request head that never ends, is closed after
BACKLOG = 4096  # accept queue: a burst of thousands of connects waits here instead of SYN retries (1 s each)
CLOSE_GRACE_SECONDS = 0.5  # when the listener stops, how long the WebSocket closes still lingering may take


def _reader_scope(server: Any) -> trio.CancelScope:
    """The cancel scope around one TCPServer's reader loop (made on first use, entered by ``_read_data``)."""
    return server.__dict__.setdefault("_moltbot_reader", trio.CancelScope())


# What the patches below (and wsclose.py's) replace or rely on, fingerprinted as hypercorn 0.18.0 and wsproto
# 1.3 wrote it (sha256 of the source, first 16 hex digits). ``_read_data`` and ``WSStream._handle_events`` are
# replaced wholesale, ``protocol_send``, ``_close``, ``_maybe_recycle``, ``WSStream.app_send`` and
# ``WSStream.handle`` are wrapped, ``run`` must still hand ``protocol_send`` to the protocol and call
# ``_read_data`` then ``_close``; ``worker_serve`` and ``Handshake.accept`` must still look up ``TCPServer``
# and ``Connection`` in their module at call time; ``FailingConnection`` sets wsproto's ``_state``. After an
# upgrade any of these may have changed and a patch would fail silently (a stuck socket, a lost close frame):
# the import fails instead, naming what changed.
_FINGERPRINTS = {
    "hypercorn.trio.tcp_server.TCPServer.run": "fd34b021d1a86c98",
    "hypercorn.trio.tcp_server.TCPServer.protocol_send": "225856426bff7be0",
    "hypercorn.trio.tcp_server.TCPServer._read_data": "7ca747d922c65cf1",
    "hypercorn.trio.tcp_server.TCPServer._close": "bc73c4ae25a1ceec",
    "hypercorn.protocol.h11.H11Protocol._maybe_recycle": "3ac53f52bc4e65de",
    "hypercorn.trio.run.worker_serve": "8dc8347a9fc357ca",
    "hypercorn.protocol.ws_stream.Handshake.accept": "e163533bf7919793",
    "hypercorn.protocol.ws_stream.WSStream._handle_events": "b90f3f595ff9fd47",
    "hypercorn.protocol.ws_stream.WSStream.app_send": "a6dd1160bfc416e7",
    "hypercorn.protocol.ws_stream.WSStream.handle": "743209f49012b8c7",
    "wsproto.connection.Connection.state": "0e2424b8f32a078f",
}
TESTED_HYPERCORN = "0.18."  # the series pyproject.toml pins (hypercorn>=0.18,<0.19)
# The files those functions are defined in, as hypercorn 0.18.0 and wsproto 1.3.2 ship them (sha256, first 16 hex
# digits): a target defined in a file that is byte for byte this one is the code fingerprinted above, and
# needs no ``inspect.getsource`` (which tokenizes the whole module: ~20 ms of each start).
_FILE_FINGERPRINTS = {
    "hypercorn/trio/tcp_server.py": "fbec50b5df48e46d",
    "hypercorn/protocol/h11.py": "5d2cfe635578adc6",
    "hypercorn/trio/run.py": "458b9851c196ac5f",
    "hypercorn/protocol/ws_stream.py": "5eb34e4ac40b06f5",
    "wsproto/connection.py": "ba8f00e9c23c2fc1",
}


def patch_targets() -> dict[str, Any]:
    """The functions named in ``_FINGERPRINTS``, as hypercorn and wsproto currently define them."""
    from hypercorn.protocol import ws_stream
    from hypercorn.protocol.h11 import H11Protocol
    from hypercorn.trio import run as trio_run
    from hypercorn.trio.tcp_server import TCPServer
    from wsproto.connection import Connection

    return {
        "hypercorn.trio.tcp_server.TCPServer.run": TCPServer.run,
        "hypercorn.trio.tcp_server.TCPServer.protocol_send": TCPServer.protocol_send,
        "hypercorn.trio.tcp_server.TCPServer._read_data": TCPServer._read_data,
        "hypercorn.trio.tcp_server.TCPServer._close": TCPServer._close,
        "hypercorn.protocol.h11.H11Protocol._maybe_recycle": H11Protocol._maybe_recycle,
        "hypercorn.trio.run.worker_serve": trio_run.worker_serve,
        "hypercorn.protocol.ws_stream.Handshake.accept": ws_stream.Handshake.accept,
        "hypercorn.protocol.ws_stream.WSStream._handle_events": ws_stream.WSStream._handle_events,
        "hypercorn.protocol.ws_stream.WSStream.app_send": ws_stream.WSStream.app_send,
        "hypercorn.protocol.ws_stream.WSStream.handle": ws_stream.WSStream.handle,
        "wsproto.connection.Connection.state": Connection.state.fget,  # type: ignore[attr-defined]
    }


def _fingerprint(function: Any) -> str | None:
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):  # installed without sources: only the version can be checked
        return None
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def _hypercorn_version() -> str:
    """The installed hypercorn's version (importlib.metadata, and the email package it loads, only when a
    fingerprint cannot be read or does not match)."""
    import importlib.metadata

    return importlib.metadata.version("hypercorn")


def _in_known_file(name: str, target: Any, files: dict[str, bool]) -> bool:
    """Whether ``target`` is the function ``name`` says, defined in a file of ``_FILE_FINGERPRINTS`` that is
    unchanged (each file read once per check, in ``files``)."""
    code = getattr(target, "__code__", None)
    if code is None or not name.endswith(f".{getattr(target, '__qualname__', None)}"):
        return False
    path = code.co_filename.replace("\\", "/")
    known = next((suffix for suffix in _FILE_FINGERPRINTS if path.endswith(f"/{suffix}")), None)
    if known is None:
        return False
    if path not in files:
        try:
            with open(path, "rb") as source:
                files[path] = hashlib.sha256(source.read()).hexdigest()[:16] == _FILE_FINGERPRINTS[known]
        except OSError:
            files[path] = False
    return files[path]


def check_patch_targets(targets: dict[str, Any]) -> None:
    """Raise ``RuntimeError`` naming each target whose code is not what the patches were written for
    (targets already patched by us are skipped: the module was imported again)."""
    changed = []
    files: dict[str, bool] = {}
    for name, expected in _FINGERPRINTS.items():
        target = targets.get(name)
        if getattr(target, "_moltbot_patched", False) or _in_known_file(name, target, files):
            continue
        found = _fingerprint(target) if target is not None else "missing"
        if found != expected and not (found is None and _hypercorn_version().startswith(TESTED_HYPERCORN)):
            changed.append(name)
    if changed:
        version = _hypercorn_version()
        raise RuntimeError(
            f"moltbot's patches to hypercorn (moltbot/gateway/listener.py) were written for hypercorn "
            f"{TESTED_HYPERCORN}x and wsproto 1.3, but with hypercorn {version} these are not the code they "
            f"patch: {', '.join(changed)}. Install hypercorn>=0.18,<0.19, or review the patches against "
            f"the new code and update _FINGERPRINTS.")


def _patch_hypercorn_connection_close() -> None:
    """Close every HTTP connection once its answer is out, whatever the app's task is doing.

    hypercorn ends a request from inside the app's own task: the app's last ``send`` runs
    ``H11Protocol._maybe_recycle``, which first hands the app ``http.disconnect`` and then either
    recycles the connection for keep-alive (restarting the idle timer) or closes it. quart-trio answers
    that disconnect by cancelling its nursery, i.e. the very task doing the bookkeeping, so the next
    checkpoint raised ``Cancelled``: after an early answer (401/404/405/413 sent before the request body
    arrived) the socket was never closed, the reader waited forever for a recycle that never came
    (``h11.PAUSED``) and the socket stayed in CLOSE-WAIT after the peer left; after a normal request the
    idle timer was never restarted, so an idle keep-alive connection was never timed out. Four changes:

    - ``_maybe_recycle`` runs shielded (bounded by ``RECYCLE_SECONDS``; past it the connection is closed),
      and so does telling the app its connection closed;
    - closing is a lingering close, as nginx and Apache do: half-close (FIN after the answer), then the
      reader keeps reading and discards what the peer still sends until its EOF or ``LINGER_SECONDS``,
      and only then the socket is closed, so a peer still sending a refused body is not answered with
      an RST that destroys the answer it has not read yet;
    - when the reader ends (peer EOF, error, linger over) the idle timer is stopped, so the socket is
      closed at once instead of after ``keep_alive_timeout``;
    - the final ``_close`` is shielded, so a cancelled connection task still releases its socket; like
      every shielded step here it has its own bound (``CLOSE_SECONDS``; past it the socket is closed
      forcefully), and telling the app its connection closed is bounded by ``RECYCLE_SECONDS``.

    It also keeps the earlier fix for hypercorn's half-close outside its send lock: a close frame sent
    from the reader task could collide with it and ``BusyResourceError`` escaped the connection task and
    took the whole listener down (seen in CI); that is treated as what it is, a socket being closed.
    Applied once, at import.
    """
    from hypercorn.events import Closed, RawData
    from hypercorn.protocol.h11 import H11Protocol
    from hypercorn.trio.tcp_server import MAX_RECV, TCPServer

    if getattr(TCPServer.protocol_send, "_moltbot_patched", False):
        return
    original_send, original_close, original_recycle = TCPServer.protocol_send, TCPServer._close, H11Protocol._maybe_recycle

    async def protocol_send(self, event):
        if isinstance(event, Closed):
            self._moltbot_closing = True
            with trio.CancelScope(shield=True, deadline=trio.current_time() + CLOSE_SECONDS):
                try:
                    await self.stream.send_eof()
                except (trio.BrokenResourceError, trio.BusyResourceError, trio.ClosedResourceError, AttributeError):
                    pass  # already gone, a send in progress (closed below anyway) or TLS (no half-close)
            reader = _reader_scope(self)
            reader.deadline = min(reader.deadline, trio.current_time() + LINGER_SECONDS)
            # Tells the app (a send on its queue): bounded, should an app not read its queue.
            with trio.CancelScope(shield=True, deadline=trio.current_time() + RECYCLE_SECONDS):
                await self.protocol.handle(Closed())
            return
        try:
            await original_send(self, event)
        except trio.BusyResourceError:
            with trio.move_on_after(RECYCLE_SECONDS):
                await self.protocol.handle(Closed())

    async def _read_data(self):
        with _reader_scope(self):
            while True:
                try:
                    with trio.fail_after(self.config.read_timeout or math.inf):
                        data = await self.stream.receive_some(MAX_RECV)
                except (trio.ClosedResourceError, trio.BrokenResourceError, trio.TooSlowError):
                    break
                if getattr(self, "_moltbot_closing", False):
                    if not data:
                        break
                    continue  # lingering: the rest of a refused body, or requests after our close
                await self.protocol.handle(RawData(bytes(data)))
                if not data:
                    break
        with trio.move_on_after(RECYCLE_SECONDS):  # as in protocol_send: an app that does not read its queue
            await self.idle_task.stop()
            await self.protocol.handle(Closed())

    async def _close(self):
        with trio.CancelScope(shield=True, deadline=trio.current_time() + CLOSE_SECONDS) as scope:
            await original_close(self)
        if scope.cancelled_caught:  # e.g. a TLS peer that does not read our close_notify: drop the socket
            await trio.aclose_forcefully(self.stream)

    async def _maybe_recycle(self):
        with trio.CancelScope(shield=True, deadline=trio.current_time() + RECYCLE_SECONDS) as scope:
            await original_recycle(self)
        if scope.cancelled_caught:  # the app never took its disconnect: give the connection up
            # protocol_send's Closed: a half-close and telling the app, each bounded.
            with trio.CancelScope(shield=True, deadline=trio.current_time() + CLOSE_SECONDS + RECYCLE_SECONDS):
                await self.send(Closed())

    protocol_send._moltbot_patched = True  # type: ignore[attr-defined]
    TCPServer.protocol_send = protocol_send
    TCPServer._read_data = _read_data
    TCPServer._close = _close
    H11Protocol._maybe_recycle = _maybe_recycle


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
            log.warning("refusing connections: %d open, the cap is %d (file-descriptor limit %d minus a reserve); "
                        "%d refused so far; raise the limit with `ulimit -n`", self.open, capacity,
                        resource.getrlimit(resource.RLIMIT_NOFILE)[0], self.refused)
        return False


ADMISSION = _Admission()


def _patch_hypercorn_admission() -> None:
    """Route hypercorn's accepted connections through ``ADMISSION`` (its worker makes each connection
    through the ``TCPServer`` name of ``hypercorn.trio.run``). Applied once, at import."""
    from hypercorn.trio import run as trio_run

    server_class = trio_run.TCPServer
    if getattr(server_class, "_moltbot_patched", False):
        return

    async def admitted_connection(app, config, context, state, stream):
        if not ADMISSION.admit():
            await trio.aclose_forcefully(stream)  # closes at once, cancelled or not
            return
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                ADMISSION.open -= 1

        try:
            upgrades = getattr(config, "moltbot_upgrades", None)
            if upgrades is not None:  # WebSocket upgrades take the lean path (upgrade.py); it owns them
                stream = await upgrades.route(stream, release)
                if stream is None:
                    return
            await server_class(app, config, context, state, stream)
            release()
        except BaseException:
            release()  # (once: a socket the lean path took is released by it)
            raise

    admitted_connection._moltbot_patched = True  # type: ignore[attr-defined]
    trio_run.TCPServer = admitted_connection


ORIGINALS = patch_targets()  # as found at import, before the patches below replace some of them
check_patch_targets(ORIGINALS)
_patch_hypercorn_connection_close()
wsclose.patch_parse_failures()
wsclose.patch_events()
wsclose.patch_close_handshake()
_patch_hypercorn_admission()


class BindError(Exception):
    """The configured bind cannot be used."""


def resolve_bind_host(config: GatewayConfig, *, warn: bool = True) -> str:
    """The address to listen on for ``gateway.bind``; ``tailnet``: ``moltbot.tailscale.bind``
    (``warn=False``: a look before the gateway runs, which leaves the tailnet fallback's warning to it)."""
    if config.bind == "tailnet":
        from ..tailscale.bind import tailnet_host

        return tailnet_host(config, warn=warn)
    if config.bind in ("loopback", "auto"):
        return "127.0.0.1"
    if config.bind == "lan":
        return "0.0.0.0"
    host = config.custom_bind_host
    if not host:
        raise BindError("gateway.bind is custom but gateway.customBindHost is not set")
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        raise BindError(f"gateway.customBindHost is not an IPv4 address: {host!r}") from None
    return host


async def serve_listener(app: Any, host: str, port: int, max_payload: int,
                         shutdown_trigger: Callable[[], Awaitable[None]], *, upgrades: Any = None,
                         task_status=trio.TASK_STATUS_IGNORED) -> None:
    """Serve ``app`` on ``host:port`` until ``shutdown_trigger`` returns; started with the bound URLs.

    ``upgrades`` (``upgrade.Upgrades``): WebSocket upgrades go to it, not through hypercorn's ASGI
    WebSocket; the sockets it ends linger in a nursery of this task's (cut short when the listener stops).
    """
    if upgrades is None:
        await _serve_hypercorn(app, host, port, max_payload, shutdown_trigger, None, task_status)
        return
    async with trio.open_nursery() as closer:
        upgrades.closer = closer
        try:
            await _serve_hypercorn(app, host, port, max_payload, shutdown_trigger, upgrades, task_status)
        finally:
            upgrades.closer = None
            closer.cancel_scope.deadline = trio.current_time() + CLOSE_GRACE_SECONDS


async def _serve_hypercorn(app: Any, host: str, port: int, max_payload: int,
                           shutdown_trigger: Callable[[], Awaitable[None]], upgrades: Any, task_status: Any) -> None:
    config = HypercornConfig()
    config.backlog = BACKLOG
    if upgrades is not None:
        config.moltbot_upgrades = upgrades  # type: ignore[attr-defined]  # read by admitted_connection
        upgrades.head_limit, upgrades.head_seconds = config.h11_max_incomplete_size, KEEP_ALIVE_SECONDS
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.websocket_max_message_size = max_payload
    config.accesslog = None
    config.errorlog = log
    config.graceful_timeout = 1.0
    # How long an idle keep-alive connection is kept (its timer restarts after each request: see
    # _patch_hypercorn_connection_close); a connection whose peer left is closed at once.
    config.keep_alive_timeout = KEEP_ALIVE_SECONDS
    config.websocket_ping_interval = None
    await serve(app, config, shutdown_trigger=shutdown_trigger, task_status=task_status)
