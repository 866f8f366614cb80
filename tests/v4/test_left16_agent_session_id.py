"""``agent`` with ``sessionId`` (``openclaw agent --session-id S``) runs in the session that has that id, as
OpenClaw resolves it; an id no session has, or one that is not the given ``sessionKey``'s, is refused
INVALID_REQUEST instead of silently running in the main session."""

from __future__ import annotations

import trio

from tests.conftest import open_raw

CLI = {"id": "cli", "version": "1", "platform": "linux", "mode": "cli"}


async def _agent(ws, request_id: str, **params) -> dict:
    await ws.send({"type": "req", "id": request_id, "method": "agent",
                   "params": {"message": "hi", "idempotencyKey": request_id, **params}})
    first = await ws.response(request_id)
    return first if not first["ok"] else await ws.response(request_id)


async def _session_id(ws, key: str) -> str:
    listed = await ws.call("sessions.list", {}, request_id="list")
    return next(row["sessionId"] for row in listed["payload"]["sessions"] if row["key"] == key)


async def test_session_id_runs_in_the_session_that_has_it(gateway):
    with trio.fail_after(30):
        async with open_raw(gateway.url, handshake=True, minProtocol=4, maxProtocol=4, client=CLI,
                            scopes=["operator.write"]) as ws:
            assert (await _agent(ws, "a1", sessionKey="agent:main:work"))["ok"]
            session_id = await _session_id(ws, "agent:main:work")
            again = await _agent(ws, "a2", sessionId=session_id)
            both = await _agent(ws, "a3", sessionId=session_id, sessionKey="agent:main:work")
    assert again["ok"], again
    assert again["payload"]["result"]["sessionKey"] == "agent:main:work"
    assert both["ok"] and both["payload"]["result"]["sessionKey"] == "agent:main:work"


async def test_an_unknown_session_id_is_refused_not_run_in_main(gateway):
    with trio.fail_after(30):
        async with open_raw(gateway.url, handshake=True, minProtocol=4, maxProtocol=4, client=CLI,
                            scopes=["operator.write"]) as ws:
            unknown = await _agent(ws, "a1", sessionId="s1")
            assert (await _agent(ws, "a2", sessionKey="agent:main:work"))["ok"]
            mismatch = await _agent(ws, "a3", sessionId="s1", sessionKey="agent:main:work")
    assert unknown["error"]["code"] == "INVALID_REQUEST"
    assert unknown["error"]["message"].startswith("unknown sessionId: ")
    assert mismatch["error"]["message"].startswith("sessionId is not the id of the sessionKey's session")
