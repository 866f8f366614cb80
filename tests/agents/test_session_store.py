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


async def test_a_background_user_line_is_seen_by_readers_and_its_failure_by_the_turn(tmp_path, monkeypatch):
    store = SessionStore(tmp_path / "sessions.json")
    entry = await store.ensure("agent:main:s")
    path = store.transcript_path(entry)
    release = trio.Event()
    real = sessions.append_transcript

    async def slow(*args):
        await release.wait()
        await real(*args)

    monkeypatch.setattr(sessions, "append_transcript", slow)
    async with trio.open_nursery() as nursery:
        history = await store.begin_turn(path, sessions.message_line("user", "q0"), entry["sessionId"], 50,
                                         fresh=True, spawn=nursery.start_soon)
        assert history == []
        read = []

        async def reader():
            read.append([sessions.message_text(m) for m in await store.read_transcript(path)])

        nursery.start_soon(reader)
        await trio.testing.wait_all_tasks_blocked()
        assert read == []  # waits for the line in flight
        release.set()
    assert read == [["q0"]]
    await store.settled(path, owner=True)

    async def failing(*args):
        raise OSError("disk full")

    monkeypatch.setattr(sessions, "append_transcript", failing)
    async with trio.open_nursery() as nursery:
        await store.begin_turn(path, sessions.message_line("user", "q1"), entry["sessionId"], 50,
                               spawn=nursery.start_soon)
    try:
        await store.settled(path, owner=True)
    except OSError as exc:
        assert str(exc) == "disk full"
    else:
        raise AssertionError("the turn did not learn that its user line was not written")
    monkeypatch.setattr(sessions, "append_transcript", real)
    history = await store.begin_turn(path, sessions.message_line("user", "q2"), entry["sessionId"], 50)
    assert [sessions.message_text(m) for m in history] == ["q0"]  # not the line that failed
