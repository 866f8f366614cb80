"""``usage.status``, ``usage.cost`` and ``sessions.compact`` params (reference: usage and sessions rows)."""

from __future__ import annotations

from typing import Any

import attrs

from .._frames import UNSET, NonEmptyStr, PositiveInt


@attrs.frozen
class UsageCostParams:
    """``days`` as the original takes it: a number or numeric text (default 30, floored, at least 1);
    ``agentId`` narrows the summary to one agent (today's OpenClaw), else every configured agent."""

    days: Any = UNSET
    agent_id: NonEmptyStr | None = None


@attrs.frozen
class SessionsCompactParams:
    key: NonEmptyStr
    agent_id: NonEmptyStr | None = None
    max_lines: PositiveInt | None = None
