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
from moltbot.protocol._codec import dumps
from moltbot.protocol._payloads.system import EmptyParams, HealthParams, OkResult

CLIENT = {"id": "cli", "version": "1.0", "platform": "linux", "mode": "cli"}


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


# --- bounded summaries (issue 15): a peer's 100,000 problems are named five at a time -------------


def test_summary_names_five_problems_and_says_there_were_more():
    message = rejection({"minProtocol": 3, "maxProtocol": 3, "client": CLIENT, "scopes": [1] * 100_000},
                        ConnectParams)
    assert message == "; ".join(f"at /scopes/{i}: must be string (got integer)" for i in range(5)) + "; …"


def test_summary_of_many_unexpected_properties_names_the_first_five_sorted():
    value = {f"k{i:06}": 0 for i in range(100_000, 0, -1)}
    assert rejection(value, EmptyParams) == "; ".join(
        f"at root: unexpected property 'k{i:06}'" for i in range(1, 6)) + "; …"


def test_summary_of_bad_object_entries_is_bounded():
    params = {"minProtocol": 3, "maxProtocol": 3, "client": CLIENT,
              "permissions": {f"p{i}": "yes" for i in range(1000)}}
    message = rejection(params, ConnectParams)
    assert message.count("must be boolean (got string)") == 5 and message.endswith("; …")


def test_peer_chosen_names_are_cut_to_40_characters():
    assert rejection({"x" * 5000: 1}, EmptyParams) == f"at root: unexpected property '{'x' * 39}…'"
    params = {"minProtocol": 3, "maxProtocol": 3, "client": CLIENT, "permissions": {"y" * 5000: 1}}
    assert rejection(params, ConnectParams) == f"at /permissions/{'y' * 39}…: must be boolean (got integer)"


def test_summary_stays_under_800_characters():
    errors = {"minProtocol": "3", "maxProtocol": "3", "client": {"id": "x", "version": 1, "platform": 1, "mode": 1},
              "caps": [1] * 10, "role": 1, "scopes": {}, "permissions": [], **{"z" * 40 + str(i): 1 for i in range(9)}}
    message = rejection(errors, ConnectParams)
    assert len(message) <= 800 + len("; …") and message.endswith("; …")


@pytest.mark.parametrize("items", [["a", "b"], [], ["a", ""], ["a", 1], ["a", None], [True]])
def test_lists_of_strings_checked_in_bulk_agree_with_item_by_item(items):
    params = {"minProtocol": 3, "maxProtocol": 3, "client": CLIENT, "caps": items}
    if all(type(item) is str and item for item in items):
        assert structure(params, ConnectParams, what="payload").caps == items
    else:
        bad = next(i for i, item in enumerate(items) if type(item) is not str or not item)
        assert rejection(params, ConnectParams).startswith(f"at /caps/{bad}: must ")


def test_bulk_checked_lists_are_copies():
    caps = ["a"]
    assert structure({"minProtocol": 3, "maxProtocol": 3, "client": CLIENT, "caps": caps}, ConnectParams,
                     what="payload").caps is not caps


def test_objects_of_booleans_checked_in_bulk_keep_keys_and_order():
    permissions = {"b": True, "a": False}
    params = {"minProtocol": 3, "maxProtocol": 3, "client": CLIENT, "permissions": permissions}
    assert list(structure(params, ConnectParams, what="payload").permissions.items()) == [("b", True), ("a", False)]
    assert rejection({**params, "permissions": {"": True}}, ConnectParams).startswith("at /permissions/: must NOT")


def test_dumps_writes_nan_and_infinity_as_null_as_json_stringify_does():
    """``NaN``/``Infinity`` are not JSON: every client's parser would fail on the frame."""
    value = {"a": float("nan"), "b": [float("inf"), (1, -float("inf"))], "c": 1.5}
    assert dumps(value) == '{"a":null,"b":[null,[1,null]],"c":1.5}'
    assert dumps({"x": object()}, default=lambda o: float("inf")) == '{"x":null}'
