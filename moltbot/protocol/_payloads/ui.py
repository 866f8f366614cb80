"""Params of the methods today's OpenClaw Control UI (2026.9.6) calls at start that protocol 3 lacks.

Each class follows the schema's ``<Method>Params`` (``protocol.schema.json``, closed objects) where it has
one; where it has none (``sessions.subscribe``, ``chat.startup``, the approval lists, …), the fields are
the ones the UI sends and OpenClaw 2026.9.6 accepts. Results are plain JSON built by the handlers
(``gateway/methods/ui.py``), checked against the schema's results in tests.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import attrs
from annotated_types import Ge, Le, MaxLen, MinLen

from .._frames import NonEmptyStr, NonNegativeInt, PositiveInt

TaskStatus = Literal["queued", "running", "completed", "failed", "cancelled", "timed_out"]


@attrs.frozen
class SessionKeyOnlyParams:
    """``{sessionKey, agentId?}``: ``board.get``, ``sessions.branches.list``, ``session.discussion.info``,
    ``sessions.companion.state`` (schema ``BoardGetParams`` etc.)."""

    session_key: NonEmptyStr
    agent_id: NonEmptyStr | None = None


@attrs.frozen
class ProgressCardGetParams:
    session_key: NonEmptyStr


@attrs.frozen
class SessionsDescribeParams:
    key: NonEmptyStr
    include_derived_titles: bool | None = None
    include_last_message: bool | None = None


@attrs.frozen
class ChatStartupParams:
    """``chat.startup``: the first page of a session's chat (schema: none; the UI sends these)."""

    session_key: NonEmptyStr
    agent_id: NonEmptyStr | None = None
    limit: Annotated[int, Ge(1), Le(1000)] | None = None
    max_bytes: PositiveInt | None = None
    # as chat.history's (the UI sends the ids of the inputs it queued): answered with inputReceipts
    input_run_ids: Annotated[list[Annotated[str, MinLen(1), MaxLen(256)]], MinLen(1), MaxLen(50)] | None = None


@attrs.frozen
class ChatMetadataParams:
    agent_id: NonEmptyStr | None = None
    session_key: NonEmptyStr | None = None


@attrs.frozen
class ModelsAuthStatusParams:
    refresh: bool | None = None
    agent_id: str | None = None


@attrs.frozen
class SessionsMessagesSubscribeParams:
    key: NonEmptyStr
    agent_id: NonEmptyStr | None = None
    include_approvals: Literal[True] | None = None


@attrs.frozen
class SessionsViewersSetParams:
    """Schema ``SessionsViewerPresenceSetParams``."""

    session_keys: list[NonEmptyStr]  # the schema allows 32; the handler reads that many
    agent_id: NonEmptyStr | None = None


@attrs.frozen
class SessionsObserverVisibilityParams:
    visible: bool


@attrs.frozen
class TaskSuggestionsListParams:
    session_key: NonEmptyStr | None = None
    agent_id: NonEmptyStr | None = None


@attrs.frozen
class TasksListParams:
    status: list[TaskStatus] | None = None  # one status is accepted too (normalize_tasks_list)
    agent_id: NonEmptyStr | None = None
    session_key: NonEmptyStr | None = None
    sort_by: NonEmptyStr | None = None  # sent by the UI, not in the 2026.9.1 schema
    limit: Annotated[int, Ge(1), Le(500)] | None = None
    cursor: str | None = None


@attrs.frozen
class ProjectsListParams:
    include_observed: bool | None = None


@attrs.frozen
class UpdateStatusParams:
    refresh_checkout: bool | None = None


@attrs.frozen
class UsersPrefsGetParams:
    keys: list[NonEmptyStr] | None = None


@attrs.frozen
class PluginSurfaceRefreshParams:
    surface: NonEmptyStr
    observed_url: str | None = None


@attrs.frozen
class ModelsListParams:
    """``models.list`` as today's Control UI calls it; the list does not depend on them here (every model
    is configured for every session)."""

    agent_id: NonEmptyStr | None = None
    include_provider_capabilities: bool | None = None
    prepared_only: bool | None = None
    refresh: bool | None = None
    view: Literal["default", "configured", "provider-config", "all"] | None = None
    session_key: NonEmptyStr | None = None  # sent by the UI, not in the 2026.9.1 schema


@attrs.frozen
class SessionsCatalogListParams:
    catalog_id: NonEmptyStr | None = None
    cursors: dict[str, str] | None = None
    agent_id: NonEmptyStr | None = None
    progress_id: NonEmptyStr | None = None
    search: str | None = None
    limit_per_host: PositiveInt | None = None
    host_ids: list[NonEmptyStr] | None = None
    allow_partial_results: bool | None = None  # sent by the UI, not in the 2026.9.1 schema


def normalize_tasks_list(raw: Any) -> Any:
    """``tasks.list``'s ``status`` may be one status or a list (the schema's ``anyOf``): always a list."""
    if isinstance(raw, dict) and isinstance(raw.get("status"), str):
        return {**raw, "status": [raw["status"]]}
    return raw


@attrs.frozen
class SessionsChangedEvent:
    """``sessions.changed`` (protocol 4; the schema has no payload for it, this is OpenClaw 2026.9.6's key-only
    form): which session row was created, updated, reset (new ``sessionId``) or deleted. No ``session`` row
    rides along, so the Control UI refetches ``sessions.list`` (what OpenClaw's clients do for a row they miss)."""

    session_key: NonEmptyStr
    reason: Literal["create", "update", "reset", "delete"]
    ts: NonNegativeInt
    session_id: NonEmptyStr | None = None
