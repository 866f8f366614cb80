"""Edge cases of the strict codec: no coercion between JSON types, absent vs null, error summaries."""

import json

import pytest

from moltbot.protocol import (
    UNSET,
    ConnectParams,
    RemoteProtocolError,
    ResponseFrame,
    ShutdownEvent,
    TickEvent,
    decode_frame,
    encode_frame,
    structure,
    unstructure,
)
from moltbot.protocol._payloads.system import EmptyParams, HealthParams, OkResult


def rejection(value, cls):
    with pytest.raises(RemoteProtocolError) as caught:
        structure(value, cls, what="payload")
    return caught.value.message.removeprefix("invalid payload: ")


def test_bool_is_not_an_integer():
    assert rejection({"ts": True}, TickEvent) == "at /ts: must be integer (got boolean)"


def test_integer_is_not_a_bool():
    assert rejection({"probe": 1}, HealthParams) == "at /probe: must be boolean (got integer)"


def test_float_is_not_an_integer_even_when_whole():
    assert rejection({"ts": 1.0}, TickEvent) == "at /ts: must be integer (got number)"


def test_one_is_not_true_for_literal_true():
    assert rejection({"ok": 1}, OkResult) == "at /ok: must be true"
    assert structure({"ok": True}, OkResult, what="payload") == OkResult(ok=True)


def test_negative_counter_is_rejected():
    assert rejection({"ts": -1}, TickEvent) == "at /ts: must be >= 0"


def test_absent_payload_and_null_payload_stay_distinct():
    absent, null = ResponseFrame(id="1", ok=True), ResponseFrame(id="1", ok=True, payload=None)
    assert json.loads(encode_frame(absent)) == {"type": "res", "id": "1", "ok": True}
    assert json.loads(encode_frame(null)) == {"type": "res", "id": "1", "ok": True, "payload": None}
    assert decode_frame(encode_frame(absent)).payload is UNSET
    assert decode_frame(encode_frame(null)).payload is None


def test_absent_params_are_empty_params():
    assert structure(UNSET, EmptyParams, what="params") == EmptyParams()


def test_unexpected_properties_are_reported_at_root_sorted():
    assert rejection({"x": 1, "a": 2}, EmptyParams) == (
        "at root: unexpected property 'a'; at root: unexpected property 'x'")


def test_summary_names_nested_paths_and_joins_parts():
    params = {"minProtocol": 3, "maxProtocol": 3, "caps": ["a", ""],
              "client": {"id": "cli", "version": "", "platform": "linux", "mode": "cli"}}
    assert rejection(params, ConnectParams) == (
        "at /client/version: must NOT have fewer than 1 characters; "
        "at /caps/1: must NOT have fewer than 1 characters")


def test_missing_required_field_is_named():
    assert rejection({"minProtocol": 3, "maxProtocol": 3}, ConnectParams) == "must have required property 'client'"


def test_non_object_is_rejected_at_root():
    assert rejection([], EmptyParams) == "at root: must be object (got array)"


def test_optional_fields_left_unset_are_omitted():
    assert unstructure(HealthParams()) == {}
    assert unstructure(HealthParams(probe=False)) == {"probe": False}


def test_shutdown_restart_expected_ms_is_always_written():
    assert unstructure(ShutdownEvent(reason="stop", restart_expected_ms=None)) == {
        "reason": "stop", "restartExpectedMs": None}
    assert rejection({"reason": "stop"}, ShutdownEvent) == "must have required property 'restartExpectedMs'"
