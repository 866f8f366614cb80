"""Chat commands: a message that is a command (``/approve <id>``, ``/deny <id>`` …) is answered by the
gateway itself, from any channel, without the model.

A command runs as a run of its own (``AgentRuntime.submit(command=True)``), so its answer travels the
way every reply does: ``chat``/``agent`` events, and the channel's delivery of ``run.text``. Handlers
are registered by whoever owns the feature (the gateway registers the approval commands) and receive
the run, whose ``sender`` says who asked: a handler that changes something checks ``owner`` itself.
Commands are not written to the transcript, as in the original.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .runtime import Run

Handler = Callable[["Run", list[str]], Awaitable[str]]
_COMMAND = re.compile(r"^\s*/([a-z][a-z_-]{0,31})(?:@\S+)?(?:\s+(.*))?$", re.S | re.I)  # "/cmd@bot args"
MAX_ARGS = 16


class ChatCommands:
    def __init__(self) -> None:
        self._handlers: dict[str, tuple[Handler, str]] = {}

    def register(self, name: str, handler: Handler, description: str) -> None:
        self._handlers[name.lower()] = (handler, description)

    def names(self) -> list[str]:
        return sorted(self._handlers)

    def match(self, text: str) -> tuple[str, list[str]] | None:
        """``(name, args)`` when ``text`` is a registered command, else ``None``."""
        found = _COMMAND.match(text or "")
        if found is None or found.group(1).lower() not in self._handlers:
            return None
        return found.group(1).lower(), (found.group(2) or "").split()[:MAX_ARGS]

    async def run(self, run: Run) -> str:
        matched = self.match(run.message)
        if matched is None:
            return "Unknown command."
        name, args = matched
        handler, _ = self._handlers[name]
        return await handler(run, args)
