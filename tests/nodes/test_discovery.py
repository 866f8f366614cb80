"""Discovery: the advertisement's records and rules, and advertise → browse over an in-memory backend.

No test sends multicast: the workplace allows only loopback traffic in tests. The real zeroconf path runs
only with MOLTBOT_TEST_MDNS=1 on a machine where mDNS on the LAN is welcome.
"""

from __future__ import annotations

import os

import attrs
import pytest
import trio

from moltbot.config.model import Config, GatewayConfig
from moltbot.nodes import discovery
from moltbot.nodes.discovery import SERVICE_TYPE, Advertisement, DiscoveredGateway


class MemoryNetwork:
    """A LAN in memory: what is registered can be browsed, until it is unregistered."""

    def __init__(self) -> None:
        self.services: dict[str, Advertisement] = {}
        self.closed = 0

    def backend(self) -> MemoryNetwork._Backend:
        return MemoryNetwork._Backend(self)

    class _Backend:
        def __init__(self, network: MemoryNetwork) -> None:
            self.network = network

        def register(self, advert: Advertisement) -> None:
            self.network.services[advert.name] = advert

        def unregister(self, advert: Advertisement) -> None:
            self.network.services.pop(advert.name, None)

        def browse(self, service_type: str, seconds: float) -> list[DiscoveredGateway]:
            assert service_type == SERVICE_TYPE
            return [DiscoveredGateway(a.name, a.host, a.port, a.addresses, dict(a.properties))
                    for a in self.network.services.values()]

        def close(self) -> None:
            self.network.closed += 1


def _config(bind: str = "lan", mode: str | None = None) -> Config:
    raw = {"discovery": {"mdns": {"mode": mode}}} if mode else {}
    return Config(gateway=GatewayConfig(bind=bind), raw=raw)


def test_advertising_rules():
    assert discovery.advertising_enabled(_config("lan"), {})
    assert not discovery.advertising_enabled(_config("lan"), {"CLAWDBOT_DISABLE_BONJOUR": "1"})
    assert not discovery.advertising_enabled(_config("lan", "off"), {})
    assert not discovery.advertising_enabled(_config("loopback"), {})  # nothing on the LAN could connect


def test_txt_records_carry_port_version_and_role():
    advert = discovery.advertisement(_config(), {}, "1.2.3", 18789, hostname="box.example", addresses=("10.0.0.2",))
    assert advert.properties == {"role": "gateway", "gatewayPort": "18789", "lanHost": "box.local",
                                 "displayName": "box", "transport": "gateway", "version": "1.2.3"}
    full = discovery.advertisement(_config(mode="full"), {"CLAWDBOT_SSH_PORT": "2222"}, "1", 1, hostname="box")
    assert full.properties["sshPort"] == "2222"


async def test_advertise_then_discover_then_withdraw_on_cancel():
    network = MemoryNetwork()
    advert = discovery.advertisement(_config(), {}, "9.9.9", 4321, hostname="gw", addresses=("127.0.0.1",))
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            await nursery.start(lambda task_status: discovery.serve_advertiser(
                advert, backend=network.backend, task_status=task_status))
            found = await discovery.discover_gateways(0.01, backend=network.backend)
            nursery.cancel_scope.cancel()
    assert [(g.name, g.url, g.properties["version"]) for g in found] == [("gw (Moltbot)", "ws://127.0.0.1:4321", "9.9.9")]
    assert network.services == {} and network.closed == 2


async def test_gateway_does_not_advertise_on_loopback(gateway):
    assert not discovery.advertising_enabled(gateway.config, gateway.env)


@pytest.mark.skipif(os.environ.get("MOLTBOT_TEST_MDNS") != "1",
                    reason="sends real mDNS multicast; only loopback traffic is allowed here (set MOLTBOT_TEST_MDNS=1)")
async def test_real_zeroconf_round_trip():
    advert = attrs.evolve(discovery.advertisement(_config(), {}, "0.0.0", 45678, hostname="moltbot-test"),
                          addresses=discovery.lan_addresses()[:1])
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            await nursery.start(discovery.serve_advertiser, advert)
            found = await discovery.discover_gateways(3)
            nursery.cancel_scope.cancel()
    assert any(g.properties.get("gatewayPort") == "45678" for g in found)
