"""The method table: name → params type, result type, required scope, first protocol version.

Authorization follows the reference (§3.1) for every method name, implemented here or not, so that an
unimplemented method answers the same scope error as the original before "unknown method":

- node-only methods are allowed iff role is ``node``; a node may call nothing else;
- an operator with ``operator.admin`` may call everything;
- otherwise the method's bucket decides: READ needs ``operator.read`` or ``operator.write``, WRITE needs
  ``operator.write``, APPROVALS ``operator.approvals``, PAIRING ``operator.pairing``, and everything else
  (ADMIN, including unknown names) needs ``operator.admin``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, Literal

import attrs

from ._errors import INVALID_REQUEST, RemoteProtocolError
from ._payloads import agent
from ._payloads import channels as _channels
from ._payloads import config as _config
from ._payloads import cron as _cron
from ._payloads import devices as _devices
from ._payloads import logs as _logs
from ._payloads import nodes as _nodes
from ._payloads import ui as _ui
from ._payloads.presence import PresenceEntry
from ._payloads.system import (
    EmptyParams,
    HealthParams,
    HealthSummary,
    HeartbeatEvent,
    OkResult,
    StatusSummary,
    SystemEventParams,
)

__all__ = [
    "EVENTS",
    "EVENT_PAYLOADS",
    "METHODS",
    "MethodSpec",
    "ROLES",
    "SCOPES",
    "authorize_method",
    "default_scopes",
    "scope_of",
]

Scope = Literal["read", "write", "admin", "approvals", "pairing", "node"]

SCOPE_ADMIN = "operator.admin"
SCOPE_READ = "operator.read"
SCOPE_WRITE = "operator.write"
SCOPE_APPROVALS = "operator.approvals"
SCOPE_PAIRING = "operator.pairing"
SCOPES: Final = (SCOPE_ADMIN, SCOPE_READ, SCOPE_WRITE, SCOPE_APPROVALS, SCOPE_PAIRING)
ROLES: Final = ("operator", "node")

_NODE_ONLY = frozenset({"node.invoke.result", "node.event", "skills.bins"})
_READ = frozenset(
    "health logs.tail channels.status status usage.status usage.cost tts.status tts.providers models.list "
    "agents.list agent.identity.get skills.status voicewake.get sessions.list sessions.preview cron.list "
    "cron.status cron.runs system-presence last-heartbeat node.list node.describe chat.history".split()
)
_WRITE = frozenset(
    "send agent agent.wait wake talk.mode tts.enable tts.disable tts.convert tts.setProvider voicewake.set "
    "node.invoke chat.send chat.abort browser.request".split()
)
_APPROVALS = frozenset({"exec.approval.request", "exec.approval.resolve"})
_PAIRING = frozenset(
    "node.pair.request node.pair.list node.pair.approve node.pair.reject node.pair.verify device.pair.list "
    "device.pair.approve device.pair.reject device.token.rotate device.token.revoke node.rename".split()
)


def scope_of(method: str) -> Scope:
    """The authorization bucket of any method name (unknown names fall into ``admin``)."""
    if method in _NODE_ONLY:
        return "node"
    if method in _READ:
        return "read"
    if method in _WRITE:
        return "write"
    if method in _APPROVALS:
        return "approvals"
    if method in _PAIRING:
        return "pairing"
    return "admin"


def default_scopes(role: str, requested: list[str] | None) -> tuple[str, ...]:
    """Scopes granted at connect: the requested ones, or ``operator.admin`` for an operator asking none."""
    if requested:
        return tuple(requested)
    return (SCOPE_ADMIN,) if role == "operator" else ()


def authorize_method(role: str, scopes: frozenset[str] | tuple[str, ...], method: str) -> None:
    """Raise ``RemoteProtocolError`` unless ``role`` with ``scopes`` may call ``method``."""
    bucket = scope_of(method)
    if bucket == "node":
        if role != "node":
            raise RemoteProtocolError(INVALID_REQUEST, f"unauthorized role: {role}")
        return
    if role != "operator":
        raise RemoteProtocolError(INVALID_REQUEST, f"unauthorized role: {role}")
    if SCOPE_ADMIN in scopes:
        return
    if bucket == "read":
        if SCOPE_READ in scopes or SCOPE_WRITE in scopes:
            return
        raise RemoteProtocolError(INVALID_REQUEST, f"missing scope: {SCOPE_READ}")
    if bucket == "write":
        if SCOPE_WRITE in scopes:
            return
        raise RemoteProtocolError(INVALID_REQUEST, f"missing scope: {SCOPE_WRITE}")
    if bucket == "approvals":
        if SCOPE_APPROVALS in scopes:
            return
        raise RemoteProtocolError(INVALID_REQUEST, f"missing scope: {SCOPE_APPROVALS}")
    if bucket == "pairing":
        if SCOPE_PAIRING in scopes:
            return
        raise RemoteProtocolError(INVALID_REQUEST, f"missing scope: {SCOPE_PAIRING}")
    raise RemoteProtocolError(INVALID_REQUEST, f"missing scope: {SCOPE_ADMIN}")


@attrs.frozen
class MethodSpec:
    """One method: its params type (strict), its result type, and since which protocol version.

    ``normalize``, when set, rewrites the raw params before they are validated (the original accepts
    loose input forms for ``cron.add``/``cron.update`` and normalises them first).
    """

    name: str
    params: type
    result: Any
    since: int = 3
    normalize: Callable[[Any], Any] | None = None

    @property
    def scope(self) -> Scope:
        return scope_of(self.name)


def _table(*specs: MethodSpec) -> dict[str, MethodSpec]:
    return {spec.name: spec for spec in specs}


# Methods this gateway implements, in the reference's BASE_METHODS order (the order of features.methods).
JsonObject = dict[str, Any]

METHODS: Final[dict[str, MethodSpec]] = _table(
    MethodSpec("health", HealthParams, HealthSummary),
    MethodSpec("logs.tail", _logs.LogsTailParams, _logs.LogsTailResult),
    MethodSpec("status", EmptyParams, StatusSummary),
    MethodSpec("channels.status", _channels.ChannelsStatusParams, JsonObject),
    MethodSpec("channels.logout", _channels.ChannelsLogoutParams, JsonObject),
    MethodSpec("config.get", EmptyParams, _config.ConfigFileSnapshot),
    MethodSpec("config.set", _config.ConfigSetParams, _config.ConfigSetResult),
    MethodSpec("config.apply", _config.ConfigPatchParams, _config.ConfigApplyResult),
    MethodSpec("config.patch", _config.ConfigPatchParams, _config.ConfigApplyResult),
    MethodSpec("config.schema", EmptyParams, _config.ConfigSchemaResult),
    MethodSpec("models.list", _ui.ModelsListParams, JsonObject),
    MethodSpec("agents.list", EmptyParams, JsonObject),
    MethodSpec("sessions.list", agent.SessionsListParams, JsonObject),
    MethodSpec("sessions.preview", agent.SessionsPreviewParams, JsonObject),
    MethodSpec("sessions.patch", agent.SessionsPatchParams, JsonObject),
    MethodSpec("sessions.reset", agent.SessionKeyParams, JsonObject),
    MethodSpec("sessions.delete", agent.SessionsDeleteParams, JsonObject),
    MethodSpec("last-heartbeat", EmptyParams, HeartbeatEvent | None),
    MethodSpec("set-heartbeats", agent.SetHeartbeatsParams, JsonObject),
    MethodSpec("wake", agent.WakeParams, JsonObject),
    # nodes and devices (moltbot/nodes, moltbot/devices)
    MethodSpec("node.pair.request", _nodes.NodePairRequestParams, _nodes.NodePairRequestResult),
    MethodSpec("node.pair.list", EmptyParams, _nodes.NodePairListResult),
    MethodSpec("node.pair.approve", _devices.RequestIdParams, _nodes.NodePairApproveResult),
    MethodSpec("node.pair.reject", _devices.RequestIdParams, _nodes.NodePairRejectResult),
    MethodSpec("node.pair.verify", _nodes.NodePairVerifyParams, _nodes.NodePairVerifyResult),
    MethodSpec("device.pair.list", EmptyParams, _devices.DevicePairListResult),
    MethodSpec("device.pair.approve", _devices.RequestIdParams, _devices.DevicePairApproveResult),
    MethodSpec("device.pair.reject", _devices.RequestIdParams, _devices.DevicePairRejectResult),
    MethodSpec("device.token.rotate", _devices.DeviceTokenRotateParams, _devices.DeviceTokenRotateResult),
    MethodSpec("device.token.revoke", _devices.DeviceTokenRevokeParams, _devices.DeviceTokenRevokeResult),
    MethodSpec("node.rename", _nodes.NodeRenameParams, _nodes.NodeRenameResult),
    MethodSpec("node.list", EmptyParams, _nodes.NodeListResult),
    MethodSpec("node.describe", _nodes.NodeIdParams, _nodes.NodeDescription),
    MethodSpec("node.invoke", _nodes.NodeInvokeParams, _nodes.NodeInvokeResult),
    MethodSpec("node.invoke.result", _nodes.NodeInvokeResultParams, _nodes.NodeInvokeResultAck),
    MethodSpec("node.event", _nodes.NodeEventParams, OkResult),
    MethodSpec("cron.list", _cron.CronListParams, _cron.CronListResult),
    MethodSpec("cron.status", EmptyParams, _cron.CronStatusResult),
    MethodSpec("cron.add", _cron.CronAddParams, _cron.CronJob, normalize=_cron.normalize_cron_add),
    MethodSpec("cron.update", _cron.CronUpdateParams, _cron.CronJob, normalize=_cron.normalize_cron_update),
    MethodSpec("cron.remove", _cron.CronJobRef, _cron.CronRemoveResult),
    MethodSpec("cron.run", _cron.CronRunParams, _cron.CronRunResult),
    MethodSpec("cron.runs", _cron.CronRunsParams, _cron.CronRunsResult),
    MethodSpec("system-presence", EmptyParams, list[PresenceEntry]),
    MethodSpec("system-event", SystemEventParams, OkResult),
    MethodSpec("send", _channels.SendParams, JsonObject),
    MethodSpec("agent", agent.AgentParams, JsonObject),
    MethodSpec("agent.identity.get", agent.AgentIdentityParams, JsonObject),
    MethodSpec("agent.wait", agent.AgentWaitParams, JsonObject),
    MethodSpec("chat.history", agent.ChatHistoryParams, JsonObject),
    MethodSpec("chat.abort", agent.ChatAbortParams, JsonObject),
    MethodSpec("chat.send", agent.ChatSendParams, JsonObject),
    # channel-plugin methods (the WhatsApp plugin's gatewayMethods), after the core methods
    MethodSpec("web.login.start", _channels.WebLoginStartParams, JsonObject),
    MethodSpec("web.login.wait", _channels.WebLoginWaitParams, JsonObject),
    # what today's OpenClaw Control UI (2026.9.6) calls at start (gateway/methods/ui.py, ui_none.py)
    MethodSpec("sessions.subscribe", EmptyParams, JsonObject, since=4),
    MethodSpec("sessions.messages.subscribe", _ui.SessionsMessagesSubscribeParams, JsonObject, since=4),
    MethodSpec("sessions.describe", _ui.SessionsDescribeParams, JsonObject, since=4),
    MethodSpec("chat.startup", _ui.ChatStartupParams, JsonObject, since=4),
    MethodSpec("chat.metadata", _ui.ChatMetadataParams, JsonObject, since=4),
    MethodSpec("models.authStatus", _ui.ModelsAuthStatusParams, JsonObject, since=4),
    MethodSpec("system.info", EmptyParams, JsonObject, since=4),
    MethodSpec("sessions.observer.visibility", _ui.SessionsObserverVisibilityParams, JsonObject, since=4),
    MethodSpec("sessions.viewers.set", _ui.SessionsViewersSetParams, JsonObject, since=4),
    MethodSpec("plugin.surface.refresh", _ui.PluginSurfaceRefreshParams, JsonObject, since=4),
    MethodSpec("update.status", _ui.UpdateStatusParams, JsonObject, since=4),
    MethodSpec("plugins.controlUi.list", EmptyParams, JsonObject, since=4),
    MethodSpec("projects.list", _ui.ProjectsListParams, JsonObject, since=4),
    MethodSpec("question.list", EmptyParams, JsonObject, since=4),
    MethodSpec("exec.approval.list", EmptyParams, list[Any], since=4),
    MethodSpec("plugin.approval.list", EmptyParams, list[Any], since=4),
    MethodSpec("openclaw.approval.list", EmptyParams, list[Any], since=4),
    MethodSpec("talk.catalog", EmptyParams, JsonObject, since=4),
    MethodSpec("progressCard.get", _ui.ProgressCardGetParams, JsonObject, since=4),
    MethodSpec("taskSuggestions.list", _ui.TaskSuggestionsListParams, JsonObject, since=4),
    MethodSpec("tasks.list", _ui.TasksListParams, JsonObject, since=4, normalize=_ui.normalize_tasks_list),
    MethodSpec("sessions.branches.list", _ui.SessionKeyOnlyParams, JsonObject, since=4),
    MethodSpec("session.discussion.info", _ui.SessionKeyOnlyParams, JsonObject, since=4),
    MethodSpec("sessions.companion.state", _ui.SessionKeyOnlyParams, JsonObject, since=4),
    MethodSpec("users.prefs.get", _ui.UsersPrefsGetParams, JsonObject, since=4),
    MethodSpec("sessions.groups.list", EmptyParams, JsonObject, since=4),
    MethodSpec("sessions.groups.defaults", EmptyParams, JsonObject, since=4),
    MethodSpec("sessions.catalog.list", _ui.SessionsCatalogListParams, JsonObject, since=4),
)

# Events this gateway emits (``features.events``), in the reference's GATEWAY_EVENTS order.
EVENTS: Final[tuple[str, ...]] = ("connect.challenge", "agent", "chat", "presence", "tick", "shutdown", "health",
                                   "heartbeat", "cron",
                                   "node.pair.requested", "node.pair.resolved", "node.invoke.request",
                                   "device.pair.requested", "device.pair.resolved")


def _event_payloads() -> dict[str, Any]:
    from ._payloads.connect import ConnectChallenge
    from ._payloads.system import PresenceEvent, ShutdownEvent, TickEvent

    return {
        "connect.challenge": ConnectChallenge,
        "agent": agent.AgentEvent,
        "chat": agent.ChatEvent,
        "presence": PresenceEvent,
        "tick": TickEvent,
        "shutdown": ShutdownEvent,
        "health": HealthSummary,
        "heartbeat": HeartbeatEvent,
        "cron": _cron.CronEvent,
        "node.pair.requested": _nodes.NodePairRequest,
        "node.pair.resolved": _nodes.NodePairResolved,
        "node.invoke.request": _nodes.NodeInvokeRequest,
        "device.pair.requested": _devices.DevicePairRequest,
        "device.pair.resolved": _devices.DevicePairResolved,
    }


# Event name → payload type, for every name in EVENTS.
EVENT_PAYLOADS: Final[dict[str, Any]] = _event_payloads()
