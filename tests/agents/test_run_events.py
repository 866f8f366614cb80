"""Run events when nobody listens: counted (the gateway's seq), not built; the same events otherwise."""

import trio

from moltbot.agents.providers.echo import EchoProvider
from moltbot.agents.runtime import AgentRuntime
from moltbot.config.model import Config


async def _events(tmp_path, audience):
    emitted = []
    config = Config(state_dir=tmp_path)
    agents = AgentRuntime(config, emit=lambda *event: emitted.append(event), state_dir=tmp_path,
                          resolve_provider=lambda _: (EchoProvider(), "echo"), audience=audience)
    async with trio.open_nursery() as nursery:
        await nursery.start(agents.serve)
        run, _ = agents.submit(run_id="r1", session_key="main", message="hello there you", dedupe="t")
        await run.done.wait()
        nursery.cancel_scope.cancel()
    return run, emitted


async def test_events_nobody_would_receive_are_counted_without_payloads(tmp_path):
    heard_run, heard = await _events(tmp_path / "a", lambda: True)
    quiet_run, quiet = await _events(tmp_path / "b", lambda: False)
    assert [(name, droppable) for name, _, droppable in quiet] == [(name, droppable) for name, _, droppable in heard]
    assert all(payload is None for name, payload, _ in quiet if name == "agent")  # one per delta
    assert any(name == "agent" for name, _, _ in quiet)
    assert all(payload is not None for _, payload, _ in heard)
    assert quiet_run.text == heard_run.text and quiet_run.status == heard_run.status == "ok"


class _ToolThenText:
    """A provider that asks for the ``ping`` tool once, then answers."""

    id = "scripted"

    def __init__(self) -> None:
        self.calls = 0

    def models(self):
        return []

    async def stream(self, request):
        from moltbot.agents.providers.base import Finish, TextDelta, ToolCall

        self.calls += 1
        if self.calls % 2:
            yield ToolCall("c1", "ping", {})
            yield Finish("tool_calls")
        else:
            yield TextDelta("pong seen")
            yield Finish("stop")


async def test_tool_events_go_out_only_for_a_verbose_session(tmp_path):
    from moltbot.agents.tools import ToolRegistry

    emitted, heard = [], []
    tools = ToolRegistry()

    async def ping(arguments, run):
        return "pong"

    tools.register("ping", "answers pong", {"type": "object"}, ping)
    provider = _ToolThenText()
    agents = AgentRuntime(Config(state_dir=tmp_path), emit=lambda *event: emitted.append(event), state_dir=tmp_path,
                          resolve_provider=lambda *_: (provider, "m"), tools=tools, audience=lambda: True)
    streams = lambda: [p.stream for name, p, _ in emitted if name == "agent"]  # noqa: E731
    async with trio.open_nursery() as nursery:
        await nursery.start(agents.serve)
        run, _ = agents.submit(run_id="r1", session_key="main", message="ping it", dedupe="t")
        watcher = run.watch()
        await run.done.wait()
        heard = [stream async for stream, _ in watcher]
        quiet = streams()
        emitted.clear()
        agents.store("main").entries["agent:main:main"]["verboseLevel"] = "on"
        run, _ = agents.submit(run_id="r2", session_key="main", message="again", dedupe="t")
        await run.done.wait()
        nursery.cancel_scope.cancel()
    assert "tool" not in quiet and "tool" in heard  # the run's own listeners have them always
    assert streams().count("tool") == 2  # start and result
