"""Heartbeat schedule on the trio clock (MockClock), reply classification, durations."""

import pytest
import trio

from moltbot.agents.heartbeat import HeartbeatRunner, classify_reply, parse_duration
from moltbot.agents.providers.echo import EchoProvider
from moltbot.agents.runtime import AgentRuntime
from moltbot.config.model import AgentDefaults, AgentsConfig, Config, HeartbeatConfig


@pytest.mark.parametrize(("text", "seconds"), [("30m", 1800), ("1h", 3600), ("45s", 45), ("2", 120),
                                               ("1.5h", 5400), ("250ms", 0.25), ("1d", 86400)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


def test_bad_duration_is_refused():
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")


@pytest.mark.parametrize(("reply", "status"), [
    ("", "ok-empty"), ("HEARTBEAT_OK", "ok-token"), ("HEARTBEAT_OK all quiet", "ok-token"),
    ("The build is broken!", "sent"), ("HEARTBEAT_OK " + "x" * 400, "sent"),
])
def test_reply_classification(reply, status):
    assert classify_reply(reply, 300) == status


async def test_beats_every_interval_on_the_trio_clock(tmp_path, mock_clock, nursery):
    # Jump only after 50 ms of real idleness: the runs' file I/O happens in worker threads, during which
    # a zero-threshold clock would race ahead (and time the runs out).
    mock_clock.autojump_threshold = 0.05
    config = Config(agents=AgentsConfig(defaults=AgentDefaults(heartbeat=HeartbeatConfig(every="10m"))),
                    state_dir=tmp_path)
    agents = AgentRuntime(config, emit=lambda *_: None, resolve_provider=lambda _: (EchoProvider(), "echo"),
                          state_dir=tmp_path)
    await nursery.start(agents.serve)
    send, receive = trio.open_memory_channel(10)
    # A beat's own start time (its report comes after the run, whose file I/O happens in threads).
    runner = HeartbeatRunner(agents, enabled=lambda: True, report=lambda event: send.send_nowait(
        (trio.current_time() - event.duration_ms / 1000, event)))
    start = trio.current_time()
    await nursery.start(runner.serve)
    beats = [await receive.receive(), await receive.receive()]
    assert [round(at - start) for at, _ in beats] == [600, 1200]
    assert all(event.status == "ok-token" for _, event in beats)  # echo repeats the prompt's HEARTBEAT_OK
    asked = trio.current_time()
    runner.request_now()
    at, _ = await receive.receive()
    assert round(at - asked) == 0


async def test_disabled_heartbeats_are_reported_skipped(tmp_path, autojump_clock, nursery):
    config = Config(state_dir=tmp_path)
    agents = AgentRuntime(config, emit=lambda *_: None, resolve_provider=lambda _: (EchoProvider(), "echo"),
                          state_dir=tmp_path)
    await nursery.start(agents.serve)
    runner = HeartbeatRunner(agents, report=lambda event: None, enabled=lambda: False)
    event = await runner.beat()
    assert (event.status, event.reason) == ("skipped", "disabled")
