"""``gateway.origin`` as pure functions of an ASGI scope and the config: the cases the socket tests do not
reach (a trusted proxy, a LAN bind, tailnet names, malformed headers)."""

from __future__ import annotations

import pytest

from moltbot.config.model import ControlUiConfig, GatewayConfig, TailscaleConfig
from moltbot.gateway import origin


def scope(host: str | None = "127.0.0.1:18789", page: str | None = None, *, kind: str = "websocket",
          method: str = "GET", peer: str = "127.0.0.1", server: str = "127.0.0.1", **extra: str) -> dict:
    headers = [(b"host", host.encode())] if host is not None else []
    if page is not None:
        headers.append((b"origin", page.encode()))
    headers += [(name.replace("_", "-").encode(), value.encode()) for name, value in extra.items()]
    return {"type": kind, "method": method, "headers": headers, "client": (peer, 50000), "server": (server, 18789)}


@pytest.mark.parametrize(("value", "expected"), [
    ("127.0.0.1:18789", ("127.0.0.1", 18789)), ("[::1]:80", ("::1", 80)), ("Example.COM.", ("example.com", None)),
    ("::1", ("::1", None)), ("a:b:c", ("a:b:c", None)), ("x:0", None), ("x:99999", None), ("x:1a", None),
    ("[::1", None), ("[::1]x", None), ("a/b", None), ("u@h", None), ("", None),
])
def test_split_host(value, expected):
    assert origin.split_host(value) == expected


def test_origins_are_compared_by_scheme_host_and_port():
    config = GatewayConfig()
    assert origin.origin_verdict(scope(page="http://127.0.0.1:18789"), config) == "own"
    assert origin.origin_verdict(scope(host="localhost", page="http://localhost"), config) == "own"
    assert origin.origin_verdict(scope(page="http://127.0.0.1:18790"), config) == "foreign"
    assert origin.origin_verdict(scope(page="http://localhost:18789"), config) == "foreign"  # another origin
    assert origin.origin_verdict(scope(page="chrome-extension://127.0.0.1:18789"), config) == "foreign"
    assert origin.origin_verdict(scope(page="null"), config) == "foreign"
    assert origin.origin_verdict(scope(page="http://127.0.0.1:18789/path"), config) == "foreign"
    assert origin.origin_verdict(scope(), config) == "none"
    allowed = GatewayConfig(control_ui=ControlUiConfig(allowed_origins=["HTTPS://App.Example:443/"]))
    assert origin.origin_verdict(scope(page="https://app.example"), allowed) == "allowed"


def test_a_trusted_proxy_is_judged_by_its_forwarded_host():
    config = GatewayConfig(trusted_proxies=["10.0.0.2"], allowed_hosts=["gw.example"])
    proxied = scope(host="127.0.0.1:18789", page="https://gw.example", peer="::ffff:10.0.0.2",
                    x_forwarded_host="gw.example")
    assert origin.check_request(proxied, config) is None
    assert origin.origin_verdict(proxied, config) == "own"
    spoofed = scope(host="evil.example", page="https://gw.example", peer="10.0.0.3", x_forwarded_host="gw.example")
    assert origin.check_request(spoofed, config).status == 421
    unlisted = GatewayConfig(trusted_proxies=["10.0.0.2"])  # the public name belongs in allowedHosts
    assert origin.check_request(proxied, unlisted).status == 421
    rebound = scope(host="evil.example:18789", peer="10.0.0.2")  # straight to the proxy's address
    assert origin.check_request(rebound, config).status == 421


def test_the_limiter_address_is_the_forwarded_client_only_behind_a_trusted_proxy():
    config = GatewayConfig(trusted_proxies=["10.0.0.2", "::ffff:10.0.0.3"])
    behind = scope(peer="10.0.0.2", x_forwarded_for="1.1.1.1, 203.0.113.7, 10.0.0.3")
    facts = origin.request_facts(behind, config)
    assert facts.client == "203.0.113.7" and facts.trusted_proxy and not facts.local and not facts.direct
    assert origin.request_facts(scope(peer="10.0.0.9", x_forwarded_for="203.0.113.7"), config).client == "10.0.0.9"
    assert origin.request_facts(scope(peer="10.0.0.2", x_real_ip="203.0.113.8"), config).client == "203.0.113.8"
    assert origin.request_facts(scope(peer="10.0.0.2"), config).client == "10.0.0.2"
    direct = origin.request_facts(scope(), GatewayConfig())
    assert direct.local and direct.direct and direct.client == "127.0.0.1"
    for proxied in (scope(x_forwarded_proto="https"), scope(forwarded="for=1.2.3.4"), scope(host="127.0.0.2:18789")):
        assert not origin.request_facts(proxied, GatewayConfig()).local


def test_beyond_loopback_the_local_address_and_host_name_are_served(monkeypatch):
    monkeypatch.setattr(origin.socket, "gethostname", lambda: "box")
    lan = GatewayConfig(bind="lan")
    assert origin.host_allowed(scope(host="192.168.1.5:18789", server="192.168.1.5"), lan)
    assert not origin.host_allowed(scope(host="192.168.1.6:18789", server="192.168.1.5"), lan)
    assert origin.host_allowed(scope(host="box.local"), lan) and origin.host_allowed(scope(host="box"), lan)
    assert not origin.host_allowed(scope(host="box.local"), GatewayConfig())
    assert not origin.host_allowed(scope(host="me.tail1.ts.net"), GatewayConfig())
    assert origin.host_allowed(scope(host="me.tail1.ts.net"), GatewayConfig(tailscale=TailscaleConfig(mode="serve")))
    assert origin.host_allowed(scope(host=None), GatewayConfig())  # HTTP/1.0 without Host: not a browser


def test_http_from_a_foreign_origin_may_only_read():
    config = GatewayConfig()
    page = "https://evil.example"
    assert origin.check_request(scope(page=page, kind="http", method="GET"), config) is None
    for method in ("POST", "PUT", "DELETE", "OPTIONS"):
        assert origin.check_request(scope(page=page, kind="http", method=method), config).status == 403
