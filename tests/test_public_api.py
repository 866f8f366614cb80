"""Pin the public surface (like trio's test_exports.py): adding or removing a name is a visible decision."""

import subprocess
import sys

import moltbot
import moltbot.client
import moltbot.protocol


def test_moltbot_exports():
    assert moltbot.__all__ == [
        "__version__", "Config", "ConfigError", "Gateway", "GatewayClient", "GatewayClosed", "connect_gateway_client",
        "load_config", "open_gateway", "open_gateway_client", "run_gateway", "serve_gateway",
    ]
    for name in moltbot.__all__:
        assert getattr(moltbot, name) is not None


def test_client_exports():
    assert sorted(moltbot.client.__all__) == [
        "Backoff", "ClientStatistics", "GatewayClient", "GatewayClosed", "ReconnectStatistics", "ReconnectingClient",
        "connect_gateway_client", "connect_params", "open_gateway_client", "open_reconnecting_client"]


def test_protocol_exports_resolve():
    for name in moltbot.protocol.__all__:
        assert hasattr(moltbot.protocol, name), name
    assert {"ServerHandshake", "ClientHandshake", "ServerSession", "encode_frame", "decode_frame", "METHODS",
            "ProtocolError", "HelloOk", "ConnectParams"} <= set(moltbot.protocol.__all__)


def test_protocol_package_never_imports_trio():
    code = "import sys, moltbot.protocol; assert 'trio' not in sys.modules, 'trio imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
