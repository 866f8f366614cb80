"""The method table: name → params type, result type, required scope, first protocol version.

Authorization is ``_scopes``' (protocol 4's scope model, one table for every version): it runs for every
method name, implemented here or not, so that an unimplemented method answers the same scope error as the
original before "unknown method". ``MethodSpec.scope`` is the method's bucket: the table's scope without
its ``operator.`` prefix (``read``, ``write``, ``admin``, ``approvals``, ``questions``, ``pairing``,
``talk``), or ``node`` (role node only) or ``dynamic`` (decided from the params).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final, Literal, cast

import attrs

from . import _scopes
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


_PAYLOADS = "moltbot.protocol._payloads"


@functools.cache
def _resolve(ref: str) -> Any:
    """The object a table reference names, imported on first use: ``"module.Name"`` (a module of
    ``_payloads`` and a name in it) or ``"list[module.Name]"``."""
    if ref.startswith("list[") and ref.endswith("]"):
        return list[_resolve(ref[5:-1])]  # type: ignore[misc]
    module, _, name = ref.rpartition(".")
    return getattr(importlib.import_module(f"{_PAYLOADS}.{module}"), name)


def _resolved(value: Any) -> Any:
    return _resolve(value) if isinstance(value, str) else value


@attrs.frozen
class MethodSpec:
    """One method: its params type (strict), its result type, and since which protocol version.

    ``normalize``, when set, rewrites the raw params before they are validated (the original accepts
    loose input forms for ``cron.add``/``cron.update`` and normalises them first).

    The table below names most payload types by reference (``"cron.CronAddParams"``: a module of
    ``_payloads`` and a name in it), imported on first use: a payload module only methods use (``ui``,
    ``config``, ``channels``, ``logs``, ``usage``, ``browser``) is imported, and its attrs classes built,
    when a client first calls one of them, not at every start. A spec made with the types themselves
    works the same.
    """

    name: str
    _params: type | str = attrs.field(alias="params")
    _result: Any = attrs.field(alias="result")
    since: int = 3
    _normalize: Callable[[Any], Any] | str | None = attrs.field(default=None, alias="normalize")

    @property
    def params(self) -> type:
        return cast(type, _resolved(self._params))

    @property
    def result(self) -> Any:
        return _resolved(self._result)

    @property
    def normalize(self) -> Callable[[Any], Any] | None:
        return cast("Callable[[Any], Any] | None", _resolved(self._normalize))

    @property
    def scope(self) -> Scope:
        return scope_of(self.name)


def _table(*specs: MethodSpec) -> dict[str, MethodSpec]:
    return {spec.name: spec for spec in specs}


# Methods this gateway implements, in the reference's BASE_METHODS order (the order of features.methods).
JsonObject = dict[str, Any]

METHODS: Final[dict[str, MethodSpec]] = _table(
    MethodSpec("health", HealthParams, HealthSummary),
    MethodSpec("logs.tail", "logs.LogsTailParams", "logs.LogsTailResult"),
    MethodSpec("status", EmptyParams, StatusSummary),
    MethodSpec("usage.status", EmptyParams, JsonObject),
    MethodSpec("usage.cost", "usage.UsageCostParams", JsonObject),
    MethodSpec("channels.status", "channels.ChannelsStatusParams", JsonObject),
    MethodSpec("channels.logout", "channels.ChannelsLogoutParams", JsonObject),
    MethodSpec("config.get", EmptyParams, "config.ConfigFileSnapshot"),
    MethodSpec("config.set", "config.ConfigSetParams", "config.ConfigSetResult"),
    MethodSpec("config.apply", "config.ConfigPatchParams", "config.ConfigApplyResult"),
    MethodSpec("config.patch", "config.ConfigPatchParams", "config.ConfigApplyResult"),
    MethodSpec("config.schema", EmptyParams, "config.ConfigSchemaResult"),
    MethodSpec("models.list", "ui.ModelsListParams", JsonObject),
    MethodSpec("agents.list", EmptyParams, JsonObject),
    MethodSpec("sessions.list", "agent.SessionsListParams", JsonObject),
    MethodSpec("sessions.preview", "agent.SessionsPreviewParams", JsonObject),
    MethodSpec("sessions.patch", "agent.SessionsPatchParams", JsonObject),
    MethodSpec("sessions.reset", "agent.SessionKeyParams", JsonObject),
    MethodSpec("sessions.delete", "agent.SessionsDeleteParams", JsonObject),
    MethodSpec("sessions.compact", "usage.SessionsCompactParams", JsonObject),
    MethodSpec("last-heartbeat", EmptyParams, HeartbeatEvent | None),
    MethodSpec("set-heartbeats", "agent.SetHeartbeatsParams", JsonObject),
    MethodSpec("wake", "agent.WakeParams", JsonObject),
    # nodes and devices (moltbot/nodes, moltbot/devices)
    MethodSpec("node.pair.request", "nodes.NodePairRequestParams", "nodes.NodePairRequestResult"),
    MethodSpec("node.pair.list", EmptyParams, "nodes.NodePairListResult"),
    MethodSpec("node.pair.approve", "devices.RequestIdParams", "nodes.NodePairApproveResult"),
    MethodSpec("node.pair.reject", "devices.RequestIdParams", "nodes.NodePairRejectResult"),
    MethodSpec("node.pair.verify", "nodes.NodePairVerifyParams", "nodes.NodePairVerifyResult"),
    MethodSpec("device.pair.list", EmptyParams, "devices.DevicePairListResult"),
    MethodSpec("device.pair.approve", "devices.RequestIdParams", "devices.DevicePairApproveResult"),
    MethodSpec("device.pair.reject", "devices.RequestIdParams", "devices.DevicePairRejectResult"),
    MethodSpec("device.token.rotate", "devices.DeviceTokenRotateParams", "devices.DeviceTokenRotateResult"),
    MethodSpec("device.token.revoke", "devices.DeviceTokenRevokeParams", "devices.DeviceTokenRevokeResult"),
    MethodSpec("node.rename", "nodes.NodeRenameParams", "nodes.NodeRenameResult"),
    MethodSpec("node.list", EmptyParams, "nodes.NodeListResult"),
    MethodSpec("node.describe", "nodes.NodeIdParams", "nodes.NodeDescription"),
    MethodSpec("node.invoke", "nodes.NodeInvokeParams", "nodes.NodeInvokeResult"),
    MethodSpec("node.invoke.result", "nodes.NodeInvokeResultParams", "nodes.NodeInvokeResultAck"),
    MethodSpec("node.event", "nodes.NodeEventParams", "nodes.NodeEventResult"),
    MethodSpec("cron.list", "cron.CronListParams", "cron.CronListResult"),
    MethodSpec("cron.status", EmptyParams, "cron.CronStatusResult"),
    MethodSpec("cron.add", "cron.CronAddParams", "cron.CronJob", normalize="cron_input.normalize_cron_add"),
    MethodSpec("cron.update", "cron.CronUpdateParams", "cron.CronJob", normalize="cron_input.normalize_cron_update"),
    MethodSpec("cron.remove", "cron.CronJobRef", "cron.CronRemoveResult"),
    MethodSpec("cron.run", "cron.CronRunParams", "cron.CronRunResult"),
    MethodSpec("cron.runs", "cron.CronRunsParams", "cron.CronRunsResult"),
    MethodSpec("exec.approvals.get", EmptyParams, "approvals.ExecApprovalsSnapshot"),
    MethodSpec("exec.approvals.set", "approvals.ExecApprovalsSetParams", "approvals.ExecApprovalsSnapshot"),
    MethodSpec("exec.approvals.node.get", "approvals.ExecApprovalsNodeGetParams", JsonObject),
    MethodSpec("exec.approvals.node.set", "approvals.ExecApprovalsNodeSetParams", JsonObject),
    MethodSpec("exec.approval.request", "approvals.ExecApprovalRequestParams", "approvals.ExecApprovalRequestResult"),
    MethodSpec("exec.approval.resolve", "approvals.ExecApprovalResolveParams", OkResult),
    MethodSpec("system-presence", EmptyParams, list[PresenceEntry]),
    MethodSpec("system-event", SystemEventParams, OkResult),
    MethodSpec("send", "channels.SendParams", JsonObject),
    MethodSpec("agent", "agent.AgentParams", JsonObject),
    MethodSpec("agent.identity.get", "agent.AgentIdentityParams", JsonObject),
    MethodSpec("agent.wait", "agent.AgentWaitParams", JsonObject),
    MethodSpec("browser.request", "browser.BrowserRequestParams", JsonObject),
    MethodSpec("chat.history", "agent.ChatHistoryParams", JsonObject),
    MethodSpec("chat.abort", "agent.ChatAbortParams", JsonObject),
    MethodSpec("chat.send", "agent.ChatSendParams", JsonObject),
    # channel-plugin methods (the WhatsApp plugin's gatewayMethods), after the core methods
    MethodSpec("web.login.start", "channels.WebLoginStartParams", JsonObject),
    MethodSpec("web.login.wait", "channels.WebLoginWaitParams", JsonObject),
    # what today's OpenClaw Control UI (2026.9.6) calls at start (gateway/methods/ui.py, ui_none.py)
    MethodSpec("sessions.subscribe", EmptyParams, JsonObject, since=4),
    MethodSpec("sessions.messages.subscribe", "ui.SessionsMessagesSubscribeParams", JsonObject, since=4),
    MethodSpec("sessions.describe", "ui.SessionsDescribeParams", JsonObject, since=4),
    MethodSpec("chat.startup", "ui.ChatStartupParams", JsonObject, since=4),
    MethodSpec("chat.metadata", "ui.ChatMetadataParams", JsonObject, since=4),
    MethodSpec("models.authStatus", "ui.ModelsAuthStatusParams", JsonObject, since=4),
    MethodSpec("system.info", EmptyParams, JsonObject, since=4),
    MethodSpec("sessions.observer.visibility", "ui.SessionsObserverVisibilityParams", JsonObject, since=4),
    MethodSpec("sessions.viewers.set", "ui.SessionsViewersSetParams", JsonObject, since=4),
    MethodSpec("plugin.surface.refresh", "ui.PluginSurfaceRefreshParams", JsonObject, since=4),
    MethodSpec("update.status", "ui.UpdateStatusParams", JsonObject, since=4),
    MethodSpec("plugins.controlUi.list", EmptyParams, JsonObject, since=4),
    MethodSpec("projects.list", "ui.ProjectsListParams", JsonObject, since=4),
    MethodSpec("question.list", EmptyParams, JsonObject, since=4),
    # on protocol 3 too: our Control UI (protocol 3) shows the approvals pending when it connects
    MethodSpec("exec.approval.list", EmptyParams, "list[approvals.ExecApprovalRequestedEvent]"),
    MethodSpec("plugin.approval.list", EmptyParams, list[Any], since=4),
    MethodSpec("openclaw.approval.list", EmptyParams, list[Any], since=4),
    MethodSpec("talk.catalog", EmptyParams, JsonObject, since=4),
    MethodSpec("progressCard.get", "ui.ProgressCardGetParams", JsonObject, since=4),
    MethodSpec("taskSuggestions.list", "ui.TaskSuggestionsListParams", JsonObject, since=4),
    MethodSpec("tasks.list", "ui.TasksListParams", JsonObject, since=4, normalize="ui.normalize_tasks_list"),
    MethodSpec("sessions.branches.list", "ui.SessionKeyOnlyParams", JsonObject, since=4),
    MethodSpec("session.discussion.info", "ui.SessionKeyOnlyParams", JsonObject, since=4),
    MethodSpec("sessions.companion.state", "ui.SessionKeyOnlyParams", JsonObject, since=4),
    MethodSpec("users.prefs.get", "ui.UsersPrefsGetParams", JsonObject, since=4),
    MethodSpec("sessions.groups.list", EmptyParams, JsonObject, since=4),
    MethodSpec("sessions.groups.defaults", EmptyParams, JsonObject, since=4),
    MethodSpec("sessions.catalog.list", "ui.SessionsCatalogListParams", JsonObject, since=4),
    MethodSpec("plugins.list", EmptyParams, JsonObject, since=4),
)

# Events this gateway emits (``features.events``), in the reference's GATEWAY_EVENTS order.
EVENTS: Final[tuple[str, ...]] = ("connect.challenge", "agent", "chat", "presence", "tick", "shutdown", "health",
                                   "heartbeat", "cron",
                                   "node.pair.requested", "node.pair.resolved", "node.invoke.request",
                                   "device.pair.requested", "device.pair.resolved",
                                   "exec.approval.requested", "exec.approval.resolved",
                                   "sessions.changed")  # protocol 4: to sessions.subscribe's callers only


# Event name → payload type, for every name in EVENTS (imported on first lookup, as the method table's).
_EVENT_PAYLOADS: Final[dict[str, str]] = {
    "connect.challenge": "connect.ConnectChallenge",
    "agent": "agent.AgentEvent",
    "chat": "agent.ChatEvent",
    "presence": "system.PresenceEvent",
    "tick": "system.TickEvent",
    "shutdown": "system.ShutdownEvent",
    "health": "system.HealthSummary",
    "heartbeat": "system.HeartbeatEvent",
    "cron": "cron.CronEvent",
    "node.pair.requested": "nodes.NodePairRequest",
    "node.pair.resolved": "nodes.NodePairResolved",
    "node.invoke.request": "nodes.NodeInvokeRequest",
    "device.pair.requested": "devices.DevicePairRequest",
    "device.pair.resolved": "devices.DevicePairResolved",
    "exec.approval.requested": "approvals.ExecApprovalRequestedEvent",
    "exec.approval.resolved": "approvals.ExecApprovalResolvedEvent",
    "sessions.changed": "ui.SessionsChangedEvent",
}


class _EventPayloads(Mapping[str, Any]):
    """``EVENT_PAYLOADS``: a read-only mapping that imports a payload type when it is first looked up."""

    def __init__(self, refs: dict[str, str]) -> None:
        self._refs = refs

    def __getitem__(self, name: str) -> Any:
        return _resolve(self._refs[name])

    def __iter__(self) -> Iterator[str]:
        return iter(self._refs)

    def __len__(self) -> int:
        return len(self._refs)

    def __repr__(self) -> str:
        return f"EVENT_PAYLOADS({list(self._refs)})"


EVENT_PAYLOADS: Final[Mapping[str, Any]] = _EventPayloads(_EVENT_PAYLOADS)
