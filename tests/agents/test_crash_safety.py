"""Killing the process in the middle of writes never leaves a session store or transcript unreadable."""

import json
import signal
import subprocess
import sys

import trio

from moltbot.agents.sessions import _read_messages

WRITER = r"""
import json, sys
from pathlib import Path
from moltbot.agents.sessions import _append_lines, message_line
from moltbot.store.atomic import write_atomic
base = Path(sys.argv[1])
store, transcript = base / "sessions.json", base / "s1.jsonl"
entries = {}
print("ready", flush=True)
for i in range(1_000_000):
    entries[f"agent:main:k{i % 50}"] = {"sessionId": "s1", "updatedAt": i, "pad": "x" * 2000}
    write_atomic(store, json.dumps(entries))
    _append_lines(transcript, [message_line("user", f"message {i} " + "y" * 5000)], "s1")
"""


async def test_kill_9_mid_write_leaves_readable_files(tmp_path):
    for attempt in range(5):
        folder = tmp_path / f"run{attempt}"
        folder.mkdir()
        process = await trio.lowlevel.open_process([sys.executable, "-c", WRITER, str(folder)],
                                                   stdout=subprocess.PIPE)
        with trio.fail_after(20):
            await process.stdout.receive_some()  # "ready"
            await trio.sleep(0.05 + 0.037 * attempt)  # let it write for a while, different each time
            process.send_signal(signal.SIGKILL)
            await process.wait()
        store = folder / "sessions.json"
        if store.exists():
            assert isinstance(json.loads(store.read_text()), dict)
        lines = (folder / "s1.jsonl").read_text().splitlines() if (folder / "s1.jsonl").exists() else []
        for line in lines[:-1]:
            json.loads(line)  # every line but a torn last one parses
        messages = _read_messages(folder / "s1.jsonl", 0)
        assert len(messages) >= len(lines) - 2
