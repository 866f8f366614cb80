"""Tools the model may call: a registry with one interface for built-ins and for channels/cron/nodes.

A tool is a name, a description, a JSON Schema for its arguments and an async function
``(arguments, run) -> JSON value``. Errors become ``{"error": "..."}`` results the model can read
(``is_error`` set), never an exception out of the run. Which tools a run sees is ``policy.py``'s decision:
``specs(policy)`` offers only the admitted ones and ``invoke(..., policy=)`` refuses the others exactly as
an unknown tool (a model that names a tool it was not offered learns nothing about it).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import attrs

from ..providers.base import ToolSpec
from .policy import ToolPolicy

if TYPE_CHECKING:
    from ..runtime import Run

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
        """Add (or replace) a tool. Its policy group is the name's (``policy.GROUPS``); a tool outside every
        group is governed by its name alone (``tools.allow: ["browser"]``)."""
        self._tools[name] = Tool(ToolSpec(name, description, parameters), function)

    def names(self, policy: ToolPolicy | None = None) -> list[str]:
        names = sorted(self._tools)
        return policy.filter(names) if policy is not None else names

    def specs(self, policy: ToolPolicy | None = None) -> list[ToolSpec]:
        return [tool.spec for name, tool in self._tools.items() if policy is None or policy.admits(name)]

    async def invoke(self, name: str, arguments: dict[str, Any], *, run: Run | None = None,
                     policy: ToolPolicy | None = None) -> tuple[Any, bool]:
        """Run a tool; return (result, is_error). A tool ``policy`` does not admit is "unknown"."""
        tool = self._tools.get(name)
        if tool is None or (policy is not None and not policy.admits(name)):
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
