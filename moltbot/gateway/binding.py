"""The Gateway's listening port: the ``listener`` child (hypercorn serving the ASGI app) and its address.

A port given at start pins the address; without one, ``gateway.port`` is followed, and ``rebind`` moves
the listener when a restart's config changes ``gateway.bind`` or ``gateway.port`` (staying on the old
address when the new one cannot be bound). Port 0 ("any free port") is resolved at the first bind and kept
across restarts.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any

import trio

from ..config.model import Config
from .listener import resolve_bind_host, serve_listener
from .supervisor import Child

if TYPE_CHECKING:
    from .app import Gateway

log = logging.getLogger("moltbot.gateway")

__all__ = ["ListenerBinding"]


class ListenerBinding:
    """Where the gateway listens, and the child that does (``child``, task ``listener``)."""

    def __init__(self, gateway: Gateway, *, pinned_port: int | None, grace: float) -> None:
        self._gateway = gateway
        self._pinned_port = pinned_port
        self.urls: list[str] = []
        self.listening = trio.Event()  # set once the first listener is bound (``urls`` is known)
        self.address: tuple[str, int] | None = None
        self._stop = trio.Event()
        self.child = Child("listener", _not_started, graceful=lambda: self._stop.set(), grace=grace)

    @property
    def port(self) -> int:
        return int(self.urls[0].rsplit(":", 1)[1])

    def address_for(self, config: Config) -> tuple[str, int]:
        """The address ``config`` asks for (the pinned port, else ``gateway.port``)."""
        host = resolve_bind_host(config.gateway)
        port = self._pinned_port if self._pinned_port is not None else config.gateway.port
        if port == 0 and self.urls:  # "any free port" was resolved once: keep it across restarts
            port = self.port
        return host, port

    async def start(
        self, nursery: trio.Nursery, config: Config, address: tuple[str, int] | None = None
    ) -> None:
        """Bind and serve; return once the port is bound."""
        from ..http.asgi import make_asgi_app

        self.address = address or self.address_for(config)
        self._stop = trio.Event()
        serve = functools.partial(
            serve_listener,
            make_asgi_app(self._gateway),
            *self.address,
            config.gateway.max_payload,
            self._stop.wait,
            upgrades=self._upgrades(),
        )
        self.urls = await self.child.start(nursery, serve)
        self.listening.set()
        self.address = (self.address[0], self.port)  # port 0 resolved: keep it across restarts

    def _upgrades(self) -> Any:
        """WebSocket upgrades on the lean path (``upgrade.py``); ``MOLTBOT_WS_PATH=asgi`` keeps them on
        hypercorn's ASGI WebSocket (the path before it, for side-by-side benchmarks)."""
        if self._gateway.env.get("MOLTBOT_WS_PATH") == "asgi":
            return None
        from .upgrade import Upgrades

        return Upgrades(self._gateway)

    async def stop(self) -> None:
        """Stop accepting (graceful, then cancelled past the grace), and make sure the port is released
        before returning."""
        await self.child.stop("listener stop deadline")

    async def rebind(self, nursery: trio.Nursery, config: Config) -> bool:
        """Move the listener to ``config``'s bind/port; if that fails, stay on the old one (and say why).
        Whether it moved."""
        old = self.address
        assert old is not None  # a listener runs
        await self.stop()
        try:
            await self.start(nursery, config)
        except (OSError, ExceptionGroup) as exc:
            if isinstance(exc, ExceptionGroup) and not exc.subgroup(OSError):
                raise
            log.error("cannot listen on %s:%s (%s); staying on %s:%s", *(self.address or ()), exc, *old)
            await self.start(nursery, config, address=old)
            return False
        log.info(
            "listener moved from %s:%s to %s:%s (gateway.bind/gateway.port changed)",
            *old,
            *(self.address or ()),
        )
        return True


async def _not_started(*, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    raise RuntimeError("the listener was started before its service was given")
