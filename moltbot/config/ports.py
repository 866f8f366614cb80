"""Every port derived from the gateway port, computed here and nowhere else
(the original's offsets).

| Service                 | Rule                                   | Fixed default  |
|-------------------------|----------------------------------------|----------------|
| gateway                 | ``--port`` > env > ``gateway.port``    | 18789 (dev 19001) |
| bridge (legacy)         | gateway + 1                            | 18790          |
| browser control         | gateway + 2                            | 18791          |
| extension relay         | browser control + 1 (= gateway + 3)    | 18792          |
| canvas host             | ``canvasHost.port``, else gateway + 4  | 18793          |
| browser CDP range       | browser control + 9 … + 108            | 18800–18899    |

A derived port outside 1..65535 falls back to its fixed default, as in the original. Ours: a gateway on
port 0 ("any free port", as in tests and embedded gateways) derives 0 for every single port too, so
nothing ever lands on a fixed port by accident; only the CDP range, which cannot be ephemeral, keeps its
fixed default then.
"""

from __future__ import annotations

import attrs

DEFAULT_GATEWAY_PORT = 18789
DEV_GATEWAY_PORT = 19001
DEFAULT_BRIDGE_PORT = 18790
DEFAULT_BROWSER_CONTROL_PORT = 18791
DEFAULT_RELAY_PORT = 18792
DEFAULT_CANVAS_HOST_PORT = 18793
DEFAULT_CDP_PORT_RANGE = (18800, 18899)
CDP_RANGE_SPAN = DEFAULT_CDP_PORT_RANGE[1] - DEFAULT_CDP_PORT_RANGE[0]


def is_valid_port(port: int) -> bool:
    return 1 <= port <= 65535


def derive_port(base: int, offset: int, fallback: int) -> int:
    """``base + offset``; 0 when ``base`` is 0 (ephemeral); ``fallback`` when outside 1..65535."""
    if base == 0:
        return 0
    port = base + offset
    return port if is_valid_port(port) else fallback


def canvas_host_port(gateway_port: int, configured: int | None = None) -> int:
    """``canvasHost.port`` when set (0 = any free port), else gateway + 4."""
    if configured is not None and 0 <= configured <= 65535:
        return configured
    return derive_port(gateway_port, 4, DEFAULT_CANVAS_HOST_PORT)


def cdp_port_range(browser_control_port: int) -> tuple[int, int]:
    """Browser control + 9 … + 108, each end falling back to its default; never ``end < start``."""
    if browser_control_port == 0:
        return DEFAULT_CDP_PORT_RANGE
    start = derive_port(browser_control_port, 9, DEFAULT_CDP_PORT_RANGE[0])
    end = start + CDP_RANGE_SPAN
    if not is_valid_port(end):
        end = DEFAULT_CDP_PORT_RANGE[1]
    return (start, max(start, end))


@attrs.frozen
class Ports:
    gateway: int
    bridge: int
    browser_control: int
    relay: int
    canvas_host: int
    cdp_range: tuple[int, int]


def derive_ports(gateway_port: int, *, canvas_port: int | None = None) -> Ports:
    """All the ports derived from a gateway's (control, browser, relay, canvas) for a gateway on ``gateway_port`` (``canvas_port``: ``canvasHost.port``)."""
    browser_control = derive_port(gateway_port, 2, DEFAULT_BROWSER_CONTROL_PORT)
    return Ports(
        gateway=gateway_port,
        bridge=derive_port(gateway_port, 1, DEFAULT_BRIDGE_PORT),
        browser_control=browser_control,
        relay=derive_port(browser_control, 1, DEFAULT_RELAY_PORT),
        canvas_host=canvas_host_port(gateway_port, canvas_port),
        cdp_range=cdp_port_range(browser_control),
    )


@attrs.frozen
class BrowserPorts:
    """The browser control service's ports: its own, the extension relay's and the CDP range."""

    control: int
    relay: int
    cdp_range: tuple[int, int]


def browser_ports(
    gateway_port: int,
    *,
    control_port: int | None = None,
    cdp_range: tuple[int, int] | list[int] | None = None,
) -> BrowserPorts:
    """``browser.controlPort`` when set (0: any free port), else gateway + 2; relay = control + 1 (0 stays
    0); the CDP range ``browser.cdpPortRange`` when set and valid, else derived from the control port."""
    control = (
        control_port
        if control_port is not None and 0 <= control_port <= 65535
        else derive_port(gateway_port, 2, DEFAULT_BROWSER_CONTROL_PORT)
    )
    span: tuple[int, int] = cdp_port_range(control)
    if (
        cdp_range is not None
        and len(cdp_range) == 2
        and is_valid_port(cdp_range[0])
        and is_valid_port(cdp_range[1])
        and cdp_range[0] <= cdp_range[1]
    ):
        span = (cdp_range[0], cdp_range[1])
    return BrowserPorts(control=control, relay=derive_port(control, 1, DEFAULT_RELAY_PORT), cdp_range=span)
