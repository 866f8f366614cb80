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
