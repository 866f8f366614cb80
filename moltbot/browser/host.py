"""What the browser control service needs from the gateway around it (``BrowserHost``).

``gateway/hosts.py`` adapts the Runtime to it; the browser package never imports the Runtime.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..agents.tools import ToolRegistry
    from ..config.model import Config
    from ..gateway.auth import Authenticator

__all__ = ["BrowserHost"]


class BrowserHost(Protocol):
    @property
    def config(self) -> Config:
        """The config now in force (a hot reload replaces it)."""

    @property
    def env(self) -> Mapping[str, str]: ...

    @property
    def authenticator(self) -> Authenticator:
        """The gateway's secret check: the control server and the relay accept the same token."""

    @property
    def tools(self) -> ToolRegistry:
        """Where the agent's ``browser`` tool is registered."""

    @property
    def canvas_port(self) -> int | None:
        """The canvas host's port while it runs (the browser may open its loopback origins)."""

    def gateway_port(self) -> int:
        """The port the browser's ports are derived from: a pinned one (``--port``), else ``gateway.port``."""
