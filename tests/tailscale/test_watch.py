"""``moltbot gateway --watch`` as a real process: one restart per burst of changes, the port kept."""

from __future__ import annotations

import re
import signal
import subprocess

import trio

from moltbot.cli.watch import child_arguments
from tests.cli.helpers import MOLTBOT

LISTENING = re.compile(rb"listening on ws://127\.0\.0\.1:(\d+)")
RESTART = re.compile(rb"gateway --watch: restart (\d+): ([^\n]*) changed\n")


def test_child_arguments_drop_watch_options_and_pin_the_port():
    argv = ["gateway", "--watch", "--watch-path", "/x", "--port", "0", "--watch-path=/y", "--verbose"]
    assert child_arguments(argv, None) == ["gateway", "--port", "0", "--verbose"]
    assert child_arguments(argv, 4321) == ["gateway", "--verbose", "--port", "4321"]
    assert child_arguments(["gateway", "--port=0"], 99) == ["gateway", "--port", "99"]


class Output:
    def __init__(self, stream) -> None:
        self.stream = stream
        self.seen = bytearray()

    async def until(self, pattern: re.Pattern[bytes], count: int) -> list[re.Match[bytes]]:
        """Read until ``pattern`` matched ``count`` times in the whole output; the matches."""
        with trio.fail_after(60):
            while len(found := list(pattern.finditer(self.seen))) < count:
                chunk = await self.stream.receive_some()
                assert chunk, f"watch exited early: {self.seen.decode(errors='replace')}"
                self.seen += chunk
        return found


async def test_watch_restarts_once_per_burst_and_keeps_the_port(home, tmp_path):
    _, env = home
    watched = tmp_path / "watched"
    watched.mkdir()
    process = await trio.lowlevel.open_process(
        [*MOLTBOT, "gateway", "--watch", "--watch-path", str(watched), "--port", "0", "--allow-unconfigured"],
        env=env, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    output = Output(process.stderr)
    try:
        first = (await output.until(LISTENING, 1))[0].group(1)
        for index in range(5):  # one burst: a save-all of five files
            (watched / f"module{index}.py").write_text(f"VALUE = {index}\n")
        restarts = await output.until(RESTART, 1)
        second = (await output.until(LISTENING, 2))[1].group(1)
        assert second == first  # the port is kept
        assert restarts[0].group(1) == b"1"
        assert all(f"module{index}.py".encode() in restarts[0].group(2) for index in range(5))

        (watched / "later.py").write_text("VALUE = 9\n")  # a change after the burst: its own restart
        restarts = await output.until(RESTART, 2)
        assert restarts[1].group(1) == b"2" and b"later.py" in restarts[1].group(2)
        assert b"module" not in restarts[1].group(2)  # the burst was not restarted for twice
        third = (await output.until(LISTENING, 3))[2].group(1)
        assert third == first
    finally:
        process.send_signal(signal.SIGTERM)
        with trio.fail_after(15):
            code = await process.wait()
    assert code == 0
    assert len(list(RESTART.finditer(output.seen))) == 2
