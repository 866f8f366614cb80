"""Connect-time authentication: the shared token or password, compared in constant time, rate limited.

Loopback does not bypass the secret (nor does it in the original). Failed attempts are counted per credential
class and per normalised client address (``::ffff:a.b.c.d`` is ``a.b.c.d``; all of 127/8 and ``::1`` are one
"loopback" key; behind a trusted proxy, the client it forwarded for: ``gateway.origin.client_address``); past
``max_failures`` within ``window_ms`` that key is refused for ``lockout_ms`` without even comparing (the
refusal says when to retry). As in today's OpenClaw, direct-local clients without an ``Origin`` (the owner's
CLI, apps, nodes) are never locked out (``rateLimit.exemptLoopback``), and direct-local browsers are keyed per
``Origin``, so a web page guessing from the owner's browser only locks out its own Origin.

Only *direct* traffic gets either (``RequestFacts.direct``: loopback peer, loopback ``Host``, no proxy
headers, no trusted proxy): a request through a local proxy (``tailscale serve``/funnel, nginx) comes
from loopback on behalf of anyone, and any other client's ``Origin`` is a header it chose, so both are
keyed by address alone. Secrets are never logged or echoed.

Tailscale identity (``gateway.auth.allowTailscale``): a request through Tailscale Serve whose claimed user
tailscaled's ``whois`` confirms (``moltbot.tailscale.identity``) is authenticated as that user, method
``tailscale``, before any secret is looked at (the original checks it first too); a claim that is not
confirmed is only logged, and the request goes on to the token or password as any other. Headers alone never
authenticate: the check needs the verified ``TailscaleIdentity``, which only ``tailscale_identity`` makes.

Every refusal carries protocol 4's connect ``details`` (at every version: ``details`` is free-form, so a
protocol 3 or 7 client that ignores it loses nothing): ``code`` (``AUTH_TOKEN_MISSING``, …, from
``authReason`` as OpenClaw maps it), ``authReason``, ``canRetryWithDeviceToken`` and
``recommendedNextStep`` (one of ``NEXT_STEPS``). ``AUTH_*_NOT_CONFIGURED`` never happens here: a gateway
without its secret does not start (``AuthSetupError``).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Literal

import attrs

from ..config.model import AuthConfig, AuthRateLimit
from ..protocol import CLOSE_POLICY_VIOLATION, INVALID_REQUEST, ConnectParams, RemoteProtocolError

if TYPE_CHECKING:
    from ..tailscale.identity import IdentityVerifier, ServeClaim, TailscaleIdentity

log = logging.getLogger("moltbot.auth")

RATE_LIMITED = "unauthorized: too many failed authentication attempts (retry later)"
DEVICE_TOKEN_MISMATCH = "unauthorized: device token mismatch (rotate/reissue device token)"
# Protocol 4's ``recommendedNextStep`` values, all five.
NEXT_STEPS = ("retry_with_device_token", "update_auth_configuration", "update_auth_credentials",
              "wait_then_retry", "review_auth_configuration")
_AUTH_CODES = {"token_missing_config": "AUTH_TOKEN_NOT_CONFIGURED",
               "password_missing_config": "AUTH_PASSWORD_NOT_CONFIGURED"}
_NEXT_STEP = {"token_missing": "update_auth_configuration", "password_missing": "update_auth_configuration",
              "token_missing_config": "update_auth_configuration",
              "password_missing_config": "update_auth_configuration",
              "token_mismatch": "update_auth_credentials", "password_mismatch": "update_auth_credentials",
              "device_token_mismatch": "update_auth_credentials", "rate_limited": "wait_then_retry"}
_KNOWN_REASONS = frozenset({"token_missing", "token_mismatch", "password_missing", "password_mismatch",
                            "rate_limited", "device_token_mismatch", "scope_mismatch", "bootstrap_token_invalid"})
MAX_TRACKED_KEYS = 10_000  # bounds the limiter's memory under an address- or origin-spraying attack


class AuthSetupError(Exception):
    """The gateway cannot start with this auth configuration."""


def _digest(secret: str) -> bytes:
    # Hash first so that comparing digests of equal length leaks nothing about the secret's length.
    return hashlib.sha256(secret.encode("utf-8")).digest()


def secret_matches(supplied: str | None, expected: str) -> bool:
    """``supplied`` equals ``expected``, in time independent of both (the hooks token uses this too)."""
    return supplied is not None and bool(supplied) and hmac.compare_digest(_digest(supplied), _digest(expected))


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    return getattr(address, "ipv4_mapped", None) or address


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    address = _address(host)
    return host == "localhost" if address is None else address.is_loopback


def client_key(host: str) -> str:
    """The limiter's key for a client address: ``::ffff:a.b.c.d`` is ``a.b.c.d``, every loopback address
    is ``loopback`` (a page cannot spread guesses over 127/8), anything unparsable is kept (bounded)."""
    address = _address(host)
    if address is None:
        return host[:64]
    return "loopback" if address.is_loopback else address.compressed


@attrs.frozen
class ResolvedAuth:
    """The auth mode and secret in force: config first, the environment as a fallback (the
    original's ``gateway.auth.token ?? CLAWDBOT_GATEWAY_TOKEN``). CLI clients resolve the other way
    round in local mode (env, then config: ``moltbot.cli.rpc``), as the original's ``call.ts`` does."""

    mode: Literal["token", "password"]
    secret: str | None

    @classmethod
    def resolve(cls, config: AuthConfig, env: Mapping[str, str]) -> ResolvedAuth:
        token = config.token or env.get("CLAWDBOT_GATEWAY_TOKEN") or None
        password = config.password or env.get("CLAWDBOT_GATEWAY_PASSWORD") or None
        mode = config.mode or ("password" if password else "token")
        return cls(mode=mode, secret=password if mode == "password" else token)


def _hint(params: ConnectParams, mode: str) -> str:
    cli = params.client.mode == "cli" or params.client.id == "cli"
    ui = params.client.id in ("moltbot-control-ui", "openclaw-control-ui", "clawdbot-control-ui", "webchat-ui") \
        or params.client.mode == "webchat"
    if mode == "password":
        if cli:
            return "set CLAWDBOT_GATEWAY_PASSWORD or pass --password"
        return "enter the password in Control UI settings" if ui else "provide gateway auth password"
    if cli:
        return "set CLAWDBOT_GATEWAY_TOKEN or pass --token"
    if ui:
        return "open a tokenized dashboard URL or paste token in Control UI settings"
    return "provide gateway auth token"


def auth_details(reason: str | None, *, can_retry_with_device_token: bool = False) -> dict[str, object]:
    """Protocol 4's connect ``details`` for an auth refusal with ``authReason`` ``reason`` (None: no reason)."""
    if reason is None:
        code = "AUTH_REQUIRED"
    elif reason in _AUTH_CODES:
        code = _AUTH_CODES[reason]
    else:
        code = f"AUTH_{reason.upper()}" if reason in _KNOWN_REASONS else "AUTH_UNAUTHORIZED"
    retry = can_retry_with_device_token and reason == "token_mismatch"
    step = "retry_with_device_token" if retry else _NEXT_STEP.get(reason or "", "review_auth_configuration")
    details: dict[str, object] = {"code": code}
    if reason is not None:
        details["authReason"] = reason
    details.update(canRetryWithDeviceToken=retry, recommendedNextStep=step)
    return details


def _unauthorized(message: str, reason: str | None, *, can_retry_with_device_token: bool = False,
                  **kwargs) -> RemoteProtocolError:
    return RemoteProtocolError(INVALID_REQUEST, message, close_code=CLOSE_POLICY_VIOLATION,
                               details=auth_details(reason, can_retry_with_device_token=can_retry_with_device_token),
                               **kwargs)


class FailureLimiter:
    """Failed attempts per key in a sliding window; at ``max_failures`` the key is locked for ``lockout_ms``.

    At most ``max_keys`` keys of each kind are remembered: past that, the oldest are forgotten.
    """

    def __init__(self, limits: AuthRateLimit, clock_ms: Callable[[], float], max_keys: int = MAX_TRACKED_KEYS) -> None:
        self.limits = limits
        self._clock_ms = clock_ms
        self._max_keys = max_keys
        self._failures: OrderedDict[object, deque[float]] = OrderedDict()
        self._locked_until: OrderedDict[object, float] = OrderedDict()

    def retry_after_ms(self, key: object) -> int | None:
        """Milliseconds until ``key`` may try again, or None when it is not locked out."""
        locked_until = self._locked_until.get(key)
        if locked_until is None:
            return None
        now = self._clock_ms()
        if now < locked_until:
            return int(locked_until - now) + 1
        del self._locked_until[key]
        return None

    def fail(self, key: object) -> int | None:
        """Count one failure; the retry delay when this one locked ``key`` out."""
        now = self._clock_ms()
        window = self._failures.pop(key, None) or deque()
        self._failures[key] = window  # most recently failed last: eviction takes the oldest
        window.append(now)
        while window and window[0] <= now - self.limits.window_ms:
            window.popleft()
        locked = None
        if len(window) >= self.limits.max_failures:
            self._locked_until[key] = now + self.limits.lockout_ms
            del self._failures[key]
            locked = self.limits.lockout_ms
        self._bound()
        return locked

    def succeed(self, key: object) -> None:
        self._failures.pop(key, None)

    def tracked(self) -> int:
        return len(self._failures) + len(self._locked_until)

    def _bound(self) -> None:
        # O(1) per failure: the oldest entries go first (a lockout set earlier also ends earlier).
        while len(self._failures) > self._max_keys:
            self._failures.popitem(last=False)
        while len(self._locked_until) > self._max_keys:
            self._locked_until.popitem(last=False)


class Authenticator:
    """Checks ``connect`` credentials and HTTP bearers; owns the failure limiter.

    Args:
        auth: the resolved mode and secret (must have a secret).
        limits: failure rate limits.
        clock_ms: monotonic milliseconds (the gateway passes the trio clock).
    """

    def __init__(self, auth: ResolvedAuth, limits: AuthRateLimit, clock_ms: Callable[[], float], *,
                 tailscale: IdentityVerifier | None = None) -> None:
        if not auth.secret:
            raise AuthSetupError(f"gateway auth mode is {auth.mode}, but no {auth.mode} was configured")
        self.mode = auth.mode
        self._digest = _digest(auth.secret)
        self.limiter = FailureLimiter(limits, clock_ms)
        self.failures_total = 0
        self.tailscale = tailscale  # set when allowTailscale is in force

    async def tailscale_identity(self, claim: ServeClaim | None) -> TailscaleIdentity | None:
        """The verified Tailscale user behind ``claim`` (a request through Serve), or None: Tailscale
        identity is off, the request made no claim, or tailscaled did not confirm it (logged)."""
        if self.tailscale is None or claim is None:
            return None
        identity, reason = await self.tailscale.verify(claim)
        if identity is None:
            log.warning("tailscale identity refused: %s claimed %r: %s (falls back to the gateway %s)",
                        claim.address, claim.login[:64], reason, self.mode)
        return identity

    def check(self, params: ConnectParams, address: str, *, origin: str | None = None, direct: bool = False,
              alternative: Callable[[], bool] | None = None, identity: TailscaleIdentity | None = None) -> str:
        """Return the auth method used (``"tailscale"``/``"token"``/``"password"``/``"device-token"``) or
        raise ``RemoteProtocolError``. ``alternative`` tries the presented token as a device's own token
        when it is not the shared secret; either way the attempt counts once against the same key.
        ``identity``: a verified Tailscale user (``tailscale_identity``), which needs no secret.
        ``address``, ``origin`` and ``direct`` as for ``verify``."""
        if identity is not None and self.tailscale is not None:
            return "tailscale"
        credentials = params.auth
        supplied = None
        if credentials is not None:
            supplied = credentials.token if self.mode == "token" else credentials.password
        token = credentials.token if credentials is not None else None
        hint = _hint(params, self.mode)
        # A device holding no device token yet may have one stored from an earlier pairing: say so.
        retry = params.device is not None and not (credentials is not None and credentials.device_token)
        return self.verify(supplied, address, origin=origin, direct=direct,
                           alternative=(alternative if token else None),
                           missing=f"unauthorized: gateway {self.mode} missing ({hint})",
                           mismatch=f"unauthorized: gateway {self.mode} mismatch ({hint})",
                           reason=self.mode, can_retry_with_device_token=retry)

    def check_device_token(self, valid: Callable[[], bool], address: str, *, origin: str | None = None,
                           direct: bool = False) -> str:
        """A device's ``auth.deviceToken`` (sent instead of the shared secret): ``"device-token"`` when
        ``valid()``, else DEVICE_TOKEN_MISMATCH; limited and counted like a shared secret."""
        return self.verify(None, address, origin=origin, direct=direct, alternative=valid,
                           missing=DEVICE_TOKEN_MISMATCH, mismatch=DEVICE_TOKEN_MISMATCH, reason="device_token",
                           missing_is_mismatch=True)

    def verify(self, supplied: str | None, address: str, *, origin: str | None = None, direct: bool = False,
               alternative: Callable[[], bool] | None = None, missing: str = "unauthorized",
               mismatch: str = "unauthorized", reason: str = "token", can_retry_with_device_token: bool = False,
               missing_is_mismatch: bool = False, identity: TailscaleIdentity | None = None) -> str:
        """Check one presented secret (a connect's token, an HTTP bearer) under the limits.

        ``address`` is the client's (``RequestFacts.client``), ``origin`` the browser's ``Origin`` header
        (None: not a browser), ``direct`` whether the request is direct-local (``RequestFacts.direct``).
        Direct-local: a browser is limited per Origin, any other client is never locked out
        (``exemptLoopback``). Anything else is limited per address, whatever its Origin says.
        ``reason`` names the credential (``token``, ``password``, ``device_token``) for ``authReason``.
        ``identity``: a verified Tailscale user, which is ``"tailscale"`` without a secret.
        """
        if identity is not None and self.tailscale is not None:
            return "tailscale"
        direct = direct and is_loopback(address)
        exempt = direct and origin is None and self.limiter.limits.exempt_loopback
        key = ("shared", client_key(address), origin[:256] if direct and origin else None)
        if not exempt:
            retry_after = self.limiter.retry_after_ms(key)
            if retry_after is not None:
                raise _unauthorized(RATE_LIMITED, "rate_limited", retry_after_ms=retry_after)
        if supplied and hmac.compare_digest(_digest(supplied), self._digest):
            self.limiter.succeed(key)
            return self.mode
        if alternative is not None and alternative():
            return "device-token"
        self.failures_total += 1
        if not exempt:
            self.limiter.fail(key)
        if supplied or missing_is_mismatch:
            raise _unauthorized(mismatch, f"{reason}_mismatch", can_retry_with_device_token=can_retry_with_device_token)
        raise _unauthorized(missing, f"{reason}_missing")
