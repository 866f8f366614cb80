"""The method table: name → params type, result type, required scope, first protocol version.

Authorization is ``_scopes``' (protocol 4's scope model, one table for every version): it runs for every
method name, implemented here or not, so that an unimplemented method answers the same scope error as the
original before "unknown method". ``MethodSpec.scope`` is the method's bucket: the table's scope without
its ``operator.`` prefix (``read``, ``write``, ``admin``, ``approvals``, ``questions``, ``pairing``,
``talk``), or ``node`` (role node only) or ``dynamic`` (decided from the params).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, Literal, cast

import attrs

from . import _scopes
from ._payloads import agent
from ._payloads import approvals as _approvals
from ._payloads import browser as _browser
from ._payloads import channels as _channels
from ._payloads import config as _config
from ._payloads import cron as _cron
from ._payloads import devices as _devices
from ._payloads import logs as _logs
from ._payloads import nodes as _nodes
from ._payloads import ui as _ui
from ._payloads import usage as _usage
from ._payloads.cron_input import normalize_cron_add, normalize_cron_update
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

Scope = Literal["read", "write", "admin", "approvals", "questions", "pairing", "talk", "node", "dynamic"]

SCOPE_ADMIN = _scopes.ADMIN
SCOPE_READ = _scopes.READ
SCOPE_WRITE = _scopes.WRITE
SCOPE_APPROVALS = _scopes.APPROVALS
SCOPE_PAIRING = _scopes.PAIRING
# The scopes a client may ask for at protocol 4 (3 and 7 take any strings).
SCOPES: Final = _scopes.REQUESTABLE_SCOPES
ROLES: Final = _scopes.ROLES


def scope_of(method: str) -> Scope:
    """The authorization bucket of any method name (unknown names fall into ``admin``)."""
    return cast(Scope, _scopes.method_scope(method).removeprefix("operator."))


def default_scopes(role: str, requested: list[str] | None, protocol: int = 7) -> tuple[str, ...]:
    """Scopes granted at connect before the device-less binding: at 4 the known ones asked for (none asked,
    none granted); at 3 and 7 the ones asked for, or ``operator.admin`` for an operator asking none."""
    return _scopes.default_scopes(role, requested, protocol)


def authorize_method(role: str, scopes: frozenset[str] | tuple[str, ...], method: str, params: Any = None, *,
                     protocol: int = 7) -> None:
    """Raise ``RemoteProtocolError`` unless ``role`` with ``scopes`` may call ``method`` with ``params`` (raw
    JSON: dynamic methods decide from it) on a ``protocol`` connection (4: FORBIDDEN; 3/7: INVALID_REQUEST)."""
    _scopes.authorize(role, scopes, method, params, protocol=protocol)


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
    MethodSpec("usage.status", EmptyParams, JsonObject),
    MethodSpec("usage.cost", _usage.UsageCostParams, JsonObject),
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
    MethodSpec("sessions.compact", _usage.SessionsCompactParams, JsonObject),
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
    MethodSpec("node.event", _nodes.NodeEventParams, _nodes.NodeEventResult),
    MethodSpec("cron.list", _cron.CronListParams, _cron.CronListResult),
    MethodSpec("cron.status", EmptyParams, _cron.CronStatusResult),
    MethodSpec("cron.add", _cron.CronAddParams, _cron.CronJob, normalize=normalize_cron_add),
    MethodSpec("cron.update", _cron.CronUpdateParams, _cron.CronJob, normalize=normalize_cron_update),
    MethodSpec("cron.remove", _cron.CronJobRef, _cron.CronRemoveResult),
    MethodSpec("cron.run", _cron.CronRunParams, _cron.CronRunResult),
    MethodSpec("cron.runs", _cron.CronRunsParams, _cron.CronRunsResult),
    MethodSpec("exec.approvals.get", EmptyParams, _approvals.ExecApprovalsSnapshot),
    MethodSpec("exec.approvals.set", _approvals.ExecApprovalsSetParams, _approvals.ExecApprovalsSnapshot),
    MethodSpec("exec.approvals.node.get", _approvals.ExecApprovalsNodeGetParams, JsonObject),
    MethodSpec("exec.approvals.node.set", _approvals.ExecApprovalsNodeSetParams, JsonObject),
    MethodSpec("exec.approval.request", _approvals.ExecApprovalRequestParams, _approvals.ExecApprovalRequestResult),
    MethodSpec("exec.approval.resolve", _approvals.ExecApprovalResolveParams, OkResult),
    MethodSpec("system-presence", EmptyParams, list[PresenceEntry]),
    MethodSpec("system-event", SystemEventParams, OkResult),
    MethodSpec("send", _channels.SendParams, JsonObject),
    MethodSpec("agent", agent.AgentParams, JsonObject),
    MethodSpec("agent.identity.get", agent.AgentIdentityParams, JsonObject),
    MethodSpec("agent.wait", agent.AgentWaitParams, JsonObject),
    MethodSpec("browser.request", _browser.BrowserRequestParams, JsonObject),
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
    # on protocol 3 too: our Control UI (protocol 3) shows the approvals pending when it connects
    MethodSpec("exec.approval.list", EmptyParams, list[_approvals.ExecApprovalRequestedEvent]),
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
    MethodSpec("plugins.list", EmptyParams, JsonObject, since=4),
)

# Events this gateway emits (``features.events``), in the reference's GATEWAY_EVENTS order.
EVENTS: Final[tuple[str, ...]] = ("connect.challenge", "agent", "chat", "presence", "tick", "shutdown", "health",
                                   "heartbeat", "cron",
                                   "node.pair.requested", "node.pair.resolved", "node.invoke.request",
                                   "device.pair.requested", "device.pair.resolved",
                                   "exec.approval.requested", "exec.approval.resolved",
                                   "sessions.changed")  # protocol 4: to sessions.subscribe's callers only


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
        "exec.approval.requested": _approvals.ExecApprovalRequestedEvent,
        "exec.approval.resolved": _approvals.ExecApprovalResolvedEvent,
        "sessions.changed": _ui.SessionsChangedEvent,
    }


# Event name → payload type, for every name in EVENTS.
EVENT_PAYLOADS: Final[dict[str, Any]] = _event_payloads()
