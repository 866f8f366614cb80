"""The ``connect`` handshake as a pure state machine (no I/O, no clock of its own).

Theory of operation, server side. On open the server sends ``connect.challenge {nonce, ts, capabilities}``
(``CHALLENGE_CAPABILITIES``; the version is not known yet, so the challenge is the same for every version:
protocol 3 clients ignore the extra key). Then:

Rule 0. A first frame over 64 KiB (``MAX_PREAUTH_BYTES``) closes 1009 "preauth payload too large" with no
        reply, before it is parsed.
Rule 1. The first frame must be valid JSON, else the connection closes 1000 with no reply.
Rule 2. It must be a request frame, else close 1008 "invalid request frame" with no reply (no id). JSON
        beyond the parser's limits (nesting, integer size; ``_json``) whose leading members make a
        request with an id is answered INVALID_REQUEST "invalid request frame: …" and closed 1008.
Rule 3. Its method must be ``connect``, else reply INVALID_REQUEST "invalid handshake: first request
        must be connect" and close 1008 with that text.
Rule 4. Its params must be valid ``ConnectParams``, else reply "invalid connect params: …", close 1008.
Rule 5. The client's ``[minProtocol, maxProtocol]`` must hold one of ``SUPPORTED_PROTOCOLS`` (3, 4, 7; 5
        and 6 are not versions): the highest one inside wins. Else reply "protocol mismatch" with
        ``details {code: "PROTOCOL_MISMATCH", clientMinProtocol, clientMaxProtocol, expectedProtocol: 4,
        minimumProbeProtocol: 3, supportedProtocols}`` (protocol 4's details plus our list) and close 1002.
Rule 6. ``role`` must be ``operator`` or ``node`` (default operator), else "invalid role", close 1008.
Then the handshake is *accepted* as far as the protocol goes: the caller authenticates (which may still
reject through ``reject()``) and answers ``hello-ok``. A timeout (no valid connect in time) is the
caller's clock: it closes 1000.

Every rejection is a ``Reject`` that carries the response to send (or none) and the close to perform, so
the connection task applies outcomes and never decides them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import attrs

from ._codec import decode_frame, structure, structure_frame, structure_lenient, unstructure
from ._errors import (
    CLOSE_MESSAGE_TOO_BIG,
    CLOSE_NORMAL,
    CLOSE_POLICY_VIOLATION,
    CLOSE_PROTOCOL_ERROR,
    INVALID_REQUEST,
    ProtocolError,
    RemoteProtocolError,
)
from ._frames import UNSET, ErrorShape, EventFrame, RequestFrame, ResponseFrame
from ._json import JsonLimitError
from ._payloads.connect import ConnectChallenge, ConnectParams, HelloAuth, HelloOk
from ._scopes import ROLES, default_scopes  # not ._methods: a client needs no method table

__all__ = [
    "CHALLENGE_CAPABILITIES",
    "MAX_PREAUTH_BYTES",
    "MAX_PROTOCOL",
    "MIN_PROBE_PROTOCOL",
    "MIN_PROTOCOL",
    "PROTOCOL_VERSION",
    "RECOMMENDED_PROTOCOL",
    "SERVER_CAPABILITIES",
    "SUPPORTED_PROTOCOLS",
    "Accept",
    "ClientHandshake",
    "Reject",
    "ServerHandshake",
    "error_response",
    "negotiate_protocol",
    "protocol_mismatch",
]

# The versions served (protocol-spec/README.md, "Versions"): 3 = the January original's clients (node hosts,
# probes), 4 = today's OpenClaw (the one a client should use), 7 = the seed's number, kept for our own older
# clients and behaving exactly as before 4 existed. 5 and 6 were never versions of ours.
SUPPORTED_PROTOCOLS: Final[tuple[int, ...]] = (3, 4, 7)
PROTOCOL_VERSION = 7  # the highest served (the seed's constant; a client offering 3..7 gets 7)
MIN_PROTOCOL = 3
MAX_PROTOCOL = PROTOCOL_VERSION
RECOMMENDED_PROTOCOL = 4  # a mismatch's ``expectedProtocol``: what today's clients should retry with
MIN_PROBE_PROTOCOL = 3  # a mismatch's ``minimumProbeProtocol``, as protocol 4 words it
# ``connect.challenge.capabilities``: connect-time features the client may use before it knows the version
# (protocol 4 has ``model-catalog-snapshot``: "connect may carry modelCatalog"). Only features this gateway
# really has go here; empty today.
CHALLENGE_CAPABILITIES: Final[tuple[str, ...]] = ()
# ``hello-ok.features.capabilities`` at protocol 4 (the 21 of OpenClaw 2026.9.6 name features we lack).
SERVER_CAPABILITIES: Final[tuple[str, ...]] = ()
# The reference's MAX_PREAUTH_PAYLOAD_BYTES: before hello-ok nobody has shown a credential, and a valid
# connect is a few KiB (a device block included), so a stranger's frame is never parsed beyond this.
MAX_PREAUTH_BYTES = 65536


def _size_over(text: str | bytes, limit: int) -> bool:
    """Whether ``text`` is more than ``limit`` bytes as UTF-8, without encoding it unless it could be."""
    if isinstance(text, bytes) or len(text) > limit:
        return len(text) > limit
    if len(text) * 4 <= limit or text.isascii():
        return False
    return len(text.encode("utf-8", "surrogatepass")) > limit


def negotiate_protocol(client_min: int, client_max: int,
                       supported: tuple[int, ...] = SUPPORTED_PROTOCOLS) -> int | None:
    """The highest of ``supported`` inside the client's ``[client_min, client_max]``, or ``None``."""
    return max((version for version in supported if client_min <= version <= client_max), default=None)


def protocol_mismatch(params: ConnectParams, supported: tuple[int, ...] = SUPPORTED_PROTOCOLS) -> RemoteProtocolError:
    """Rule 5's refusal: protocol 4's details (so its clients retry with ``expectedProtocol``) plus ours."""
    return RemoteProtocolError(INVALID_REQUEST, "protocol mismatch", details={
        "code": "PROTOCOL_MISMATCH", "clientMinProtocol": params.min_protocol,
        "clientMaxProtocol": params.max_protocol, "expectedProtocol": RECOMMENDED_PROTOCOL,
        "minimumProbeProtocol": MIN_PROBE_PROTOCOL, "supportedProtocols": list(supported),
    }, close_code=CLOSE_PROTOCOL_ERROR)


def error_response(request_id: str, error: ProtocolError) -> ResponseFrame:
    """The ``res`` frame for a failed request."""
    return ResponseFrame(
        id=request_id,
        ok=False,
        payload=UNSET if error.payload is None else error.payload,
        error=ErrorShape(
            code=error.code,
            message=error.message,
            details=UNSET if error.details is None else error.details,
            retryable=True if error.retry_after_ms is not None else None,
            retry_after_ms=error.retry_after_ms,
        ),
    )


@attrs.frozen
class Reject:
    """Send ``response`` (if any), then close with ``close_code``/``close_reason``."""

    response: ResponseFrame | None
    close_code: int
    close_reason: str


@attrs.frozen
class Accept:
    """A protocol-valid ``connect``: authenticate it, then answer ``hello-ok`` to ``request_id``.

    ``device_auth`` is filled in by the authenticator when a paired device was issued a token, and
    ``auth_method`` with how the client proved itself (``token``, ``password``, ``device-token``: protocol
    4's ``hello-ok.auth.method``).
    """

    request_id: str
    params: ConnectParams
    protocol: int
    role: str
    scopes: tuple[str, ...]
    device_auth: HelloAuth | None = None
    auth_method: str | None = None


class ServerHandshake:
    """Server side of the handshake for one connection.

    Args:
        nonce: the challenge nonce (a fresh UUID per connection).
        now_ms: wall-clock milliseconds when the socket opened (the challenge's ``ts``).
        max_preauth_bytes: the largest first message (UTF-8 bytes) looked at (Rule 0).
    """

    def __init__(self, *, nonce: str, now_ms: int, supported: tuple[int, ...] = SUPPORTED_PROTOCOLS,
                 max_preauth_bytes: int = MAX_PREAUTH_BYTES) -> None:
        self.nonce = nonce
        self._max_preauth_bytes = max_preauth_bytes
        self._now_ms = now_ms
        self._supported = supported
        self.done = False

    def challenge(self) -> EventFrame:
        return EventFrame(event="connect.challenge", payload=ConnectChallenge(
            nonce=self.nonce, ts=self._now_ms, capabilities=list(CHALLENGE_CAPABILITIES)))

    def receive(self, text: str | bytes) -> Reject | Accept:
        """Feed the first frame; return what to do."""
        if self.done:
            raise RuntimeError("handshake already finished")
        self.done = True
        if _size_over(text, self._max_preauth_bytes):
            return Reject(None, CLOSE_MESSAGE_TOO_BIG, "preauth payload too large")
        try:
            frame = decode_frame(text)
        except JsonLimitError as exc:
            request_id = exc.members.get("id")
            if exc.members.get("type") != "req" or not isinstance(request_id, str) or not request_id:
                return Reject(None, CLOSE_POLICY_VIOLATION, "invalid request frame")
            return self.reject(request_id, RemoteProtocolError(
                INVALID_REQUEST, f"invalid request frame: {exc.message}", close_code=CLOSE_POLICY_VIOLATION))
        except RemoteProtocolError as exc:
            if exc.message == "invalid JSON":
                return Reject(None, CLOSE_NORMAL, "")
            return Reject(None, CLOSE_POLICY_VIOLATION, "invalid request frame")
        if not isinstance(frame, RequestFrame):
            return Reject(None, CLOSE_POLICY_VIOLATION, "invalid request frame")
        if frame.method != "connect":
            return self.reject(frame.id, RemoteProtocolError(
                INVALID_REQUEST, "invalid handshake: first request must be connect",
                close_code=CLOSE_POLICY_VIOLATION))
        try:
            params = structure(frame.params, ConnectParams, what="connect params")
        except RemoteProtocolError as exc:
            exc.close_code = CLOSE_POLICY_VIOLATION
            return self.reject(frame.id, exc)
        protocol = negotiate_protocol(params.min_protocol, params.max_protocol, self._supported)
        if protocol is None:
            return self.reject(frame.id, protocol_mismatch(params, self._supported))
        role = params.role or "operator"
        if role not in ROLES:
            return self.reject(frame.id, RemoteProtocolError(
                INVALID_REQUEST, "invalid role", close_code=CLOSE_POLICY_VIOLATION))
        return Accept(frame.id, params, protocol, role, default_scopes(role, params.scopes, protocol))

    def reject(self, request_id: str, error: ProtocolError) -> Reject:
        """Turn a rejection (the protocol's, or the caller's auth decision) into a ``Reject``."""
        code = error.close_code if error.close_code is not None else CLOSE_POLICY_VIOLATION
        return Reject(error_response(request_id, error), code, error.close_reason)


class ClientHandshake:
    """Client side: wait for the challenge, send ``connect``, read ``hello-ok``.

    ``connect_params`` is the JSON object to send as params (built by the caller, so that any client
    library, including a deliberately wrong one in the conformance harness, can use this). ``signer``,
    when given, makes the ``device`` block from the challenge nonce (``None`` when none arrived).
    """

    def __init__(self, connect_params: dict[str, Any], *, request_id: str = "connect",
                 signer: Callable[[str | None], dict[str, Any]] | None = None) -> None:
        self._params = connect_params
        self._signer = signer
        self.request_id = request_id
        self.nonce: str | None = None
        self.sent = False
        self.hello: HelloOk | None = None

    def connect_frame(self) -> RequestFrame:
        """The ``connect`` request to send now (after the challenge, or on the fallback timer)."""
        if self.sent:
            raise RuntimeError("connect already sent")
        self.sent = True
        params = self._params
        if self._signer is not None:
            params = {**params, "device": self._signer(self.nonce)}
        return RequestFrame(id=self.request_id, method="connect", params=params)

    def receive(self, data: Any) -> RequestFrame | HelloOk | None:
        """Feed one decoded JSON frame (a dict).

        Returns the connect request to send once the challenge arrives, ``HelloOk`` when accepted,
        ``None`` for anything that needs no action.

        Raises:
            RemoteProtocolError: the server refused the connect (its code, message and details).
        """
        frame = structure_frame(data)
        if isinstance(frame, EventFrame) and frame.event == "connect.challenge" and not self.sent:
            if isinstance(frame.payload, dict) and isinstance(frame.payload.get("nonce"), str):
                self.nonce = frame.payload["nonce"]
            return self.connect_frame()
        if isinstance(frame, ResponseFrame) and frame.id == self.request_id:
            if frame.ok:
                # A newer server's additions (protocol 4's controlUi*, suspension, …) are not errors.
                self.hello = structure_lenient(frame.payload, HelloOk, what="hello-ok")
                return self.hello
            error = frame.error or ErrorShape(code=INVALID_REQUEST, message="connect refused")
            raise RemoteProtocolError(error.code, error.message,
                                      details=None if error.details is UNSET else error.details)
        return None


def hello_payload(hello: HelloOk) -> Any:
    return unstructure(hello)
