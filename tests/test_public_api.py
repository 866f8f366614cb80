"""Pin the public surface (like trio's test_exports.py): adding or removing a name is a visible decision."""

import subprocess
import sys

import moltbot
import moltbot.client
import moltbot.protocol


def test_moltbot_exports():
    assert moltbot.__all__ == [
        "__version__", "AuthConfig", "Config", "ConfigError", "Gateway", "GatewayClient", "GatewayClosed",
        "GatewayConfig", "connect_gateway_client", "load_config", "open_gateway", "open_gateway_client",
        "run_gateway", "serve_gateway",
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


def test_conformance_exports():
    import moltbot.conformance

    assert sorted(moltbot.conformance.__all__) == [
        "CAPABILITIES", "Check", "CheckContext", "CheckFailed", "CheckResult", "CheckSkipped", "Options", "Peer",
        "Report", "SchemaUnavailable", "Spec", "Spec4", "Target", "list_checks", "load_spec", "load_spec4",
        "run_conformance"]
    for name in moltbot.conformance.__all__:
        assert getattr(moltbot.conformance, name) is not None


def test_protocol_exports_every_payload_type():
    """Every params/result/event class of the wire (the attrs classes of ``protocol/_payloads``) is one name
    of ``moltbot.protocol``, the very class, so users and our own packages never import ``_payloads``."""
    import importlib
    import pkgutil

    import attrs

    import moltbot.protocol._payloads as payloads

    missing = []
    for info in pkgutil.iter_modules(payloads.__path__):
        module = importlib.import_module(f"{payloads.__name__}.{info.name}")
        for name, value in vars(module).items():
            if isinstance(value, type) and attrs.has(value) and value.__module__ == module.__name__ \
                    and not name.startswith("_"):
                if getattr(moltbot.protocol, name, None) is not value or name not in moltbot.protocol.__all__:
                    missing.append(f"{info.name}.{name}")
    assert missing == []
    assert len(moltbot.protocol.__all__) == len(set(moltbot.protocol.__all__))


def _private_imports_outside_owner() -> list[str]:
    """``moltbot.<public>._private`` imported from a module outside ``moltbot/<public>/`` (AST walk)."""
    import ast
    from pathlib import Path

    root = Path(moltbot.__file__).parent
    public = {"protocol", "client", "conformance", "testing"}
    found = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        package = list(parts[:-1])  # a module's package (an __init__'s own package)
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                base = package[: len(package) - node.level + 1] if node.level else []
                target = [*base, *node.module.split(".")]
            elif isinstance(node, ast.Import):
                target = node.names[0].name.split(".")
            else:
                continue
            if len(target) >= 3 and target[0] == "moltbot" and target[1] in public and target[2].startswith("_") \
                    and parts[1] != target[1]:
                found.append(f"{path.relative_to(root.parent)}:{node.lineno} {'.'.join(target)}")
    return found


def test_no_module_imports_a_public_packages_private_modules():
    """Other packages go through ``moltbot.protocol`` (``.client``, ``.conformance``), never ``_codec`` & co."""
    assert _private_imports_outside_owner() == []


def test_package_is_typed():
    from pathlib import Path

    assert (Path(moltbot.__file__).parent / "py.typed").is_file()
