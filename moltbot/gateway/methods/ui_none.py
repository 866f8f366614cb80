"""Methods today's OpenClaw Control UI calls for features this gateway does not have: "none here".

Each answer is the one protocol 4 gives for an empty feature (an empty list, a null card, a disabled
state), and each is true of this gateway: it has no update checker, plugins, boards, projects, agent
questions, exec or plugin approvals, task ledger or suggestions, progress cards, branches, discussions,
companion, talk/voice providers, user preferences, session groups, session catalogs, mentions or pull
request watchers. Nothing here pretends to hold data: a client that lists gets nothing to act on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...protocol import (
    EmptyParams,
    ProgressCardGetParams,
    ProjectsListParams,
    SessionKeyOnlyParams,
    SessionsCatalogListParams,
    TasksListParams,
    TaskSuggestionsListParams,
    UpdateStatusParams,
    UsersPrefsGetParams,
)

if TYPE_CHECKING:
    from ..connection import Connection
    from ..runtime import Runtime


async def update_status(runtime: Runtime, connection: Connection, params: UpdateStatusParams) -> dict[str, Any]:
    """No update check runs here and no restart sentinel is pending for the client to read."""
    return {"sentinel": None, "updateAvailable": None}


async def plugins_control_ui_list(runtime: Runtime, connection: Connection, params: EmptyParams) -> dict[str, Any]:
    return {"revision": "none", "plugins": [], "diagnostics": []}


async def plugins_list(runtime: Runtime, connection: Connection, params: EmptyParams) -> dict[str, Any]:
    """No plugins exist here (channels are built in) and none can be installed (``mutationAllowed``)."""
    return {"plugins": [], "diagnostics": [], "mutationAllowed": False}


async def projects_list(runtime: Runtime, connection: Connection, params: ProjectsListParams) -> dict[str, Any]:
    return {"projects": []}


async def question_list(runtime: Runtime, connection: Connection, params: EmptyParams) -> dict[str, Any]:
    return {"questions": []}


async def approval_list(runtime: Runtime, connection: Connection, params: EmptyParams) -> list[Any]:
    """``exec.approval.list``, ``plugin.approval.list``, ``openclaw.approval.list``: no approvals pend."""
    return []


async def talk_catalog(runtime: Runtime, connection: Connection, params: EmptyParams) -> dict[str, Any]:
    return {"modes": [], "transports": [], "brains": [], "speech": {"providers": []},
            "transcription": {"providers": []}, "realtime": {"providers": []}}


async def progress_card_get(runtime: Runtime, connection: Connection,
                            params: ProgressCardGetParams) -> dict[str, Any]:
    return {"card": None}


async def task_suggestions_list(runtime: Runtime, connection: Connection,
                                params: TaskSuggestionsListParams) -> dict[str, Any]:
    return {"suggestions": []}


async def tasks_list(runtime: Runtime, connection: Connection, params: TasksListParams) -> dict[str, Any]:
    return {"tasks": []}


async def sessions_branches_list(runtime: Runtime, connection: Connection,
                                 params: SessionKeyOnlyParams) -> dict[str, Any]:
    """Transcripts here are linear: no session has branches."""
    return {"branches": []}


async def session_discussion_info(runtime: Runtime, connection: Connection,
                                  params: SessionKeyOnlyParams) -> dict[str, Any]:
    return {"state": "none"}


async def sessions_companion_state(runtime: Runtime, connection: Connection,
                                   params: SessionKeyOnlyParams) -> dict[str, Any]:
    return {"exchanges": []}


async def users_prefs_get(runtime: Runtime, connection: Connection, params: UsersPrefsGetParams) -> dict[str, Any]:
    """No user profiles exist here, so no preference is stored durably (OpenClaw's answer for a client
    without a verified profile); the UI keeps its own local settings."""
    return {"status": "no_durable_identity"}


async def sessions_groups_list(runtime: Runtime, connection: Connection, params: EmptyParams) -> dict[str, Any]:
    return {"groups": [], "sectionOrder": []}


async def sessions_groups_defaults(runtime: Runtime, connection: Connection, params: EmptyParams) -> dict[str, Any]:
    return {"defaults": []}


async def sessions_catalog_list(runtime: Runtime, connection: Connection,
                                params: SessionsCatalogListParams) -> dict[str, Any]:
    return {"catalogs": []}
