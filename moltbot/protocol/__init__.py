"""The moltbot gateway protocol, sans-IO: frames, payloads, codec, handshake, session, errors.

Nothing here does I/O or imports trio; the gateway, the client and the conformance harness drive these
objects with text they read and write themselves. Every name a user (or another moltbot package) needs is
exported here: the frames, the handshake and session machines, the codec, the error hierarchy, the scope
model, device identity, and the params/result/event payload class of every method and event (the
``_payloads`` modules group them by namespace; import them from here).
"""

# Names packed (isort and the formatter would put one per line: 500 lines for a list of names).
# ruff: noqa: I001
# fmt: off
from ._codec import (
    camel, configure_converter, decode_frame, dumps, encode_frame, escape_surrogates,
    format_validation_error, join_surrogate_pairs, make_converter, structure, structure_frame,
    unstructure,
)
from ._device import DeviceKeyPair, check_device_proof, sign_connect
from ._errors import (
    AGENT_TIMEOUT, CLOSE_MESSAGE_TOO_BIG, CLOSE_NORMAL, CLOSE_POLICY_VIOLATION, CLOSE_PROTOCOL_ERROR,
    CLOSE_SERVICE_RESTART, CLOSE_TICK_TIMEOUT, INVALID_REQUEST, NOT_LINKED, NOT_PAIRED, UNAVAILABLE,
    LocalProtocolError, ProtocolError, RemoteProtocolError,
)
from ._frames import UNSET, ErrorShape, EventFrame, Frame, RequestFrame, ResponseFrame, StateVersion
from ._handshake import (
    CHALLENGE_CAPABILITIES, MAX_PREAUTH_BYTES, MAX_PROTOCOL, MIN_PROTOCOL, PROTOCOL_VERSION,
    RECOMMENDED_PROTOCOL, SERVER_CAPABILITIES, SUPPORTED_PROTOCOLS, Accept, ClientHandshake, Reject,
    ServerHandshake, error_response, negotiate_protocol,
)
from ._json import JsonLimitError, parse_json
from ._methods import (
    EVENT_PAYLOADS, EVENTS, METHODS, ROLES, SCOPE_ADMIN, SCOPE_APPROVALS, SCOPE_PAIRING, SCOPE_READ,
    SCOPE_WRITE, SCOPES, MethodSpec, authorize_method, scope_of,
)
from ._payloads.agent import (
    AgentAccepted, AgentEvent, AgentIdentityParams, AgentParams, AgentWaitParams, ChatAbortParams,
    ChatEvent, ChatHistoryParams, ChatSendParams, SessionKeyParams, SessionsDeleteParams,
    SessionsListParams, SessionsPatchParams, SessionsPreviewParams, SetHeartbeatsParams, WakeParams,
)
from ._payloads.approvals import (
    ExecApprovalRequest, ExecApprovalRequestedEvent, ExecApprovalRequestParams, ExecApprovalRequestResult,
    ExecApprovalResolvedEvent, ExecApprovalResolveParams, ExecApprovalsSetParams, ExecApprovalsSnapshot,
)
from ._payloads.browser import BrowserRequestParams
from ._payloads.channels import (
    ChannelsLogoutParams, ChannelsStatusParams, SendParams, WebLoginStartParams, WebLoginWaitParams,
)
from ._payloads.config import (
    ConfigApplyResult, ConfigFileSnapshot, ConfigIssue, ConfigPatchParams, ConfigSchemaResult,
    ConfigSetParams, ConfigSetResult, ConfigUiHint, RestartSentinelRef, ScheduledRestart,
)
from ._payloads.connect import (
    AttachmentLimits, AuthMethod, BuildText, ClientId, ClientInfo, ClientMode, ConnectAuth,
    ConnectChallenge, ConnectParams, DeviceIdentity, Features, HelloAuth, HelloOk, ModelCatalogRequest,
    Policy, ServerInfo, SessionDefaults, Snapshot, WorkerRuns,
)
from ._payloads.cron import (
    CronAddParams, CronAgentTurn, CronAgentTurnPatch, CronDelivery, CronEvent, CronIsolation, CronJob,
    CronJobPatch, CronJobRef, CronJobState, CronListParams, CronListResult, CronPayload, CronPayloadPatch,
    CronRemoveResult, CronRunLogEntry, CronRunParams, CronRunResult, CronRunsParams, CronRunsResult,
    CronSchedule, CronScheduleAt, CronScheduleCron, CronScheduleEvery, CronStatusResult, CronSystemEvent,
    CronSystemEventPatch, CronUpdateParams, DeliveryFilter, DeliveryStatus, RunStatus, SessionTarget,
    WakeMode,
)
from ._payloads.cron_input import normalize_cron_add, parse_absolute_ms
from ._payloads.devices import (
    DevicePairApproveResult, DevicePairListResult, DevicePairRejectResult, DevicePairRequest,
    DevicePairResolved, DeviceTokenRevokeParams, DeviceTokenRevokeResult, DeviceTokenRotateParams,
    DeviceTokenRotateResult, DeviceTokenSummary, PairedDevice, RequestIdParams,
)
from ._payloads.logs import DEFAULT_LIMIT as LOGS_DEFAULT_LIMIT
from ._payloads.logs import DEFAULT_MAX_BYTES as LOGS_DEFAULT_MAX_BYTES
from ._payloads.logs import MAX_LIMIT as LOGS_MAX_LIMIT
from ._payloads.logs import LogsTailParams, LogsTailResult
from ._payloads.nodes import (
    NodeDescription, NodeError, NodeEventParams, NodeEventResult, NodeIdParams, NodeInfo,
    NodeInvokeParams, NodeInvokeRequest, NodeInvokeResult, NodeInvokeResultAck, NodeInvokeResultParams,
    NodeListResult, NodePairApproveResult, NodePairListResult, NodePairRejectResult, NodePairRequest,
    NodePairRequestParams, NodePairRequestResult, NodePairResolved, NodePairVerifyParams,
    NodePairVerifyResult, NodeRenameParams, NodeRenameResult, PairedNode,
)
from ._payloads.presence import PresenceEntry, PresenceUser
from ._payloads.system import (
    AgentHealth, AgentHeartbeat, AgentSessionsStatus, ConfigReloadStatus, EmptyParams, ErrorCounts,
    GatewayStatus, HealthParams, HealthSummary, HeartbeatAgentStatus, HeartbeatEvent, HeartbeatOutcome,
    HeartbeatStatus, LaneStatus, LinkChannel, OkResult, PresenceEvent, RecentSession,
    SessionModelDefaults, SessionsHealth, SessionsStatus, ShutdownEvent, StatusSummary, SystemEventParams,
    TickEvent,
)
from ._payloads.ui import (
    ChatMetadataParams, ChatStartupParams, ModelsAuthStatusParams, ModelsListParams,
    PluginSurfaceRefreshParams, ProgressCardGetParams, ProjectsListParams, SessionKeyOnlyParams,
    SessionsCatalogListParams, SessionsChangedEvent, SessionsDescribeParams,
    SessionsMessagesSubscribeParams, SessionsObserverVisibilityParams, SessionsViewersSetParams,
    TasksListParams, TaskStatus, TaskSuggestionsListParams, UpdateStatusParams, UsersPrefsGetParams,
)
from ._scopes import event_guard, grant_scopes, guard_admits, satisfies
from ._session import Call, Reply, ServerSession

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
    "ExecApprovalResolvedEvent", "ExecApprovalResolveParams", "ExecApprovalsSetParams",
    "ExecApprovalsSnapshot", "Features", "format_validation_error", "Frame", "GatewayStatus",
    "grant_scopes", "guard_admits", "HealthParams", "HealthSummary", "HeartbeatAgentStatus",
    "HeartbeatEvent", "HeartbeatOutcome", "HeartbeatStatus", "HelloAuth", "HelloOk", "INVALID_REQUEST",
    "join_surrogate_pairs", "JsonLimitError", "LaneStatus", "LinkChannel", "LocalProtocolError",
    "LOGS_DEFAULT_LIMIT", "LOGS_DEFAULT_MAX_BYTES", "LOGS_MAX_LIMIT", "LogsTailParams", "LogsTailResult",
    "make_converter", "MAX_PREAUTH_BYTES", "MAX_PROTOCOL", "METHODS", "MethodSpec", "MIN_PROTOCOL",
    "ModelCatalogRequest", "ModelsAuthStatusParams", "ModelsListParams", "negotiate_protocol",
    "NodeDescription", "NodeError", "NodeEventParams", "NodeEventResult", "NodeIdParams", "NodeInfo",
    "NodeInvokeParams", "NodeInvokeRequest", "NodeInvokeResult", "NodeInvokeResultAck",
    "NodeInvokeResultParams", "NodeListResult", "NodePairApproveResult", "NodePairListResult",
    "NodePairRejectResult", "NodePairRequest", "NodePairRequestParams", "NodePairRequestResult",
    "NodePairResolved", "NodePairVerifyParams", "NodePairVerifyResult", "NodeRenameParams",
    "NodeRenameResult", "normalize_cron_add", "NOT_LINKED", "NOT_PAIRED", "OkResult", "PairedDevice",
    "PairedNode", "parse_absolute_ms", "parse_json", "PluginSurfaceRefreshParams", "Policy",
    "PresenceEntry", "PresenceEvent", "PresenceUser", "ProgressCardGetParams", "ProjectsListParams",
    "PROTOCOL_VERSION", "ProtocolError", "RecentSession", "RECOMMENDED_PROTOCOL", "Reject",
    "RemoteProtocolError", "Reply", "RequestFrame", "RequestIdParams", "ResponseFrame",
    "RestartSentinelRef", "ROLES", "RunStatus", "satisfies", "ScheduledRestart", "SCOPE_ADMIN",
    "SCOPE_APPROVALS", "scope_of", "SCOPE_PAIRING", "SCOPE_READ", "SCOPE_WRITE", "SCOPES", "SendParams",
    "SERVER_CAPABILITIES", "ServerHandshake", "ServerInfo", "ServerSession", "SessionDefaults",
    "SessionKeyOnlyParams", "SessionKeyParams", "SessionModelDefaults", "SessionsCatalogListParams",
    "SessionsChangedEvent", "SessionsDeleteParams", "SessionsDescribeParams", "SessionsHealth",
    "SessionsListParams", "SessionsMessagesSubscribeParams", "SessionsObserverVisibilityParams",
    "SessionsPatchParams", "SessionsPreviewParams", "SessionsStatus", "SessionsViewersSetParams",
    "SessionTarget", "SetHeartbeatsParams", "ShutdownEvent", "sign_connect", "Snapshot", "StateVersion",
    "StatusSummary", "structure", "structure_frame", "SUPPORTED_PROTOCOLS", "SystemEventParams",
    "TasksListParams", "TaskStatus", "TaskSuggestionsListParams", "TickEvent", "UNAVAILABLE", "UNSET",
    "unstructure", "UpdateStatusParams", "UsersPrefsGetParams", "WakeMode", "WakeParams",
    "WebLoginStartParams", "WebLoginWaitParams", "WorkerRuns",
]
# fmt: on
