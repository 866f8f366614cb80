"""The Runtime seen through the interfaces its subsystems declare (``nodes/runtime_host.py``, ``browser/host.py``).

Each subsystem says what it needs from the gateway in a small Protocol of its own package and never
imports the Runtime; the adapters here answer from the Runtime (and, for facts that belong to the
process, its Gateway). The channel manager and the HTTP routes are served by the Runtime itself
(``ChannelHost``, ``HttpRuntime``): what they need is already its public surface.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..agents.tools import ToolRegistry
from ..config.model import Config
from .auth import Authenticator

if TYPE_CHECKING:
    from .runtime import Runtime

__all__ = ["BrowserHostAdapter", "NodesHostAdapter"]


class _RuntimeFacts:
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    @property
    def config(self) -> Config:
        return self._runtime.config

    @property
    def env(self) -> Mapping[str, str]:
        return self._runtime.env

    @property
    def authenticator(self) -> Authenticator:
        return self._runtime.authenticator


class NodesHostAdapter(_RuntimeFacts):
    """``nodes.runtime_host.NodesHost`` for a Runtime."""

    @property
    def version(self) -> str:
        return self._runtime.state.version

    def add_inline_methods(self, names: frozenset[str]) -> None:
        self._runtime.inline_methods |= names

    def broadcast(self, event: str, payload: Any, *, droppable: bool, scope: str | None = None) -> None:
        self._runtime.broadcaster.broadcast(event, payload, droppable=droppable, scope=scope)

    async def listening_port(self) -> int:
        gateway = self._runtime.gateway
        await gateway.listening.wait()
        return gateway.port


class BrowserHostAdapter(_RuntimeFacts):
    """``browser.host.BrowserHost`` for a Runtime."""

    @property
    def tools(self) -> ToolRegistry:
        return self._runtime.tools

    @property
    def canvas_port(self) -> int | None:
        return self._runtime.gateway.canvas.port

    def gateway_port(self) -> int:
        pinned = self._runtime.gateway.pinned_port  # the --port / embedded port pins the derived ones
        return pinned if pinned is not None else self._runtime.config.gateway.port
