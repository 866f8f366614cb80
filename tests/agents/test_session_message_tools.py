"""``sessions_list``, ``sessions_history`` and ``message`` (through the channel manager's send path)."""

import attrs
import trio

from moltbot.client import open_gateway_client
from moltbot.config.model import TelegramConfig
from moltbot.gateway.app import open_gateway
from tests.agents.test_agent_provider_runs import config_for
from tests.conftest import TOKEN
from tests.fakes.openai import ScriptedCall, open_fake_openai, text_reply, tool_call_reply
from tests.fakes.telegram import open_fake_telegram

BOT = "111:AAA-test-token"


async def test_sessions_list_and_history_see_this_agents_sessions(tmp_path):
    async with open_fake_openai(text_reply("first answer")) as fake:
        async with open_gateway(config_for(tmp_path, fake.base_url), port=0, env={}) as gateway, \
                open_gateway_client(gateway.url, token=TOKEN) as client:
            await client.call("agent", {"message": "first question", "idempotencyKey": "h1"})
            with trio.fail_after(10):
                await client.call("agent.wait", {"runId": "h1"})
            tools = gateway.runtime.tools
            listed, _ = await tools.invoke("sessions_list", {"limit": 5})
            history, _ = await tools.invoke("sessions_history", {"sessionKey": "main"})
            missing, is_error = await tools.invoke("sessions_history", {"sessionKey": "agent:main:nope"})
    assert [row["key"] for row in listed["sessions"]] == ["agent:main:main"]
    assert [m["role"] for m in history["messages"]] == ["user", "assistant"]
    assert is_error and "no such session" in missing["error"]


async def test_message_sends_through_the_channel_and_strangers_stay_in_their_chat(tmp_path):
    calls = [ScriptedCall("c1", "message", {"message": "note for 99", "to": "99"})]
    with trio.fail_after(30):
        async with open_fake_openai(tool_call_reply(*calls), text_reply("sent"), tool_call_reply(*calls),
                                    text_reply("refused")) as fake, open_fake_telegram() as telegram:
            bot = telegram.bot(BOT)
            config = config_for(tmp_path, fake.base_url)
            config = attrs.evolve(config, channels=attrs.evolve(config.channels, telegram=TelegramConfig(
                api_root=telegram.url, bot_token=BOT, dm_policy="open", allow_from=["tg:42", "*"])))
            async with open_gateway(config, port=0, env={}) as gateway:
                bot.push_message(chat_id=42, user_id=42, text="tell 99")
                await bot.wait_sent(2)
                bot.push_message(chat_id=7, user_id=7, text="tell 99 too")
                await bot.wait_sent(3)
                await gateway.runtime.channels.dispatcher.wait_handled(2)
    assert [(m["chat_id"], m["text"]) for m in bot.sent] == [(99, "note for 99"), (42, "sent"), (7, "refused")]
    refused = fake.requests[3].json()["messages"][-1]["content"]
    assert "only the owner" in refused


async def test_sessions_spawn_runs_a_sub_agent_on_its_own_lane_with_the_short_prompt(tmp_path):
    calls = [ScriptedCall("c1", "sessions_spawn", {"task": "summarise the notes"})]
    async with open_fake_openai(tool_call_reply(*calls), text_reply("spawned"), text_reply("summary"),
                                text_reply("Your notes are summarised.")) as fake:
        async with open_gateway(config_for(tmp_path, fake.base_url), port=0, env={}) as gateway, \
                open_gateway_client(gateway.url, token=TOKEN) as client:
            await client.call("agent", {"message": "delegate", "idempotencyKey": "p1"})
            with trio.fail_after(10):
                await client.call("agent.wait", {"runId": "p1"})
                spawned = [r for r in gateway.runtime.agents.runs.values() if r.run_id.startswith("spawn-")]
                await spawned[0].done.wait()
                # the result is announced to the requester's session: a turn there tells the user
                while not (announced := [r for r in gateway.runtime.agents.runs.values()  # noqa: ASYNC110
                                         if r.run_id.startswith("announce-")]):  # polled, under fail_after
                    await trio.sleep(0.01)
                await announced[0].done.wait()
            nested, is_error = await gateway.runtime.tools.invoke("sessions_spawn", {"task": "x"}, run=spawned[0])
    (child,) = spawned
    assert child.lane == "subagent" and child.spawned_by == "agent:main:main" and child.text == "summary"
    assert ":subagent:" in child.session_key and is_error and "cannot spawn" in nested["error"]
    (announce,) = announced
    assert announce.session_key == "agent:main:main" and announce.text == "Your notes are summarised."
    assert 'A background task "summarise the notes" just completed successfully' in announce.message
    assert "Findings:\nsummary" in announce.message
    prompts = [r.json()["messages"][0]["content"] for r in fake.requests[:3]]
    assert len(fake.requests) == 4 and "## SOUL.md" in prompts[0]
    child_prompt = next(p for p in prompts if "## SOUL.md" not in p)  # the sub-agent's
    assert "## AGENTS.md" in child_prompt and "## TOOLS.md" in child_prompt and "## USER.md" not in child_prompt
