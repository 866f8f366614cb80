"""The ports derived from the gateway port (browser control, relay, canvas host), computed in one place."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from moltbot.config.load import ConfigError, load_config
from moltbot.config.model import Config
from moltbot.config.ports import (
    DEFAULT_CANVAS_HOST_PORT,
    DEFAULT_CDP_PORT_RANGE,
    DEFAULT_GATEWAY_PORT,
    DEV_GATEWAY_PORT,
    Ports,
    canvas_host_port,
    derive_ports,
)
from moltbot.config.profiles import DEV_PORT


def test_the_defaults_of_the_reference():
    assert Config().gateway.port == DEFAULT_GATEWAY_PORT == 18789
    assert derive_ports(18789) == Ports(gateway=18789, bridge=18790, browser_control=18791, relay=18792,
                                        canvas_host=18793, cdp_range=(18800, 18899))
    assert DEV_PORT == DEV_GATEWAY_PORT == 19001
    assert derive_ports(DEV_PORT).canvas_host == 19005


def test_a_gateway_on_port_0_derives_port_0():
    ports = derive_ports(0)
    assert (ports.bridge, ports.browser_control, ports.relay, ports.canvas_host) == (0, 0, 0, 0)
    assert ports.cdp_range == DEFAULT_CDP_PORT_RANGE  # a range cannot be ephemeral


def test_the_configured_canvas_port_wins():
    assert canvas_host_port(18789, 9000) == 9000
    assert canvas_host_port(0, 9000) == 9000
    assert canvas_host_port(18789, 0) == 0
    assert canvas_host_port(18789, None) == 18793


@pytest.mark.parametrize(("gateway", "expected"), [
    (65531, (65532, 65533, 65534, 65535)),
    (65532, (65533, 65534, 65535, DEFAULT_CANVAS_HOST_PORT)),
    (65534, (65535, 18791, 18792, DEFAULT_CANVAS_HOST_PORT)),
    (65535, (18790, 18791, 18792, DEFAULT_CANVAS_HOST_PORT)),
])
def test_derived_ports_past_65535_fall_back_to_the_fixed_defaults(gateway, expected):
    ports = derive_ports(gateway)
    assert (ports.bridge, ports.browser_control, ports.relay, ports.canvas_host) == expected


@given(st.integers(min_value=0, max_value=65535), st.one_of(st.none(), st.integers(0, 65535)))
def test_every_derived_port_is_a_port(gateway, canvas):
    ports = derive_ports(gateway, canvas_port=canvas)
    singles = (ports.bridge, ports.browser_control, ports.relay, ports.canvas_host)
    assert all(0 <= port <= 65535 for port in singles)
    assert (gateway == 0) == (ports.bridge == 0)
    start, end = ports.cdp_range
    assert 1 <= start <= end <= 65535
    if gateway and gateway + 4 <= 65535:
        assert (ports.bridge, ports.browser_control, ports.relay) == (gateway + 1, gateway + 2, gateway + 3)
        assert ports.canvas_host == (gateway + 4 if canvas is None else canvas)
    if gateway and gateway + 108 + 2 <= 65535:
        assert ports.cdp_range == (gateway + 11, gateway + 110)


def test_canvas_port_out_of_range_is_refused(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{canvasHost: {port: 70000}}')
    with pytest.raises(ConfigError, match="canvasHost.port"):
        load_config(path, env={})
