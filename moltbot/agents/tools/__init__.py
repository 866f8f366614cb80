"""Agent tools: the registry (``registry.py``), the allow/deny policy (``policy.py``) and the built-ins
that need no gateway (files, exec, web fetch, memory). Tools that reach into the gateway (sessions, cron,
message, gateway) are registered by ``gateway/agent_tools.py`` on the same registry."""

from .policy import ToolPolicy as ToolPolicy
from .policy import policy_for as policy_for
from .registry import Tool as Tool
from .registry import ToolError as ToolError
from .registry import ToolFunction as ToolFunction
from .registry import ToolRegistry as ToolRegistry
