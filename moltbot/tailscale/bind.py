"""The tailnet address for ``gateway.bind: tailnet``, and what each bind exposes (the warning, doctor).

Theory of operation. ``tailnet`` binds this machine's Tailscale IPv4 address, so only tailnet devices
reach the port (over WireGuard). Where it comes from, first that answers:

1. tailscaled's LocalAPI ``status`` (``Self.TailscaleIPs``), over ``gateway.tailscale.socket``;
2. ``tailscale ip -4`` (the CLI, when the socket is elsewhere, e.g. the macOS app);
3. the network interfaces: an IPv4 address in Tailscale's CGNAT range ``100.64.0.0/10`` (what the
   original reads, ``pickPrimaryTailnetIPv4``).

The first two need I/O, so they run in ``discover`` (async), which the ``gateway`` command runs before it
starts the gateway and which records the answer per socket (``remember``); ``tailnet_host`` is what the
listener asks, synchronously, at every (re)bind: the recorded address, else the interfaces' (a
non-blocking ``getifaddrs``). An address that cannot be bound here falls back to ``127.0.0.1``, as the
original's ``resolveGatewayBindHost`` does, and the log says why.
"""

from __future__ import annotations

import ipaddress
import logging
import socket

import trio

from ..config.model import GatewayConfig
from .localapi import LocalApi, LocalApiError

log = logging.getLogger("moltbot.tailscale")

TAILNET_V4 = ipaddress.ip_network("100.64.0.0/10")
FALLBACK = "127.0.0.1"
_discovered: dict[str, str] = {}  # socket path → the tailnet address tailscaled (or its CLI) named
_missing: dict[str, str] = {}  # socket path → why ``discover`` found none (the fallback's warning says it)
_warned: set[str] = set()


def on_tailnet(host: str) -> bool:
    """``host`` is an address in Tailscale's ``100.64.0.0/10``."""
    try:
        return ipaddress.ip_address(host) in TAILNET_V4
    except ValueError:
        return False


def interface_address() -> str | None:
    """The first IPv4 address in ``100.64.0.0/10`` on this machine's interfaces (None: not on a tailnet)."""
    import psutil  # only for a tailnet bind: every other gateway starts without it

    for addresses in psutil.net_if_addrs().values():
        for entry in addresses:
            if entry.family == socket.AF_INET:
                try:
                    if ipaddress.IPv4Address(entry.address) in TAILNET_V4:
                        return entry.address
                except ValueError:
                    continue
    return None


def _first_ipv4(values: object) -> str | None:
    for value in values if isinstance(values, list) else ():
        try:
            return str(ipaddress.IPv4Address(str(value)))
        except ValueError:
            continue
    return None


async def discover(socket_path: str, cli: str | None) -> tuple[str | None, str]:
    """This machine's tailnet IPv4 address and where it was found (or why none was)."""
    try:
        status = await LocalApi(socket_path).status()
        own = status.get("Self")
        found = _first_ipv4(own.get("TailscaleIPs") if isinstance(own, dict) else None)
        found = found or _first_ipv4(status.get("TailscaleIPs"))
        if found:
            return found, "tailscaled status"
        problem = "tailscaled knows no tailnet address (logged in? `tailscale up`)"
    except LocalApiError as exc:
        problem = str(exc)
    if cli is not None:
        from .exposure import TailscaleError, run_cli

        try:
            found = _first_ipv4((await run_cli(cli, "ip", "-4", seconds=5.0)).split())
        except TailscaleError as exc:
            problem = f"{problem}; {exc}"
        else:
            if found:
                return found, "tailscale ip -4"
    found = interface_address()
    if found:
        return found, "network interfaces"
    return None, problem


def remember(socket_path: str, address: str) -> None:
    """Use ``address`` as the tailnet address for this socket's daemon from now on (``discover``'s)."""
    _discovered[socket_path] = address


def can_bind(host: str) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    probe = socket.socket(family, socket.SOCK_STREAM)
    try:
        probe.bind((host, 0))
        return True
    except OSError:
        return False
    finally:
        probe.close()


def tailnet_host(gateway: GatewayConfig, *, warn: bool = True) -> str:
    """The host ``gateway.bind: tailnet`` listens on: the tailnet address if it can be bound, else loopback.

    The fallback is logged once, by the first caller with ``warn`` (the listener's; the CLI asks before
    the gateway's log file is installed, with ``warn=False``, so the line lands in that file too)."""
    from . import socket_path

    path = socket_path(gateway)
    address = _discovered.get(path) or interface_address()
    if address is not None and can_bind(address):
        return address
    if address is not None:
        why = f"{address} cannot be bound here"
    else:
        why = f"no tailnet address found: {_missing.get(path, 'is tailscaled up?')}"
    if warn and why not in _warned:
        _warned.add(why)
        log.warning("gateway.bind is tailnet but %s: listening on %s instead", why, FALLBACK)
    return FALLBACK


async def discover_for(gateway: GatewayConfig, cli: str | None) -> tuple[str | None, str]:
    """``discover`` for this config's socket, remembered when found (what the ``gateway`` command runs)."""
    from . import socket_path

    path = socket_path(gateway)
    with trio.move_on_after(10):
        address, source = await discover(path, cli)
        if address is not None:
            remember(path, address)
        else:
            _missing[path] = source
        return address, source
    return None, "tailscaled and the tailscale CLI took too long to answer"


def exposure_summary(gateway: GatewayConfig, host: str, *, secret: bool, allow_tailscale: bool) -> list[str]:
    """What the bind and Tailscale settings expose, one sentence each (the doctor's explanation)."""
    lines = []
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None and address.is_loopback:
        lines.append(f"bound to {host}: only programs on this machine reach the gateway")
    elif address is not None and address.is_unspecified:
        lines.append(f"bound to {host} (every interface): anyone who can reach this machine's addresses "
                     "(the LAN, and the internet if one is public) reaches the port")
    elif address is not None and address in TAILNET_V4:
        lines.append(f"bound to the tailnet address {host}: devices on your tailnet reach the gateway, "
                     "over WireGuard")
    else:
        lines.append(f"bound to {host}: whoever can route to that address reaches the port")
    if not (address is not None and address.is_loopback):
        lines.append("clients must present the gateway token or password" if secret else
                     "no gateway secret is configured: the gateway refuses to start on this bind")
        if not gateway.tls.enabled and not (address is not None and address in TAILNET_V4):
            lines.append("traffic is not encrypted (no gateway.tls): the token crosses the network in clear text")
    if gateway.tailscale.mode == "serve":
        lines.append("tailscale serve publishes it to your tailnet over HTTPS (https://<host>.<tailnet>.ts.net/)")
    elif gateway.tailscale.mode == "funnel":
        lines.append("tailscale funnel publishes it to the whole internet over HTTPS: the password is all "
                     "that stands between it and anyone")
    if allow_tailscale:
        lines.append("tailnet users coming through Serve are let in by their Tailscale identity, verified "
                     "with tailscaled's whois")
    return lines


def bind_warning(gateway: GatewayConfig, host: str) -> str | None:
    """The one warning for a bind beyond loopback without TLS or Tailscale, with the fix (None: no warning)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if address.is_loopback or address in TAILNET_V4 or gateway.tls.enabled:
        return None
    return (f"warning: the gateway listens on {host} without TLS or Tailscale: the token and every message "
            "cross the network unencrypted. Fix: keep gateway.bind loopback and publish it with "
            "`moltbot gateway --tailscale serve` (or bind tailnet), or turn on gateway.tls")
