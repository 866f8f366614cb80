"""Connect-time authentication: the shared token or password, compared in constant time, rate limited.

Loopback does not bypass the secret (reference §5.2). Failed attempts are counted per client address;
past ``max_failures`` within ``window_ms`` the address is refused for ``lockout_ms`` without even comparing
(the refusal says when to retry). Secrets are never logged or echoed.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections import deque
from collections.abc import Callable
from typing import Literal

import attrs

from ..config.model import AuthConfig, AuthRateLimit
from ..protocol import CLOSE_POLICY_VIOLATION, INVALID_REQUEST, ConnectParams, RemoteProtocolError


class AuthSetupError(Exception):
    """The gateway cannot start with this auth configuration."""


def _digest(secret: str) -> bytes:
    # Hash first so that comparing digests of equal length leaks nothing about the secret's length.
    return hashlib.sha256(secret.encode("utf-8")).digest()


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host.removeprefix("::ffff:"))
    except ValueError:
        return host == "localhost"
    return address.is_loopback


@attrs.frozen
class ResolvedAuth:
    """The auth mode and secret in force: config first, the environment as a fallback (reference §5.1:
    "`token` = `gateway.auth.token` ?? env `CLAWDBOT_GATEWAY_TOKEN`"). CLI clients resolve the other way
    round in local mode (env, then config: ``moltbot.cli.rpc``), as the reference's ``call.ts`` does."""

    mode: Literal["token", "password"]
    secret: str | None

    @classmethod
    def resolve(cls, config: AuthConfig, env: dict[str, str]) -> ResolvedAuth:
        token = config.token or env.get("CLAWDBOT_GATEWAY_TOKEN") or None
        password = config.password or env.get("CLAWDBOT_GATEWAY_PASSWORD") or None
        mode = config.mode or ("password" if password else "token")
        return cls(mode=mode, secret=password if mode == "password" else token)


def _hint(params: ConnectParams) -> str:
    if params.client.mode == "cli" or params.client.id == "cli":
        return "set CLAWDBOT_GATEWAY_TOKEN or pass --token"
    if params.client.id in ("moltbot-control-ui", "webchat-ui") or params.client.mode == "webchat":
        return "open a tokenized dashboard URL or paste token in Control UI settings"
    return "provide gateway auth token"


def _unauthorized(message: str, **kwargs) -> RemoteProtocolError:
    return RemoteProtocolError(INVALID_REQUEST, message, close_code=CLOSE_POLICY_VIOLATION, **kwargs)


class Authenticator:
    """Checks ``connect`` credentials; owns the per-address failure counters.

    Args:
        auth: the resolved mode and secret (must have a secret).
        limits: failure rate limits.
        clock_ms: monotonic milliseconds (the gateway passes the trio clock).
    """

    def __init__(self, auth: ResolvedAuth, limits: AuthRateLimit, clock_ms: Callable[[], float]) -> None:
        if not auth.secret:
            raise AuthSetupError(f"gateway auth mode is {auth.mode}, but no {auth.mode} was configured")
        self.mode = auth.mode
        self._digest = _digest(auth.secret)
        self._limits = limits
        self._clock_ms = clock_ms
        self._failures: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}
        self.failures_total = 0

    def check(self, params: ConnectParams, address: str) -> str:
        """Return the auth method used (``"token"``/``"password"``) or raise ``RemoteProtocolError``."""
        credentials = params.auth
        supplied = None
        if credentials is not None:
            supplied = credentials.token if self.mode == "token" else credentials.password
        hint = _hint(params)
        self.verify(supplied, address, missing=f"unauthorized: gateway {self.mode} missing ({hint})",
                    mismatch=f"unauthorized: gateway {self.mode} mismatch ({hint})")
        return self.mode

    def verify(self, supplied: str | None, address: str, *, missing: str = "unauthorized",
               mismatch: str = "unauthorized") -> None:
        """Check one presented secret (a connect's token, an HTTP bearer) under the per-address limits."""
        now = self._clock_ms()
        locked_until = self._locked_until.get(address)
        if locked_until is not None:
            if now < locked_until:
                raise _unauthorized("unauthorized: too many failed attempts; retry later",
                                    retry_after_ms=int(locked_until - now) + 1)
            del self._locked_until[address]
        if not supplied:
            self._fail(address, now)
            raise _unauthorized(missing)
        if not hmac.compare_digest(_digest(supplied), self._digest):
            self._fail(address, now)
            raise _unauthorized(mismatch)
        self._failures.pop(address, None)

    def forgive(self, address: str) -> None:
        """The attempt just refused succeeded another way (a device's own token): count it a success."""
        self.failures_total -= 1
        self._failures.pop(address, None)
        self._locked_until.pop(address, None)  # set by that very attempt: a lockout already in force refuses first

    def _fail(self, address: str, now: float) -> None:
        self.failures_total += 1
        window = self._failures.setdefault(address, deque())
        window.append(now)
        while window and window[0] <= now - self._limits.window_ms:
            window.popleft()
        if len(window) >= self._limits.max_failures:
            self._locked_until[address] = now + self._limits.lockout_ms
            del self._failures[address]
        if len(self._failures) > 10_000:  # bound memory under an address-spraying attack
            self._failures.pop(next(iter(self._failures)))
