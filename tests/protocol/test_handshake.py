"""Every branch of the server handshake table (protocol-spec/handshake.md), synchronously."""

import json

import pytest

from moltbot.protocol import (
    CLOSE_MESSAGE_TOO_BIG,
    CLOSE_NORMAL,
    CLOSE_POLICY_VIOLATION,
    CLOSE_PROTOCOL_ERROR,
    Accept,
    Reject,
    ServerHandshake,
    encode_frame,
    negotiate_protocol,
)

CLIENT = {"id": "cli", "version": "1.0", "platform": "linux", "mode": "cli"}


def connect(params=None, **extra):
    body = {"minProtocol": 3, "maxProtocol": 7, "client": CLIENT, "auth": {"token": "t"}}
    body.update(params or {})
    return json.dumps({"type": "req", "id": "c1", "method": "connect", "params": body, **extra})


def receive(text):
    return ServerHandshake(nonce="n-1", now_ms=5).receive(text)


def response(outcome):
    return json.loads(encode_frame(outcome.response))


def test_challenge_carries_nonce_ts_and_capabilities():
    frame = json.loads(encode_frame(ServerHandshake(nonce="n-1", now_ms=5).challenge()))
    assert frame == {"type": "event", "event": "connect.challenge",
                     "payload": {"nonce": "n-1", "ts": 5, "capabilities": []}}


def test_valid_connect_is_accepted_with_highest_common_version():
    outcome = receive(connect())
    assert isinstance(outcome, Accept)
    assert (outcome.protocol, outcome.role, outcome.scopes) == (7, "operator", ("operator.admin",))


def test_protocol_3_client_gets_protocol_3():
    outcome = receive(connect({"minProtocol": 3, "maxProtocol": 3}))
    assert isinstance(outcome, Accept) and outcome.protocol == 3


def test_unparseable_first_frame_closes_1000_without_reply():
    assert receive("{nope") == Reject(None, CLOSE_NORMAL, "")


@pytest.mark.parametrize("text", ['{"type":"event","event":"x"}', "[]", '{"type":"req","id":"","method":"connect"}'])
def test_first_frame_not_a_request_closes_1008_without_reply(text):
    assert receive(text) == Reject(None, CLOSE_POLICY_VIOLATION, "invalid request frame")


def test_first_request_not_connect_is_answered_then_closed_1008():
    outcome = receive('{"type":"req","id":"h","method":"health"}')
    assert outcome.close_code == CLOSE_POLICY_VIOLATION
    assert outcome.close_reason == "invalid handshake: first request must be connect"
    assert response(outcome)["error"]["message"] == "invalid handshake: first request must be connect"
    assert response(outcome)["id"] == "h"


def test_invalid_connect_params_name_the_field():
    outcome = receive(connect({"client": {**CLIENT, "id": "nope"}}))
    assert outcome.close_code == CLOSE_POLICY_VIOLATION
    message = response(outcome)["error"]["message"]
    assert message.startswith("invalid connect params: at /client/id: must be one of")


def test_protocol_mismatch_closes_1002_with_supported_versions():
    outcome = receive(connect({"minProtocol": 8, "maxProtocol": 9}))
    assert outcome.close_code == CLOSE_PROTOCOL_ERROR
    error = response(outcome)["error"]
    assert error == {"code": "INVALID_REQUEST", "message": "protocol mismatch",
                     "details": {"code": "PROTOCOL_MISMATCH", "clientMinProtocol": 8, "clientMaxProtocol": 9,
                                 "expectedProtocol": 4, "minimumProbeProtocol": 3, "supportedProtocols": [3, 4, 7]}}


def test_invalid_role_closes_1008():
    outcome = receive(connect({"role": "admin"}))
    assert (outcome.close_code, response(outcome)["error"]["message"]) == (CLOSE_POLICY_VIOLATION, "invalid role")


@pytest.mark.parametrize(
    ("client", "expected"),
    [((3, 3), 3), ((1, 9), 7), ((5, 6), None), ((3, 6), 4), ((4, 4), 4), ((4, 6), 4), ((8, 9), None),
     ((1, 2), None), ((7, 7), 7), ((5, 7), 7)],
)
def test_negotiation_picks_highest_served_version_inside_the_range(client, expected):
    assert negotiate_protocol(*client) == expected


def test_first_frame_over_64_kib_closes_1009_unparsed():
    padded = connect({"client": {**CLIENT, "displayName": "a" * 65536}})
    assert receive(padded) == Reject(None, CLOSE_MESSAGE_TOO_BIG, "preauth payload too large")
    assert receive(padded.encode()) == Reject(None, CLOSE_MESSAGE_TOO_BIG, "preauth payload too large")


def test_first_frame_size_is_counted_in_utf8_bytes():
    name = "é" * 33_000  # 33,000 characters, 66,000 bytes
    text = connect({"client": {**CLIENT, "displayName": name}}).replace("\\u00e9", "é")
    assert len(text) < 65536 < len(text.encode())
    assert receive(text) == Reject(None, CLOSE_MESSAGE_TOO_BIG, "preauth payload too large")
    assert isinstance(ServerHandshake(nonce="n", now_ms=5, max_preauth_bytes=70_000).receive(text), Accept)


def test_first_connect_too_deep_is_answered_with_its_id_then_closed_1008():
    text = '{"type":"req","id":"c1","method":"connect","params":' + "[" * 10_000 + "]" * 10_000 + "}"
    outcome = receive(text)
    assert response(outcome)["error"] == {"code": "INVALID_REQUEST",
                                          "message": "invalid request frame: nesting deeper than 128 levels"}
    assert (outcome.close_code, outcome.close_reason) == (1008, "invalid request frame: nesting deeper than 128 levels")


@pytest.mark.parametrize("text", ["[" * 10_000 + "]" * 10_000, '{"type":"event","id":"c1","n":' + "1" * 5000 + "}",
                                  '{"type":"req","id":"","n":' + "1" * 5000 + "}"])
def test_first_frame_too_deep_or_long_without_a_request_id_closes_1008_without_reply(text):
    assert receive(text) == Reject(None, CLOSE_POLICY_VIOLATION, "invalid request frame")


def test_close_reason_with_a_lone_surrogate_is_escaped_utf8():
    outcome = receive(connect({"\ud800": 1}))
    assert response(outcome)["error"]["message"] == "invalid connect params: at root: unexpected property '\ud800'"
    assert outcome.close_reason == "invalid connect params: at root: unexpected property '\\ud800'"
    assert outcome.close_reason.encode("utf-8")
