"""End to end: a Telegram message (fake Bot API) asks for a command; the model (fake OpenAI) calls
``exec``; the run waits for approval and the chat is told; the owner answers ``/approve`` in the chat; the
command's output goes back to the model, the reply is delivered, and the transcript has the tool call,
its result and the usage. A stranger's ``/approve`` is refused. And the same with the owner approving from
the CLI (``moltbot approvals allow``)."""

import json

import attrs
import trio

from moltbot.client import open_gateway_client
from moltbot.config.model import TelegramConfig
from moltbot.gateway.app import open_gateway
from tests.agents.test_exec_approvals import exec_config
from tests.agents.test_usage_cost import priced
from tests.cli_inprocess import run_cli_inprocess
from tests.conftest import TOKEN
from tests.fakes.openai import ScriptedCall, open_fake_openai, text_reply, tool_call_reply
from tests.fakes.telegram import open_fake_telegram

BOT = "111:AAA-test-token"


def _config(tmp_path, fake, telegram, *, allow_from):
    """The exec-approval agent on the fake model, priced, with a Telegram account on the fake Bot API."""
    config = priced(exec_config(tmp_path, fake.base_url))
    return attrs.evolve(config, channels=attrs.evolve(config.channels, telegram=TelegramConfig(
        api_root=telegram.url, bot_token=BOT, dm_policy="open", allow_from=allow_from)))



async def test_telegram_request_waits_for_the_owners_approval_then_replies(tmp_path):
    call = ScriptedCall("c1", "exec", {"command": "echo disk is fine"})
    with trio.fail_after(30):
        async with open_fake_openai(tool_call_reply(call), text_reply("Your disk is fine.")) as fake, \
                open_fake_telegram() as telegram:
            bot = telegram.bot(BOT)
            # Everyone may write (dmPolicy open, "*"); only 42, named in allowFrom, is the owner.
            config = _config(tmp_path, fake, telegram, allow_from=["tg:42", "*"])
            async with open_gateway(config, port=0, env={}) as gateway:
                bot.push_message(chat_id=42, user_id=42, text="check the disk please")
                await bot.wait_sent(1)
                notice = bot.sent[0]["text"]
                approval_id = notice.split("/approve ")[1].split()[0]
                bot.push_message(chat_id=7, user_id=7, text=f"/approve {approval_id}")  # not the owner
                await bot.wait_sent(2)
                bot.push_message(chat_id=42, user_id=42, text=f"/approve {approval_id}")
                await bot.wait_sent(4)
                async with open_gateway_client(gateway.url, token=TOKEN) as client:
                    cost = await client.call("usage.cost", {"days": 1})
                store = gateway.runtime.agents.store("main")
                entry = store.entries["agent:main:main"]
                transcript = await store.read_transcript(store.transcript_path(entry))
    assert "echo disk is fine" in notice
    stranger, approved, reply = (bot.sent[i] for i in (1, 2, 3))
    assert stranger["chat_id"] == 7 and "Only the owner" in stranger["text"]
    assert approved["chat_id"] == 42 and approved["text"].startswith(f"Approved {approval_id}")
    assert reply["chat_id"] == 42 and reply["text"] == "Your disk is fine."
    tool_result = json.loads(fake.requests[1].json()["messages"][-1]["content"])
    assert tool_result["output"] == "disk is fine\n"
    assert [m["role"] for m in transcript] == ["user", "assistant", "toolResult", "assistant"]
    assert transcript[1]["content"][0]["name"] == "exec" and transcript[2]["toolCallId"] == "c1"
    # each model call's usage on its own line, priced from the catalog (1 $ in, 2 $ out per million tokens)
    assert transcript[1]["usage"] == {"input": 7, "output": 11, "cacheRead": 0, "cacheWrite": 0, "totalTokens": 18,
                                      "cost": {"input": 7e-6, "output": 22e-6, "cacheRead": 0.0, "cacheWrite": 0.0,
                                               "total": 29e-6}}
    assert transcript[3]["usage"]["totalTokens"] == 8
    # the entry as the original writes it: the run's tokens, and the last prompt as how full the context is
    assert (entry["inputTokens"], entry["outputTokens"], entry["totalTokens"]) == (12, 14, 5)
    assert entry["contextTokens"] == 64_000
    assert cost["totals"]["totalTokens"] == 26 and cost["totals"]["missingCostEntries"] == 0
    assert abs(cost["totals"]["totalCost"] - (12 + 2 * 14) / 1e6) < 1e-12
    assert [row["key"] for row in cost["bySession"]] == ["agent:main:main"]


async def test_telegram_request_approved_from_the_cli_then_replies(tmp_path):
    """The same path with the owner at the terminal: ``moltbot approvals list`` shows the waiting command,
    ``moltbot approvals allow ID`` lets it run, and the reply reaches the chat."""
    call = ScriptedCall("c1", "exec", {"command": "echo from the terminal"})
    with trio.fail_after(60):
        async with open_fake_openai(tool_call_reply(call), text_reply("Done.")) as fake, \
                open_fake_telegram() as telegram:
            bot = telegram.bot(BOT)
            config = _config(tmp_path, fake, telegram, allow_from=["tg:42"])
            async with open_gateway(config, port=0, env={}) as gateway:
                bot.push_message(chat_id=42, user_id=42, text="say it from the terminal")
                await bot.wait_sent(1)
                approval_id = bot.sent[0]["text"].split("/approve ")[1].split()[0]
                env = {"HOME": str(tmp_path), "CLAWDBOT_STATE_DIR": str(tmp_path / "cli-state")}
                target = ["--url", gateway.url, "--token", TOKEN]
                listed = await run_cli_inprocess(env, "approvals", "list", *target)
                allowed = await run_cli_inprocess(env, "approvals", "allow", approval_id, *target)
                await bot.wait_sent(2)
                store = gateway.runtime.agents.store("main")
                entry = store.entries["agent:main:main"]
                transcript = await store.read_transcript(store.transcript_path(entry))
    assert listed.returncode == 0 and approval_id in listed.stdout and "echo from the terminal" in listed.stdout
    assert allowed.returncode == 0, allowed.stderr
    assert bot.sent[1]["chat_id"] == 42 and bot.sent[1]["text"] == "Done."
    assert json.loads(fake.requests[1].json()["messages"][-1]["content"])["output"] == "from the terminal\n"
    assert [m["role"] for m in transcript] == ["user", "assistant", "toolResult", "assistant"]
    assert transcript[1]["usage"]["totalTokens"] == 18 and entry["totalTokens"] > 0
