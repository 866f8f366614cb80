"""Our protocol-4 handshake frames validate against OpenClaw's protocol.schema.json (the oracle), for
connects drawn by hypothesis: the challenge, hello-ok, every connect refusal and post-connect error
``res``. The schema's known gaps are stated once in ``handshake_support``: hello-ok's
``auth.method`` and the challenge (no definition).

Each example runs a gateway of its own on a real loopback port (``trio.run`` per example: ~50 ms)."""

from __future__ import annotations

import json

import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moltbot.gateway.app import open_gateway
from moltbot.protocol._device import DeviceKeyPair
from tests.conftest import TOKEN, open_raw
from tests.nodes.helpers import REMOTE
from tests.strategies import examples
from tests.v4.handshake_support import (
    CLIENT_KINDS,
    challenge_errors,
    connect_params,
    hello_ok_errors,
    request,
    schema_errors,
    signed,
)

SCOPES = ["operator.read", "operator.write", "operator.admin", "operator.approvals", "operator.questions",
          "operator.pairing", "operator.talk", "operator.talk.secrets"]
KEYS = [DeviceKeyPair.generate() for _ in range(3)]  # a few identities, so some connects re-use a pairing

connects = st.fixed_dictionaries({
    "kind": st.sampled_from(CLIENT_KINDS),
    "range": st.sampled_from([(4, 4), (3, 4), (4, 6), (1, 4), (5, 6), (8, 9)]),
    "scopes": st.none() | st.lists(st.sampled_from(SCOPES), unique=True, max_size=4),
    "token": st.sampled_from([TOKEN, "wrong", None]),
    "device": st.sampled_from([None, "v2", "v3", "stale", "bad-signature"]),
    "key": st.sampled_from(KEYS),
    "remote": st.booleans(),
    "device_family": st.sampled_from([None, "Linux", " MacBookPro "]),
})
# After hello-ok: frames that must be answered with an error ``res``.
BAD_REQUESTS = [
    {"type": "req", "id": "b1", "method": "health", "traceparent": "t" * 129},
    {"type": "req", "id": "b2", "method": "no.such.method"},
    {"type": "req", "id": "b3", "method": "connect", "params": {}},
    {"type": "req", "id": "b4", "method": "health", "extra": 1},
    {"type": "req", "method": "health"},
    {"type": "req", "id": "", "method": "health"},
]


def _params(case: dict, nonce: str) -> dict:
    client_id, mode, role = case["kind"]
    extra = {"deviceFamily": case["device_family"]} if case["device_family"] else {}
    params = connect_params(case["range"], client_id=client_id, mode=mode, role=role, scopes=case["scopes"],
                            auth={"token": case["token"]} if case["token"] else {}, **extra)
    device = case["device"]
    if device is None:
        return params
    key = case["key"]
    if device == "stale":
        return signed(params, key, nonce, signed_at_ms=1)
    if device == "bad-signature":
        return signed(params, key, nonce, signature=KEYS[0].sign("x") if key is not KEYS[0] else KEYS[1].sign("x"))
    return signed(params, key, nonce, version=device)


async def _exchange(config, schema: dict, case: dict) -> list[str]:
    """One connect (and, once accepted, the bad requests); every schema problem found, as text."""
    problems: list[str] = []
    with trio.fail_after(20):
        async with open_gateway(config, port=0, env={}) as gateway:
            async with open_raw(gateway.url, extra_headers=REMOTE if case["remote"] else None) as ws:
                problems += [f"challenge {e}" for e in challenge_errors(schema, ws.challenge)]
                await ws.send(request(_params(case, ws.challenge["payload"]["nonce"])))
                response = await ws.response("c1")
                if not response["ok"]:
                    return problems + _response_errors(schema, response)
                problems += [f"hello-ok {e}" for e in hello_ok_errors(schema, response)]
                for frame in BAD_REQUESTS:
                    await ws.send(json.dumps(frame))
                    answer = await ws.response(frame.get("id") or "invalid")
                    problems += _response_errors(schema, answer)
    return problems


def _response_errors(schema: dict, frame: dict) -> list[str]:
    return [f"{json.dumps(frame)[:200]} {e}" for e in schema_errors(schema, "ResponseFrame", frame)]


@settings(max_examples=examples(20), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=connects)
def test_v4_handshake_frames_validate_against_the_official_schema(openclaw_schema, make_config, case):
    problems = trio.run(_exchange, make_config(), openclaw_schema, case)
    assert problems == []


def test_the_empty_id_answer_openclaw_sends_is_schema_invalid(openclaw_schema):
    """``{"id": ""}`` (OpenClaw 2026.9.6's answer) is refused by the 2026.9.1 schema: why ours answers "invalid"."""
    frame = {"type": "res", "id": "", "ok": False, "error": {"code": "INVALID_REQUEST", "message": "x"}}
    assert schema_errors(openclaw_schema, "ResponseFrame", frame)
    assert not schema_errors(openclaw_schema, "ResponseFrame", {**frame, "id": "x"})
