"""Token usage of a turn: what the transcript and the session entry record, and what it cost.

Theory of operation. Providers report tokens per model call (``providers/base.py`` ``Usage``: fresh input,
output, cache reads and writes). Each assistant line of the transcript carries its call's usage in the
reference's form (``usage: {input, output, cacheRead, cacheWrite, totalTokens, cost?}``); ``cost`` is
priced when written, from ``models.providers.<id>.models[].cost`` (US dollars per million tokens of each
kind, as the original's catalog), and left out when the model has no price, so a price added later still
prices the line when ``usage.cost`` reads it (``cost.py``). The session entry gets what the original's
gateway writes after a run: ``inputTokens``/``outputTokens`` of that run, ``totalTokens`` the prompt of its
last model call (how full the context is), ``contextTokens`` the model's window.
"""

from __future__ import annotations

import math
from typing import Any

from ..config.model import Config
from .providers.base import ModelInfo, Usage

DEFAULT_CONTEXT_TOKENS = 200_000  # the original's default when neither the config nor the catalog says
PRICE_KINDS = (("input", "input_tokens"), ("output", "output_tokens"), ("cacheRead", "cache_read"),
               ("cacheWrite", "cache_write"))


def model_entry(config: Config, provider: str | None, model: str | None) -> dict[str, Any] | None:
    """The ``models.providers.<provider>.models[]`` entry with ``id == model`` (a dict), if any."""
    if not provider or not model:
        return None
    settings = config.models.providers.get(provider)
    for entry in settings.models if settings else ():
        if isinstance(entry, dict) and entry.get("id") == model:
            return entry
    return None


def model_price(config: Config, provider: str | None, model: str | None) -> dict[str, float] | None:
    """Dollars per million tokens by kind (``input``, ``output``, ``cacheRead``, ``cacheWrite``; a kind not
    given costs 0), or ``None`` when the model has no usable ``cost``."""
    cost = (model_entry(config, provider, model) or {}).get("cost")
    if not isinstance(cost, dict):
        return None
    price = {}
    for kind, _ in PRICE_KINDS:
        value = cost.get(kind, 0)
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
            return None  # a price we cannot read prices nothing, rather than wrongly
        price[kind] = float(value)
    return price


def price_usage(usage: dict[str, Any], price: dict[str, float]) -> dict[str, float]:
    """``{input, output, cacheRead, cacheWrite, total}`` in dollars for a transcript usage record."""
    parts = {kind: (usage.get(kind) or 0) * price[kind] / 1_000_000 for kind, _ in PRICE_KINDS}
    return {**parts, "total": sum(parts.values())}


def usage_record(usage: Usage, price: dict[str, float] | None = None) -> dict[str, Any]:
    """A transcript line's ``usage`` (the reference's field names), priced when ``price`` is known."""
    record: dict[str, Any] = {kind: getattr(usage, attr) for kind, attr in PRICE_KINDS}
    record["totalTokens"] = usage.total_tokens
    if price is not None:
        record["cost"] = price_usage(record, price)
    return record


def context_tokens(config: Config, models: list[ModelInfo], model: str) -> int:
    """The context window a session's turns are measured against: ``agents.defaults.contextTokens`` when
    set, else the catalog's ``contextWindow`` of the model, else 200,000 (the original's order)."""
    configured = config.agents.defaults.context_tokens
    if configured and configured > 0:
        return configured
    window = next((info.context_window for info in models if info.id == model and info.context_window), None)
    return window or DEFAULT_CONTEXT_TOKENS


def record_run(entry: dict[str, Any], usage: Usage | None, last_call: Usage | None, window: int) -> None:
    """The session entry after a run, as the original's gateway writes it."""
    entry["contextTokens"] = window
    if usage is None or usage.total_tokens == 0:
        return
    entry["inputTokens"] = usage.input_tokens
    entry["outputTokens"] = usage.output_tokens
    prompt = last_call.prompt_tokens if last_call is not None else usage.prompt_tokens
    entry["totalTokens"] = prompt or usage.input_tokens
