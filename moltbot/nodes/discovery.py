"""Finding gateways on the LAN: an mDNS/DNS-SD advertisement (``_moltbot-gw._tcp``) and a browser.

The records follow the original's Bonjour beacon: TXT ``role=gateway``, ``gatewayPort``, ``lanHost``,
``displayName``, ``transport=gateway`` and ``version`` (``gatewayTls=1`` with TLS; ``sshPort`` in mode
``full``). Advertising is off with ``CLAWDBOT_DISABLE_BONJOUR=1`` or ``discovery.mdns.mode: "off"``, and also
when the gateway is bound to loopback: nothing on the LAN could connect to it (the original advertises
anyway, for SSH tunnels).

mDNS itself is the ``zeroconf`` package, asyncio inside its own thread; it is only ever driven through
``trio.to_thread`` here. Everything else talks to a small ``Backend`` (register, unregister, browse), so the
advertise → browse path is tested over an in-memory backend and never sends multicast from a test.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Mapping
from typing import Any, Literal, Protocol

import attrs
import trio

from ..config.model import Config

log = logging.getLogger("moltbot.nodes")

SERVICE_TYPE = "_moltbot-gw._tcp.local."
MdnsMode = Literal["off", "minimal", "full"]


class DiscoveryUnavailable(Exception):
    """mDNS cannot be used here (the zeroconf package is missing, or the network refused)."""


@attrs.frozen
class Advertisement:
    """One gateway beacon: the DNS-SD instance name, its port and TXT properties."""

    name: str
    port: int
    properties: dict[str, str]
    host: str
    addresses: tuple[str, ...] = ()


@attrs.frozen
class DiscoveredGateway:
    name: str
    host: str
    port: int
    addresses: tuple[str, ...]
    properties: dict[str, str]

    @property
    def url(self) -> str:
        address = self.addresses[0] if self.addresses else self.host.rstrip(".")
        scheme = "wss" if self.properties.get("gatewayTls") == "1" else "ws"
        return f"{scheme}://{address}:{self.properties.get('gatewayPort') or self.port}"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "host": self.host, "port": self.port, "addresses": list(self.addresses),
                "url": self.url, "txt": self.properties}


class Backend(Protocol):
    """The blocking mDNS operations (run in a thread)."""

    def register(self, advert: Advertisement) -> None: ...

    def unregister(self, advert: Advertisement) -> None: ...

    def browse(self, service_type: str, seconds: float) -> list[DiscoveredGateway]: ...

    def close(self) -> None: ...


def mdns_mode(config: Config) -> MdnsMode:
    section = (config.raw.get("discovery") or {}).get("mdns") or {}
    mode = section.get("mode") if isinstance(section, dict) else None
    return mode if mode in ("off", "minimal", "full") else "minimal"


def advertising_enabled(config: Config, env: Mapping[str, str]) -> bool:
    from ..gateway.auth import is_loopback
    from ..gateway.listener import resolve_bind_host

    if env.get("CLAWDBOT_DISABLE_BONJOUR", "").strip().lower() in ("1", "true", "yes", "on"):
        return False
    if mdns_mode(config) == "off":
        return False
    return not is_loopback(resolve_bind_host(config.gateway))


def advertisement(config: Config, env: Mapping[str, str], version: str, port: int, *,
                  hostname: str | None = None, addresses: tuple[str, ...] = ()) -> Advertisement:
    host = (hostname or socket.gethostname() or "moltbot").split(".")[0]
    properties = {"role": "gateway", "gatewayPort": str(port), "lanHost": f"{host}.local", "displayName": host,
                  "transport": "gateway", "version": version}
    if config.gateway.tls.enabled:
        properties["gatewayTls"] = "1"
    if mdns_mode(config) == "full":
        properties["sshPort"] = env.get("CLAWDBOT_SSH_PORT") or "22"
    return Advertisement(name=f"{host} (Moltbot)", port=port, properties=properties, host=f"{host}.local.",
                         addresses=addresses)


async def serve_advertiser(advert: Advertisement, *, backend: Callable[[], Backend] | None = None,
                           task_status=trio.TASK_STATUS_IGNORED) -> None:
    """Advertise ``advert`` until cancelled; ready once registered. Withdrawn (shielded, ≤ 2 s) on exit.

    Raises:
        DiscoveryUnavailable: mDNS could not be started.
    """
    make = backend or ZeroconfBackend
    service = await trio.to_thread.run_sync(make)
    try:
        await trio.to_thread.run_sync(service.register, advert)
        log.info("bonjour: advertising %s on port %d", advert.name, advert.port)
        task_status.started()
        await trio.sleep_forever()
    finally:
        with trio.CancelScope(shield=True), trio.move_on_after(2):
            await trio.to_thread.run_sync(_withdraw, service, advert)


def _withdraw(service: Backend, advert: Advertisement) -> None:
    try:
        service.unregister(advert)
    finally:
        service.close()


async def discover_gateways(timeout_s: float, *, backend: Callable[[], Backend] | None = None) -> list[DiscoveredGateway]:
    """Browse the LAN for ``_moltbot-gw._tcp`` for ``timeout_s`` seconds; the gateways found, by name."""
    make = backend or ZeroconfBackend
    service = await trio.to_thread.run_sync(make)
    try:
        found = await trio.to_thread.run_sync(service.browse, SERVICE_TYPE, timeout_s)
    finally:
        await trio.to_thread.run_sync(service.close)
    return sorted(found, key=lambda g: g.name)


def lan_addresses() -> tuple[str, ...]:
    """The machine's non-loopback IPv4 addresses."""
    try:
        import ifaddr
    except ImportError:
        return ()
    found = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str) and not ip.ip.startswith("127."):
                found.append(ip.ip)
    return tuple(found)


class ZeroconfBackend:
    """The real mDNS, through zeroconf's synchronous API (its own thread; call from a worker thread)."""

    def __init__(self) -> None:
        try:
            from zeroconf import Zeroconf
        except ImportError as exc:
            raise DiscoveryUnavailable("mDNS discovery needs the zeroconf package") from exc
        try:
            self._zeroconf = Zeroconf()
        except OSError as exc:
            raise DiscoveryUnavailable(f"cannot open the mDNS socket: {exc}") from exc
        self._infos: dict[str, Any] = {}

    def register(self, advert: Advertisement) -> None:
        from zeroconf import ServiceInfo

        info = ServiceInfo(SERVICE_TYPE, f"{advert.name}.{SERVICE_TYPE}", port=advert.port,
                           properties=advert.properties, server=advert.host,
                           parsed_addresses=list(advert.addresses or lan_addresses()))
        self._zeroconf.register_service(info, allow_name_change=True)
        self._infos[advert.name] = info

    def unregister(self, advert: Advertisement) -> None:
        info = self._infos.pop(advert.name, None)
        if info is not None:
            self._zeroconf.unregister_service(info)

    def browse(self, service_type: str, seconds: float) -> list[DiscoveredGateway]:
        import threading

        from zeroconf import ServiceBrowser, ServiceStateChange

        names: set[str] = set()
        lock = threading.Lock()

        def changed(zeroconf: Any, service_type: str, name: str, state_change: Any) -> None:
            if state_change is not ServiceStateChange.Removed:
                with lock:
                    names.add(name)

        browser = ServiceBrowser(self._zeroconf, service_type, handlers=[changed])
        threading.Event().wait(seconds)
        browser.cancel()
        found = []
        for name in sorted(names):
            info = self._zeroconf.get_service_info(service_type, name, timeout=1000)
            if info is None:
                continue
            properties = {k.decode(): (v or b"").decode() for k, v in (info.properties or {}).items()}
            found.append(DiscoveredGateway(name=name.removesuffix("." + service_type), host=info.server or "",
                                           port=info.port or 0, addresses=tuple(info.parsed_addresses()),
                                           properties=properties))
        return found

    def close(self) -> None:
        self._zeroconf.close()
