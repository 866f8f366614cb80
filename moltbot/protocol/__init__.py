"""The moltbot gateway protocol, sans-IO: frames, payloads, codec, handshake, session, errors.

Nothing here does I/O or imports trio; the gateway, the client and the conformance harness drive these
objects with text they read and write themselves. Every name a user (or another moltbot package) needs is
exported here: the frames, the handshake and session machines, the codec, the error hierarchy, the scope
model, device identity, and the params/result/event payload class of every method and event (the
``_payloads`` modules group them by namespace; import them from here).

Names are imported on first use (as ``moltbot``'s are): a program that needs the codec or the handshake
does not pay for every method's payload classes.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Names packed (isort and the formatter would put one per line: 500 lines for a list of names).
# ruff: noqa: I001
# fmt: off
# name -> the private module that defines it
_EXPORTS = {
    "camel": "._codec", "configure_converter": "._codec", "decode_frame": "._codec", "dumps": "._codec",
    "encode_frame": "._codec", "escape_surrogates": "._codec", "format_validation_error": "._codec",
    "join_surrogate_pairs": "._codec", "make_converter": "._codec", "structure": "._codec",
    "structure_frame": "._codec", "unstructure": "._codec",
    "DeviceKeyPair": "._device", "check_device_proof": "._device", "sign_connect": "._device",
    "AGENT_TIMEOUT": "._errors", "CLOSE_MESSAGE_TOO_BIG": "._errors", "CLOSE_NORMAL": "._errors",
    "CLOSE_POLICY_VIOLATION": "._errors", "CLOSE_PROTOCOL_ERROR": "._errors", "CLOSE_SERVICE_RESTART":
    "._errors", "CLOSE_TICK_TIMEOUT": "._errors", "INVALID_REQUEST": "._errors", "NOT_LINKED": "._errors",
    "NOT_PAIRED": "._errors", "UNAVAILABLE": "._errors", "LocalProtocolError": "._errors",
    "ProtocolError": "._errors", "RemoteProtocolError": "._errors",
    "UNSET": "._frames", "ErrorShape": "._frames", "EventFrame": "._frames", "Frame": "._frames",
    "RequestFrame": "._frames", "ResponseFrame": "._frames", "StateVersion": "._frames",
    "CHALLENGE_CAPABILITIES": "._handshake", "MAX_PREAUTH_BYTES": "._handshake", "MAX_PROTOCOL":
    "._handshake", "MIN_PROTOCOL": "._handshake", "PROTOCOL_VERSION": "._handshake",
    "RECOMMENDED_PROTOCOL": "._handshake", "SERVER_CAPABILITIES": "._handshake", "SUPPORTED_PROTOCOLS":
    "._handshake", "Accept": "._handshake", "ClientHandshake": "._handshake", "Reject": "._handshake",
    "ServerHandshake": "._handshake", "error_response": "._handshake", "negotiate_protocol":
    "._handshake",
    "JsonLimitError": "._json", "parse_json": "._json",
    "EVENT_PAYLOADS": "._methods", "EVENTS": "._methods", "METHODS": "._methods", "ROLES": "._methods",
    "SCOPE_ADMIN": "._methods", "SCOPE_APPROVALS": "._methods", "SCOPE_PAIRING": "._methods",
    "SCOPE_READ": "._methods", "SCOPE_WRITE": "._methods", "SCOPES": "._methods", "MethodSpec":
    "._methods", "authorize_method": "._methods", "scope_of": "._methods",
    "event_guard": "._scopes", "grant_scopes": "._scopes", "guard_admits": "._scopes", "satisfies":
    "._scopes",
    "Call": "._session", "Reply": "._session", "ServerSession": "._session",
    "AgentAccepted": "._payloads.agent", "AgentEvent": "._payloads.agent", "AgentIdentityParams":
    "._payloads.agent", "AgentParams": "._payloads.agent", "AgentWaitParams": "._payloads.agent",
    "ChatAbortParams": "._payloads.agent", "ChatEvent": "._payloads.agent", "ChatHistoryParams":
    "._payloads.agent", "ChatSendParams": "._payloads.agent", "SessionKeyParams": "._payloads.agent",
    "SessionsDeleteParams": "._payloads.agent", "SessionsListParams": "._payloads.agent",
    "SessionsPatchParams": "._payloads.agent", "SessionsPreviewParams": "._payloads.agent",
    "SetHeartbeatsParams": "._payloads.agent", "WakeParams": "._payloads.agent",
    "ExecApprovalRequest": "._payloads.approvals", "ExecApprovalRequestedEvent": "._payloads.approvals",
    "ExecApprovalRequestParams": "._payloads.approvals", "ExecApprovalRequestResult":
    "._payloads.approvals", "ExecApprovalResolvedEvent": "._payloads.approvals",
    "ExecApprovalResolveParams": "._payloads.approvals", "ExecApprovalsSetParams": "._payloads.approvals",
    "ExecApprovalsSnapshot": "._payloads.approvals", "ExecApprovalsNodeGetParams": "._payloads.approvals",
    "ExecApprovalsNodeSetParams": "._payloads.approvals",
    "BrowserRequestParams": "._payloads.browser",
    "ChannelsLogoutParams": "._payloads.channels", "ChannelsStatusParams": "._payloads.channels",
    "SendParams": "._payloads.channels", "WebLoginStartParams": "._payloads.channels",
    "WebLoginWaitParams": "._payloads.channels",
    "ConfigApplyResult": "._payloads.config", "ConfigFileSnapshot": "._payloads.config", "ConfigIssue":
    "._payloads.config", "ConfigPatchParams": "._payloads.config", "ConfigSchemaResult":
    "._payloads.config", "ConfigSetParams": "._payloads.config", "ConfigSetResult": "._payloads.config",
    "ConfigUiHint": "._payloads.config", "RestartSentinelRef": "._payloads.config", "ScheduledRestart":
    "._payloads.config",
    "AttachmentLimits": "._payloads.connect", "AuthMethod": "._payloads.connect", "BuildText":
    "._payloads.connect", "ClientId": "._payloads.connect", "ClientInfo": "._payloads.connect",
    "ClientMode": "._payloads.connect", "ConnectAuth": "._payloads.connect", "ConnectChallenge":
    "._payloads.connect", "ConnectParams": "._payloads.connect", "DeviceIdentity": "._payloads.connect",
    "Features": "._payloads.connect", "HelloAuth": "._payloads.connect", "HelloOk": "._payloads.connect",
    "ModelCatalogRequest": "._payloads.connect", "Policy": "._payloads.connect", "ServerInfo":
    "._payloads.connect", "SessionDefaults": "._payloads.connect", "Snapshot": "._payloads.connect",
    "WorkerRuns": "._payloads.connect",
    "CronAddParams": "._payloads.cron", "CronAgentTurn": "._payloads.cron", "CronAgentTurnPatch":
    "._payloads.cron", "CronDelivery": "._payloads.cron", "CronEvent": "._payloads.cron", "CronIsolation":
    "._payloads.cron", "CronJob": "._payloads.cron", "CronJobPatch": "._payloads.cron", "CronJobRef":
    "._payloads.cron", "CronJobState": "._payloads.cron", "CronListParams": "._payloads.cron",
    "CronListResult": "._payloads.cron", "CronPayload": "._payloads.cron", "CronPayloadPatch":
    "._payloads.cron", "CronRemoveResult": "._payloads.cron", "CronRunLogEntry": "._payloads.cron",
    "CronRunParams": "._payloads.cron", "CronRunResult": "._payloads.cron", "CronRunsParams":
    "._payloads.cron", "CronRunsResult": "._payloads.cron", "CronSchedule": "._payloads.cron",
    "CronScheduleAt": "._payloads.cron", "CronScheduleCron": "._payloads.cron", "CronScheduleEvery":
    "._payloads.cron", "CronStatusResult": "._payloads.cron", "CronSystemEvent": "._payloads.cron",
    "CronSystemEventPatch": "._payloads.cron", "CronUpdateParams": "._payloads.cron", "DeliveryFilter":
    "._payloads.cron", "DeliveryStatus": "._payloads.cron", "RunStatus": "._payloads.cron",
    "SessionTarget": "._payloads.cron", "WakeMode": "._payloads.cron",
    "normalize_cron_add": "._payloads.cron_input", "parse_absolute_ms": "._payloads.cron_input",
    "DevicePairApproveResult": "._payloads.devices", "DevicePairListResult": "._payloads.devices",
    "DevicePairRejectResult": "._payloads.devices", "DevicePairRequest": "._payloads.devices",
    "DevicePairResolved": "._payloads.devices", "DeviceTokenRevokeParams": "._payloads.devices",
    "DeviceTokenRevokeResult": "._payloads.devices", "DeviceTokenRotateParams": "._payloads.devices",
    "DeviceTokenRotateResult": "._payloads.devices", "DeviceTokenSummary": "._payloads.devices",
    "PairedDevice": "._payloads.devices", "RequestIdParams": "._payloads.devices",
    "LOGS_DEFAULT_LIMIT": "._payloads.logs", "LOGS_DEFAULT_MAX_BYTES": "._payloads.logs",
    "LOGS_MAX_LIMIT": "._payloads.logs", "LogsTailParams": "._payloads.logs", "LogsTailResult":
    "._payloads.logs",
    "NodeDescription": "._payloads.nodes", "NodeError": "._payloads.nodes", "NodeEventParams":
    "._payloads.nodes", "NodeEventResult": "._payloads.nodes", "NodeIdParams": "._payloads.nodes",
    "NodeInfo": "._payloads.nodes", "NodeInvokeParams": "._payloads.nodes", "NodeInvokeRequest":
    "._payloads.nodes", "NodeInvokeResult": "._payloads.nodes", "NodeInvokeResultAck": "._payloads.nodes",
    "NodeInvokeResultParams": "._payloads.nodes", "NodeListResult": "._payloads.nodes",
    "NodePairApproveResult": "._payloads.nodes", "NodePairListResult": "._payloads.nodes",
    "NodePairRejectResult": "._payloads.nodes", "NodePairRequest": "._payloads.nodes",
    "NodePairRequestParams": "._payloads.nodes", "NodePairRequestResult": "._payloads.nodes",
    "NodePairResolved": "._payloads.nodes", "NodePairVerifyParams": "._payloads.nodes",
    "NodePairVerifyResult": "._payloads.nodes", "NodeRenameParams": "._payloads.nodes",
    "NodeRenameResult": "._payloads.nodes", "PairedNode": "._payloads.nodes",
    "PresenceEntry": "._payloads.presence", "PresenceUser": "._payloads.presence",
    "AgentHealth": "._payloads.system", "AgentHeartbeat": "._payloads.system", "AgentSessionsStatus":
    "._payloads.system", "ConfigReloadStatus": "._payloads.system", "EmptyParams": "._payloads.system",
    "ErrorCounts": "._payloads.system", "GatewayStatus": "._payloads.system", "HealthParams":
    "._payloads.system", "HealthSummary": "._payloads.system", "HeartbeatAgentStatus":
    "._payloads.system", "HeartbeatEvent": "._payloads.system", "HeartbeatOutcome": "._payloads.system",
    "HeartbeatStatus": "._payloads.system", "LaneStatus": "._payloads.system", "LinkChannel":
    "._payloads.system", "OkResult": "._payloads.system", "PresenceEvent": "._payloads.system",
    "RecentSession": "._payloads.system", "SessionModelDefaults": "._payloads.system", "SessionsHealth":
    "._payloads.system", "SessionsStatus": "._payloads.system", "ShutdownEvent": "._payloads.system",
    "StatusSummary": "._payloads.system", "SystemEventParams": "._payloads.system", "TickEvent":
    "._payloads.system",
    "ChatMetadataParams": "._payloads.ui", "ChatStartupParams": "._payloads.ui", "ModelsAuthStatusParams":
    "._payloads.ui", "ModelsListParams": "._payloads.ui", "PluginSurfaceRefreshParams": "._payloads.ui",
    "ProgressCardGetParams": "._payloads.ui", "ProjectsListParams": "._payloads.ui",
    "SessionKeyOnlyParams": "._payloads.ui", "SessionsCatalogListParams": "._payloads.ui",
    "SessionsChangedEvent": "._payloads.ui", "SessionsDescribeParams": "._payloads.ui",
    "SessionsMessagesSubscribeParams": "._payloads.ui", "SessionsObserverVisibilityParams":
    "._payloads.ui", "SessionsViewersSetParams": "._payloads.ui", "TasksListParams": "._payloads.ui",
    "TaskStatus": "._payloads.ui", "TaskSuggestionsListParams": "._payloads.ui", "UpdateStatusParams":
    "._payloads.ui", "UsersPrefsGetParams": "._payloads.ui",
    "UsageCostParams": "._payloads.usage", "SessionsCompactParams": "._payloads.usage",
}
# exported under another name than the module gives it
_RENAMED = {"LOGS_DEFAULT_LIMIT": "DEFAULT_LIMIT", "LOGS_DEFAULT_MAX_BYTES": "DEFAULT_MAX_BYTES", "LOGS_MAX_LIMIT": "MAX_LIMIT"}

__all__ = [
    "Accept", "AGENT_TIMEOUT", "AgentAccepted", "AgentEvent", "AgentHealth", "AgentHeartbeat",
    "AgentIdentityParams", "AgentParams", "AgentSessionsStatus", "AgentWaitParams", "AttachmentLimits",
    "AuthMethod", "authorize_method", "BrowserRequestParams", "BuildText", "Call", "camel",
    "CHALLENGE_CAPABILITIES", "ChannelsLogoutParams", "ChannelsStatusParams", "ChatAbortParams",
    "ChatEvent", "ChatHistoryParams", "ChatMetadataParams", "ChatSendParams", "ChatStartupParams",
    "check_device_proof", "ClientHandshake", "ClientId", "ClientInfo", "ClientMode",
    "CLOSE_MESSAGE_TOO_BIG", "CLOSE_NORMAL", "CLOSE_POLICY_VIOLATION", "CLOSE_PROTOCOL_ERROR",
    "CLOSE_SERVICE_RESTART", "CLOSE_TICK_TIMEOUT", "ConfigApplyResult", "ConfigFileSnapshot",
    "ConfigIssue", "ConfigPatchParams", "ConfigReloadStatus", "ConfigSchemaResult", "ConfigSetParams",
    "ConfigSetResult", "ConfigUiHint", "configure_converter", "ConnectAuth", "ConnectChallenge",
    "ConnectParams", "CronAddParams", "CronAgentTurn", "CronAgentTurnPatch", "CronDelivery", "CronEvent",
    "CronIsolation", "CronJob", "CronJobPatch", "CronJobRef", "CronJobState", "CronListParams",
    "CronListResult", "CronPayload", "CronPayloadPatch", "CronRemoveResult", "CronRunLogEntry",
    "CronRunParams", "CronRunResult", "CronRunsParams", "CronRunsResult", "CronSchedule",
    "CronScheduleAt", "CronScheduleCron", "CronScheduleEvery", "CronStatusResult", "CronSystemEvent",
    "CronSystemEventPatch", "CronUpdateParams", "decode_frame", "DeliveryFilter", "DeliveryStatus",
    "DeviceIdentity", "DeviceKeyPair", "DevicePairApproveResult", "DevicePairListResult",
    "DevicePairRejectResult", "DevicePairRequest", "DevicePairResolved", "DeviceTokenRevokeParams",
    "DeviceTokenRevokeResult", "DeviceTokenRotateParams", "DeviceTokenRotateResult", "DeviceTokenSummary",
    "dumps", "EmptyParams", "encode_frame", "error_response", "ErrorCounts", "ErrorShape",
    "escape_surrogates", "event_guard", "EVENT_PAYLOADS", "EventFrame", "EVENTS", "ExecApprovalRequest",
    "ExecApprovalRequestedEvent", "ExecApprovalRequestParams", "ExecApprovalRequestResult",
    "ExecApprovalResolvedEvent", "ExecApprovalResolveParams", "ExecApprovalsNodeGetParams",
    "ExecApprovalsNodeSetParams", "ExecApprovalsSetParams", "ExecApprovalsSnapshot", "Features",
    "format_validation_error", "Frame", "GatewayStatus", "grant_scopes", "guard_admits", "HealthParams",
    "HealthSummary", "HeartbeatAgentStatus", "HeartbeatEvent", "HeartbeatOutcome", "HeartbeatStatus",
    "HelloAuth", "HelloOk", "INVALID_REQUEST", "join_surrogate_pairs", "JsonLimitError", "LaneStatus",
    "LinkChannel", "LocalProtocolError", "LOGS_DEFAULT_LIMIT", "LOGS_DEFAULT_MAX_BYTES", "LOGS_MAX_LIMIT",
    "LogsTailParams", "LogsTailResult", "make_converter", "MAX_PREAUTH_BYTES", "MAX_PROTOCOL", "METHODS",
    "MethodSpec", "MIN_PROTOCOL", "ModelCatalogRequest", "ModelsAuthStatusParams", "ModelsListParams",
    "negotiate_protocol", "NodeDescription", "NodeError", "NodeEventParams", "NodeEventResult",
    "NodeIdParams", "NodeInfo", "NodeInvokeParams", "NodeInvokeRequest", "NodeInvokeResult",
    "NodeInvokeResultAck", "NodeInvokeResultParams", "NodeListResult", "NodePairApproveResult",
    "NodePairListResult", "NodePairRejectResult", "NodePairRequest", "NodePairRequestParams",
    "NodePairRequestResult", "NodePairResolved", "NodePairVerifyParams", "NodePairVerifyResult",
    "NodeRenameParams", "NodeRenameResult", "normalize_cron_add", "NOT_LINKED", "NOT_PAIRED", "OkResult",
    "PairedDevice", "PairedNode", "parse_absolute_ms", "parse_json", "PluginSurfaceRefreshParams",
    "Policy", "PresenceEntry", "PresenceEvent", "PresenceUser", "ProgressCardGetParams",
    "ProjectsListParams", "PROTOCOL_VERSION", "ProtocolError", "RecentSession", "RECOMMENDED_PROTOCOL",
    "Reject", "RemoteProtocolError", "Reply", "RequestFrame", "RequestIdParams", "ResponseFrame",
    "RestartSentinelRef", "ROLES", "RunStatus", "satisfies", "ScheduledRestart", "SCOPE_ADMIN",
    "SCOPE_APPROVALS", "scope_of", "SCOPE_PAIRING", "SCOPE_READ", "SCOPE_WRITE", "SCOPES", "SendParams",
    "SERVER_CAPABILITIES", "ServerHandshake", "ServerInfo", "ServerSession", "SessionDefaults",
    "SessionKeyOnlyParams", "SessionKeyParams", "SessionModelDefaults", "SessionsCatalogListParams",
    "SessionsChangedEvent", "SessionsCompactParams", "SessionsDeleteParams", "SessionsDescribeParams",
    "SessionsHealth", "SessionsListParams", "SessionsMessagesSubscribeParams",
    "SessionsObserverVisibilityParams", "SessionsPatchParams", "SessionsPreviewParams", "SessionsStatus",
    "SessionsViewersSetParams", "SessionTarget", "SetHeartbeatsParams", "ShutdownEvent", "sign_connect",
    "Snapshot", "StateVersion", "StatusSummary", "structure", "structure_frame", "SUPPORTED_PROTOCOLS",
    "SystemEventParams", "TasksListParams", "TaskStatus", "TaskSuggestionsListParams", "TickEvent",
    "UNAVAILABLE", "UNSET", "unstructure", "UpdateStatusParams", "UsageCostParams", "UsersPrefsGetParams",
    "WakeMode", "WakeParams", "WebLoginStartParams", "WebLoginWaitParams", "WorkerRuns",
]

if TYPE_CHECKING:
    from ._codec import (
        camel, configure_converter, decode_frame, dumps, encode_frame, escape_surrogates,
        format_validation_error, join_surrogate_pairs, make_converter, structure, structure_frame,
        unstructure,
    )
    from ._device import DeviceKeyPair, check_device_proof, sign_connect
    from ._errors import (
        AGENT_TIMEOUT, CLOSE_MESSAGE_TOO_BIG, CLOSE_NORMAL, CLOSE_POLICY_VIOLATION,
        CLOSE_PROTOCOL_ERROR, CLOSE_SERVICE_RESTART, CLOSE_TICK_TIMEOUT, INVALID_REQUEST, NOT_LINKED,
        NOT_PAIRED, UNAVAILABLE, LocalProtocolError, ProtocolError, RemoteProtocolError,
    )
    from ._frames import UNSET, ErrorShape, EventFrame, Frame, RequestFrame, ResponseFrame, StateVersion
    from ._handshake import (
        CHALLENGE_CAPABILITIES, MAX_PREAUTH_BYTES, MAX_PROTOCOL, MIN_PROTOCOL, PROTOCOL_VERSION,
        RECOMMENDED_PROTOCOL, SERVER_CAPABILITIES, SUPPORTED_PROTOCOLS, Accept, ClientHandshake,
        Reject, ServerHandshake, error_response, negotiate_protocol,
    )
    from ._json import JsonLimitError, parse_json
    from ._methods import (
        EVENT_PAYLOADS, EVENTS, METHODS, ROLES, SCOPE_ADMIN, SCOPE_APPROVALS, SCOPE_PAIRING,
        SCOPE_READ, SCOPE_WRITE, SCOPES, MethodSpec, authorize_method, scope_of,
    )
    from ._scopes import event_guard, grant_scopes, guard_admits, satisfies
    from ._session import Call, Reply, ServerSession
    from ._payloads.agent import (
        AgentAccepted, AgentEvent, AgentIdentityParams, AgentParams, AgentWaitParams, ChatAbortParams,
        ChatEvent, ChatHistoryParams, ChatSendParams, SessionKeyParams, SessionsDeleteParams,
        SessionsListParams, SessionsPatchParams, SessionsPreviewParams, SetHeartbeatsParams,
        WakeParams,
    )
    from ._payloads.approvals import (
        ExecApprovalRequest, ExecApprovalRequestedEvent, ExecApprovalRequestParams,
        ExecApprovalRequestResult, ExecApprovalResolvedEvent, ExecApprovalResolveParams,
        ExecApprovalsSetParams, ExecApprovalsSnapshot, ExecApprovalsNodeGetParams,
        ExecApprovalsNodeSetParams,
    )
    from ._payloads.browser import BrowserRequestParams
    from ._payloads.channels import (
        ChannelsLogoutParams, ChannelsStatusParams, SendParams, WebLoginStartParams,
        WebLoginWaitParams,
    )
    from ._payloads.config import (
        ConfigApplyResult, ConfigFileSnapshot, ConfigIssue, ConfigPatchParams, ConfigSchemaResult,
        ConfigSetParams, ConfigSetResult, ConfigUiHint, RestartSentinelRef, ScheduledRestart,
    )
    from ._payloads.connect import (
        AttachmentLimits, AuthMethod, BuildText, ClientId, ClientInfo, ClientMode, ConnectAuth,
        ConnectChallenge, ConnectParams, DeviceIdentity, Features, HelloAuth, HelloOk,
        ModelCatalogRequest, Policy, ServerInfo, SessionDefaults, Snapshot, WorkerRuns,
    )
    from ._payloads.cron import (
        CronAddParams, CronAgentTurn, CronAgentTurnPatch, CronDelivery, CronEvent, CronIsolation,
        CronJob, CronJobPatch, CronJobRef, CronJobState, CronListParams, CronListResult, CronPayload,
        CronPayloadPatch, CronRemoveResult, CronRunLogEntry, CronRunParams, CronRunResult,
        CronRunsParams, CronRunsResult, CronSchedule, CronScheduleAt, CronScheduleCron,
        CronScheduleEvery, CronStatusResult, CronSystemEvent, CronSystemEventPatch, CronUpdateParams,
        DeliveryFilter, DeliveryStatus, RunStatus, SessionTarget, WakeMode,
    )
    from ._payloads.cron_input import normalize_cron_add, parse_absolute_ms
    from ._payloads.devices import (
        DevicePairApproveResult, DevicePairListResult, DevicePairRejectResult, DevicePairRequest,
        DevicePairResolved, DeviceTokenRevokeParams, DeviceTokenRevokeResult, DeviceTokenRotateParams,
        DeviceTokenRotateResult, DeviceTokenSummary, PairedDevice, RequestIdParams,
    )
    from ._payloads.logs import (
        DEFAULT_LIMIT as LOGS_DEFAULT_LIMIT, DEFAULT_MAX_BYTES as LOGS_DEFAULT_MAX_BYTES, MAX_LIMIT as
        LOGS_MAX_LIMIT, LogsTailParams, LogsTailResult,
    )
    from ._payloads.nodes import (
        NodeDescription, NodeError, NodeEventParams, NodeEventResult, NodeIdParams, NodeInfo,
        NodeInvokeParams, NodeInvokeRequest, NodeInvokeResult, NodeInvokeResultAck,
        NodeInvokeResultParams, NodeListResult, NodePairApproveResult, NodePairListResult,
        NodePairRejectResult, NodePairRequest, NodePairRequestParams, NodePairRequestResult,
        NodePairResolved, NodePairVerifyParams, NodePairVerifyResult, NodeRenameParams,
        NodeRenameResult, PairedNode,
    )
    from ._payloads.presence import PresenceEntry, PresenceUser
    from ._payloads.system import (
        AgentHealth, AgentHeartbeat, AgentSessionsStatus, ConfigReloadStatus, EmptyParams,
        ErrorCounts, GatewayStatus, HealthParams, HealthSummary, HeartbeatAgentStatus, HeartbeatEvent,
        HeartbeatOutcome, HeartbeatStatus, LaneStatus, LinkChannel, OkResult, PresenceEvent,
        RecentSession, SessionModelDefaults, SessionsHealth, SessionsStatus, ShutdownEvent,
        StatusSummary, SystemEventParams, TickEvent,
    )
    from ._payloads.ui import (
        ChatMetadataParams, ChatStartupParams, ModelsAuthStatusParams, ModelsListParams,
        PluginSurfaceRefreshParams, ProgressCardGetParams, ProjectsListParams, SessionKeyOnlyParams,
        SessionsCatalogListParams, SessionsChangedEvent, SessionsDescribeParams,
        SessionsMessagesSubscribeParams, SessionsObserverVisibilityParams, SessionsViewersSetParams,
        TasksListParams, TaskStatus, TaskSuggestionsListParams, UpdateStatusParams,
        UsersPrefsGetParams,
    )
    from ._payloads.usage import UsageCostParams, SessionsCompactParams
# fmt: on


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'moltbot.protocol' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), _RENAMED.get(name, name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
