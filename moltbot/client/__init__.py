"""The gateway client library (Trio): connect, call methods, receive events, stay connected."""

from ._connection import (
    ClientStatistics as ClientStatistics,
)
from ._connection import (
    GatewayClient as GatewayClient,
)
from ._connection import (
    GatewayClosed as GatewayClosed,
)
from ._connection import (
    connect_gateway_client as connect_gateway_client,
)
from ._connection import (
    connect_params as connect_params,
)
from ._connection import (
    open_gateway_client as open_gateway_client,
)
from ._reconnect import (
    Backoff as Backoff,
)
from ._reconnect import (
    ReconnectingClient as ReconnectingClient,
)
from ._reconnect import (
    ReconnectStatistics as ReconnectStatistics,
)
from ._reconnect import (
    open_reconnecting_client as open_reconnecting_client,
)

__all__ = [
    "Backoff",
    "ClientStatistics",
    "GatewayClient",
    "GatewayClosed",
    "ReconnectStatistics",
    "ReconnectingClient",
    "connect_gateway_client",
    "connect_params",
    "open_gateway_client",
    "open_reconnecting_client",
]
