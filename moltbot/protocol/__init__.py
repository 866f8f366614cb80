"""The moltbot gateway protocol, sans-IO: frames, payloads, codec, handshake, session, errors.

Nothing here does I/O or imports trio; the gateway, the client and the conformance harness drive these
objects with text they read and write themselves.
"""

from ._codec import (
    configure_converter as configure_converter,
)
from ._codec import (
    decode_frame as decode_frame,
)
from ._codec import (
    dumps as dumps,
)
from ._codec import (
    encode_frame as encode_frame,
)
from ._codec import (
    format_validation_error as format_validation_error,
)
from ._codec import (
    make_converter as make_converter,
)
from ._codec import (
    structure as structure,
)
from ._codec import (
    structure_frame as structure_frame,
)
from ._codec import (
    unstructure as unstructure,
)
from ._errors import (
    AGENT_TIMEOUT as AGENT_TIMEOUT,
)
from ._errors import (
    CLOSE_MESSAGE_TOO_BIG as CLOSE_MESSAGE_TOO_BIG,
)
from ._errors import (
    CLOSE_NORMAL as CLOSE_NORMAL,
)
from ._errors import (
    CLOSE_POLICY_VIOLATION as CLOSE_POLICY_VIOLATION,
)
from ._errors import (
    CLOSE_PROTOCOL_ERROR as CLOSE_PROTOCOL_ERROR,
)
from ._errors import (
    CLOSE_SERVICE_RESTART as CLOSE_SERVICE_RESTART,
)
from ._errors import (
    CLOSE_TICK_TIMEOUT as CLOSE_TICK_TIMEOUT,
)
from ._errors import (
    INVALID_REQUEST as INVALID_REQUEST,
)
from ._errors import (
    NOT_LINKED as NOT_LINKED,
)
from ._errors import (
    NOT_PAIRED as NOT_PAIRED,
)
from ._errors import (
    UNAVAILABLE as UNAVAILABLE,
)
from ._errors import (
    LocalProtocolError as LocalProtocolError,
)
from ._errors import (
    ProtocolError as ProtocolError,
)
from ._errors import (
    RemoteProtocolError as RemoteProtocolError,
)
from ._frames import (
    UNSET as UNSET,
)
from ._frames import (
    ErrorShape as ErrorShape,
)
from ._frames import (
    EventFrame as EventFrame,
)
from ._frames import (
    Frame as Frame,
)
from ._frames import (
    RequestFrame as RequestFrame,
)
from ._frames import (
    ResponseFrame as ResponseFrame,
)
from ._frames import (
    StateVersion as StateVersion,
)
from ._handshake import (
    CHALLENGE_CAPABILITIES as CHALLENGE_CAPABILITIES,
)
from ._handshake import (
    MAX_PROTOCOL as MAX_PROTOCOL,
)
from ._handshake import (
    MIN_PROTOCOL as MIN_PROTOCOL,
)
from ._handshake import (
    PROTOCOL_VERSION as PROTOCOL_VERSION,
)
from ._handshake import (
    RECOMMENDED_PROTOCOL as RECOMMENDED_PROTOCOL,
)
from ._handshake import (
    SERVER_CAPABILITIES as SERVER_CAPABILITIES,
)
from ._handshake import (
    SUPPORTED_PROTOCOLS as SUPPORTED_PROTOCOLS,
)
from ._handshake import (
    Accept as Accept,
)
from ._handshake import (
    ClientHandshake as ClientHandshake,
)
from ._handshake import (
    Reject as Reject,
)
from ._handshake import (
    ServerHandshake as ServerHandshake,
)
from ._handshake import (
    error_response as error_response,
)
from ._handshake import (
    negotiate_protocol as negotiate_protocol,
)
from ._methods import (
    EVENT_PAYLOADS as EVENT_PAYLOADS,
)
from ._methods import (
    EVENTS as EVENTS,
)
from ._methods import (
    METHODS as METHODS,
)
from ._methods import (
    MethodSpec as MethodSpec,
)
from ._methods import (
    authorize_method as authorize_method,
)
from ._methods import (
    scope_of as scope_of,
)
from ._payloads.connect import (
    ClientInfo as ClientInfo,
)
from ._payloads.connect import (
    ConnectAuth as ConnectAuth,
)
from ._payloads.connect import (
    ConnectChallenge as ConnectChallenge,
)
from ._payloads.connect import (
    ConnectParams as ConnectParams,
)
from ._payloads.connect import (
    DeviceIdentity as DeviceIdentity,
)
from ._payloads.connect import (
    Features as Features,
)
from ._payloads.connect import (
    HelloAuth as HelloAuth,
)
from ._payloads.connect import (
    HelloOk as HelloOk,
)
from ._payloads.connect import (
    Policy as Policy,
)
from ._payloads.connect import (
    ServerInfo as ServerInfo,
)
from ._payloads.connect import (
    SessionDefaults as SessionDefaults,
)
from ._payloads.connect import (
    Snapshot as Snapshot,
)
from ._payloads.presence import PresenceEntry as PresenceEntry
from ._payloads.system import (
    HealthSummary as HealthSummary,
)
from ._payloads.system import (
    HeartbeatEvent as HeartbeatEvent,
)
from ._payloads.system import (
    PresenceEvent as PresenceEvent,
)
from ._payloads.system import (
    ShutdownEvent as ShutdownEvent,
)
from ._payloads.system import (
    StatusSummary as StatusSummary,
)
from ._payloads.system import (
    TickEvent as TickEvent,
)
from ._session import Call as Call
from ._session import Reply as Reply
from ._session import ServerSession as ServerSession

__all__ = [
    "AGENT_TIMEOUT", "CHALLENGE_CAPABILITIES", "RECOMMENDED_PROTOCOL", "SERVER_CAPABILITIES", "SUPPORTED_PROTOCOLS", "CLOSE_MESSAGE_TOO_BIG", "CLOSE_NORMAL", "CLOSE_POLICY_VIOLATION", "CLOSE_PROTOCOL_ERROR",
    "CLOSE_SERVICE_RESTART", "CLOSE_TICK_TIMEOUT", "EVENT_PAYLOADS", "EVENTS", "INVALID_REQUEST", "MAX_PROTOCOL", "METHODS",
    "MIN_PROTOCOL", "NOT_LINKED", "NOT_PAIRED", "PROTOCOL_VERSION", "UNAVAILABLE", "UNSET", "Accept", "Call",
    "ClientHandshake", "ClientInfo", "ConnectAuth", "ConnectChallenge", "ConnectParams", "DeviceIdentity",
    "ErrorShape", "EventFrame", "Features", "Frame", "HealthSummary", "HeartbeatEvent", "HelloAuth", "HelloOk",
    "LocalProtocolError", "MethodSpec", "Policy", "PresenceEntry", "PresenceEvent", "ProtocolError", "Reject",
    "RemoteProtocolError", "Reply", "RequestFrame", "ResponseFrame", "ServerHandshake", "ServerInfo",
    "ServerSession", "SessionDefaults", "ShutdownEvent", "Snapshot", "StateVersion", "StatusSummary",
    "TickEvent", "authorize_method", "configure_converter", "decode_frame", "dumps", "encode_frame",
    "error_response", "format_validation_error", "make_converter", "negotiate_protocol", "scope_of",
    "structure", "structure_frame", "unstructure",
]
