"""No Python exception text reaches a client after the handshake (issue 15, requirement 10).

A handler's bug, a failed agent run or a frame the parser chokes on is logged (with the method name and
the traceback) and answered with a stable message; the text of the exception (which can hold absolute
paths, ids, internals) stays in the log, and the connection stays open.
"""

from __future__ import annotations

import json
import logging

import trio

from moltbot.agents import sessions
from moltbot.protocol import ServerSession


def long_name_error(tmp_path) -> OSError:
    return OSError(36, "File name too long", str(tmp_path / "cron" / "runs" / ("x" * 300)))


async def test_a_handler_bug_is_answered_with_a_stable_message_and_logged(raw, gateway, tmp_path, caplog):
    runtime = await gateway.current_runtime()

    async def broken(runtime, connection, params):
        raise long_name_error(tmp_path)

    runtime.handlers["sessions.list"] = broken
    async with raw(handshake=True) as ws:
        with trio.fail_after(9):
            answer = await ws.call("sessions.list", {})
            assert (await ws.call("health", request_id="h"))["ok"]
    assert answer["error"] == {"code": "UNAVAILABLE",
                               "message": "sessions.list failed: internal error (see the gateway log)"}
    assert str(tmp_path) not in json.dumps(answer) and "Errno" not in json.dumps(answer)
    (record,) = [r for r in caplog.records if r.getMessage() == "handler sessions.list failed"]
    assert record.exc_info is not None and "File name too long" in str(record.exc_info[1])


async def test_a_failed_agent_run_does_not_show_its_exception_text(raw, gateway, tmp_path, monkeypatch, caplog):
    async def failing(path, lines, session_id):
        raise long_name_error(tmp_path)

    monkeypatch.setattr(sessions, "append_transcript", failing)
    async with raw(handshake=True) as ws:
        with trio.fail_after(9):
            await ws.send({"type": "req", "id": "a1", "method": "agent",
                           "params": {"message": "hi", "idempotencyKey": "run-1"}})
            texts = []
            while True:
                text = await ws.ws.get_message()
                texts.append(text)
                frame = json.loads(text)
                if frame.get("id") == "a1" and frame["payload"].get("status") != "accepted":
                    break
            assert (await ws.call("health"))["ok"]
    assert frame["ok"] is False
    assert frame["payload"]["summary"] == "the session's files could not be read or written (see the gateway log)"
    assert not any(str(tmp_path) in text or "Errno" in text or "too long" in text for text in texts)
    assert any(r.getMessage() == "agent run run-1 failed" for r in caplog.records)


async def test_a_frame_the_parser_fails_on_is_dropped_and_the_connection_kept(raw, gateway, monkeypatch, caplog):
    receive = ServerSession.receive

    def choking(self, text):
        if "choke" in text:
            raise RecursionError("maximum recursion depth exceeded while decoding a JSON array")
        return receive(self, text)

    monkeypatch.setattr(ServerSession, "receive", choking)
    async with raw(handshake=True) as bystander, raw(handshake=True) as ws:
        with trio.fail_after(9):
            await ws.send({"type": "req", "id": "x", "method": "health", "params": {"choke": 1}})
            assert (await ws.call("health"))["ok"]
            assert (await bystander.call("health"))["ok"]
    assert any("could not be read" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)
