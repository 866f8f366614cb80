"""The ``tools`` section and the agent settings that go with it (workspace prompt caps, sandbox).

Kept apart from ``model.py`` (which re-exports these classes) so the tool policy's knobs are read in one
place. Every value here is read per turn or per tool call, so a change is hot (``reload.py``: "none").
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import attrs


@attrs.frozen
class ToolPolicyConfig:
    """``allow`` / ``deny`` lists (tool names, ``group:*`` names, ``*`` wildcards; deny wins). An unset or
    empty ``allow`` admits every tool the other layers admit."""

    allow: list[str] | None = None
    deny: list[str] = attrs.field(factory=list)
    profile: Literal["minimal", "coding", "messaging", "full"] | None = None


@attrs.frozen
class ExecToolConfig:
    """``tools.exec``: how long a foreground command may run, when it moves to the background, how much of
    its output the model sees, and the approvals policy used when the approvals file says nothing."""

    timeout_sec: int = 1800
    background_ms: int = 10_000
    max_output_chars: int = 30_000
    security: Literal["deny", "allowlist", "full"] | None = None
    ask: Literal["off", "on-miss", "always"] | None = None
    approval_timeout_ms: int = 120_000


@attrs.frozen
class WebFetchConfig:
    """``tools.web.fetch``: size and time caps, and whether private/loopback addresses may be fetched."""

    enabled: bool = True
    max_chars: int = 50_000
    max_bytes: int = 2 * 1024 * 1024
    timeout_seconds: int = 30
    max_redirects: int = 3
    allow_private: bool = False


@attrs.frozen
class WebToolsConfig:
    fetch: WebFetchConfig = WebFetchConfig()


@attrs.frozen
class FsToolsConfig:
    """``tools.fs.workspaceOnly``: file tools stay inside the agent's workspace (symlinks resolved)."""

    workspace_only: bool = True


@attrs.frozen
class ToolsConfig(ToolPolicyConfig):
    exec: ExecToolConfig = ExecToolConfig()
    web: WebToolsConfig = WebToolsConfig()
    fs: FsToolsConfig = FsToolsConfig()


@attrs.frozen
class SandboxConfig:
    """``agents.defaults.sandbox``: ``mode`` off / non-main / all; ``backend`` auto / bubblewrap / docker."""

    mode: Literal["off", "non-main", "all"] = "off"
    backend: Literal["auto", "bubblewrap", "docker"] = "auto"
    network: bool = False


DOCKER_SOCKET = Path("/var/run/docker.sock")


def find_bwrap(which: Callable[[str], str | None] | None = None) -> str | None:
    """bubblewrap's path (``bwrap`` on ``PATH``), or ``None``."""
    return (which or shutil.which)("bwrap")


def sandbox_problem(sandbox: SandboxConfig, which: Callable[[str], str | None] | None = None) -> str | None:
    """Why ``sandbox`` cannot be honoured on this machine, or ``None`` (``mode: off`` needs nothing). Only
    the bubblewrap backend is in this build (``agents/sandbox.py``)."""
    if sandbox.mode == "off":
        return None
    bwrap = find_bwrap(which)
    if sandbox.backend == "docker" or (
        sandbox.backend == "auto" and bwrap is None and DOCKER_SOCKET.exists()
    ):
        return (
            f"{sandbox.mode!r} with the Docker backend: this build has only the bubblewrap backend; install "
            'bubblewrap (Debian: apt-get install bubblewrap) and set backend to "bubblewrap" or "auto"'
        )
    if bwrap is None:
        return (
            f"{sandbox.mode!r} needs bubblewrap (bwrap on PATH), which is not installed "
            '(Debian: apt-get install bubblewrap); or set mode to "off"'
        )
    return None
