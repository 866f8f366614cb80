"""What the HTTP side needs from the gateway: the Gateway (``HttpHost``) and its current Runtime
(``HttpRuntime``).

The ASGI app is built by the Gateway (``gateway/app.py``) with itself as the host; a route asks it for the
Runtime now serving and works only through the members below. This package never imports the gateway's
Runtime, Gateway or connection modules: the WebSocket route hands the accepted socket back to the host.
The hook limiter's policy lives here too, for the Runtime to build its limiter without loading Quart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from ..config.model import AuthRateLimit

if TYPE_CHECKING:
    from ..agents.heartbeat import HeartbeatRunner
    from ..agents.runtime import AgentRuntime
    from ..agents.tools import ToolRegistry
    from ..channels.manager import ChannelManager
    from ..config.model import Config
    from ..gateway.auth import Authenticator, FailureLimiter
    from ..gateway.transport import AsgiWebSocket

__all__ = ["HOOK_RATE_LIMIT", "HttpHost", "HttpRuntime"]

# Failed hook auth per client (``http.hooks``): 20 in a minute lock it out for a minute, from loopback too.
HOOK_RATE_LIMIT = AuthRateLimit(max_failures=20, window_ms=60_000, lockout_ms=60_000, exempt_loopback=False)


class HttpRuntime(Protocol):
    """The Runtime serving now; ``config`` is the one in force (a hot reload replaces it)."""

    @property
    def config(self) -> Config: ...

    @property
    def authenticator(self) -> Authenticator: ...

    @property
    def hook_limiter(self) -> FailureLimiter:
        """Failed hook tokens per client (the hooks' own limiter, apart from the gateway secret's)."""

    @property
    def agents(self) -> AgentRuntime: ...

    @property
    def tools(self) -> ToolRegistry: ...

    @property
    def heartbeat(self) -> HeartbeatRunner: ...

    @property
    def channels(self) -> ChannelManager: ...

    def system_event(self, text: str) -> None:
        """Queue a system event (``wake`` hooks, a hook run's summary)."""


class HttpHost(Protocol):
    """The Gateway: alive for the whole process, its Runtime replaced on restart."""

    @property
    def config(self) -> Config: ...

    @property
    def version(self) -> str: ...

    @property
    def runtime(self) -> HttpRuntime | None:
        """The Runtime last started (None before the first); the probes read it without waiting."""

    @property
    def accepting(self) -> bool:
        """Whether the Runtime serves new requests now (not draining, not being replaced, not stopping)."""

    def uptime_ms(self) -> int: ...

    async def current_runtime(self) -> HttpRuntime:
        """The Runtime new requests are served by; waits while one is being replaced."""

    async def serve_websocket(self, transport: AsgiWebSocket) -> None:
        """Serve an accepted WebSocket as a control-plane client until it closes."""
