"""The one listening port: hypercorn serving the ASGI app (WebSocket at ``/`` plus HTTP), with the fixes of
``httpserver.py`` applied to this server's connections only."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from hypercorn.config import Config as HypercornConfig

from ..config.model import GatewayConfig
from .httpserver import serve

log = logging.getLogger("moltbot.http")

KEEP_ALIVE_SECONDS = 5.0  # an idle HTTP connection, and a first request head that never ends, is closed after
BACKLOG = 4096  # accept queue: a burst of thousands of connects waits here instead of SYN retries (1 s each)
CLOSE_GRACE_SECONDS = 0.5  # when the listener stops, how long the WebSocket closes still lingering may take


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
        upgrades.head_limit, upgrades.head_seconds = config.h11_max_incomplete_size, KEEP_ALIVE_SECONDS
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.websocket_max_message_size = max_payload
    config.accesslog = None
    config.errorlog = log
    config.graceful_timeout = 1.0
    # How long an idle keep-alive connection is kept (its timer restarts after each request: see
    # httpserver.ClosingH11Protocol); a connection whose peer left is closed at once.
    config.keep_alive_timeout = KEEP_ALIVE_SECONDS
    config.websocket_ping_interval = None
    await serve(app, config, shutdown_trigger=shutdown_trigger, upgrades=upgrades, task_status=task_status)
