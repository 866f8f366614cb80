"""Which ``Host`` and ``Origin`` a request may carry: the DNS-rebinding and cross-site defence.

Theory of operation. Every request on every listener (HTTP, the WebSocket upgrade, the canvas host) is
judged from its ASGI scope and the gateway config alone, before any application code runs:

Rule 1. ``Host`` must name this gateway: a loopback name or address, the address the request came in on,
        the configured bind host, a name in ``gateway.allowedHosts`` (``.example.com`` or
        ``*.example.com`` also match subdomains), the machine's own host name (``<name>`` and
        ``<name>.local``) when bound beyond loopback, or a tailnet name (``*.ts.net``) when bound there,
        served by Tailscale or accepting Tailscale identities (``gateway.auth.allowTailscale``). Anything else is a page that rebound its own name to our address: 421.
        A trusted proxy (``gateway.trustedProxies``) is judged too: its ``Host`` and every name in its
        ``X-Forwarded-Host`` (the public name, which belongs in ``gateway.allowedHosts``). Being a trusted
        peer never skips the rule: a rebound page's browser reaches the proxy's address directly.
Rule 2. A WebSocket whose ``Origin`` is neither the gateway's own (same host and port as ``Host``) nor
        in ``gateway.controlUi.allowedOrigins`` is refused with 403 before the upgrade, so a foreign page
        never sees a frame, a nonce or an auth answer. ``Origin: null`` (sandboxed frames, ``file:``) is
        foreign. Clients without ``Origin`` (CLI, apps, nodes) are not browsers and are not judged here.
        Any loopback address or port may be "own" when Origin and Host agree: a browser's ``Host`` is the
        authority it connected through, so only a page served through that same authority can match it.
        A non-browser can forge both; that is why the auth limiter keys it by address, never by Origin.
Rule 3. HTTP from a foreign ``Origin`` may only ``GET``/``HEAD`` (whose answers the page cannot read
        without CORS): every other method, the CORS preflight ``OPTIONS`` included, is 403. An allowed
        origin gets its preflight answered (204) and ``Access-Control-Allow-Origin`` on its answers.

The guard judges a request once and hands its ``RequestFacts`` on in the scope (``scope[FACTS]``): the
Origin verdict, whether the request is direct-local, and the client address failures are counted against
(the forwarded client's when the peer is a trusted proxy). The WebSocket transport, device admission and
the auth limiters read them from there, so no two copies of these rules can disagree.

Why 403 on the upgrade rather than OpenClaw's connect error (``CONTROL_UI_ORIGIN_NOT_ALLOWED``, close
1008): the refusal then happens before the handshake exists, so nothing of it (challenge, timing of
the secret comparison, lockout state) reaches the page; browsers show both the same way ("closed before
established"), and the CLI and apps never send ``Origin``.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import attrs

from ..config.model import AuthConfig, ControlUiConfig, GatewayConfig
from ..tailscale.identity import ServeClaim, serve_claim

Verdict = Literal["none", "own", "allowed", "foreign"]

ORIGIN_NOT_ALLOWED = ("origin not allowed (open the Control UI from the gateway host or allow it in "
                      "gateway.controlUi.allowedOrigins)")
HOST_NOT_ALLOWED = "host not allowed (add it to gateway.allowedHosts to serve this name)"
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]{0,31}")
_SAFE_METHODS = frozenset({"GET", "HEAD"})
_CORS_METHODS = b"GET, HEAD, POST, OPTIONS"
_CORS_HEADERS = b"authorization, content-type, x-moltbot-token"
_LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
_PROXY_HEADERS = frozenset({b"x-real-ip", b"forwarded"})
_MAX_ADDRESS = 64  # a forwarded address is kept (in keys, pairing metadata) bounded
FACTS = "moltbot.request"  # the scope key of the guard's RequestFacts


@attrs.frozen
class Answer:
    """An answer given instead of the application's: a refusal, or a CORS preflight's 204."""

    status: int
    body: str = ""
    headers: tuple[tuple[bytes, bytes], ...] = ()


def header(scope: dict[str, Any], name: bytes) -> str | None:
    """The first ``name`` header of the request (latin-1, stripped), or None."""
    for key, value in scope.get("headers") or ():
        if key == name:
            return value.decode("latin-1").strip()
    return None


def header_values(scope: dict[str, Any], name: bytes) -> list[str]:
    """Every comma-separated entry of every ``name`` header, in order (latin-1, stripped, empties dropped)."""
    entries = []
    for key, value in scope.get("headers") or ():
        if key == name:
            entries += [entry.strip() for entry in value.decode("latin-1").split(",") if entry.strip()]
    return entries


def split_host(value: str) -> tuple[str, int | None] | None:
    """``name[:port]`` or ``[v6]:port`` → (lowercase name without brackets or trailing dot, port); None if
    malformed."""
    value = value.strip().lower()
    port_text = None
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        name, rest = value[1:end], value[end + 1:]
        if rest:
            if not rest.startswith(":"):
                return None
            port_text = rest[1:]
    elif value.count(":") == 1:
        name, port_text = value.split(":")
    elif ":" in value:  # a bare IPv6 address
        name = value
    else:
        name = value
    name = name.rstrip(".")
    if not name or any(c.isspace() or c in "/@?#\\" for c in name):
        return None
    if port_text is None:
        return name, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        return None
    return name, int(port_text)


def parse_origin(value: str) -> tuple[str, str, int] | None:
    """``scheme://host[:port]`` → (scheme, host, port with the scheme's default); None for ``null`` or
    anything that is not a plain origin."""
    scheme, sep, rest = value.strip().lower().partition("://")
    if not sep or not _SCHEME.fullmatch(scheme):
        return None
    rest = rest.rstrip("/")
    if not rest or "/" in rest:
        return None
    split = split_host(rest)
    if split is None:
        return None
    name, port = split
    default = _DEFAULT_PORTS.get(scheme)
    if port is None:
        port = default if default is not None else 0
    return scheme, name, port


def _normal_origin(value: str) -> str | None:
    parsed = parse_origin(value)
    if parsed is None:
        return None
    scheme, name, port = parsed
    return f"{scheme}://{f'[{name}]' if ':' in name else name}:{port}"


def _is_ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def _normal_ip(text: str) -> str:
    address = _is_ip(text.strip().strip("[]"))
    return text.strip() if address is None else address.compressed


def _trusted(address: str, config: GatewayConfig) -> bool:
    # Exact addresses, ``::ffff:a.b.c.d`` being ``a.b.c.d``, as the original's ``net.ts`` matches them.
    return bool(address) and _normal_ip(address) in {_normal_ip(p) for p in config.trusted_proxies}


def _peer(scope: dict[str, Any]) -> str:
    client = scope.get("client") or ("", 0)
    return str(client[0])


def _trusted_peer(scope: dict[str, Any], config: GatewayConfig) -> bool:
    return _trusted(_peer(scope), config)


def _name_matches(name: str, pattern: str) -> bool:
    pattern = pattern.strip().lower().rstrip(".")
    if pattern.startswith("*."):
        pattern = pattern[1:]
    if pattern.startswith("."):
        return name.endswith(pattern) and len(name) > len(pattern)
    return bool(pattern) and name == pattern


def host_name_allowed(name: str, scope: dict[str, Any], config: GatewayConfig) -> bool:
    """Rule 1 for one host name (no port)."""
    address = _is_ip(name)
    if address is not None:
        if address.is_loopback:
            return True
        server = scope.get("server") or (None, None)
        local = _is_ip(str(server[0])) if server[0] else None
        return address == local or (config.custom_bind_host is not None and name == config.custom_bind_host)
    if name == "localhost" or any(_name_matches(name, p) for p in config.allowed_hosts):
        return True
    if name.endswith(".ts.net") and (config.bind == "tailnet" or config.tailscale.mode != "off"
                                     or config.auth.allow_tailscale):
        return True
    if config.bind != "loopback":
        own = socket.gethostname().lower().rstrip(".")
        return bool(own) and name in (own, own.split(".", 1)[0] + ".local")
    return False


def host_allowed(scope: dict[str, Any], config: GatewayConfig) -> bool:
    """Rule 1: the request's ``Host`` names this gateway (no ``Host`` at all: HTTP/1.0, not a browser), and
    so does every ``X-Forwarded-Host`` name a trusted proxy sent."""
    names = [value] if (value := header(scope, b"host")) is not None else []
    if _trusted_peer(scope, config):
        names += header_values(scope, b"x-forwarded-host")
    for name in names:
        split = split_host(name)
        if split is None or not host_name_allowed(split[0], scope, config):
            return False
    return True


def origin_verdict(scope: dict[str, Any], config: GatewayConfig) -> Verdict:
    """Rule 2's classes: no ``Origin``; the gateway's own (same host and port as ``Host``); one listed in
    ``gateway.controlUi.allowedOrigins``; or foreign (``null`` and malformed ones included)."""
    return request_facts(scope, config).verdict


def _verdict(value: str | None, own: bool, config: GatewayConfig) -> Verdict:
    if value is None:
        return "none"
    normal = _normal_origin(value)
    if normal is None:
        return "foreign"
    if normal in {_normal_origin(o) for o in config.control_ui.allowed_origins}:
        return "allowed"
    return "own" if own else "foreign"


def is_own_origin(scope: dict[str, Any], *, trusted_proxy: bool = False) -> bool:
    """``Origin`` is the gateway's own: an http(s) origin with the host and port of ``Host`` (of
    ``X-Forwarded-Host`` when a trusted proxy sent the request)."""
    value = header(scope, b"origin")
    forwarded = header(scope, b"x-forwarded-host") if trusted_proxy else None
    host = forwarded.split(",", 1)[0].strip() if forwarded else header(scope, b"host")
    split = split_host(host) if host else None
    parsed = parse_origin(value) if value else None
    if split is None or parsed is None:
        return False
    scheme, name, port = parsed
    host_port = split[1] if split[1] is not None else _DEFAULT_PORTS.get(scheme)
    return scheme in _DEFAULT_PORTS and name == split[0] and port == host_port


@attrs.frozen
class RequestFacts:
    """What the guard found out about one request, handed on in its scope (``scope[FACTS]``).

    ``local``: direct-local (loopback peer, a loopback ``Host`` name, no proxy headers), the owner's own
    machine for pairing and nonces (the original's "local-direct" rule). ``direct``: local and the peer is no
    trusted proxy either (a proxy that adds no headers looks local): the only traffic the auth limiters may
    exempt or key per ``Origin``. ``client``: the address failures are counted against.
    ``tailscale``: the identity the request claims through Tailscale Serve (``moltbot.tailscale.identity``),
    unverified: only the authenticator's ``whois`` check turns it into an identity.
    """

    origin: str | None
    verdict: Verdict
    own_origin: bool
    local: bool
    trusted_proxy: bool
    client: str
    tailscale: ServeClaim | None = None

    @property
    def direct(self) -> bool:
        return self.local and not self.trusted_proxy


def forwarded(scope: dict[str, Any]) -> bool:
    """Whether a proxy says it forwarded the request (any ``X-Forwarded-*``, ``X-Real-IP`` or ``Forwarded``)."""
    return any(key.startswith(b"x-forwarded-") or key in _PROXY_HEADERS for key, _ in scope.get("headers") or ())


def _direct_local(scope: dict[str, Any]) -> bool:
    peer = _is_ip(_peer(scope).split("%", 1)[0])
    host = header(scope, b"host")
    split = split_host(host) if host else None
    return (peer is not None and peer.is_loopback and split is not None and split[0] in _LOCAL_NAMES
            and not forwarded(scope))


def client_address(scope: dict[str, Any], config: GatewayConfig) -> str:
    """The address auth failures count against: the peer's; behind a trusted proxy, the client it forwarded
    for (the last ``X-Forwarded-For`` hop that is no trusted proxy, else ``X-Real-IP``), so that clients
    behind one proxy neither share one budget nor escape it. Only a trusted proxy's headers are read: any
    other peer could name a fresh address with every guess."""
    peer = _peer(scope)
    trusted = {_normal_ip(p) for p in config.trusted_proxies}
    if not peer or _normal_ip(peer) not in trusted:
        return peer
    for hop in reversed(header_values(scope, b"x-forwarded-for")):
        if _normal_ip(hop) not in trusted:
            return hop[:_MAX_ADDRESS]
    return (header(scope, b"x-real-ip") or peer)[:_MAX_ADDRESS]


def request_facts(scope: dict[str, Any], config: GatewayConfig) -> RequestFacts:
    """Judge one request's Origin, locality and client address (what ``guard`` stores as ``scope[FACTS]``)."""
    trusted = _trusted_peer(scope, config)
    value = header(scope, b"origin")
    own = value is not None and is_own_origin(scope, trusted_proxy=trusted)
    return RequestFacts(origin=value, verdict=_verdict(value, own, config), own_origin=own,
                        local=_direct_local(scope), trusted_proxy=trusted, client=client_address(scope, config),
                        tailscale=serve_claim(scope))


def facts_of(scope: dict[str, Any], config: GatewayConfig | None = None) -> RequestFacts:
    """The guard's facts for this request; when no guard ran (an embedder's own ASGI stack), judged now from
    ``config`` (default: no trusted proxy, no allowed origin)."""
    facts = scope.get(FACTS)
    return facts if isinstance(facts, RequestFacts) else request_facts(scope, config or GatewayConfig())


def policy_config(config: GatewayConfig) -> GatewayConfig:
    """Only the keys these rules read (for a listener that must not restart when other keys change)."""
    return GatewayConfig(bind=config.bind, custom_bind_host=config.custom_bind_host, tailscale=config.tailscale,
                         auth=AuthConfig(allow_tailscale=config.auth.allow_tailscale),
                         trusted_proxies=list(config.trusted_proxies), allowed_hosts=list(config.allowed_hosts),
                         control_ui=ControlUiConfig(allowed_origins=list(config.control_ui.allowed_origins)))


def check_request(scope: dict[str, Any], config: GatewayConfig, facts: RequestFacts | None = None) -> Answer | None:
    """Rules 1–3 for one ASGI ``http`` or ``websocket`` scope: the answer to give instead of the
    application's, or None to go on."""
    if not host_allowed(scope, config):
        return Answer(421, HOST_NOT_ALLOWED)
    verdict = (facts or request_facts(scope, config)).verdict
    if scope["type"] == "websocket":
        return Answer(403, ORIGIN_NOT_ALLOWED) if verdict == "foreign" else None
    method = scope.get("method", "GET")
    if verdict == "foreign" and method not in _SAFE_METHODS:
        return Answer(403, ORIGIN_NOT_ALLOWED)
    if verdict == "allowed" and method == "OPTIONS" and header(scope, b"access-control-request-method"):
        return Answer(204, headers=(*cors_headers(scope), (b"access-control-allow-methods", _CORS_METHODS),
                                    (b"access-control-allow-headers", _CORS_HEADERS),
                                    (b"access-control-max-age", b"600")))
    return None


def cors_headers(scope: dict[str, Any]) -> tuple[tuple[bytes, bytes], ...]:
    origin = header(scope, b"origin") or ""
    return ((b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"Origin"))


Send = Callable[[dict[str, Any]], Awaitable[None]]


async def send_answer(scope: dict[str, Any], send: Send, answer: Answer) -> None:
    """Send ``answer`` as the whole HTTP response, or as the refusal of a WebSocket upgrade (hypercorn's
    ``websocket.http.response`` extension), and close."""
    prefix = "websocket.http" if scope["type"] == "websocket" else "http"
    body = answer.body.encode("utf-8")
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
               *answer.headers]
    if answer.status >= 400:
        headers.append((b"connection", b"close"))  # the body of a refused request is not read
    await send({"type": f"{prefix}.response.start", "status": answer.status, "headers": headers})
    await send({"type": f"{prefix}.response.body", "body": body})


def with_cors(scope: dict[str, Any], verdict: Verdict, send: Send) -> Send:
    """``send`` adding CORS headers to the answer when the request comes from an allowed origin."""
    if scope["type"] != "http" or verdict != "allowed":
        return send
    extra = list(cors_headers(scope))

    async def send_with_cors(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), *extra]}
        await send(message)

    return send_with_cors


async def guard(scope: dict[str, Any], receive: Any, send: Send, config: GatewayConfig,
                app: Callable[[dict[str, Any], Any, Send], Awaitable[None]]) -> None:
    """Run ``app`` for this request unless rules 1–3 answer it first (the one call a listener needs); the
    request's ``RequestFacts`` go on in ``scope[FACTS]``."""
    if scope["type"] in ("http", "websocket"):
        facts = request_facts(scope, config)
        answer = check_request(scope, config, facts)
        if answer is not None:
            if scope["type"] == "websocket" and (await receive())["type"] != "websocket.connect":
                return
            await send_answer(scope, send, answer)
            return
        scope[FACTS] = facts
        send = with_cors(scope, facts.verdict, send)
    await app(scope, receive, send)
