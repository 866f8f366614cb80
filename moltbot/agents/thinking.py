"""Thinking levels: which one a turn asks for, and what each provider sends for it.

A level comes from the run (``thinking`` of ``agent``, ``chat.send`` or a cron job: that run only), else
the session (``/think <level>`` or ``sessions.patch``: ``thinkingLevel``), else
``agents.defaults.thinkingDefault``; ``off`` (or none of them) asks for nothing. A model whose catalog
entry says ``reasoning: false`` is never asked, since servers refuse the setting for such models.

What goes on the wire, as the original's model library sends it:

- OpenAI-compatible: ``reasoning_effort`` ``minimal``/``low``/``medium``/``high``.
- Anthropic: ``thinking: {type: "enabled", budget_tokens}`` with the budgets below, ``max_tokens`` raised
  by the budget (the answer keeps its own room) and no ``temperature`` (the API refuses one with
  thinking). The signed thinking blocks of a tool-using answer go back with its tool calls, as the API
  requires.

``xhigh`` is sent as ``high``: only a few models take more, and a setting a server does not know fails the
whole turn.
"""

from __future__ import annotations

THINK_LEVELS = ("off", "minimal", "low", "medium", "high", "xhigh")
# the spellings the original's /think accepts besides the levels themselves
ALIASES = {
    "on": "low",
    "enable": "low",
    "enabled": "low",
    "min": "minimal",
    "think": "minimal",
    "thinkhard": "low",
    "mid": "medium",
    "med": "medium",
    "harder": "medium",
    "thinkharder": "medium",
    "max": "high",
    "highest": "high",
    "ultra": "high",
    "ultrathink": "high",
    "x-high": "xhigh",
    "x_high": "xhigh",
}
ANTHROPIC_BUDGETS = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 16384}
OPENAI_EFFORTS = {"minimal": "minimal", "low": "low", "medium": "medium", "high": "high"}


def normalize_level(value: str | None) -> str | None:
    """A level from what a user or client wrote (case and the aliases above forgiven); ``None`` when it is
    none of them."""
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    text = ALIASES.get(text, text)
    return text if text in THINK_LEVELS else None


def wire_level(level: str | None) -> str | None:
    """The level providers are asked for: ``None`` for off, ``xhigh`` as ``high``."""
    level = normalize_level(level)
    if level is None or level == "off":
        return None
    return "high" if level == "xhigh" else level


def turn_level(*candidates: object) -> str | None:
    """The first usable level of ``candidates`` (run, session, default), as ``wire_level``."""
    for candidate in candidates:
        level = normalize_level(candidate) if isinstance(candidate, str) else None
        if level is not None:
            return wire_level(level)
    return None
