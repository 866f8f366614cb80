"""Post-handshake state of one connection (server side): requests in, replies and calls out.

Rule 1. Text that is not JSON is ignored (the reference logs and drops it; the connection stays open).
Rule 2. JSON that is not a valid request frame is answered INVALID_REQUEST "invalid request frame: …"
        with the frame's ``id`` when it has a usable one, else the id ``"invalid"`` (also for an empty ``id`` at
        protocol 4: OpenClaw echoes ``""``, which its own ResponseFrame schema refuses); so is JSON nested
        too deep or holding too long an integer (``_json``), with its ``id`` when that precedes the
        offending member.
Rule 3. The caller's role and scopes must allow the method (checked before lookup, so unknown methods
        answer the admin-bucket scope error first, as in the reference).
Rule 4. ``connect`` again: "connect is only valid as the first request"; the connection stays open.
Rule 5. Unknown method: "unknown method: <name>".
Rule 6. Params must structure into the method's params type: "invalid <method> params: …" (after the
        method's ``normalize``, where it has one).
Otherwise the outcome is a ``Call`` for the gateway to run.
"""

from __future__ import annotations

from typing import Any

import attrs

from ._codec import structure, structure_frame
from ._errors import INVALID_REQUEST, RemoteProtocolError
from ._frames import RequestFrame, ResponseFrame
from ._handshake import error_response
from ._json import JsonLimitError, parse_json
from ._methods import METHODS, MethodSpec, authorize_method

__all__ = ["Call", "Reply", "ServerSession"]


@attrs.frozen
class Call:
    """A valid, authorized request: run ``spec`` with ``params`` and answer ``request_id``."""

    request_id: str
    spec: MethodSpec
    params: Any


@attrs.frozen
class Reply:
    """Answer immediately with ``frame`` (an error); nothing to run."""

    frame: ResponseFrame
    error: RemoteProtocolError


class ServerSession:
    """What a connection may do after ``hello-ok``: its role, granted scopes and protocol version."""

    __slots__ = ("_methods", "protocol", "role", "scopes")

    def __init__(self, *, role: str, scopes: tuple[str, ...], protocol: int,
                 methods: dict[str, MethodSpec] = METHODS) -> None:
        self.role = role
        self.scopes = frozenset(scopes)
        self.protocol = protocol
        self._methods = methods

    def receive(self, text: str | bytes) -> Call | Reply | None:
        try:
            data = parse_json(text)
        except JsonLimitError as exc:
            error = RemoteProtocolError(INVALID_REQUEST, f"invalid request frame: {exc.message}")
            return self._fail(_usable_id(exc.members), error)
        except RemoteProtocolError:
            return None
        request_id = _usable_id(data) if isinstance(data, dict) else "invalid"
        try:
            frame = structure_frame(data)
            if not isinstance(frame, RequestFrame):
                raise RemoteProtocolError(INVALID_REQUEST, "invalid frame: at /type: must be \"req\"")
        except RemoteProtocolError as exc:
            summary = exc.message.removeprefix("invalid frame: ")
            return self._fail(request_id, RemoteProtocolError(INVALID_REQUEST, f"invalid request frame: {summary}"))
        try:
            return self.call_for(frame)
        except RemoteProtocolError as exc:
            return self._fail(frame.id, exc)

    def call_for(self, frame: RequestFrame) -> Call:
        """Authorize and type-check one request frame (raises ``RemoteProtocolError``)."""
        authorize_method(self.role, self.scopes, frame.method, frame.params, protocol=self.protocol)
        if frame.method == "connect":
            raise RemoteProtocolError(INVALID_REQUEST, "connect is only valid as the first request")
        spec = self._methods.get(frame.method)
        if spec is None or spec.since > self.protocol:
            raise RemoteProtocolError(INVALID_REQUEST, f"unknown method: {frame.method}")
        raw = spec.normalize(frame.params) if spec.normalize is not None else frame.params
        params: Any = structure(raw, spec.params, what=f"{frame.method} params")
        return Call(frame.id, spec, params)

    @staticmethod
    def _fail(request_id: str, error: RemoteProtocolError) -> Reply:
        return Reply(error_response(request_id, error), error)


def _usable_id(frame: dict[str, Any]) -> str:
    """The frame's ``id`` when it is a non-empty string, else ``"invalid"`` (the original's
    answer to a malformed first frame), at every version.

    OpenClaw 2026.9.6 answers an empty id with ``id: ""``, which its own protocol.schema.json
    (``ResponseFrame.id`` minLength 1) refuses; we keep the schema-valid answer.
    """
    request_id = frame.get("id")
    if isinstance(request_id, str) and request_id:
        return request_id
    return "invalid"
