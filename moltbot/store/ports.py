"""``--force``: free a TCP port by terminating the processes listening on it (no ``lsof`` needed).

psutil reads ``/proc/net/tcp*`` and the processes' socket inodes, so this works where ``lsof`` is not
installed (the original requires it). TERM first; after 700 ms, KILL the survivors; give up after 2 s.
"""

from __future__ import annotations

import os
import time

import psutil


def listeners(port: int) -> dict[int, str]:
    """``{pid: command line}`` of the processes listening on ``port`` (TCP, any address)."""
    found: dict[int, str] = {}
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            if conn.pid == os.getpid():
                continue
            try:
                found[conn.pid] = " ".join(psutil.Process(conn.pid).cmdline()) or "?"
            except psutil.Error:
                found[conn.pid] = "?"
    return found


def free_port(port: int, *, term_grace: float = 0.7, total: float = 2.0) -> list[tuple[int, str, str]]:
    """Terminate every listener on ``port``; return ``(pid, command, "TERM"|"KILL")`` for each one stopped.

    Raises:
        RuntimeError: something still listens after ``total`` seconds.
    """
    targets = listeners(port)
    stopped: list[tuple[int, str, str]] = []
    for pid, command in targets.items():
        try:
            os.kill(pid, 15)
            stopped.append((pid, command, "TERM"))
        except ProcessLookupError:
            pass
    start = time.monotonic()
    killed = False
    while listeners(port):
        elapsed = time.monotonic() - start
        if elapsed >= total:
            raise RuntimeError(f"port {port} is still in use after {total:.0f} s: {listeners(port)}")
        if not killed and elapsed >= term_grace:
            killed = True
            for pid, command in listeners(port).items():
                try:
                    os.kill(pid, 9)
                    stopped.append((pid, command, "KILL"))
                except ProcessLookupError:
                    pass
        time.sleep(0.1)
    return stopped
