"""What the nodes package needs from the gateway around it: a connected client (``NodeConnection``) and
the Runtime's services (``NodesHost``).

``gateway/connection.py``'s ``Connection`` and ``gateway/runtime.py``'s ``Runtime`` provide them; this
package never imports either, so the gateway depends on nodes and not the other way round.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import trio

    from ..config.model import Config
    from ..gateway.auth import Authenticator
    from ..gateway.transport import Transport
    from ..protocol import ConnectParams, ServerSession

__all__ = ["NodeConnection", "NodesHost"]


class NodeConnection(Protocol):
    """A connected, authenticated client: a node session lives in its nursery and sends through it."""

    @property
    def params(self) -> ConnectParams: ...

    @property
    def session(self) -> ServerSession: ...

    @property
    def transport(self) -> Transport: ...

    @property
    def nursery(self) -> trio.Nursery | None: ...

    @property
    def closing(self) -> bool: ...

    def send(self, text: str, *, droppable: bool = False) -> None: ...


class NodesHost(Protocol):
    """The Runtime's services a ``NodesService`` uses; ``config`` is read afresh (hot reload replaces it)."""

    @property
    def config(self) -> Config: ...

    @property
    def env(self) -> Mapping[str, str]: ...

    @property
    def version(self) -> str: ...

    @property
    def authenticator(self) -> Authenticator: ...

    def add_inline_methods(self, names: frozenset[str]) -> None:
        """Methods answered on the connection's reader task (node results must not queue behind calls)."""

    def broadcast(self, event: str, payload: Any, *, droppable: bool, scope: str | None = None) -> None: ...

    async def listening_port(self) -> int:
        """The gateway's port, once its listener is bound (the mDNS advertisement names it)."""
