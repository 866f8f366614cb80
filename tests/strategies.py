"""Hypothesis strategies for the wire types, derived from their annotations and from the generated schemas.

``from_type(tp)`` walks an attrs class the way the codec does (``Annotated`` constraints, ``Literal``,
``X | None``, lists, dicts, ``Any``), so every value it draws is one the codec must encode and the schema
must accept. ``json_for(tp)`` draws the other way round: JSON generated from ``schema_for(tp)``, which the
codec must decode.
"""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Iterable, Iterator
from typing import Annotated, Any, Literal, get_args, get_origin

import attrs
from annotated_types import Ge, Le, MaxLen, MinLen
from hypothesis import settings
from hypothesis import strategies as st

from moltbot.config.model import Binding, BindingMatch, BindingPeer
from moltbot.protocol import (
    EVENT_PAYLOADS,
    METHODS,
    ConnectParams,
    EventFrame,
    HelloOk,
    RequestFrame,
    ResponseFrame,
)
from moltbot.protocol._schema import schema_for

__all__ = [
    "BINDING_AGENTS",
    "BINDING_PEERS",
    "FRAME_TYPES",
    "WIRE_ROOTS",
    "binding_peers",
    "bindings",
    "event_frames",
    "frames",
    "from_json_schema",
    "from_type",
    "json_for",
    "json_values",
    "reachable_classes",
    "request_frames",
    "response_frames",
]

MAX_SAFE_INT = 2**53 - 1  # beyond this the reference's JavaScript loses precision
FRAME_TYPES = (RequestFrame, ResponseFrame, EventFrame)
# Every type that crosses the wire: the frames, the handshake payloads, method params/results, events.
WIRE_ROOTS: tuple[Any, ...] = (
    *FRAME_TYPES,
    ConnectParams,
    HelloOk,
    *(spec.params for spec in METHODS.values()),
    *(spec.result for spec in METHODS.values()),
    *EVENT_PAYLOADS.values(),
)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-MAX_SAFE_INT, MAX_SAFE_INT)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)


@functools.cache
def from_type(tp: Any) -> st.SearchStrategy[Any]:
    """Values of ``tp`` as the codec holds them (attrs instances, ``None`` for absent optionals, ...)."""
    if tp is Any:
        return json_values
    if isinstance(tp, type) and attrs.has(tp):
        return _attrs_instances(tp)
    origin, args = get_origin(tp), get_args(tp)
    if origin is Annotated:
        return _constrained(args[0], args[1:])
    if origin is Literal:
        return st.sampled_from(args)
    if origin in (typing.Union, types.UnionType):
        return st.one_of([st.none() if arg is type(None) else from_type(arg) for arg in args])
    if origin is list:
        return st.lists(from_type(args[0] if args else Any), max_size=3)
    if origin is dict:
        key, value = args or (str, Any)
        return st.dictionaries(from_type(key), from_type(value), max_size=3)
    scalars: dict[Any, st.SearchStrategy[Any]] = {
        str: st.text(max_size=12),
        bool: st.booleans(),
        int: st.integers(-MAX_SAFE_INT, MAX_SAFE_INT),
        float: st.floats(allow_nan=False, allow_infinity=False),
    }
    if tp in scalars:
        return scalars[tp]
    raise TypeError(f"no strategy for {tp!r}")


def _constrained(base: Any, constraints: tuple[Any, ...]) -> st.SearchStrategy[Any]:
    min_length = max((c.min_length for c in constraints if isinstance(c, MinLen)), default=0)
    minimum = max((c.ge for c in constraints if isinstance(c, Ge)), default=None)
    maximum = min((c.le for c in constraints if isinstance(c, Le)), default=MAX_SAFE_INT)
    max_length = min((c.max_length for c in constraints if isinstance(c, MaxLen)), default=None)
    if base is str:
        return st.text(min_size=min_length, max_size=max_length if max_length is not None else max(12, min_length))
    if base is int:
        return st.integers(min_value=minimum if minimum is not None else -MAX_SAFE_INT, max_value=maximum)
    if get_origin(base) is list:
        (item,) = get_args(base)
        return st.lists(from_type(item), min_size=min_length, max_size=max(3, min_length))
    raise TypeError(f"no strategy for Annotated[{base!r}, ...]")


def _attrs_instances(cls: type) -> st.SearchStrategy[Any]:
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = {}
    for field in attrs.fields(cls):
        value = from_type(hints[field.name])
        if field.default is not attrs.NOTHING:
            value = st.just(field.default) | value  # absent from the JSON (None / UNSET) or present
        fields[field.alias] = value
    return st.fixed_dictionaries(fields).map(lambda kwargs: cls(**kwargs))


def reachable_classes(roots: Iterable[Any] = WIRE_ROOTS) -> list[type]:
    """Every attrs class reachable from ``roots`` through field annotations, ordered by name."""
    seen: dict[type, None] = {}

    def walk(tp: Any) -> Iterator[type]:
        if isinstance(tp, type) and attrs.has(tp):
            yield tp
        else:
            for arg in get_args(tp):
                yield from walk(arg)

    pending = [cls for root in roots for cls in walk(root)]
    while pending:
        cls = pending.pop()
        if cls in seen:
            continue
        seen[cls] = None
        for hint in typing.get_type_hints(cls, include_extras=True).values():
            pending.extend(walk(hint))
    return sorted(seen, key=lambda cls: cls.__name__)


@functools.cache
def json_for(tp: Any) -> st.SearchStrategy[Any]:
    """JSON documents generated from the published schema of ``tp`` (not from its annotations)."""
    schema = schema_for(tp)
    return from_json_schema(schema, schema.get("$defs", {}))


# hypothesis-jsonschema 0.23.1 (the latest) calls ``many.more()``, which Hypothesis 6.170 removed, so it
# cannot draw objects here. ``from_json_schema`` covers exactly the keywords ``_schema`` emits and fails
# loudly on any other, so a new keyword in the generator cannot go untested.
_ANNOTATIONS = {"$schema", "$defs", "title", "description"}
_KEYWORDS = {
    "$ref", "anyOf", "oneOf", "const", "enum", "type", "minLength", "maxLength", "minimum", "maximum", "items",
    "minItems", "maxItems",
    "properties", "required", "additionalProperties", "propertyNames",
}


def from_json_schema(schema: dict[str, Any], defs: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Instances of ``schema`` (one of our generated schemas); ``$ref`` resolves into ``defs``."""
    unknown = set(schema) - _KEYWORDS - _ANNOTATIONS
    if unknown:
        raise ValueError(f"from_json_schema does not know {sorted(unknown)}")
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/$defs/")
        return st.deferred(lambda: from_json_schema(defs[name], defs))
    for union in ("anyOf", "oneOf"):
        if union in schema:
            return st.one_of([from_json_schema(option, defs) for option in schema[union]])
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind is None:
        return json_values
    if kind == "object":
        return _json_objects(schema, defs)
    if kind == "array":
        items = from_json_schema(schema.get("items", {}), defs)
        low = schema.get("minItems", 0)
        return st.lists(items, min_size=low, max_size=min(low + 3, schema.get("maxItems", low + 3)))
    if kind == "string":
        low = schema.get("minLength", 0)
        return st.text(min_size=low, max_size=min(low + 12, schema.get("maxLength", low + 12)))
    if kind == "integer":
        return st.integers(min_value=schema.get("minimum", -MAX_SAFE_INT), max_value=schema.get("maximum", MAX_SAFE_INT))
    scalars = {"boolean": st.booleans(), "null": st.none(), "number": st.floats(allow_nan=False, allow_infinity=False)}
    return scalars[kind]


def _json_objects(schema: dict[str, Any], defs: dict[str, Any]) -> st.SearchStrategy[Any]:
    extra = schema.get("additionalProperties", {})
    if extra is False:
        properties = {name: from_json_schema(sub, defs) for name, sub in schema.get("properties", {}).items()}
        required = set(schema.get("required", ()))
        return st.fixed_dictionaries(
            {name: value for name, value in properties.items() if name in required},
            optional={name: value for name, value in properties.items() if name not in required},
        )
    names = from_json_schema({"type": "string", **schema.get("propertyNames", {})}, defs)
    return st.dictionaries(names, from_json_schema(extra, defs), max_size=3)


request_frames = from_type(RequestFrame)
response_frames = from_type(ResponseFrame)
event_frames = from_type(EventFrame)
frames = request_frames | response_frames | event_frames


# --- bindings (the most specific match wins): a small universe, so matches and ties are common ------------------------

BINDING_AGENTS = ("main", "work", "home")
BINDING_PEERS = (("dm", "42"), ("dm", "7"), ("group", "-100"), ("group", "-100:topic:5"))
binding_peers = st.sampled_from(BINDING_PEERS).map(lambda peer: BindingPeer(kind=peer[0], id=peer[1]))
bindings = st.builds(
    lambda agent, channel, account, peer, guild, team: Binding(agent_id=agent, match=BindingMatch(
        channel=channel, account_id=account, peer=peer, guild_id=guild, team_id=team)),
    st.sampled_from(BINDING_AGENTS), st.sampled_from(("telegram", "Telegram", "whatsapp")),
    st.sampled_from((None, "*", "default", "work")), st.none() | binding_peers,
    st.sampled_from((None, None, "g1", "g2")), st.sampled_from((None, None, "t1")),
)


# --- browser origins and Host names a hostile page may send (gateway.origin) -----------------------------

_FOREIGN_NAMES = st.from_regex(r"[a-z][a-z0-9-]{0,15}(\.[a-z][a-z0-9-]{0,10}){0,2}\.[a-z]{2,6}", fullmatch=True)
# Names a rebinding page or a LAN neighbour may put in Host: never loopback, never ours.
foreign_hosts = st.one_of(
    _FOREIGN_NAMES,
    st.builds("{}:{}".format, _FOREIGN_NAMES, st.integers(1, 65535)),
    st.sampled_from(["localhost.evil.example", "127.0.0.1.nip.io", "evil.localhost.example", "[fe80::1]",
                     "10.0.0.8", "192.168.1.20:18789", "0x7f.evil.example"]),
).filter(lambda host: not host.split(":", 1)[0].endswith("localhost"))
# Origins that are neither the gateway's own nor allowed; ``own_port`` is the gateway's, avoided for loopback.
foreign_origins = st.one_of(
    st.just("null"),
    st.builds("{}://{}".format, st.sampled_from(["http", "https", "chrome-extension", "moz-extension", "file"]),
              foreign_hosts),
    st.builds("http://127.0.0.1:{}".format, st.integers(1, 65535)),  # a loopback page on another port
    st.builds("http://localhost:{}".format, st.integers(1, 65535)),
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7e), min_size=1, max_size=40),
)


def examples(n: int) -> int:
    """``n`` Hypothesis examples scaled by the profile: ``n`` under the default one (Hypothesis's 100
    examples), ten times ``n`` under ``python -m pytest --hypothesis-profile=thorough`` (tests/conftest.py).
    A test's own ``max_examples`` beats any profile's, so the tests that set one take it from here."""
    return max(1, n * settings.default.max_examples // 100)
