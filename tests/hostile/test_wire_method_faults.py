"""What a method handler is answered after the id checks (``gateway/methods/ids.py``): only the ids a
handler uses are checked, and only file and state faults are called that; a bug is a bug.

Over real loopback WebSockets (issue 15, requirements 1 and 10).
"""

from __future__ import annotations

import json

import trio

from moltbot.gateway.methods.ids import is_state_fault
from moltbot.gateway.methods.sessions import PREVIEW_KEYS


async def test_sessions_preview_checks_only_the_keys_it_reads(raw):
    """The handler reads the first 64 keys; a bad 65th is never used, so it is not refused either."""
    keys = [f"agent:main:k{i}" for i in range(PREVIEW_KEYS)] + ["bad\x00key"]
    async with raw(handshake=True) as ws:
        with trio.fail_after(10):
            reply = await ws.call("sessions.preview", {"keys": keys})
    assert reply["ok"], reply
    assert len(reply["payload"]["previews"]) == PREVIEW_KEYS


async def test_a_bad_key_among_those_read_is_still_refused(raw):
    async with raw(handshake=True) as ws:
        with trio.fail_after(10):
            reply = await ws.call("sessions.preview", {"keys": ["agent:main:a", "bad\x00key"]})
    assert reply["error"]["code"] == "INVALID_REQUEST" and "keys must be" in reply["error"]["message"]


async def test_a_value_error_from_a_handler_bug_is_an_internal_error_not_a_state_fault(gateway, raw, monkeypatch):
    def broken(key):
        raise ValueError("a bug, with /secret/path in its text")

    async with raw(handshake=True) as ws:
        monkeypatch.setattr(gateway.runtime.agents, "canonical", broken)  # after the handshake, which uses it
        with trio.fail_after(10):
            reply = await ws.call("sessions.preview", {"keys": ["agent:main:main"]})
            assert (await ws.call("health", request_id="h"))["ok"] is True
    assert reply["error"] == {"code": "UNAVAILABLE",
                              "message": "sessions.preview failed: internal error (see the gateway log)"}


def test_state_faults_are_what_files_and_names_raise(tmp_path):
    faults = []
    for attempt in (lambda: open(tmp_path / "a\x00b"), lambda: (tmp_path / "none").read_text(),  # noqa: SIM115
                    lambda: json.loads("{"), lambda: str(tmp_path / "\ud800").encode(),
                    lambda: b"\xff".decode()):
        try:
            attempt()
        except Exception as exc:  # noqa: BLE001 (collected to classify)
            faults.append(exc)
    assert len(faults) == 5 and all(map(is_state_fault, faults))
    assert not is_state_fault(ValueError("not a duration")) and not is_state_fault(KeyError("x"))
