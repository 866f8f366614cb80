"""No OS error text or absolute path reaches a client when a state file is unusable (issue 15, §10).

A session entry in ``sessions.json`` is trusted only as far as a file name goes: one hand-edited (or
written by another program) with a ``sessionId`` longer than a file name, or a ``sessionFile`` holding a
NUL, today answers ``[Errno 36] File name too long: '/…'`` or ``embedded null byte``.
"""

import json

import pytest
import trio

BAD_ENTRIES = {
    "long-id": {"sessionId": "s" * 300, "updatedAt": 1},
    "nul-id": {"sessionId": "a\x00b", "updatedAt": 1},
}


def plant(tmp_path, entry):
    """Before the gateway starts: it reads the stores of its agents once."""
    sessions = tmp_path / "agents" / "main" / "sessions"
    sessions.mkdir(parents=True)
    (sessions / "sessions.json").write_text(json.dumps({"agent:main:main": entry}))


@pytest.fixture(params=sorted(BAD_ENTRIES))
def bad_entry(request, tmp_path):
    plant(tmp_path, BAD_ENTRIES[request.param])
    return request.param


async def test_chat_history_of_an_unusable_entry_is_a_clean_unavailable(bad_entry, raw):
    async with raw(handshake=True) as client:
        with trio.fail_after(10):
            reply = await client.call("chat.history", {"sessionKey": "main"})
            health = await client.call("health", request_id="h")
    assert reply["error"] == {"code": "UNAVAILABLE", "message": "session transcript unreadable (see the gateway log)"}
    assert health["ok"]


@pytest.fixture
def nul_id_entry(tmp_path):
    plant(tmp_path, BAD_ENTRIES["nul-id"])


async def test_sessions_preview_of_an_unusable_entry_says_error(nul_id_entry, raw):
    async with raw(handshake=True) as client:
        with trio.fail_after(10):
            reply = await client.call("sessions.preview", {"keys": ["main"]})
    assert reply["ok"], reply
    assert reply["payload"]["previews"] == [{"key": "agent:main:main", "status": "error", "items": []}]


async def test_sessions_list_with_previews_lists_an_unusable_entry_without_them(bad_entry, raw):
    async with raw(handshake=True) as client:
        with trio.fail_after(10):
            reply = await client.call("sessions.list", {"includeLastMessage": True, "includeDerivedTitles": True})
    assert reply["ok"], reply
    [row] = reply["payload"]["sessions"]
    assert row["key"] == "agent:main:main" and "lastMessagePreview" not in row


@pytest.fixture
def nul_file_entry(tmp_path):
    plant(tmp_path, {"sessionId": "ok-id", "sessionFile": "a\x00b.jsonl", "updatedAt": 1})
    line = {"type": "message", "message": {"role": "user", "content": [{"type": "text", "text": "hello"}]}}
    (tmp_path / "agents" / "main" / "sessions" / "ok-id.jsonl").write_text(json.dumps(line) + "\n")


async def test_a_session_file_name_with_nul_falls_back_to_the_session_id(nul_file_entry, raw):
    async with raw(handshake=True) as client:
        with trio.fail_after(10):
            reply = await client.call("chat.history", {"sessionKey": "main"})
    assert reply["ok"], reply
    assert [m["content"][0]["text"] for m in reply["payload"]["messages"]] == ["hello"]


@pytest.fixture
def unreadable_cron_store(tmp_path):
    (tmp_path / "cron" / "jobs.json").mkdir(parents=True)  # read() fails: EISDIR, with the path in its text


async def test_an_unreadable_cron_store_is_refused_without_its_path(unreadable_cron_store, raw, tmp_path):
    job = {"name": "x", "schedule": {"kind": "every", "everyMs": 60_000}, "sessionTarget": "main",
           "wakeMode": "now", "payload": {"kind": "systemEvent", "text": "t"}}
    async with raw(handshake=True) as client:
        with trio.fail_after(10):
            reply = await client.call("cron.add", job)
    assert reply["error"]["code"] == "UNAVAILABLE"
    assert reply["error"]["message"].startswith("cron store is unreadable (see the gateway log)")
    assert str(tmp_path) not in reply["error"]["message"] and "Errno" not in reply["error"]["message"]


@pytest.fixture
def unreadable_config(tmp_path):
    path = tmp_path / "moltbot.json"
    path.mkdir()  # read_text fails with EISDIR: "[Errno 21] Is a directory: '/…/moltbot.json'"
    return path


async def test_config_get_of_an_unreadable_file_says_why_without_python_text(unreadable_config, raw):
    async with raw(handshake=True) as client:
        with trio.fail_after(10):
            reply = await client.call("config.get", {})
    assert reply["error"] == {"code": "UNAVAILABLE", "message": "<root>: cannot read the file: Is a directory"}
