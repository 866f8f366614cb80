"""Reading a newer gateway's frames: keep what this client knows, ignore what a newer server added.

The protocol's version policy makes additive fields free (no version bump), and today's OpenClaw
gateway sends many our strict payload classes do not have (``server.buildId``, ``features.capabilities``,
``pluginSurfaceUrls``, presence ``clientId``, ``auth.method``, …). The gateway side must stay strict
about what it accepts; a client must not refuse a server for growing. So before structuring a server
frame the client drops the keys its classes do not declare (``known_keys``), and an optional block that
still does not fit (a protocol-4 ``auth`` without ``deviceToken``, for a device-less client) is left
out rather than failing the connection. The raw payload is kept for callers who want the new fields.
"""

from __future__ import annotations

import types
import typing
from typing import Any

import attrs

from ..protocol import HelloOk, RemoteProtocolError, camel, structure

__all__ = ["known_keys", "parse_hello"]

_MAX_DEPTH = 32  # payload classes nest a few levels; anything deeper is passed through as it is


def _unwrap(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


@typing.no_type_check
def known_keys(value: Any, tp: Any, depth: int = 0) -> Any:
    """``value`` without the object keys that ``tp`` (an attrs payload class, or a list/dict/optional of
    one) does not declare, recursively. Values of other types are returned as they are."""
    tp = _unwrap(tp)
    if depth > _MAX_DEPTH:
        return value
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        members = [_unwrap(arg) for arg in typing.get_args(tp)]
        classes = [m for m in members if attrs.has(m)]
        return (
            known_keys(value, classes[0], depth + 1)
            if len(classes) == 1 and isinstance(value, dict)
            else value
        )
    if origin is list and isinstance(value, list):
        (item,) = typing.get_args(tp) or (Any,)
        return [known_keys(entry, item, depth + 1) for entry in value]
    if origin is dict and isinstance(value, dict):
        args = typing.get_args(tp)
        item = args[1] if len(args) == 2 else Any
        return {key: known_keys(entry, item, depth + 1) for key, entry in value.items()}
    if isinstance(tp, type) and attrs.has(tp) and isinstance(value, dict):
        hints = typing.get_type_hints(tp, include_extras=True)
        fields = {camel(field.name): hints.get(field.name, Any) for field in attrs.fields(tp)}
        return {
            key: known_keys(entry, fields[key], depth + 1) for key, entry in value.items() if key in fields
        }
    return value


def _optional_fields(cls: type) -> list[str]:
    return [camel(field.name) for field in attrs.fields(cls) if field.default is not attrs.NOTHING]


def parse_hello(payload: Any) -> HelloOk:
    """The ``hello-ok`` payload as ``HelloOk``, tolerant of what a newer gateway added (module docstring).

    Raises:
        RemoteProtocolError: a required part is missing or of the wrong type (not a hello-ok at all).
    """
    pruned = known_keys(payload, HelloOk)
    try:
        return structure(pruned, HelloOk, what="hello-ok")
    except RemoteProtocolError as first:
        if not isinstance(pruned, dict):
            raise
        error = first
    # An optional block of another shape (e.g. protocol 4's ``auth`` without a device token): leave out
    # the optional blocks that do not fit, one at a time, keeping every one that does.
    for key in _optional_fields(HelloOk):
        if key not in pruned:
            continue
        candidate = {k: v for k, v in pruned.items() if k != key}
        try:
            return structure(candidate, HelloOk, what="hello-ok")
        except RemoteProtocolError:
            continue
    raise error
