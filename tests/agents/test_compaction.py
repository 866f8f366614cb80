"""Compaction: ``sessions.compact`` (the original's truncation), the automatic summary before the context
window fills, and the session chat commands (``/compact``, ``/new``, ``/status``, ``/model``, ``/think``)."""

import json

import attrs
import pytest
import trio

from moltbot.agents.compaction import KEEP_MAX_MESSAGES, render, split
from moltbot.client import open_gateway_client
from moltbot.gateway.app import open_gateway
from moltbot.protocol import RemoteProtocolError
from tests.agents.test_agent_provider_runs import config_for
from tests.agents.test_usage_cost import priced
from tests.conftest import TOKEN
from tests.fakes.openai import error_reply, open_fake_openai, text_reply


def _turns(count: int) -> list[dict]:
    items = [{"type": "session", "id": "s"}]
    for n in range(count):
        items += [{"type": "message", "id": f"u{n}", "message": {"role": "user", "content": [
                      {"type": "text", "text": f"question {n}"}]}},
                  {"type": "message", "id": f"a{n}", "message": {"role": "assistant", "content": [
                      {"type": "toolCall", "id": f"c{n}", "name": "read", "arguments": {"path": "x"}}]}},
                  {"type": "message", "id": f"r{n}", "message": {"role": "toolResult", "toolCallId": f"c{n}",
                                                                 "toolName": "read", "content": []}},
                  {"type": "message", "id": f"b{n}", "message": {"role": "assistant", "content": [
                      {"type": "text", "text": f"answer {n}"}]}}]
    return items


def test_split_keeps_whole_turns_within_the_budget():
    header, older, kept = split(_turns(30), keep_tokens=10**9)
    assert header["type"] == "session"
    assert kept[0]["id"].startswith("u") and len(kept) <= KEEP_MAX_MESSAGES  # the summary stays replayed
    assert len(older) + len(kept) == 120
    _, older, kept = split(_turns(3), keep_tokens=1)
    assert kept == [] and len(older) == 12
    text = render(older)
    assert "User: question 0" in text and "[called tool read(" in text and "answer 2" in text


def _config(tmp_path, base_url, **compaction):
    config = priced(config_for(tmp_path, base_url))
    defaults = config.agents.defaults
    return attrs.evolve(config, agents=attrs.evolve(config.agents, defaults=attrs.evolve(
        defaults, compaction=attrs.evolve(defaults.compaction, **compaction))))


async def _turn(client, run_id: str, message: str = "hello") -> None:
    await client.call("agent", {"message": message, "idempotencyKey": run_id})
    await client.call("agent.wait", {"runId": run_id})


async def test_sessions_compact_keeps_the_last_lines_and_archives_the_rest(tmp_path):
    async with open_fake_openai(default=text_reply("ok")) as fake:
        async with open_gateway(_config(tmp_path, fake.base_url), port=0, env={}) as gateway, \
                open_gateway_client(gateway.url, token=TOKEN) as client:
            with trio.fail_after(10):
                for n in range(3):
                    await _turn(client, f"t{n}")
                not_needed = await client.call("sessions.compact", {"key": "main", "maxLines": 50})
                done = await client.call("sessions.compact", {"key": "main", "maxLines": 3})
                missing = await client.call("sessions.compact", {"key": "agent:main:nobody"})
                store = gateway.runtime.agents.store("main")
                entry = store.entries["agent:main:main"]
                history = await client.call("chat.history", {"sessionKey": "main"})
                path = store.transcript_path(entry)
    assert not_needed == {"ok": True, "key": "agent:main:main", "compacted": False, "kept": 7}
    assert done["compacted"] is True and done["kept"] == 3 and ".jsonl.bak." in done["archived"]
    assert missing == {"ok": True, "key": "agent:main:nobody", "compacted": False, "reason": "no sessionId"}
    lines = path.read_text().splitlines()
    archived = await trio.Path(done["archived"]).read_text()
    assert json.loads(lines[0])["type"] == "session" and len(lines) == 3  # the header stays first
    assert len(archived.splitlines()) == 7  # the archive is the whole old file
    assert "totalTokens" not in entry and len(history["messages"]) == 2


async def test_a_full_context_is_summarised_before_the_next_turn(tmp_path):
    # window 64,000 and reserve 63,990: a prompt of 50 tokens (text_reply's usage) fills it
    replies = [text_reply("one", usage=(50, 3)), text_reply("Summary: the user said hello.", usage=(40, 9)),
               text_reply("two", usage=(50, 3))]
    async with open_fake_openai(*replies) as fake:
        config = _config(tmp_path, fake.base_url, reserve_tokens_floor=63_990, keep_recent_tokens=1)
        async with open_gateway(config, port=0, env={}) as gateway, \
                open_gateway_client(gateway.url, token=TOKEN) as client:
            with trio.fail_after(10):
                await _turn(client, "a1")
                # the first turn's prompt filled the window: the second is preceded by a compaction
                await _turn(client, "a2", "and again")
                store = gateway.runtime.agents.store("main")
                entry = store.entries["agent:main:main"]
                transcript = await store.read_transcript(store.transcript_path(entry))
                cost = await client.call("usage.cost", {})
    summary_request, after = fake.requests[1].json(), fake.requests[2].json()
    assert len(fake.requests) == 3
    assert "compact a conversation" in summary_request["messages"][0]["content"]
    assert "User: hello" in summary_request["messages"][1]["content"]
    # the turn after the compaction sees the summary, framed as one, and its own message
    assert "<summary>\nSummary: the user said hello.\n</summary>" in after["messages"][1]["content"]
    assert after["messages"][-1]["content"] == "and again"
    assert [m["role"] for m in transcript] == ["compactionSummary", "user", "assistant"]
    assert entry["compactionCount"] == 1
    archives = list(store.path.parent.glob("*.jsonl.bak.*"))
    assert len(archives) == 1 and "one" in archives[0].read_text()
    assert cost["totals"]["totalTokens"] == 53 + 49 + 53  # both turns and the summary call


async def test_session_commands_from_chat_send(tmp_path):
    replies = [text_reply("hi"), text_reply("A short summary.", usage=(10, 2)), text_reply("after")]
    async with open_fake_openai(*replies) as fake:
        async with open_gateway(_config(tmp_path, fake.base_url, keep_recent_tokens=1), port=0, env={}) as gateway, \
                open_gateway_client(gateway.url, token=TOKEN) as client:
            answers = []

            async def command(text: str, run_id: str) -> str:
                await client.call("chat.send", {"sessionKey": "main", "message": text, "idempotencyKey": run_id})
                await client.call("agent.wait", {"runId": run_id})
                return gateway.runtime.agents.runs[run_id].text

            with trio.fail_after(10):
                await _turn(client, "m1")
                for n, text in enumerate(["/status", "/think high", "/think loud", "/model local/other-model",
                                          "/model nowhere/x", "/compact", "/status", "/new"]):
                    answers.append(await command(text, f"c{n}"))
                entry = gateway.runtime.agents.store("main").entries["agent:main:main"]
                await _turn(client, "m2")
    status, think, bad_level, model, bad_model, compacted, status_after, new = answers
    assert "Model: local/fake-model (agent default)" in status and "Context: 5 of 64.0k" in status
    assert think.startswith("Thinking level: high") and "Unknown level" in bad_level
    assert model.startswith("Model for this session: local/other-model") and bad_model.startswith("Cannot use")
    assert compacted.startswith("Compacted:") and "Compactions: 1 · thinking: high" in status_after
    assert "local/other-model (session override)" in status_after
    assert new == "New session started."
    assert entry["thinkingLevel"] == "high" and "compactionCount" not in entry
    assert fake.requests[-1].json()["model"] == "other-model"  # the session's model is used
    assert len(fake.requests[-1].json()["messages"]) == 2  # system + the message: a new session


async def test_a_context_overflow_is_compacted_and_asked_again(tmp_path):
    overflow = error_reply(400, "This model's maximum context length is 8192 tokens.", code="context_length_exceeded")
    replies = [text_reply("one"), overflow, text_reply("Summary: a greeting."), text_reply("two")]
    async with open_fake_openai(*replies) as fake:
        async with open_gateway(_config(tmp_path, fake.base_url, keep_recent_tokens=1), port=0, env={}) as gateway, \
                open_gateway_client(gateway.url, token=TOKEN) as client:
            with trio.fail_after(10):
                await _turn(client, "o1")
                await _turn(client, "o2", "and now")
            run = gateway.runtime.agents.runs["o2"]
            entry = gateway.runtime.agents.store("main").entries["agent:main:main"]
    assert run.status == "ok" and run.text == "two" and entry["compactionCount"] == 1
    retried = fake.requests[3].json()["messages"]
    assert "Summary: a greeting." in retried[1]["content"] and retried[-1]["content"] == "and now"
    assert [m["role"] for m in retried].count("user") == 2  # the summary and this turn's message, once


async def test_sessions_patch_model_sets_the_sessions_own_model(tmp_path):
    async with open_gateway(_config(tmp_path, "http://127.0.0.1:9"), port=0, env={}) as gateway, \
            open_gateway_client(gateway.url, token=TOKEN) as client:
        with trio.fail_after(10):
            patched = await client.call("sessions.patch", {"key": "main", "model": "local/other-model"})
            with pytest.raises(RemoteProtocolError, match="invalid model"):
                await client.call("sessions.patch", {"key": "main", "model": "nowhere/x"})
            cleared = await client.call("sessions.patch", {"key": "main", "model": None})
    assert (patched["entry"]["providerOverride"], patched["entry"]["modelOverride"]) == ("local", "other-model")
    assert "modelOverride" not in cleared["entry"]
