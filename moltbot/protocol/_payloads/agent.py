"""Agent, chat, sessions and model payloads and the ``agent``/``chat`` events."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import attrs
from annotated_types import Ge, Le, MaxLen, MinLen

from .._frames import UNSET, NonEmptyStr, NonNegativeInt, PositiveInt


@attrs.frozen
class AgentParams:
    message: NonEmptyStr
    idempotency_key: NonEmptyStr
    agent_id: NonEmptyStr | None = None
    to: str | None = None
    reply_to: str | None = None
    session_id: str | None = None
    session_key: str | None = None
    thinking: str | None = None
    deliver: bool | None = None
    attachments: list[Any] | None = None
    channel: str | None = None
    reply_channel: str | None = None
    account_id: str | None = None
    reply_account_id: str | None = None
    thread_id: str | None = None
    group_id: str | None = None
    group_channel: str | None = None
    group_space: str | None = None
    timeout: NonNegativeInt | None = None
    lane: str | None = None
    extra_system_prompt: str | None = None
    label: Annotated[str, MinLen(1)] | None = None
    spawned_by: str | None = None


@attrs.frozen
class AgentAccepted:
    run_id: NonEmptyStr
    status: Literal["accepted"]
    accepted_at: NonNegativeInt


@attrs.frozen
class AgentWaitParams:
    run_id: NonEmptyStr
    timeout_ms: NonNegativeInt | None = None


@attrs.frozen
class AgentIdentityParams:
    agent_id: NonEmptyStr | None = None
    session_key: str | None = None


@attrs.frozen
class ChatSendParams:
    session_key: NonEmptyStr
    message: str
    idempotency_key: NonEmptyStr
    thinking: str | None = None
    deliver: bool | None = None
    attachments: list[Any] | None = None
    timeout_ms: NonNegativeInt | None = None


@attrs.frozen
class ChatHistoryParams:
    """``inputRunIds`` (protocol 4): the run ids of inputs the client queued; the result's ``inputReceipts``
    says which of them are still waiting in this session (``pending``). Runs here are queued whole, never
    merged into another run, so no receipt is ever ``consumed`` (``inputConsumptions`` stays empty)."""

    session_key: NonEmptyStr
    limit: Annotated[int, Ge(1), Le(1000)] | None = None
    input_run_ids: Annotated[list[Annotated[str, MinLen(1), MaxLen(256)]], MinLen(1), MaxLen(50)] | None = None


@attrs.frozen
class ChatAbortParams:
    session_key: NonEmptyStr
    run_id: NonEmptyStr | None = None


@attrs.frozen
class SessionsListParams:
    limit: PositiveInt | None = None
    active_minutes: PositiveInt | None = None
    include_global: bool | None = None
    include_unknown: bool | None = None
    include_derived_titles: bool | None = None
    include_last_message: bool | None = None
    label: Annotated[str, MinLen(1)] | None = None
    spawned_by: NonEmptyStr | None = None
    agent_id: NonEmptyStr | None = None
    search: str | None = None
    # Protocol 4 (OpenClaw 2026.9.x's SessionsListParams; gateway/methods/sessions.py says what each does
    # here). Only configured agents are listed anyway; no owners, boards, pins, groups, projects or
    # archived sessions exist here, so asking for them selects nothing and asking to exclude them is a no-op.
    configured_agents_only: bool | None = None
    owner_first: bool | None = None
    offset: NonNegativeInt | None = None
    active_only: bool | None = None
    require_last_interaction: bool | None = None
    sort_by: Literal["updatedAt", "lastInteractionAt", "activity"] | None = None
    exclude_subagents: bool | None = None
    exclude_cron: bool | None = None
    exclude_system: bool | None = None
    include_activity_summary: bool | None = None
    include_people: bool | None = None
    involving_me: bool | None = None
    archived: Literal[True, False, "all"] | None = None
    pinned: bool | None = None
    has_board: bool | None = None
    board_face: Literal["chat", "dashboard"] | None = None
    group: str | None = None
    project_id: NonEmptyStr | None = None
    workspace_dir: NonEmptyStr | None = None
    creator_id: NonEmptyStr | None = None
    owner_id: NonEmptyStr | None = None
    involving_profile_id: NonEmptyStr | None = None


@attrs.frozen
class SessionsPreviewParams:
    keys: Annotated[list[NonEmptyStr], MinLen(1)]
    limit: PositiveInt | None = None
    max_chars: Annotated[int, Ge(20)] | None = None


@attrs.frozen
class SessionKeyParams:
    key: NonEmptyStr


@attrs.frozen
class SessionsDeleteParams:
    key: NonEmptyStr
    delete_transcript: bool | None = None


@attrs.frozen
class WakeParams:
    mode: Literal["now", "next-heartbeat"]
    text: NonEmptyStr


@attrs.frozen
class SetHeartbeatsParams:
    enabled: bool


@attrs.frozen
class AgentEvent:
    """``agent`` event payload: one step of a run (``seq`` is per run, from 1)."""

    run_id: NonEmptyStr
    seq: PositiveInt
    stream: NonEmptyStr
    ts: NonNegativeInt
    data: Any
    session_key: NonEmptyStr | None = None


@attrs.frozen
class ChatEvent:
    """``chat`` event payload: the webchat view of a run bound to a session.

    A ``delta`` carries the cumulative ``message`` (January) and, as protocol 4 has it, ``deltaText``: the
    text appended since the previous delta, or with ``replace: true`` the whole rewritten text."""

    run_id: NonEmptyStr
    session_key: NonEmptyStr
    seq: NonNegativeInt
    state: Literal["delta", "final", "aborted", "error"]
    message: Any = UNSET
    error_message: str | None = None
    usage: Any = UNSET
    stop_reason: str | None = None
    delta_text: str | None = None
    replace: Literal[True] | None = None


@attrs.frozen
class SessionsPatchParams:
    """Each field: absent leaves it, a value sets it, ``null`` clears it."""

    key: NonEmptyStr
    label: Annotated[str, MinLen(1)] | None = UNSET
    thinking_level: str | None = UNSET
    verbose_level: str | None = UNSET
    reasoning_level: Literal["on", "off", "stream"] | None = UNSET
    response_usage: Literal["off", "tokens", "full", "on"] | None = UNSET
    elevated_level: Literal["on", "off", "ask", "full"] | None = UNSET
    send_policy: Literal["allow", "deny"] | None = UNSET
    model: str | None = UNSET
    group_activation: Literal["mention", "always"] | None = UNSET
