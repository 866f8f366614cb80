"""What an embedded gateway may touch: one state dir, one port, nothing of the process's own.

A gateway started by the CLI (``serve_gateway``) lays its files out as the original does: state in
``~/.clawdbot``, the agent workspace in ``~/clawd``, the canvas host on a second port serving
``~/clawd/canvas``. A program that embeds one with ``open_gateway`` gets none of that unless it asks:
``confine`` points each default path at the state dir the gateway was given (a temporary one, removed at
the end, when given none), and the canvas host runs only when asked (``canvas=True``, or a ``canvasHost``
section that differs from the default). Paths the config names explicitly are kept as they are: those
were asked for. The Gateway applies ``confine`` again to every config it reloads, so a reload from a file
cannot move the state back into HOME.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import attrs
import trio

from ..config.model import CanvasHostConfig, Config

__all__ = ["confine", "embedded_state_dir"]


def confine(config: Config, state_dir: Path, *, canvas: bool | None) -> Config:
    """``config`` with its default paths under ``state_dir`` and its canvas host on only when asked."""
    defaults = config.agents.defaults
    if defaults.workspace is None:
        defaults = attrs.evolve(defaults, workspace=str(state_dir / "workspace"))
    section = config.canvas_host
    asked = canvas if canvas is not None else section != CanvasHostConfig()
    section = attrs.evolve(section, enabled=section.enabled and asked,
                           root=section.root if section.root is not None else str(state_dir / "canvas"))
    return attrs.evolve(config, state_dir=state_dir, canvas_host=section,
                        agents=attrs.evolve(config.agents, defaults=defaults))


@asynccontextmanager
async def embedded_state_dir(given: str | os.PathLike[str] | None) -> AsyncIterator[Path]:
    """The state dir to confine to: ``given`` (created 0700 if missing), else a new temporary directory
    (0700, ``mkdtemp``) removed when the block ends."""
    if given is not None:
        path = Path(given)
        await trio.to_thread.run_sync(lambda: path.mkdir(mode=0o700, parents=True, exist_ok=True))
        yield path
        return
    path = Path(await trio.to_thread.run_sync(lambda: tempfile.mkdtemp(prefix="moltbot-gateway-")))
    try:
        yield path
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(lambda: shutil.rmtree(path, ignore_errors=True))
