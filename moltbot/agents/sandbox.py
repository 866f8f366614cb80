"""The exec sandbox (``agents.defaults.sandbox``): which runs are sandboxed and how a command is wrapped.

Theory of operation. ``mode`` says which runs: ``off`` none, ``non-main`` every session but the agent's
main one (group chats, other people's direct chats, cron and sub-agent sessions), ``all`` every run. The
one backend in this build is bubblewrap (``bwrap``, no daemon): the command runs in new user, pid, IPC,
UTS, cgroup and network namespaces and a new session, and sees only the system directories
(``/usr``, ``/etc``, ``/opt`` and the ``/bin``-style links, read-only), a private ``/proc``, ``/dev`` and
``/tmp``, and the agent's workspace, read-write at its own path; the home directory, the state directory (tokens,
credentials, transcripts) and every other path are absent. It has no network unless ``network: true``,
and its environment is a fresh one (``PATH``, ``HOME`` = the workspace, ``LANG``, ``TERM``, plus the
call's ``env``), so the gateway's own variables (API keys) do not reach it. bwrap dies with its parent and
takes the command with it, so the exec tool's kill and timeout reach the sandboxed command.

``backend: docker`` (and ``auto`` on a machine with a Docker socket but no ``bwrap``) is not in this
build. Whatever cannot sandbox is a problem at config load (``config.tools.sandbox_problem``), and the exec
tool checks again before each run (``wrapper``), so a sandboxed session never runs a command unsandboxed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from ..config.tools import SandboxConfig, find_bwrap, sandbox_problem

SYSTEM_DIRS = ("/usr", "/etc", "/opt")
SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"


class SandboxUnavailable(Exception):
    """The configured sandbox cannot run here; the message says what is missing and how to fix it."""


def sandboxed(config: Any, session_key: str, main_key: str) -> bool:
    """Whether a run in ``session_key`` (the agent's main session is ``main_key``) is sandboxed."""
    mode = config.agents.defaults.sandbox.mode
    return mode == "all" or (mode == "non-main" and session_key != main_key)


@attrs.frozen
class Bubblewrap:
    """A bwrap command line for one sandboxed command (see the module docstring)."""

    bwrap: str
    network: bool = False

    def argv(self, command: str, *, workspace: Path, cwd: Path) -> list[str]:
        args = [self.bwrap, "--die-with-parent", "--new-session", "--unshare-all"]
        if self.network:
            args.append("--share-net")
        for directory in SYSTEM_DIRS:
            args += ["--ro-bind-try", directory, directory]
        for link in SYSTEM_LINKS:
            if os.path.islink(link):  # merged /usr: keep the link, not a second copy of its target
                args += ["--symlink", os.readlink(link), link]
            elif os.path.isdir(link):
                args += ["--ro-bind", link, link]
        args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
        args += [
            "--bind",
            str(workspace),
            str(workspace),
            "--chdir",
            str(cwd),
            "--",
            "/bin/sh",
            "-c",
            command,
        ]
        return args

    def environment(self, workspace: Path, extra: Mapping[str, str]) -> dict[str, str]:
        env = {
            "PATH": SANDBOX_PATH,
            "HOME": str(workspace),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "TERM": "dumb",
        }
        env.update(extra)
        return env


def wrapper(sandbox: SandboxConfig, which: Callable[[str], str | None] | None = None) -> Bubblewrap:
    """The backend for a sandboxed run. Raises ``SandboxUnavailable`` when there is none (never falls back
    to an unsandboxed run)."""
    reason = sandbox_problem(sandbox, which)
    if reason is not None:
        raise SandboxUnavailable(reason)
    bwrap = find_bwrap(which)
    assert bwrap is not None
    return Bubblewrap(bwrap, network=sandbox.network)
