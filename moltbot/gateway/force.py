"""``moltbot gateway --force``: replace this profile's running gateway, and never anything else.

The gateway of a profile is identified by the profile's lock file (``store/lock.py``: one lock per config
path, recording the holder's pid, start time, port and profile), not by the port: ``--dev gateway --port
18789 --force`` used to SIGTERM the default profile's gateway on that port and then refuse to start,
because the dev lock was still held. Now everything is checked before anything is stopped: a port served
by any other process (another profile's gateway, or not a gateway at all) is named (its profile and pid,
or its command line) and nothing is stopped; otherwise this profile's gateway, wherever it listens, is
sent SIGTERM, given its graceful stop (five seconds, ``signals.py``), then SIGKILL.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from ..store.lock import is_live_record, live_lock_records, lock_holder, lock_path
from ..store.ports import listeners

TERM_GRACE_SECONDS = 6.0  # the gateway's own stop ends within 5 s (signals.STOP_DEADLINE_SECONDS)
KILL_WAIT_SECONDS = 2.0


class ForceRefused(Exception):
    """``--force`` would have to stop a process that is not this profile's gateway: nothing was stopped."""


def own_gateway(config_path: Path) -> dict[str, Any] | None:
    """The lock record of this config's running gateway, or None when none runs."""
    held, record = lock_holder(lock_path(config_path))
    return record if held and is_live_record(record) else None


def describe_listener(pid: int, command: str, records: list[dict[str, Any]]) -> str:
    """``pid N, the gateway of profile "dev" (config …)``, or ``pid N (command)`` for anything else."""
    for record in records:
        if record.get("pid") == pid:
            config = f"config {record.get('configPath', '?')}"
            if record.get("profile"):  # records written before issue 19 name only the config
                return f"pid {pid}, the gateway of profile \"{record['profile']}\" ({config})"
            return f"pid {pid}, the gateway of {config}"
    if "moltbot" in command and "gateway" in command:
        return (f"pid {pid} ({command[:120]}), a moltbot gateway without a lock record (started with "
                "CLAWDBOT_ALLOW_MULTI_GATEWAY=1?), so not known to be this profile's")
    return f"pid {pid} ({command[:120]}), not a moltbot gateway"


def plan_force(port: int, config_path: Path, profile: str) -> dict[str, Any] | None:
    """What ``--force`` may stop: this profile's gateway (its lock record) or None.

    Raises:
        ForceRefused: ``port`` is served by another process; the message names it and what to do.
    """
    own = own_gateway(config_path)
    found = listeners(port) if port else {}
    others = {pid: command for pid, command in found.items() if own is None or pid != own.get("pid")}
    if others:
        records = live_lock_records()
        who = "; ".join(describe_listener(pid, command, records) for pid, command in others.items())
        raise ForceRefused(
            f"--force stops only this profile's gateway (profile \"{profile}\"), but port {port} is served by "
            f"{who}: nothing was stopped. Use another port (--port), or stop that process from its own profile")
    return own


def stop_gateway(record: dict[str, Any], config_path: Path) -> str:
    """SIGTERM the gateway a lock record names, SIGKILL it if it still holds the lock after its grace;
    return which signal ended it ("TERM" or "KILL"). Its end is seen as the lock's release (the kernel
    releases it when the process exits, before its parent reaps it).

    Raises:
        ForceRefused: it still holds the lock after the KILL.
    """
    pid = int(record["pid"])
    for how, sig, grace in (("TERM", signal.SIGTERM, TERM_GRACE_SECONDS), ("KILL", signal.SIGKILL, KILL_WAIT_SECONDS)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return how
        deadline = time.monotonic() + grace
        while own_gateway(config_path) is not None:
            if time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        else:
            return how
    raise ForceRefused(f"--force: pid {pid} still holds the lock after SIGKILL")


def wait_port_free(port: int, seconds: float = KILL_WAIT_SECONDS) -> bool:
    """Poll until nothing listens on ``port`` (a stopped gateway's socket closes with it)."""
    deadline = time.monotonic() + seconds
    while listeners(port):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True
