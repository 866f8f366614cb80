"""Inbound queue modes while a session is busy (MockClock; the echo model answers slowly)."""

import trio

from moltbot.agents.providers.echo import PREFIX, EchoProvider
from moltbot.agents.runtime import AgentRuntime
from moltbot.config.model import Config, MessagesConfig, QueueConfig


async def make_agents(tmp_path, nursery, mock_clock, **queue):
    mock_clock.autojump_threshold = 0.05  # file I/O runs in threads; let it finish before jumping
    config = Config(messages=MessagesConfig(queue=QueueConfig(debounce_ms=1000, **queue)), state_dir=tmp_path)
    agents = AgentRuntime(config, emit=lambda *_: None, state_dir=tmp_path,
                          resolve_provider=lambda _: (EchoProvider(delay=1.0), "echo"))
    await nursery.start(agents.serve)
    return agents


async def test_collect_merges_messages_into_one_follow_up_turn(tmp_path, nursery, mock_clock):
    agents = await make_agents(tmp_path, nursery, mock_clock)
    first = agents.inbound.offer("main", "one")
    await trio.sleep(0.5)  # the first turn is running
    follow = [agents.inbound.offer("main", text) for text in ("two", "three", "four")]
    assert follow[0] is follow[1] is follow[2] and follow[0] is not first
    await follow[0].done.wait()
    assert first.text == PREFIX + "one"
    assert follow[0].message == ("[Queued messages while agent was busy]\n---\nQueued #1\ntwo\n"
                                 "---\nQueued #2\nthree\n---\nQueued #3\nfour")
    assert len(agents.runs) == 2


async def test_followup_runs_one_turn_per_message_in_order(tmp_path, nursery, mock_clock):
    agents = await make_agents(tmp_path, nursery, mock_clock, mode="followup")
    runs = [agents.inbound.offer("main", text) for text in ("a", "b", "c")]
    await runs[-1].done.wait()
    assert [run.text for run in runs] == [PREFIX + "a", PREFIX + "b", PREFIX + "c"]
    assert runs[0].ended_at <= runs[1].started_at and runs[1].ended_at <= runs[2].started_at


async def test_interrupt_aborts_the_running_turn(tmp_path, nursery, mock_clock):
    agents = await make_agents(tmp_path, nursery, mock_clock, mode="interrupt")
    first = agents.inbound.offer("main", "long task")
    await trio.sleep(0.5)
    newest = agents.inbound.offer("main", "never mind")
    await newest.done.wait()
    assert first.status == "aborted" and first.stop_reason == "interrupt"
    assert newest.status == "ok" and newest.text == PREFIX + "never mind"


async def test_cap_with_summarize_drops_the_oldest_and_says_so(tmp_path, nursery, mock_clock):
    agents = await make_agents(tmp_path, nursery, mock_clock, cap=2, drop="summarize")
    agents.inbound.offer("main", "busy")
    await trio.sleep(0.5)
    for text in ("1", "2", "3"):
        run = agents.inbound.offer("main", text)
    await run.done.wait()
    assert "(1 earlier message(s) dropped)" in run.message and "Queued #1\n2" in run.message


async def test_cap_with_drop_new_refuses_the_newest(tmp_path, nursery, mock_clock):
    agents = await make_agents(tmp_path, nursery, mock_clock, cap=1, drop="new")
    agents.inbound.offer("main", "busy")
    await trio.sleep(0.5)
    kept = agents.inbound.offer("main", "kept")
    assert agents.inbound.offer("main", "refused") is None
    await kept.done.wait()
    assert kept.message == "kept"


async def test_collect_merges_only_messages_from_the_same_chat(tmp_path, nursery, mock_clock):
    agents = await make_agents(tmp_path, nursery, mock_clock)
    agents.inbound.offer("main", "busy", origin="telegram:default:1")
    await trio.sleep(0.5)
    a1 = agents.inbound.offer("main", "from a", origin="telegram:default:1")
    b = agents.inbound.offer("main", "from b", origin="telegram:default:2")
    a2 = agents.inbound.offer("main", "again a", origin="telegram:default:1")
    await b.done.wait()
    await a1.done.wait()
    assert a1 is a2 and b is not a1
    assert "from a" in a1.message and "again a" in a1.message and "from b" not in a1.message
    assert b.message == "from b" and b.text == PREFIX + "from b"


async def test_a_follow_up_whose_messages_waited_long_enough_starts_at_once(tmp_path, nursery, mock_clock):
    agents = await make_agents(tmp_path, nursery, mock_clock)  # debounceMs 1000; a turn takes ~9 s here
    start = trio.current_time()
    first = agents.inbound.offer("main", "busy")
    await trio.sleep(0.5)
    follow = agents.inbound.offer("main", "queued")
    await first.done.wait()
    first_took = trio.current_time() - start
    await follow.done.wait()
    assert trio.current_time() - start - first_took < first_took + 0.5  # no extra debounce second
    assert follow.message == "queued"
