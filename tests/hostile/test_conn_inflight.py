"""In-flight requests per connection are capped (issue 15, requirement 9).

Each pending request holds a task and its frames: 20,000 ``agent.wait`` calls pinned 85 MB. Past
``gateway.maxInFlightRequests`` (256) a request is answered UNAVAILABLE at once, naming the limit; the
connection stays open, and answered requests give their slot back.
"""

from __future__ import annotations

import json

import trio

LIMIT = 256  # the default


async def test_requests_past_the_in_flight_cap_are_refused_and_slots_come_back(raw, gateway):
    async with raw(handshake=True) as ws, raw(handshake=True) as other:
        with trio.fail_after(9):  # within the gateway fixture's 10 s
            for i in range(LIMIT + 40):
                await ws.send({"type": "req", "id": f"w{i}", "method": "agent.wait",
                               "params": {"runId": "later", "timeoutMs": 120_000}})
            refused = [await ws.response(f"w{i}") for i in range(LIMIT, LIMIT + 40)]
            assert all(not frame["ok"] for frame in refused)
            error = refused[0]["error"]
            assert error["code"] == "UNAVAILABLE" and error["retryable"] is True
            assert error["message"] == f"too many requests in flight on this connection (limit {LIMIT})"
            assert error["details"] == {"limit": LIMIT}
            assert (await ws.call("health"))["ok"]  # the connection is kept (health runs inline)

            # The run they wait for ends: every pending wait is answered and gives its slot back.
            await other.call("agent", {"message": "done", "idempotencyKey": "later"})
            answered = {}
            while len(answered) < LIMIT:  # in any order
                frame = await ws.receive()
                if frame.get("type") == "res":
                    answered[frame["id"]] = frame
            assert set(answered) == {f"w{i}" for i in range(LIMIT)}
            assert all(frame["ok"] and frame["payload"]["status"] == "ok" for frame in answered.values())
            again = await ws.call("agent.wait", {"runId": "later"}, request_id="again")
            assert again["ok"] and again["payload"]["status"] == "ok", json.dumps(again)
