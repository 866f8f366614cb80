"""``config.get``, ``config.schema``, ``config.set``, ``config.patch``, ``config.apply``.

Ours beyond the reference: secret values are redacted in everything these methods return (the string
``"__MOLTBOT_REDACTED__"`` stands in for each one), and a redacted value sent back unchanged keeps the
secret that is in the file. An issue carries the 1-based ``line`` of its key when the text shows it.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

from .._frames import NonEmptyStr, NonNegativeInt, PositiveInt


@attrs.frozen
class ConfigIssue:
    """One problem (or warning) with the config file, at a dotted path (``gateway.auth.token``)."""

    path: str
    message: str
    line: PositiveInt | None = None


@attrs.frozen
class ConfigFileSnapshot:
    """The config file as it is on disk: its text, its parse, the resolved config and what is wrong.

    ``hash`` is the sha256 (hex) of the file's real text (of ``""`` when there is no file), the
    ``baseHash`` to send with a change. ``raw``, ``parsed`` and ``config`` have their secrets redacted.
    """

    path: str
    exists: bool
    raw: str | None
    parsed: Any
    valid: bool
    config: Any
    hash: str
    issues: list[ConfigIssue]
    warnings: list[ConfigIssue]
    legacy_issues: list[ConfigIssue]


@attrs.frozen
class ConfigUiHint:
    label: str | None = None
    help: str | None = None
    group: str | None = None
    order: int | None = None
    advanced: bool | None = None
    sensitive: bool | None = None
    placeholder: str | None = None


@attrs.frozen
class ConfigSchemaResult:
    """A JSON Schema (draft 2020-12) of the config file, and form hints by dotted path (``*`` = any key)."""

    schema: dict[str, Any]
    ui_hints: dict[str, ConfigUiHint]
    version: NonEmptyStr
    generated_at: NonEmptyStr


@attrs.frozen
class ConfigSetParams:
    """Replace the file with ``raw`` (JSON5). ``baseHash`` (from ``config.get``) is required once a file exists."""

    raw: NonEmptyStr
    base_hash: NonEmptyStr | None = None


@attrs.frozen
class ConfigPatchParams:
    """``config.patch``: ``raw`` is a JSON5 merge patch (RFC 7386, ``null`` deletes); ``config.apply``: the
    whole config. Either writes the file, then restarts the gateway after ``restartDelayMs``."""

    raw: NonEmptyStr
    base_hash: NonEmptyStr | None = None
    session_key: str | None = None
    note: str | None = None
    restart_delay_ms: NonNegativeInt | None = None


@attrs.frozen
class ConfigSetResult:
    ok: Literal[True]
    path: str
    config: Any


@attrs.frozen
class ScheduledRestart:
    """A restart requested for later (the original's ``scheduleGatewaySigusr1Restart`` answer)."""

    ok: bool
    pid: int
    signal: Literal["SIGUSR1"]
    delay_ms: NonNegativeInt
    mode: Literal["emit", "signal"]
    reason: str | None = None


@attrs.frozen
class RestartSentinelRef:
    """Where the restart sentinel was written (``null`` without a state dir) and what it says."""

    path: str | None
    payload: Any


@attrs.frozen
class ConfigApplyResult:
    ok: Literal[True]
    path: str
    config: Any
    restart: ScheduledRestart
    sentinel: RestartSentinelRef
