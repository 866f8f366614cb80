"""Tailscale: identity auth through Serve, Serve/Funnel for the gateway port, the tailnet bind address.

Internal package (plain module names):

- ``localapi``: tailscaled's LocalAPI over its unix socket (``whois``, ``status``), bounded and fail-closed;
- ``identity``: what a request through Serve claims, and its verification with ``whois``;
- ``exposure``: ``tailscale serve``/``funnel`` for the gateway port at start, reset at exit;
- ``bind``: the tailnet address for ``gateway.bind: tailnet`` and what each bind exposes (warnings, doctor).

This module decides whether identity auth is on (``allow_tailscale``, the original's default) and builds
the verifier the gateway's authenticator uses (``make_verifier``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..config.model import GatewayConfig

if TYPE_CHECKING:
    from .identity import IdentityVerifier


def socket_path(gateway: GatewayConfig) -> str:
    """tailscaled's LocalAPI socket: ``gateway.tailscale.socket``, else the platform's."""
    from .localapi import default_socket

    return gateway.tailscale.socket or default_socket()


def allow_tailscale(gateway: GatewayConfig, env: Mapping[str, str]) -> bool:
    """``gateway.auth.allowTailscale``, defaulting as the original: on only when ``gateway.tailscale.mode``
    is ``serve`` and the auth mode is not ``password`` (Funnel's public clients must bring the password)."""
    from ..gateway.auth import ResolvedAuth

    if gateway.auth.allow_tailscale is not None:
        return gateway.auth.allow_tailscale
    return gateway.tailscale.mode == "serve" and ResolvedAuth.resolve(gateway.auth, env).mode != "password"


def make_verifier(gateway: GatewayConfig, env: Mapping[str, str]) -> IdentityVerifier | None:
    """The identity verifier for this config, or None when Tailscale identity auth is off."""
    if not allow_tailscale(gateway, env):
        return None
    from .identity import IdentityVerifier
    from .localapi import LocalApi

    return IdentityVerifier(LocalApi(socket_path(gateway)))
