"""JSON text ⇄ frames and payloads: the one cattrs converter of the wire format.

Rules the converter enforces on input, so handlers only ever see valid objects:
- unknown keys are rejected (every object is strict, as in the reference's TypeBox schemas);
- no coercion: a string is a ``str``, an integer an ``int`` (not a bool, not a float), a boolean a ``bool``;
- ``Annotated`` constraints (``MinLen``, ``Ge``) are checked: ids and names are non-empty, counters ≥ 0;
- snake_case attributes are camelCase keys;
- a union of attrs classes that differ by one ``Literal`` field (``kind``) is told apart by that key.
Errors name the path of every bad field, in the reference's summary style:
``at /client/id: must be one of 'cli', …; at root: unexpected property 'foo'``.

On output, optional fields left at their default (``None`` or ``UNSET``) are omitted, like
``JSON.stringify`` drops ``undefined``.
"""

from __future__ import annotations

import functools
import heapq
import json
import math
import re
import types
import typing
from collections.abc import Callable, Iterable
from typing import Annotated, Any, Literal, TypeVar, get_args, get_origin

import attrs
import cattrs
from annotated_types import Ge, Le, MaxLen, MinLen
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ._errors import INVALID_REQUEST, RemoteProtocolError
from ._frames import FRAME_TAGS, UNSET, Frame
from ._json import parse_json
from ._summary import MAX_PROBLEMS, camel, format_validation_error

__all__ = [
    "camel",
    "configure_converter",
    "converter",
    "decode_frame",
    "dumps",
    "encode_frame",
    "escape_surrogates",
    "join_surrogate_pairs",
    "format_validation_error",
    "make_converter",
    "structure",
    "structure_frame",
    "structure_lenient",
    "unstructure",
]

T = TypeVar("T")
_TAG_TO_FRAME = {tag: cls for cls, tag in FRAME_TAGS.items()}
# Fields that are always written, even at their default (the original sends ``null`` there). By class name:
# the codec does not import the payload modules (a client loads only those it uses).
_ALWAYS_WRITTEN: dict[str, tuple[str, ...]] = {"moltbot.protocol._payloads.system.ShutdownEvent": ("restart_expected_ms",)}


def always_written(cls: type) -> tuple[str, ...]:
    """The fields of ``cls`` written even at their default."""
    return _ALWAYS_WRITTEN.get(f"{cls.__module__}.{cls.__qualname__}", ())


def _json_type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


StructureHook = Callable[[Any, Any], Any]  # cattrs' (value, type) -> object


def _origin(tp: Any) -> Any:
    """``get_origin``, typed loosely: compared with special forms (``Annotated``, ``Literal``)."""
    return get_origin(tp)


def _strict(kind: type, name: str) -> StructureHook:
    def hook(value: Any, _: Any) -> Any:
        if type(value) is not kind:
            raise TypeError(f"must be {name} (got {_json_type_name(value)})")
        return value

    return hook


def _number(value: Any, _: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"must be number (got {_json_type_name(value)})")
    return value


def _any(value: Any, _: Any) -> Any:
    return value


def _annotated_hook(converter: cattrs.Converter, tp: Any) -> StructureHook:
    base, *constraints = get_args(tp)
    base_hook = converter.get_structure_hook(base)

    def hook(value: Any, _: Any) -> Any:
        value = base_hook(value, base)
        for constraint in constraints:
            if isinstance(constraint, MinLen) and len(value) < constraint.min_length:
                if isinstance(value, str):
                    raise ValueError(f"must NOT have fewer than {constraint.min_length} characters")
                raise ValueError(f"must NOT have fewer than {constraint.min_length} items")
            if isinstance(constraint, MaxLen) and len(value) > constraint.max_length:
                noun = "characters" if isinstance(value, str) else "items"
                raise ValueError(f"must NOT have more than {constraint.max_length} {noun}")
            if isinstance(constraint, Ge) and value < constraint.ge:
                raise ValueError(f"must be >= {constraint.ge}")
            if isinstance(constraint, Le) and value > constraint.le:
                raise ValueError(f"must be <= {constraint.le}")
        return value

    return hook


def _literal_hook(tp: Any) -> StructureHook:
    allowed = get_args(tp)
    shown = ", ".join(json.dumps(a) for a in allowed)

    def hook(value: Any, _: Any) -> Any:
        # ``True == 1`` in Python; compare types too so that 1 is not accepted for true.
        for option in allowed:
            if value == option and type(value) is type(option):
                return value
        raise ValueError(f"must be one of {shown}" if len(allowed) > 1 else f"must be {shown}")

    return hook


def _bulk_check(tp: Any) -> Callable[[Iterable[Any]], bool] | None:
    """For a scalar item type, a check of a whole collection at C speed (``map``, ``all``) that is true
    when every item would structure unchanged; ``None`` for other types (each item is structured).
    100,000 valid strings are then checked in a few milliseconds, not a tenth of a second."""
    if tp is Any:
        return lambda items: True
    kinds = _EXACT_TYPES.get(tp)
    if kinds is not None:
        return lambda items: kinds.issuperset(map(type, items))
    if get_origin(tp) is Annotated and get_args(tp)[0] is str and get_args(tp)[1:] == (MinLen(1),):
        return lambda items: _STR.issuperset(map(type, items)) and all(items)
    return None


_STR = frozenset((str,))
_EXACT_TYPES: dict[Any, frozenset[type]] = {str: _STR, int: frozenset((int,)), bool: frozenset((bool,)),
                                            float: frozenset((int, float))}


def _structure_items(pairs: Iterable[tuple[Any, Any]], hook: Callable[[Any, Any], Any], tp: Any,
                     note: str) -> tuple[list[Any], list[Exception]]:
    """Structure each ``(index or key, item)``; stop after ``MAX_PROBLEMS`` + 1 failures (a summary names
    ``MAX_PROBLEMS`` and says there were more; collecting 100,000 of them cost seconds and megabytes)."""
    results, errors = [], []
    for where, item in pairs:
        try:
            results.append(hook(item, tp))
        except Exception as exc:
            exc.__notes__ = [*getattr(exc, "__notes__", []), IterableValidationNote(f"{note} {where}", where, tp)]
            errors.append(exc)
            if len(errors) > MAX_PROBLEMS:
                break
    return results, errors


def _dict_hook(converter: cattrs.Converter, tp: Any) -> StructureHook:
    key_type, value_type = get_args(tp) or (Any, Any)
    key_hook = converter.get_structure_hook(key_type)
    value_hook = converter.get_structure_hook(value_type)
    keys_ok, values_ok = _bulk_check(key_type), _bulk_check(value_type)

    def hook(value: Any, _: Any) -> dict[Any, Any]:
        if type(value) is not dict:
            raise TypeError(f"must be object (got {_json_type_name(value)})")
        if keys_ok is not None and values_ok is not None and keys_ok(value) and values_ok(value.values()):
            return dict(value)
        keys, key_errors = _structure_items(((k, k) for k in value), key_hook, key_type, "@key")
        values, errors = _structure_items(value.items(), value_hook, value_type, "@key")
        if key_errors or errors:
            raise IterableValidationError("invalid object entries", [*key_errors, *errors][: MAX_PROBLEMS + 1], tp)
        return dict(zip(keys, values, strict=True))

    return hook


def _list_hook(converter: cattrs.Converter, tp: Any) -> StructureHook:
    (item_type,) = get_args(tp) or (Any,)
    item_hook = converter.get_structure_hook(item_type)
    items_ok = _bulk_check(item_type)

    def hook(value: Any, _: Any) -> list[Any]:
        if type(value) is not list:
            raise TypeError(f"must be array (got {_json_type_name(value)})")
        if items_ok is not None and items_ok(value):
            return list(value)
        result, errors = _structure_items(enumerate(value), item_hook, item_type, "@index")
        if errors:
            raise IterableValidationError("invalid array items", errors, tp)
        return result

    return hook


def _optional_hook(converter: cattrs.Converter, tp: Any) -> StructureHook:
    (inner,) = [arg for arg in get_args(tp) if arg is not type(None)]
    inner_hook = converter.get_structure_hook(inner)

    def hook(value: Any, _: Any) -> Any:
        return None if value is None else inner_hook(value, inner)

    return hook


def _is_optional(tp: Any) -> bool:
    args = get_args(tp)
    return type(None) in args and len(args) == 2 and get_origin(tp) is not Annotated


@functools.cache
def _union_tag(tp: Any) -> tuple[str, dict[Any, type]] | None:
    """(tag attribute, tag value → class) when ``tp`` is a union of attrs classes told apart by a Literal."""
    if get_origin(tp) not in (typing.Union, types.UnionType):
        return None
    members = [arg for arg in get_args(tp) if arg is not type(None)]
    if len(members) < 2 or not all(isinstance(m, type) and attrs.has(m) for m in members):
        return None
    hints = [typing.get_type_hints(member) for member in members]
    for field in attrs.fields(members[0]):
        by_value: dict[Any, type] = {}
        for member, member_hints in zip(members, hints, strict=True):
            hint = member_hints.get(field.name)
            if get_origin(hint) is not Literal or set(get_args(hint)) & set(by_value):
                break
            by_value.update(dict.fromkeys(get_args(hint), member))
        else:
            return field.name, by_value
    return None


def _is_tagged_union(tp: Any) -> bool:
    try:
        return _union_tag(tp) is not None
    except TypeError:  # an unhashable type: not a union of classes
        return False


def _tagged_union_hook(converter: cattrs.Converter, tp: Any) -> StructureHook:
    tag = _union_tag(tp)
    assert tag is not None
    name, classes = tag
    key = camel(name)
    shown = ", ".join(json.dumps(value) for value in classes)
    nullable = type(None) in get_args(tp)

    def hook(value: Any, _: Any) -> Any:
        if value is None and nullable:
            return None
        if type(value) is not dict:
            raise TypeError(f"must be object (got {_json_type_name(value)})")
        cls = classes.get(value.get(key)) if isinstance(value.get(key), (str, int, bool)) else None
        if cls is None:
            error: Exception = KeyError(key) if key not in value else ValueError(f"must be one of {shown}")
            error.__notes__ = [AttributeValidationNote(f"@ attribute {name}", name, Literal)]
            raise ClassValidationError("While telling union members apart", [error], object)
        return converter.get_structure_hook(cls)(value, cls)

    return hook


def _attrs_structure_hook(converter: cattrs.Converter, cls: type, strict: bool = True) -> StructureHook:
    overrides: dict[str, Any] = {field.name: override(rename=camel(field.name)) for field in attrs.fields(cls)}
    inner: StructureHook = make_dict_structure_fn(cls, converter, _cattrs_forbid_extra_keys=strict, **overrides)
    # An optional key is omitted, never null (as with the reference's schemas); required nullable
    # fields (no default) still take null.
    optional = {camel(f.name): f for f in attrs.fields(cls) if f.default is None}
    known = frozenset(camel(f.name) for f in attrs.fields(cls))

    def hook(value: Any, _: Any) -> Any:
        if type(value) is not dict:
            raise TypeError(f"must be object (got {_json_type_name(value)})")
        if not strict:  # a newer peer's additions: unknown keys and null optionals are left out
            value = {key: item for key, item in value.items()
                     if key in known and not (item is None and key in optional)}
        if len(value) > len(known) + MAX_PROBLEMS:
            value = _without_most_unknown_keys(value, known)
        nulls = [field for key, field in optional.items() if key in value and value[key] is None]
        if nulls:
            errors = []
            for field in nulls:
                error = TypeError("must not be null (omit the key instead)")
                error.__notes__ = [AttributeValidationNote(f"@ attribute {field.name}", field.name, field.type)]
                errors.append(error)
            raise ClassValidationError(f"While structuring {cls.__name__}", errors, cls)
        return inner(value, cls)

    return hook


def _without_most_unknown_keys(value: dict[str, Any], known: frozenset[str]) -> dict[str, Any]:
    """``value`` with its known keys and only a few of its unknown ones: enough for the error to name
    (cattrs would list and format all 100,000 of them)."""
    unknown = value.keys() - known
    if len(unknown) <= MAX_PROBLEMS:
        return value
    kept = known.intersection(value).union(heapq.nsmallest(MAX_PROBLEMS + 1, unknown))
    return {key: value[key] for key in kept}


def _attrs_unstructure_hook(converter: cattrs.Converter, cls: type) -> Callable[[Any], Any]:
    always = always_written(cls)
    overrides: dict[str, Any] = {
        field.name: override(rename=camel(field.name), omit_if_default=field.name not in always)
        for field in attrs.fields(cls)
    }
    return make_dict_unstructure_fn(cls, converter, _cattrs_omit_if_default=True, **overrides)


def configure_converter(converter: cattrs.Converter, *, strict: bool = True) -> None:
    """Install the wire rules (strict scalars, constraints, camelCase, omitted defaults) on a converter.

    ``strict=False`` leaves out unknown keys and ``null`` optional fields instead of refusing them (every
    other rule stays): how a client reads what a newer server sends (``structure_lenient``)."""
    converter.register_structure_hook(str, _strict(str, "string"))
    converter.register_structure_hook(bool, _strict(bool, "boolean"))
    converter.register_structure_hook(int, _strict(int, "integer"))
    converter.register_structure_hook(float, _number)
    converter.register_structure_hook(Any, _any)
    converter.register_structure_hook_factory(
        lambda t: _origin(t) is Annotated, lambda t: _annotated_hook(converter, t)
    )
    converter.register_structure_hook_factory(lambda t: _origin(t) is Literal, _literal_hook)
    converter.register_structure_hook_factory(_is_optional, lambda t: _optional_hook(converter, t))
    converter.register_structure_hook_factory(
        lambda t: _origin(t) is list, lambda t: _list_hook(converter, t)
    )
    converter.register_structure_hook_factory(
        lambda t: _origin(t) is dict, lambda t: _dict_hook(converter, t)
    )
    converter.register_structure_hook_factory(attrs.has, lambda c: _attrs_structure_hook(converter, c, strict))
    converter.register_structure_hook_factory(_is_tagged_union, lambda t: _tagged_union_hook(converter, t))
    converter.register_unstructure_hook_factory(attrs.has, lambda c: _attrs_unstructure_hook(converter, c))


def make_converter() -> cattrs.Converter:
    """A fresh converter with the wire rules installed."""
    converter = cattrs.Converter(detailed_validation=True)
    configure_converter(converter)
    return converter


converter = make_converter()
_lenient = cattrs.Converter(detailed_validation=True)
configure_converter(_lenient, strict=False)


# --- the edge: structure / unstructure / JSON ------------------------------------------------------


def structure(value: Any, cls: type[T], *, what: str) -> T:
    """Structure ``value`` as ``cls`` or raise ``RemoteProtocolError("invalid <what>: <summary>")``."""
    if value is UNSET:
        value = {}
    try:
        return converter.structure(value, cls)
    except (cattrs.BaseValidationError, TypeError, ValueError, KeyError) as exc:
        raise RemoteProtocolError(INVALID_REQUEST, f"invalid {what}: {format_validation_error(exc)}") from None


def structure_lenient(value: Any, cls: type[T], *, what: str) -> T:
    """As ``structure``, but unknown keys (and ``null`` where a field is optional) are left out: for a
    client reading a server's payload, where a newer server's additive fields are not errors."""
    if value is UNSET:
        value = {}
    try:
        return _lenient.structure(value, cls)
    except (cattrs.BaseValidationError, TypeError, ValueError, KeyError) as exc:
        raise RemoteProtocolError(INVALID_REQUEST, f"invalid {what}: {format_validation_error(exc)}") from None


def unstructure(value: Any) -> Any:
    """Attrs objects to JSON-ready values (camelCase, omitted defaults)."""
    return converter.unstructure(value)


# A lone UTF-16 surrogate ("\ud800" is a valid JSON escape) decodes to a str that cannot be encoded as
# UTF-8; left raw in the output, it makes every writer downstream (WebSocket, HTTP, files, logs) raise.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape_surrogate(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def escape_surrogates(text: str) -> str:
    """JSON text with every lone surrogate written as a ``\\uXXXX`` escape, as Node's ``JSON.stringify``
    writes them; other text is returned as is. Only valid on JSON text: a surrogate can only occur inside
    a JSON string there, where the escape means the same character."""
    if text.isascii() or not _SURROGATE.search(text):
        return text
    return _SURROGATE.sub(_escape_surrogate, join_surrogate_pairs(text))


def join_surrogate_pairs(text: str) -> str:
    """``text`` with each high+low surrogate pair (as some JSON5 parsers decode ``"\\ud83d\\ude00"``)
    made the one character it stands for; lone surrogates stay."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def dumps(value: Any, **options: Any) -> str:
    """JSON text as the wire (and every file and log of ours) carries it: UTF-8-safe, compact unless
    ``options`` (``json.dumps``'s: ``indent``, ``sort_keys``, ``default``) say otherwise.

    A NaN or infinite float (a tool's arithmetic, a provider's answer) is written ``null``, as
    ``JSON.stringify`` writes it: Python would write ``NaN``/``Infinity``, which no JSON parser reads,
    and raising instead would turn one bad number into a failed broadcast or handshake. The encoder
    refuses such floats (C speed); only a value that holds one is copied with them made ``None``.
    """
    options.setdefault("separators", None if options.get("indent") is not None else (",", ":"))
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, **options)
    except ValueError as exc:
        if "Out of range float" not in str(exc):
            raise
        if (default := options.get("default")) is not None:
            options["default"] = lambda item: _finite(default(item))
        text = json.dumps(_finite(value), ensure_ascii=False, allow_nan=False, **options)
    return escape_surrogates(text)


def _finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by ``None`` (dicts, lists and tuples copied)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def encode_frame(frame: Frame) -> str:
    """One frame as JSON text, tagged with its ``type``."""
    data = {"type": FRAME_TAGS[type(frame)]}
    data.update(converter.unstructure(frame))
    return dumps(data)


def decode_frame(text: str | bytes) -> Frame:
    """Parse JSON text into a frame.

    Raises:
        JsonLimitError: valid JSON beyond a limit of ``_json`` (nesting, integer size).
        RemoteProtocolError: with message ``"invalid JSON"`` when the text does not parse, or
            ``"invalid frame: <summary>"`` when it is not a valid frame.
    """
    return structure_frame(parse_json(text))


def structure_frame(data: Any) -> Frame:
    if type(data) is not dict:
        raise RemoteProtocolError(INVALID_REQUEST, f"invalid frame: at root: must be object (got {_json_type_name(data)})")
    tag = data.get("type")
    cls = _TAG_TO_FRAME.get(tag) if isinstance(tag, str) else None
    if cls is None:
        raise RemoteProtocolError(INVALID_REQUEST, "invalid frame: at /type: must be one of \"req\", \"res\", \"event\"")
    body = dict(data)
    del body["type"]
    return structure(body, cls, what="frame")


