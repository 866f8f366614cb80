"""Tailscale identity auth: a request that came through Tailscale Serve, verified with tailscaled.

Theory of operation. With ``gateway.auth.allowTailscale`` a client on the tailnet may authenticate as the
Tailscale user it is, instead of with the gateway token. Tailscale Serve terminates TLS on the tailnet,
proxies to the gateway on loopback, and adds who the client is: ``Tailscale-User-Login`` (``-Name``,
``-Profile-Pic``) and ``X-Forwarded-For``/``-Proto``/``-Host``. Anybody who can reach the port can send
those headers too, so they are only a *claim*:

Rule 1. A claim exists only for a request that looks as Serve's do: the socket peer is loopback (Serve
        proxies to ``127.0.0.1``), all three ``X-Forwarded-*`` headers are there, ``X-Forwarded-For`` names
        exactly one address and it is no loopback one (Serve puts the tailnet client there, one hop), and a
        non-empty ``Tailscale-User-Login`` is there. A request from any other peer, or without the forwarded
        headers (direct, local or not), never gets identity auth, whatever headers it carries.
Rule 2. A Funnel request (``Tailscale-Funnel-Request``) comes from the public internet and has no tailnet
        identity: never a claim, even if it names a user.
Rule 3. A claim is verified with tailscaled's LocalAPI ``whois`` for the forwarded address, over the
        daemon's unix socket: the login that owns the address must equal the claimed one (case-insensitive,
        as the original compares). A tagged device (a server, not a person) is never a user. A mismatch, an
        unknown address, or a daemon that cannot be asked (no socket, timeout, bad answer) is no identity:
        fail closed. Answers are cached per address for 60 s, failures for 5 s (the original's timings),
        at most ``MAX_CACHED`` addresses, and at most ``MAX_CONCURRENT`` lookups run at once.

What Rule 1 cannot tell apart: another process on this machine connecting to loopback and copying what
Serve sends, for a tailnet address and login that do belong together. The gateway port on loopback is
as trusted as the machine; the whois check stops every remote forgery and every claim that does not match
the tailnet, and the identity names the user in presence and the log.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import attrs
import trio

from ..protocol import PresenceUser
from .localapi import LocalApi, LocalApiError, NotFound

log = logging.getLogger("moltbot.tailscale")

SUCCESS_TTL_SECONDS = 60.0
FAILURE_TTL_SECONDS = 5.0
MAX_CACHED = 1024
MAX_CONCURRENT = 4
MAX_FIELD = 256  # a login, name or picture URL longer than this is not Serve's
_FORWARDED = (b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host")


@attrs.frozen
class ServeClaim:
    """Who a request through Tailscale Serve says it is (Rule 1): unverified."""

    address: str  # the tailnet client's address (X-Forwarded-For)
    login: str
    name: str | None = None
    profile_pic: str | None = None


@attrs.frozen
class TailscaleIdentity:
    """A verified Tailscale user (Rule 3): what whois said for ``address``."""

    login: str
    name: str
    address: str
    profile_pic: str | None = None
    node: str | None = None  # the device's name on the tailnet


def presence_user(identity: TailscaleIdentity | None) -> PresenceUser | None:
    """The presence entry's ``user`` for a verified identity (None without one)."""
    if identity is None:
        return None
    return PresenceUser(id=identity.login, name=identity.name, avatar_url=identity.profile_pic)


def _headers(scope: dict[str, Any]) -> dict[bytes, list[str]]:
    found: dict[bytes, list[str]] = {}
    for key, value in scope.get("headers") or ():
        found.setdefault(bytes(key).lower(), []).append(bytes(value).decode("latin-1"))
    return found


def _one(headers: dict[bytes, list[str]], name: bytes) -> str | None:
    values = headers.get(name)
    if not values or len(values) != 1:
        return None
    value = values[0].strip()
    return value if value and len(value) <= MAX_FIELD and value.isprintable() else None


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip().strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    return getattr(address, "ipv4_mapped", None) or address


def serve_claim(scope: dict[str, Any]) -> ServeClaim | None:
    """The identity a request claims through Tailscale Serve (Rules 1 and 2), or None."""
    peer = (scope.get("client") or ("",))[0]
    peer_ip = _ip(str(peer or ""))
    if peer_ip is None or not peer_ip.is_loopback:
        return None
    headers = _headers(scope)
    if b"tailscale-funnel-request" in headers:
        return None
    if any(_one(headers, name) is None for name in _FORWARDED):
        return None
    forwarded = _one(headers, b"x-forwarded-for") or ""
    if "," in forwarded:  # Serve is the only hop: a chain is somebody else's proxy
        return None
    client = _ip(forwarded)
    login = _one(headers, b"tailscale-user-login")
    if client is None or client.is_loopback or client.is_unspecified or not login:
        return None
    return ServeClaim(
        address=client.compressed,
        login=login,
        name=_one(headers, b"tailscale-user-name"),
        profile_pic=_one(headers, b"tailscale-user-profile-pic"),
    )


def identity_from_whois(answer: dict[str, Any], claim: ServeClaim) -> TailscaleIdentity | None:
    """The identity whois ``answer`` proves for ``claim``, or None (Rule 3: same login, not a tagged device)."""
    profile = answer.get("UserProfile")
    node = answer.get("Node")
    node = node if isinstance(node, dict) else {}
    if not isinstance(profile, dict) or node.get("Tags"):
        return None
    login = profile.get("LoginName")
    if not isinstance(login, str) or not login or login == "tagged-devices":
        return None
    if login.casefold() != claim.login.casefold():
        return None
    name = profile.get("DisplayName")
    picture = profile.get("ProfilePicURL")
    node_name = node.get("ComputedName") or node.get("Name")
    return TailscaleIdentity(
        login=login[:MAX_FIELD],
        name=(name if isinstance(name, str) and name else login)[:MAX_FIELD],
        address=claim.address,
        profile_pic=picture[:MAX_FIELD] if isinstance(picture, str) and picture else None,
        node=node_name[:MAX_FIELD] if isinstance(node_name, str) and node_name else None,
    )


@attrs.define
class VerifierStats:
    lookups: int = 0
    verified: int = 0
    mismatches: int = 0
    failures: int = 0


class IdentityVerifier:
    """Verifies Serve claims with tailscaled (Rule 3) and caches the answers per address.

    Args:
        localapi: the daemon to ask.
        clock: monotonic seconds (the cache's clock).
    """

    def __init__(self, localapi: LocalApi, clock: Callable[[], float] = time.monotonic) -> None:
        self.localapi = localapi
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, dict[str, Any] | None, str]] = OrderedDict()
        self._limiter = trio.CapacityLimiter(MAX_CONCURRENT)
        self.stats = VerifierStats()

    async def verify(self, claim: ServeClaim) -> tuple[TailscaleIdentity | None, str]:
        """The verified identity for ``claim`` (None: refused) and the reason, for the log:
        ``verified``, ``whois failed: …`` or ``mismatch: …``. Never raises for the daemon's failures."""
        answer, failure = await self._whois(claim.address)
        if answer is None:
            return None, f"whois failed: {failure}"
        identity = identity_from_whois(answer, claim)
        if identity is None:
            self.stats.mismatches += 1
            return None, f"mismatch: {claim.address} does not belong to the claimed login"
        self.stats.verified += 1
        return identity, "verified"

    async def _whois(self, address: str) -> tuple[dict[str, Any] | None, str]:
        now = self._clock()
        cached = self._cache.get(address)
        if cached is not None and cached[0] > now:
            return cached[1], cached[2]
        async with self._limiter:
            cached = self._cache.get(address)  # another lookup may have answered while this one waited
            if cached is not None and cached[0] > self._clock():
                return cached[1], cached[2]
            self.stats.lookups += 1
            try:
                answer: dict[str, Any] | None = await self.localapi.whois(address)
                failure, ttl = "", SUCCESS_TTL_SECONDS
            except NotFound:
                answer, failure, ttl = None, f"no tailnet peer has address {address}", FAILURE_TTL_SECONDS
            except LocalApiError as exc:
                answer, failure, ttl = None, str(exc), FAILURE_TTL_SECONDS
            if answer is None:
                self.stats.failures += 1
            self._cache.pop(address, None)
            self._cache[address] = (self._clock() + ttl, answer, failure)
            while len(self._cache) > MAX_CACHED:
                self._cache.popitem(last=False)
            return answer, failure
