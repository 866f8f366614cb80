"""The navigation guard: the agent's browser opens public web pages, not the machine's own network.

Before a tab is opened or navigated, its URL must be ``http(s)`` (or ``about:blank``) and its host must
resolve only to public addresses: loopback, RFC 1918 / unique-local, link-local (cloud metadata at
169.254.169.254), CGNAT, multicast and reserved ranges are refused, as for ``web_fetch`` in the original.
Allowed anyway: the gateway's canvas host (its loopback host and port; agents render pages there),
hosts listed in ``browser.ssrfPolicy.allowedHosts``, and everything with ``allowPrivateNetwork: true``.

The same check vets every document a guarded tab loads afterwards (a redirect's hop, a followed link, an
iframe: ``pages.py``). What this does not cover: a page's subresources (images, scripts, ``fetch``), and a
name that resolves differently when Chromium looks it up again (DNS rebinding). The guard stops an agent
from being pointed or led to an internal page; it is not a network sandbox.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from urllib.parse import urlsplit

import attrs
import trio

from ..config.model import BrowserSsrfPolicy


class NavigationRefused(Exception):
    """The URL may not be opened; the message says why."""


@attrs.frozen
class Guard:
    policy: BrowserSsrfPolicy
    # (host, port) pairs always allowed, asked at each check: the canvas host may start after this service.
    allowed_origins: Callable[[], frozenset[tuple[str, int]]] = frozenset


def _blocked(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


def _host_matches(host: str, patterns: list[str]) -> bool:
    host = host.lower().rstrip(".")
    for pattern in patterns:
        pattern = pattern.lower().strip()
        if pattern.startswith("*."):
            pattern = pattern[1:]
        if host == pattern or (pattern.startswith(".") and (host.endswith(pattern) or host == pattern[1:])):
            return True
    return False


async def check_url(url: str, guard: Guard) -> str:
    """``url`` when it may be opened.

    Raises:
        NavigationRefused: not http(s), no host, or a host resolving to a non-public address.
    """
    url = url.strip()
    if url == "about:blank":
        return url
    if len(url) > 8192:
        raise NavigationRefused("url is longer than 8192 characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise NavigationRefused(f"only http(s) URLs may be opened (got {parts.scheme or 'no'} scheme)")
    host = parts.hostname
    if not host:
        raise NavigationRefused("the URL has no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise NavigationRefused("the URL's port is not a number in 1..65535") from None
    if guard.policy.allow_private_network or _host_matches(host, guard.policy.allowed_hosts):
        return url
    if (host.lower(), port) in guard.allowed_origins():
        return url
    try:
        literal = ipaddress.ip_address(host)
        addresses = [literal]
    except ValueError:
        try:
            infos = await trio.socket.getaddrinfo(host, port, type=trio.socket.SOCK_STREAM)
        except OSError:
            raise NavigationRefused(f"cannot resolve {host[:200]}") from None
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    for address in addresses:
        if _blocked(address):
            raise NavigationRefused(
                f"{host[:200]} is a private or local address ({address}); "
                "set browser.ssrfPolicy.allowPrivateNetwork or allowedHosts to allow it"
            )
    return url
