"""The codec and the published JSON Schemas (protocol-spec/) describe the same wire, in both directions.

(a) whatever the codec writes validates against the schema; (b) whatever the schema allows the codec reads
and writes back unchanged; (c) what the schema forbids the codec rejects, naming the field; (d) the
committed files are what the generator produces today.
"""

from __future__ import annotations

import copy
import functools
import json
import types
import typing
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

import attrs
import jsonschema
import pytest
from annotated_types import MinLen
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moltbot.protocol import (
    EVENT_PAYLOADS,
    EVENTS,
    METHODS,
    ConnectParams,
    EventFrame,
    RemoteProtocolError,
    encode_frame,
    structure,
    structure_frame,
    unstructure,
)
from moltbot.protocol._codec import camel
from moltbot.protocol._schema import (
    FRAME_SCHEMA_NAME,
    events_document,
    generated_files,
    main,
    methods_document,
    validate,
    validator_for,
)
from tests.strategies import FRAME_TYPES, frames, from_type, json_for, reachable_classes
from tests.strategies import examples as examples_for

SPEC_DIR = Path(__file__).resolve().parents[2] / "protocol-spec"
CLASSES = reachable_classes()
ROOT_TYPES = [*CLASSES, *(spec.result for spec in METHODS.values() if not attrs.has(spec.result))]
# Each of ~700 parametrized cases (a type, a method, an event) draws its own examples: 12 each is ~9,000
# in all (the thorough profile draws 120 each).
examples = settings(max_examples=examples_for(12), deadline=None, suppress_health_check=[HealthCheck.too_slow])


def type_id(tp: Any) -> str:
    return getattr(tp, "__name__", None) if attrs.has(tp) else repr(tp).replace("moltbot.protocol._payloads.", "")


def to_json(value: Any) -> Any:
    """What goes on the wire for ``value``: frames with their ``type`` tag, payloads as objects."""
    if isinstance(value, FRAME_TYPES):
        return json.loads(encode_frame(value))
    return json.loads(json.dumps(unstructure(value)))


def from_json(data: Any, tp: Any) -> Any:
    if tp in FRAME_TYPES:
        frame = structure_frame(data)
        assert isinstance(frame, tp)
        return frame
    return structure(data, tp, what="payload")


METHODS_JSON = methods_document()
EVENTS_JSON = events_document()


@functools.cache
def document_validator(document_name: str, *path: str) -> jsonschema.Draft202012Validator:
    """A validator for the schema at ``path`` inside a published document, resolving its ``$defs``."""
    document = {"methods": METHODS_JSON, "events": EVENTS_JSON}[document_name]
    schema = document
    for part in path:
        schema = schema[part]
    return jsonschema.Draft202012Validator({**schema, "$defs": document["$defs"]})


# --- (a) encoder output validates ----------------------------------------------------------------------


def test_every_wire_class_is_covered():
    names = {cls.__name__ for cls in CLASSES}
    assert {"RequestFrame", "ResponseFrame", "EventFrame", "ErrorShape", "StateVersion", "ConnectParams",
            "ClientInfo", "HelloOk", "Snapshot", "PresenceEntry", "ShutdownEvent"} <= names


@pytest.mark.parametrize("tp", ROOT_TYPES, ids=type_id)
@examples
@given(data=st.data())
def test_encoded_values_validate_against_their_schema(tp, data):
    value = data.draw(from_type(tp))
    validator_for(tp).validate(to_json(value))


@examples
@given(frame=frames)
def test_encoded_frames_validate_against_frames_schema(frame):
    validate(json.loads(encode_frame(frame)), FRAME_SCHEMA_NAME)


@pytest.mark.parametrize("name", sorted(METHODS))
@examples
@given(data=st.data())
def test_method_params_and_results_validate_against_methods_json(name, data):
    spec, entry = METHODS[name], METHODS_JSON["methods"][name]
    assert (entry["scope"], entry["since"]) == (spec.scope, spec.since)
    params, result = data.draw(from_type(spec.params)), data.draw(from_type(spec.result))
    document_validator("methods", "methods", name, "params").validate(to_json(params))
    document_validator("methods", "methods", name, "result").validate(to_json(result))


@pytest.mark.parametrize("name", EVENTS)
@examples
@given(data=st.data())
def test_event_frames_validate_against_events_json(name, data):
    payload = data.draw(from_type(EVENT_PAYLOADS[name]))
    frame = json.loads(encode_frame(EventFrame(event=name, payload=payload)))
    validate(frame, FRAME_SCHEMA_NAME)
    document_validator("events", "events", name).validate(frame["payload"])


def test_shutdown_for_a_stop_sends_restart_expected_ms_null():
    from moltbot.protocol import ShutdownEvent

    payload = to_json(ShutdownEvent(reason="gateway stopping", restart_expected_ms=None))
    assert payload == {"reason": "gateway stopping", "restartExpectedMs": None}
    validate(payload, "ShutdownEvent")


# --- (b) schema-generated JSON decodes and re-encodes unchanged ----------------------------------------


@pytest.mark.parametrize("tp", ROOT_TYPES, ids=type_id)
@examples
@given(data=st.data())
def test_schema_generated_json_round_trips(tp, data):
    document = data.draw(json_for(tp))
    assert to_json(from_json(document, tp)) == document


# --- (c) what the schema forbids, the decoder rejects and names -----------------------------------------

UNEXPECTED = "zzUnexpected"


def _unwrap(tp: Any) -> Any:
    """The type a present, non-null JSON value has: drop ``| None`` and ``Annotated``."""
    if get_origin(tp) in (typing.Union, types.UnionType):
        rest = [arg for arg in get_args(tp) if arg is not type(None)]
        tp = rest[0] if len(rest) == 1 else tp
    return get_args(tp)[0] if get_origin(tp) is Annotated else tp


def _is_non_empty_str(tp: Any) -> bool:
    if get_origin(tp) in (typing.Union, types.UnionType):
        return any(_is_non_empty_str(arg) for arg in get_args(tp))
    return get_origin(tp) is Annotated and get_args(tp)[0] is str and any(
        isinstance(c, MinLen) and c.min_length == 1 for c in get_args(tp)[1:])


def _wrong_value(tp: Any) -> Any:
    return "not-an-array" if get_origin(_unwrap(tp)) is list else []


def mutation_sites(value: Any, tp: Any, path: tuple[str, ...] = ()) -> list[tuple[str, tuple[str, ...], Any]]:
    """Every (mutation, path, field type) the decoder must reject in ``value``, a valid JSON of ``tp``."""
    base = _unwrap(tp)
    sites: list[tuple[str, tuple[str, ...], Any]] = []
    if attrs.has(base) and isinstance(value, dict):
        sites.append(("extra", path, None))
        hints = typing.get_type_hints(base, include_extras=True)
        for field in attrs.fields(base):
            key, field_tp = camel(field.name), hints[field.name]
            if field.default is attrs.NOTHING:
                sites.append(("missing", (*path, key), field_tp))
            if key not in value or field_tp is Any:
                continue
            sites.append(("wrong", (*path, key), field_tp))
            if _is_non_empty_str(field_tp):
                sites.append(("empty", (*path, key), field_tp))
            sites.extend(mutation_sites(value[key], field_tp, (*path, key)))
    elif get_origin(base) is list and isinstance(value, list):
        (item_tp,) = get_args(base)
        for index, item in enumerate(value):
            sites.extend(mutation_sites(item, item_tp, (*path, str(index))))
    return sites


def mutate(document: Any, kind: str, path: tuple[str, ...], field_tp: Any) -> tuple[Any, str]:
    """Apply one mutation; return the mutated copy and the summary fragment the decoder must produce."""
    document = copy.deepcopy(document)
    if kind == "extra":
        target = document
        for part in path:
            target = target[int(part)] if isinstance(target, list) else target[part]
        target[UNEXPECTED] = 1
        return document, f"at {'/' + '/'.join(path) if path else 'root'}: unexpected property '{UNEXPECTED}'"
    *parents, key = path
    target = document
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    where = "at /" + "/".join(path) + ": "
    if kind == "missing":  # Ajv's wording: at the object lacking the property (no "at" at the top level)
        del target[key]
        return document, (f"at /{'/'.join(parents)}: " if parents else "") + f"must have required property '{key}'"
    if kind == "empty":
        target[key] = ""
        return document, where + "must NOT have fewer than 1 characters"
    target[key] = _wrong_value(field_tp)
    return document, where


@pytest.mark.parametrize("tp", CLASSES, ids=type_id)
@examples
@given(data=st.data())
def test_mutated_json_is_rejected_naming_the_field(tp, data):
    document = to_json(data.draw(from_type(tp)))
    kind, path, field_tp = data.draw(st.sampled_from(mutation_sites(document, tp)))
    mutated, expected = mutate(document, kind, path, field_tp)
    assert not validator_for(tp).is_valid(mutated)
    with pytest.raises(RemoteProtocolError) as caught:
        from_json(mutated, tp)
    assert expected in caught.value.message


def test_empty_client_id_names_the_nested_path():
    params = {"minProtocol": 3, "maxProtocol": 7,
              "client": {"id": "", "version": "1", "platform": "linux", "mode": "cli"}}
    with pytest.raises(RemoteProtocolError) as caught:
        structure(params, ConnectParams, what="connect params")
    assert caught.value.message.startswith("invalid connect params: at /client/id: must be one of ")
    with pytest.raises(jsonschema.ValidationError):
        validate(params, "ConnectParams")


def test_literal_values_are_enums_in_the_schema():
    client = validator_for(ConnectParams).schema["$defs"]["ClientInfo"]["properties"]
    assert client["id"]["enum"][:3] == ["webchat-ui", "webchat", "cli"]
    assert client["mode"]["enum"] == ["webchat", "cli", "ui", "backend", "node", "worker", "probe", "test"]


# --- (d) the committed spec is today's generator output ------------------------------------------------


@pytest.mark.parametrize("name", sorted(generated_files()))
def test_committed_spec_file_matches_generator(name):
    committed = (SPEC_DIR / name).read_text(encoding="utf-8")
    assert committed == generated_files()[name], (
        f"protocol-spec/{name} is stale: run python -m moltbot.protocol._schema --write protocol-spec")


def test_check_passes_on_committed_spec():
    assert main(["--check", str(SPEC_DIR)]) == 0


def test_check_fails_on_drift(tmp_path, capsys):
    assert main(["--write", str(tmp_path)]) == 0
    assert main(["--check", str(tmp_path)]) == 0
    (tmp_path / "methods.json").write_text("{}\n", encoding="utf-8")
    assert main(["--check", str(tmp_path)]) == 1
    assert "methods.json is out of date" in capsys.readouterr().err


def test_generated_documents_are_valid_draft_2020_12_schemas():
    for name, text in generated_files().items():
        document = json.loads(text)
        jsonschema.Draft202012Validator.check_schema(document)
        assert text.endswith("}\n") and text == json.dumps(document, indent=2, sort_keys=True,
                                                           ensure_ascii=False) + "\n", name
