"""Tools the model may call: a registry with one interface for built-ins and for channels/cron/nodes.

A tool is a name, a description, a JSON Schema for its arguments and an async function
``(arguments, run) -> JSON value``. Errors become ``{"error": "..."}`` results the model can read
(``is_error`` set), never an exception out of the run.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import attrs

from .providers.base import ToolSpec

if TYPE_CHECKING:
    from .runtime import Run

log = logging.getLogger("moltbot.agents")

ToolFunction = Callable[[dict[str, Any], "Run | None"], Awaitable[Any]]


@attrs.define
class Tool:
    spec: ToolSpec
    function: ToolFunction


class ToolError(Exception):
    """A tool refused or failed; the message goes back to the model."""


class ToolRegistry:
    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}

    def register(self, name: str, description: str, parameters: dict[str, Any], function: ToolFunction) -> None:
        self._tools[name] = Tool(ToolSpec(name, description, parameters), function)

    def names(self) -> list[str]:
        return sorted(self._tools)

    def specs(self) -> list[ToolSpec]:
        return [tool.spec for tool in self._tools.values()]

    async def invoke(self, name: str, arguments: dict[str, Any], *, run: Run | None = None) -> tuple[Any, bool]:
        """Run a tool; return (result, is_error)."""
        tool = self._tools.get(name)
        if tool is None:
            return {"error": f"unknown tool: {name}"}, True
        try:
            return await tool.function(arguments, run), False
        except ToolError as exc:
            return {"error": str(exc)}, True
        except Exception:
            # The traceback goes to the log; the result (seen by the model and by /tools/invoke clients)
            # never carries Python's exception text or the paths in it.
            log.exception("tool %s failed", name)
            return {"error": f"tool {name} failed (the gateway log has the details)"}, True
