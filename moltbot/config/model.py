"""The typed config tree (frozen attrs, camelCase on disk), with the reference's defaults.

Only the sections the gateway reads so far are typed; the whole parsed file is kept in ``Config.raw`` so
nothing a user wrote is lost when the gateway writes the file back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import attrs

from .paths import DEFAULT_PORT

BindMode = Literal["loopback", "lan", "tailnet", "auto", "custom"]


@attrs.frozen
class AuthRateLimit:
    """Failed connects allowed per client address within ``windowMs`` before ``lockoutMs`` of refusals."""

    max_failures: int = 10
    window_ms: int = 60_000
    lockout_ms: int = 60_000


@attrs.frozen
class AuthConfig:
    mode: Literal["token", "password"] | None = None
    token: str | None = None
    password: str | None = None
    rate_limit: AuthRateLimit = AuthRateLimit()


@attrs.frozen
class GatewayConfig:
    port: int = DEFAULT_PORT
    mode: Literal["local", "remote"] | None = None
    bind: BindMode = "loopback"
    custom_bind_host: str | None = None
    auth: AuthConfig = AuthConfig()
    handshake_timeout_ms: int = 10_000
    tick_interval_ms: int = 30_000
    health_refresh_interval_ms: int = 60_000
    max_payload: int = 524_288
    max_buffered_bytes: int = 1_572_864


@attrs.frozen
class Config:
    """A loaded config: the typed sections, where it came from, and the raw parsed file."""

    gateway: GatewayConfig = GatewayConfig()
    path: Path | None = None
    state_dir: Path | None = None
    raw: dict[str, Any] = attrs.field(factory=dict)
