"""Presence entries: who is connected to the gateway (and the gateway itself)."""

from __future__ import annotations

import attrs

from .._frames import NonEmptyStr, NonNegativeInt


@attrs.frozen
class PresenceUser:
    """Who the client is as a person, when the gateway knows (a verified Tailscale identity): protocol 4's
    ``PresenceEntry.user``. ``id`` is the login (``alice@example.com``)."""

    id: NonEmptyStr
    name: NonEmptyStr | None = None
    email: NonEmptyStr | None = None
    avatar_url: NonEmptyStr | None = None


@attrs.frozen
class PresenceEntry:
    ts: NonNegativeInt
    host: NonEmptyStr | None = None
    ip: NonEmptyStr | None = None
    version: NonEmptyStr | None = None
    platform: NonEmptyStr | None = None
    device_family: NonEmptyStr | None = None
    model_identifier: NonEmptyStr | None = None
    mode: NonEmptyStr | None = None
    last_input_seconds: NonNegativeInt | None = None
    reason: NonEmptyStr | None = None
    tags: list[NonEmptyStr] | None = None
    text: str | None = None
    device_id: NonEmptyStr | None = None
    roles: list[NonEmptyStr] | None = None
    scopes: list[NonEmptyStr] | None = None
    instance_id: NonEmptyStr | None = None
    user: PresenceUser | None = None
