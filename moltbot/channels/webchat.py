"""WebChat: the built-in channel carried over the WS control plane (``chat.*`` methods).

It needs no supervisor: it runs exactly while the gateway does, and its "connection" is the set of
connected WS clients, so its status row is computed from their count.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .host import ChannelHost


def webchat_accounts(runtime: ChannelHost) -> list[dict[str, Any]]:
    clients = runtime.client_count()
    return [{"accountId": "default", "enabled": True, "configured": True, "running": True,
             "connected": clients > 0, "clients": clients, "mode": "websocket"}]
