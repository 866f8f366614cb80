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


async def test_turn_writes_keep_lines_in_order_and_every_store_change(tmp_path, monkeypatch):
    """begin_turn / append_and_save (one thread hop each when they can): a session's lines in order, the
    history each turn saw, and every entry's change on disk, with 30 sessions' turns overlapping."""
    hops = []
    real = trio.to_thread.run_sync

    async def counting(fn, *args, **kwargs):
        hops.append(fn.__name__)
        return await real(fn, *args, **kwargs)

    monkeypatch.setattr(sessions.trio.to_thread, "run_sync", counting)
    store = SessionStore(tmp_path / "sessions.json")
    seen: dict[int, list[list[str]]] = {}

    async def session(index: int) -> None:
        for turn in range(3):
            entry = await store.ensure(f"agent:main:s{index}")
            path = store.transcript_path(entry)
            history = await store.begin_turn(path, sessions.message_line("user", f"q{turn}"), entry["sessionId"], 50)
            seen.setdefault(index, []).append([sessions.message_text(m) for m in history])
            entry["turns"] = turn + 1
            await store.append_and_save(path, [sessions.message_line("assistant", f"a{turn}")], entry["sessionId"])

    async with trio.open_nursery() as nursery:
        for index in range(30):
            nursery.start_soon(session, index)
    on_disk = json.loads((tmp_path / "sessions.json").read_text())
    assert {key: entry["turns"] for key, entry in on_disk.items()} == {f"agent:main:s{i}": 3 for i in range(30)}
    for index in range(30):
        assert seen[index] == [[], ["q0", "a0"], ["q0", "a0", "q1", "a1"]]
        path = store.transcript_path(on_disk[f"agent:main:s{index}"])
        texts = [sessions.message_text(m) for m in sessions._read_messages(path, 0)]
        assert texts == ["q0", "a0", "q1", "a1", "q2", "a2"]
    # First turns read and append in one hop; a turn's end appends and writes the store in one hop
    # unless another write is in flight (then its store change rides on a shared write).
    assert hops.count("_read_then_append") == 30 and "_read_messages" not in hops
    assert hops.count("_append_then_write") >= 1
    assert len(hops) < 30 * 3 * 3
