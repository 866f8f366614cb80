"""Which tools a run may see and call: profiles, groups and allow/deny layers, as the original's.

Theory of operation. A tool is offered to the model (and may be called) only when every layer admits it:
the profile (``tools.profile``, then the agent's ``tools.profile``), the global ``tools.allow`` /
``tools.deny``, then the agent's ``agents.list[].tools.allow`` / ``deny``. In each layer ``deny`` wins over
``allow``, an unset or empty ``allow`` admits everything, names are case-insensitive, ``*`` is a wildcard,
``group:<name>`` stands for the tools of that group and ``bash`` for ``exec`` (the original's alias).
Pure: no I/O, so the whole table is a plain unit test.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence

import attrs

from ...config.model import Config, normalize_agent_id
from ...config.tools import ToolPolicyConfig

# The original's tool groups, with the names of tools this gateway does not have kept (a plugin, or a
# later version, that adds one is covered from the start).
GROUPS: dict[str, tuple[str, ...]] = {
    "group:fs": ("read", "write", "edit", "apply_patch"),
    "group:runtime": ("exec", "process"),
    "group:sessions": ("sessions_list", "sessions_history", "sessions_send", "sessions_spawn", "session_status"),
    "group:memory": ("memory_search", "memory_get"),
    "group:web": ("web_search", "web_fetch"),
    "group:ui": ("browser", "canvas"),
    "group:automation": ("cron", "gateway"),
    "group:messaging": ("message",),
    "group:nodes": ("nodes",),
    "group:agents": ("agents_list",),
}
BUILTIN = tuple(dict.fromkeys(name for names in GROUPS.values() for name in names))
GROUPS["group:moltbot"] = GROUPS["group:openclaw"] = GROUPS["group:clawdbot"] = BUILTIN
ALIASES = {"bash": "exec", "apply-patch": "apply_patch"}

PROFILES: dict[str, tuple[str, ...] | None] = {
    "minimal": ("session_status",),
    "coding": ("group:fs", "group:runtime", "group:web", "group:sessions", "group:memory", "cron", "image"),
    "messaging": ("group:messaging", "sessions_list", "sessions_history", "sessions_send", "session_status"),
    "full": None,
}


def expand(entries: Iterable[str]) -> tuple[str, ...]:
    """Lower-cased patterns with groups replaced by their tools and aliases by their targets."""
    out: list[str] = []
    for entry in entries:
        name = entry.strip().lower()
        if not name:
            continue
        if name in GROUPS:
            out.extend(GROUPS[name])
        else:
            out.append(ALIASES.get(name, name))
    return tuple(out)


def _matches(name: str, patterns: Sequence[str]) -> bool:
    return any(pattern == name or ("*" in pattern and fnmatch.fnmatchcase(name, pattern)) for pattern in patterns)


@attrs.frozen
class Layer:
    """One allow/deny pair, already expanded. ``allow`` ``None`` admits everything not denied."""

    allow: tuple[str, ...] | None = None
    deny: tuple[str, ...] = ()

    def admits(self, name: str) -> bool:
        if _matches(name, self.deny):
            return False
        return self.allow is None or _matches(name, self.allow)


@attrs.frozen
class ToolPolicy:
    """The layers that apply to one agent's runs; ``admits(name)`` is the decision."""

    layers: tuple[Layer, ...] = ()

    def admits(self, name: str) -> bool:
        name = ALIASES.get(name.lower(), name.lower())
        return all(layer.admits(name) for layer in self.layers)

    def filter(self, names: Iterable[str]) -> list[str]:
        return [name for name in names if self.admits(name)]


def _layer(policy: ToolPolicyConfig | None) -> list[Layer]:
    if policy is None:
        return []
    layers = []
    profile = PROFILES.get(policy.profile) if policy.profile else None
    if profile is not None:
        layers.append(Layer(allow=expand(profile)))
    allow = expand(policy.allow) if policy.allow else None
    if allow is not None or policy.deny:
        layers.append(Layer(allow=allow, deny=expand(policy.deny)))
    return layers


def policy_for(config: Config, agent_id: str | None) -> ToolPolicy:
    """The policy of ``agent_id``'s runs under ``config`` (global layers, then the agent's own)."""
    layers = _layer(config.tools)
    if agent_id is not None:
        wanted = normalize_agent_id(agent_id)
        entry = next((a for a in config.agents.entries if normalize_agent_id(a.id) == wanted), None)
        if entry is not None:
            layers += _layer(entry.tools)
    return ToolPolicy(tuple(layers))
