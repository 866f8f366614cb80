"""End to end: a Telegram message (fake Bot API) asks for a command; the model (fake OpenAI) calls
``exec``; the run waits for approval and the chat is told; the owner answers ``/approve`` in the chat; the
command's output goes back to the model, the reply is delivered, and the transcript has the tool call,
its result and the usage. A stranger's ``/approve`` is refused."""

import json

import attrs
import trio

from moltbot.config.model import TelegramConfig
from moltbot.gateway.app import open_gateway
from tests.agents.test_exec_approvals import exec_config
from tests.fakes.openai import ScriptedCall, open_fake_openai, text_reply, tool_call_reply
from tests.fakes.telegram import open_fake_telegram

BOT = "111:AAA-test-token"


async def test_telegram_request_waits_for_the_owners_approval_then_replies(tmp_path):
    call = ScriptedCall("c1", "exec", {"command": "echo disk is fine"})
    with trio.fail_after(30):
        async with open_fake_openai(tool_call_reply(call), text_reply("Your disk is fine.")) as fake, \
                open_fake_telegram() as telegram:
            bot = telegram.bot(BOT)
            config = exec_config(tmp_path, fake.base_url)
            # Everyone may write (dmPolicy open, "*"); only 42, named in allowFrom, is the owner.
            config = attrs.evolve(config, channels=attrs.evolve(config.channels, telegram=TelegramConfig(
                api_root=telegram.url, bot_token=BOT, dm_policy="open", allow_from=["tg:42", "*"])))
            async with open_gateway(config, port=0, env={}) as gateway:
                bot.push_message(chat_id=42, user_id=42, text="check the disk please")
                await bot.wait_sent(1)
                notice = bot.sent[0]["text"]
                approval_id = notice.split("/approve ")[1].split()[0]
                bot.push_message(chat_id=7, user_id=7, text=f"/approve {approval_id}")  # not the owner
                await bot.wait_sent(2)
                bot.push_message(chat_id=42, user_id=42, text=f"/approve {approval_id}")
                await bot.wait_sent(4)
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
    assert transcript[3]["usage"] == {"input": 12, "output": 14, "total": 26}  # both model calls counted
    assert entry["totalTokens"] == 26
