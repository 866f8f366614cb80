"""Real `moltbot gateway` processes for the ops19 tests: start one, read what it prints, stop it.

Nothing sleeps: a process is ready when it has printed its "listening on" line, and a log event has
happened when ``--verbose`` has mirrored its line to stderr.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import trio

from tests.cli_inprocess import invoke_cli

MOLTBOT = [sys.executable, "-m", "moltbot"]
TOKEN = "ops19-token-0123456789"


def clean_env(home: Path) -> dict[str, str]:
    """This process's environment without any moltbot/clawdbot/openclaw variable, HOME moved to ``home``."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("CLAWDBOT_", "MOLTBOT_", "OPENCLAW_"))}
    env["HOME"] = str(home)
    return env


def write_profile_config(home: Path, profile: str | None = None, **extra) -> Path:
    """A local-mode config with a token for the default profile (or ``profile``); returns its path."""
    state = home / (f".clawdbot-{profile}" if profile else ".clawdbot")
    state.mkdir(mode=0o700, exist_ok=True)
    gateway = {"mode": "local", "auth": {"token": TOKEN}, "controlUi": {"enabled": False},
               "reload": {"debounceMs": 20}, **extra.pop("gateway", {})}
    path = state / "moltbot.json"
    path.write_text(json.dumps({"gateway": gateway, "canvasHost": {"enabled": False}, **extra}, indent=2))
    return path


def pick_free_port() -> int:
    """A port free right now (two profiles' gateways must clash on one port, so port 0 will not do)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def pick_free_ports(count: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(pick_free_port())
    return sorted(ports)


class GatewayProcess:
    """One `moltbot [global flags] gateway …` process and everything it has printed on stderr."""

    def __init__(self, process: trio.Process) -> None:
        self.process = process
        self.seen = bytearray()

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def text(self) -> str:
        return self.seen.decode(errors="replace")

    async def wait_for(self, pattern: str, *, start: int = 0) -> re.Match[str]:
        """Read stderr until ``pattern`` (a regex) appears after offset ``start``."""
        with trio.fail_after(20):
            while not (match := re.compile(pattern).search(self.text, start)):
                chunk = await self.process.stderr.receive_some()
                assert chunk, f"gateway exited before printing {pattern!r}:\n{self.text}"
                self.seen += chunk
        return match

    async def stop(self) -> int:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        with trio.fail_after(10):
            return await self.process.wait()


async def start_gateway(env: dict[str, str], *args: str, globals_: tuple[str, ...] = ()) -> tuple[GatewayProcess, int]:
    """Start `moltbot <globals_> gateway <args> --verbose`; return it and its port once it listens."""
    process = await trio.lowlevel.open_process([*MOLTBOT, *globals_, "gateway", *args, "--verbose"], env=env,
                                               stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    gateway = GatewayProcess(process)
    try:
        match = await gateway.wait_for(r"moltbot gateway listening on ws://127\.0\.0\.1:(\d+)")
    except BaseException:
        process.kill()
        await process.wait()
        raise
    return gateway, int(match.group(1))


def run_moltbot(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """A client command (``doctor``, ``gateway status``) in this process (``tests/cli_inprocess.py``)."""
    return invoke_cli(env, *args)


def run_moltbot_process(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """``moltbot *args`` as a process: the gateway command itself (``--force``) runs only so."""
    return subprocess.run([*MOLTBOT, *args], env=env, capture_output=True, text=True, timeout=60)
