"""moltbot: a Trio gateway for messaging channels and agents, wire-compatible with the Moltbot gateway.

The embedding API::

    config = Config(gateway=GatewayConfig(auth=AuthConfig(token=token)))
    async with open_gateway(config, port=0) as gateway:      # inside your own Trio program
        async with open_gateway_client(gateway.url, token=token) as client:
            await client.call("health")

An embedded gateway writes only under its state dir (``open_gateway(..., state_dir=...)``, else a
temporary one) and opens no second port unless asked (``canvas=True``).

Names are imported lazily so that ``import moltbot.protocol`` (sans-IO) does not import trio.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

_EXPORTS = {
    "AuthConfig": "moltbot.config.model",
    "Config": "moltbot.config.model",
    "GatewayConfig": "moltbot.config.model",
    "ConfigError": "moltbot.config.load",
    "load_config": "moltbot.config.load",
    "Gateway": "moltbot.gateway.app",
    "open_gateway": "moltbot.gateway.app",
    "serve_gateway": "moltbot.gateway.app",
    "run_gateway": "moltbot.gateway.signals",
    "GatewayClient": "moltbot.client",
    "GatewayClosed": "moltbot.client",
    "connect_gateway_client": "moltbot.client",
    "open_gateway_client": "moltbot.client",
}

__all__ = [
    "__version__", "AuthConfig", "Config", "ConfigError", "Gateway", "GatewayClient", "GatewayClosed", "GatewayConfig",
    "connect_gateway_client", "load_config", "open_gateway", "open_gateway_client", "run_gateway", "serve_gateway",
]

if TYPE_CHECKING:
    from .client import GatewayClient, GatewayClosed, connect_gateway_client, open_gateway_client
    from .config.load import ConfigError, load_config
    from .config.model import AuthConfig, Config, GatewayConfig
    from .gateway.app import Gateway, open_gateway, serve_gateway
    from .gateway.signals import run_gateway


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'moltbot' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
