"""The gateway client library (Trio): connect, call methods, receive events."""

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

__all__ = ["GatewayClient", "GatewayClosed", "connect_gateway_client", "connect_params", "open_gateway_client"]
