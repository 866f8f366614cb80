"""The session store's writes: shared between concurrent callers, never missing a change."""

import json

import trio

from moltbot.agents import sessions
from moltbot.agents.sessions import SessionStore


async def test_concurrent_saves_share_writes_and_keep_every_change(tmp_path, monkeypatch):
    writes = []
    real = sessions.write_atomic

    def counting(path, text, **kwargs):
        writes.append(text)
        real(path, text, **kwargs)

    monkeypatch.setattr(sessions, "write_atomic", counting)
    store = SessionStore(tmp_path / "sessions.json")

    async def change(index: int) -> None:
        (await store.ensure(f"agent:main:s{index}")).update(lastTo=str(index))
        await store.save()

    async with trio.open_nursery() as nursery:
        for index in range(50):
            nursery.start_soon(change, index)
    on_disk = json.loads((tmp_path / "sessions.json").read_text())
    assert {key: entry["lastTo"] for key, entry in on_disk.items()} == {f"agent:main:s{i}": str(i) for i in range(50)}
    assert len(writes) < 10
    assert json.loads(writes[-1]) == on_disk and sessions.encode_store({}) == "{}\n"
