"""Channel payloads: ``channels.status``, ``channels.logout``, ``send``, ``web.login.*``."""

from __future__ import annotations

import attrs

from .._frames import NonEmptyStr, NonNegativeInt


@attrs.frozen
class ChannelsStatusParams:
    probe: bool | None = None
    timeout_ms: NonNegativeInt | None = None


@attrs.frozen
class ChannelsLogoutParams:
    channel: NonEmptyStr
    account_id: str | None = None


@attrs.frozen
class SendParams:
    to: NonEmptyStr
    message: NonEmptyStr
    idempotency_key: NonEmptyStr
    media_url: str | None = None
    media_urls: list[str] | None = None
    gif_playback: bool | None = None
    channel: str | None = None
    account_id: str | None = None
    session_key: str | None = None


@attrs.frozen
class WebLoginStartParams:
    force: bool | None = None
    timeout_ms: NonNegativeInt | None = None
    verbose: bool | None = None
    account_id: str | None = None


@attrs.frozen
class WebLoginWaitParams:
    timeout_ms: NonNegativeInt | None = None
    account_id: str | None = None
