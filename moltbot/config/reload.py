"""Pure reload planning: which dotted paths changed, and what each change needs (the
original's hot-reload rules).

``diff_paths(old, new)`` lists changed leaf paths (objects recursed, arrays compared whole and reported
at the array's path, a changed root type reported as ``<root>``). ``plan_reload(paths)`` classifies each
path by the first matching rule of the table below (``path == prefix`` or ``path`` starts with
``prefix + "."``); paths no rule matches need a restart. ``decide(mode, plan)`` applies the reload mode.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

Kind = Literal["none", "hot", "restart"]

# (prefix, kind, hot action). First match wins.
RULES: tuple[tuple[str, Kind, str | None], ...] = (
    ("gateway.remote", "none", None),
    ("gateway.reload", "none", None),
    ("hooks.gmail", "hot", "restart-gmail-watcher"),
    ("hooks", "hot", "reload-hooks"),
    ("agents.defaults.heartbeat", "hot", "reload-heartbeat"),
    ("agent.heartbeat", "hot", "reload-heartbeat"),
    ("cron", "hot", "reload-cron"),
    ("browser", "hot", "restart-browser-control"),
    *((f"channels.{name}", "hot", f"restart-channel:{name}") for name in (
        "telegram", "discord", "googlechat", "slack", "signal", "imessage", "bluebubbles", "line", "matrix",
        "mattermost", "msteams", "nextcloud-talk", "nostr", "tlon", "zalo", "zalouser")),
    ("web", "hot", "restart-channel:whatsapp"),
    ("channels.whatsapp", "none", None),
    *((name, "none", None) for name in (
        "identity", "wizard", "logging", "models", "agents", "tools", "bindings", "audio", "agent", "routing",
        "messages", "session", "talk", "skills")),
    ("plugins", "restart", None),
    ("ui", "none", None),
    # Ours: metadata stamped by config writers never restarts the gateway (the reference's does), and the
    # HTTP endpoints are read per request, so enabling or disabling one is a hot change.
    ("meta", "none", None),
    ("gateway.http", "none", None),
    ("gateway", "restart", None),
    ("discovery", "restart", None),
    ("canvasHost", "restart", None),
)


def diff_paths(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted leaf paths whose values differ between two parsed configs."""
    if isinstance(old, dict) and isinstance(new, dict):
        changed: list[str] = []
        for key in sorted(set(old) | set(new)):
            path = f"{prefix}.{key}" if prefix else key
            if key not in old or key not in new:
                changed.append(path)
            else:
                changed.extend(diff_paths(old[key], new[key], path))
        return changed
    if old == new and type(old) is type(new):
        return []
    return [prefix or "<root>"]


def classify(path: str) -> tuple[Kind, str | None]:
    for prefix, kind, action in RULES:
        if path == prefix or path.startswith(prefix + "."):
            return kind, action
    return "restart", None


@attrs.frozen
class ReloadPlan:
    changed: tuple[str, ...]
    restart_paths: tuple[str, ...]
    hot_actions: tuple[str, ...]
    noop_paths: tuple[str, ...]

    @property
    def needs_restart(self) -> bool:
        return bool(self.restart_paths)


def plan_reload(changed: list[str]) -> ReloadPlan:
    restart, hot, noop = [], [], []
    for path in changed:
        kind, action = classify(path)
        if kind == "restart":
            restart.append(path)
        elif kind == "hot":
            if action is not None and action not in hot:
                hot.append(action)
        else:
            noop.append(path)
    return ReloadPlan(tuple(changed), tuple(restart), tuple(hot), tuple(noop))


Decision = Literal["nothing", "hot", "restart", "disabled", "ignored"]


def decide(mode: str, plan: ReloadPlan) -> Decision:
    """What to do with a plan under ``gateway.reload.mode``.

    ``off`` → disabled; ``restart`` → restart on any change; ``hot`` → hot actions only, and a plan that
    needs a restart is ignored (warned); ``hybrid`` → restart if needed, else hot.
    """
    if not plan.changed:
        return "nothing"
    if mode == "off":
        return "disabled"
    if mode == "restart":
        return "restart"
    if plan.needs_restart:
        return "ignored" if mode == "hot" else "restart"
    return "hot" if plan.hot_actions or plan.noop_paths else "nothing"
