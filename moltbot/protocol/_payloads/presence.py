"""Presence entries: who is connected to the gateway (and the gateway itself)."""

from __future__ import annotations

import attrs

from .._frames import NonEmptyStr, NonNegativeInt


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
