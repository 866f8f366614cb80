"""JSON Schema (draft 2020-12) for the wire, generated from the attrs types.

The attrs classes are the one source of the contract: the codec enforces their annotations on input, this
module describes the same annotations for everyone else, and ``protocol-spec/`` holds the result so that a
client in another language never has to read Python. The mapping mirrors the codec rule by rule:

- an attrs class is an object with camelCase properties, ``additionalProperties: false``, and ``required``
  listing the fields without a default; it is written once under ``$defs`` (named by the class) and
  referenced with ``$ref``;
- a field ``X | None = None`` is optional and described as ``X``: the server omits it rather than sending
  ``null``. Where ``None`` is a value on the wire (no default, or always written, as
  ``ShutdownEvent.restartExpectedMs``) the schema admits ``null`` too;
- ``MinLen`` is ``minLength`` on strings and ``minItems`` on arrays, ``Ge`` is ``minimum``, ``Literal``
  is ``const``/``enum``, ``Any`` is ``{}`` (any JSON value);
- frames carry their ``type`` tag as a ``const``.

Run ``python -m moltbot.protocol._schema --write protocol-spec`` after changing a payload type; the test
suite runs ``--check`` (as a drift test) so the committed files cannot fall behind.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import attrs
import jsonschema
from annotated_types import Ge, Le, MaxLen, MinLen

from ._codec import always_written, camel
from ._frames import FRAME_TAGS, ErrorShape, StateVersion
from ._methods import EVENT_PAYLOADS, EVENTS, METHODS
from ._payloads.connect import ConnectChallenge, ConnectParams, HelloOk

__all__ = [
    "DIALECT",
    "FRAME_SCHEMA_NAME",
    "events_document",
    "frames_schema",
    "generated_files",
    "main",
    "methods_document",
    "render",
    "schema_for",
    "validate",
    "validator_for",
]

DIALECT = "https://json-schema.org/draft/2020-12/schema"
FRAME_SCHEMA_NAME = "GatewayFrame"
# Handshake payloads live beside the frames: ``connect`` is the exchange that opens a connection, not an
# entry of the method table.
_HANDSHAKE_TYPES = (ErrorShape, StateVersion, ConnectChallenge, ConnectParams, HelloOk)
_SCALARS: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    bool: {"type": "boolean"},
    int: {"type": "integer"},
    float: {"type": "number"},
}


class _Builder:
    """Turns Python types into schemas; owns the ``$defs`` it fills, one entry per attrs class met."""

    def __init__(self) -> None:
        self.defs: dict[str, dict[str, Any]] = {}
        self._classes: dict[str, type] = {}

    def schema(self, tp: Any) -> dict[str, Any]:
        if tp is Any:
            return {}
        if isinstance(tp, type) and attrs.has(tp):
            return {"$ref": f"#/$defs/{self._define(tp)}"}
        if tp in _SCALARS:
            return dict(_SCALARS[tp])
        origin, args = get_origin(tp), get_args(tp)
        if origin is Annotated:
            return self._annotated(args[0], args[1:])
        if origin is Literal:
            return {"const": args[0]} if len(args) == 1 else {"enum": list(args)}
        if origin in (typing.Union, types.UnionType):
            options = [self.schema(arg) for arg in args if arg is not type(None)]
            if type(None) in args:
                options.append({"type": "null"})
            return options[0] if len(options) == 1 else {"anyOf": options}
        if origin is list:
            items = self.schema(args[0] if args else Any)
            return {"type": "array", "items": items} if items else {"type": "array"}
        if origin is dict:
            key, value = args or (str, Any)
            result: dict[str, Any] = {"type": "object"}
            names = {k: v for k, v in self.schema(key).items() if k != "type"}
            if names:
                result["propertyNames"] = names
            values = self.schema(value)
            if values:
                result["additionalProperties"] = values
            return result
        raise TypeError(f"no JSON Schema for {tp!r}")

    def _annotated(self, base: Any, constraints: tuple[Any, ...]) -> dict[str, Any]:
        result = self.schema(base)
        for constraint in constraints:
            if isinstance(constraint, MinLen):
                key = "minLength" if result.get("type") == "string" else "minItems"
                result[key] = constraint.min_length
            elif isinstance(constraint, MaxLen):
                key = "maxLength" if result.get("type") == "string" else "maxItems"
                result[key] = constraint.max_length
            elif isinstance(constraint, Ge):
                result["minimum"] = constraint.ge
            elif isinstance(constraint, Le):
                result["maximum"] = constraint.le
            else:  # the codec would not enforce it either, so the schema must not promise it
                raise TypeError(f"unsupported constraint {constraint!r} on {base!r}")
        return result

    def _define(self, cls: type) -> str:
        name = cls.__name__
        known = self._classes.setdefault(name, cls)
        if known is not cls:
            raise TypeError(f"two wire types named {name}: {known!r} and {cls!r}")
        if name in self.defs:
            return name
        self.defs[name] = {}  # reserve first, so a self-referencing type terminates
        hints = typing.get_type_hints(cls, include_extras=True)
        always = always_written(cls)
        properties: dict[str, Any] = {}
        required: list[str] = []
        if cls in FRAME_TAGS:
            properties["type"] = {"const": FRAME_TAGS[cls]}
            required.append("type")
        for field in attrs.fields(cls):
            tp = hints[field.name]
            optional = field.default is not attrs.NOTHING and field.name not in always
            if optional and field.default is None:
                tp = _without_none(tp)
            properties[camel(field.name)] = self.schema(tp)
            if not optional:
                required.append(camel(field.name))
        definition: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            definition["required"] = sorted(required)
        definition["additionalProperties"] = False
        if cls.__doc__ and "__doc__" in vars(cls):
            definition["description"] = cls.__doc__.strip().splitlines()[0].replace("``", "`")
        self.defs[name] = definition
        return name


def _without_none(tp: Any) -> Any:
    args = get_args(tp)
    if get_origin(tp) not in (typing.Union, types.UnionType) or type(None) not in args:
        return tp
    rest = [arg for arg in args if arg is not type(None)]
    return rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]  # noqa: UP007


def _document(title: str, description: str, builder: _Builder, **body: Any) -> dict[str, Any]:
    return {"$schema": DIALECT, "title": title, "description": description, **body, "$defs": builder.defs}


def frames_schema() -> dict[str, Any]:
    """The frame envelope (``req``/``res``/``event`` tagged by ``type``) plus the handshake payloads."""
    builder = _Builder()
    frames = [builder.schema(cls) for cls in FRAME_TAGS]
    for cls in _HANDSHAKE_TYPES:
        builder.schema(cls)
    return _document(
        FRAME_SCHEMA_NAME,
        "One WebSocket text message of the moltbot gateway protocol. $defs also holds the handshake "
        "payloads: ConnectChallenge (connect.challenge event), ConnectParams (connect params), HelloOk "
        "(connect result).",
        builder,
        oneOf=frames,
    )


def methods_document() -> dict[str, Any]:
    """Every method of the table: its params and result schemas, authorization scope, first version."""
    builder = _Builder()
    methods = {
        name: {
            "params": builder.schema(spec.params),
            "result": builder.schema(spec.result),
            "scope": spec.scope,
            "since": spec.since,
        }
        for name, spec in METHODS.items()
    }
    return _document(
        "moltbot gateway methods",
        "methods.<name>.params is the req frame's params, methods.<name>.result the ok res frame's payload; "
        "scope is the authorization bucket (read, write, admin, approvals, questions, pairing, talk: the "
        "operator.* scope needed; node: role node only; dynamic: decided from the params); since is the "
        "first protocol version that has the method.",
        builder,
        methods=methods,
    )


def events_document() -> dict[str, Any]:
    """Every event the gateway emits: name → schema of the event frame's payload."""
    builder = _Builder()
    events = {name: builder.schema(EVENT_PAYLOADS[name]) for name in EVENTS}
    return _document(
        "moltbot gateway events",
        "events.<name> is the schema of the payload of an event frame with that event name.",
        builder,
        events=events,
    )


def render(document: dict[str, Any]) -> str:
    """Stable text for a document: 2-space indent, sorted keys, trailing newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def generated_files() -> dict[str, str]:
    """File name → text of everything ``protocol-spec/`` holds that is generated."""
    return {
        "frames.schema.json": render(frames_schema()),
        "methods.json": render(methods_document()),
        "events.json": render(events_document()),
    }


def schema_for(tp: Any) -> dict[str, Any]:
    """A self-contained schema for any wire type (attrs class, ``list[...]``, ``X | None``, ...)."""
    builder = _Builder()
    root = builder.schema(tp)
    return {"$schema": DIALECT, **root, "$defs": builder.defs}


@functools.cache
def validator_for(tp: Any) -> jsonschema.Draft202012Validator:
    """A (cached) validator for the JSON form of ``tp``."""
    return jsonschema.Draft202012Validator(schema_for(tp))


@functools.cache
def _named_validators() -> dict[str, jsonschema.Draft202012Validator]:
    defs: dict[str, Any] = {}
    for document in (frames_schema(), methods_document(), events_document()):
        for name, definition in document["$defs"].items():
            if defs.setdefault(name, definition) != definition:
                raise AssertionError(f"$defs/{name} differs between documents")
    validators = {
        name: jsonschema.Draft202012Validator({"$schema": DIALECT, "$ref": f"#/$defs/{name}", "$defs": defs})
        for name in defs
    }
    validators[FRAME_SCHEMA_NAME] = jsonschema.Draft202012Validator(frames_schema())
    return validators


def validate(instance: Any, schema_name: str) -> None:
    """Validate JSON against ``GatewayFrame`` or any ``$defs`` name (``HelloOk``, ``ConnectParams``, ...).

    Raises:
        KeyError: no schema has that name.
        jsonschema.ValidationError: the instance does not match.
    """
    _named_validators()[schema_name].validate(instance)


def main(argv: list[str] | None = None) -> int:
    """``--write DIR`` regenerates the spec files; ``--check DIR`` exits 1 when they have drifted."""
    parser = argparse.ArgumentParser(prog="python -m moltbot.protocol._schema", description=main.__doc__)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", metavar="DIR", type=Path)
    mode.add_argument("--check", metavar="DIR", type=Path)
    args = parser.parse_args(argv)
    files = generated_files()
    if args.write is not None:
        args.write.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (args.write / name).write_text(text, encoding="utf-8")
        return 0
    stale = [
        name for name, text in files.items()
        if not (args.check / name).is_file() or (args.check / name).read_text(encoding="utf-8") != text
    ]
    for name in stale:
        print(f"{args.check / name} is out of date: run {parser.prog} --write {args.check}", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
