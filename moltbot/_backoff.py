"""Exponential backoff, the one schedule every retry loop uses (supervised children, channel accounts,
the reconnecting client).

``delay(attempt)`` is ``initial * factor**(attempt - 1)`` capped at ``maximum``, spread by ±``jitter``
(a fraction of the delay; 0 gives exact delays); ``delays()`` yields attempt 1, 2, … in turn.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import attrs

__all__ = ["Backoff"]


@attrs.frozen
class Backoff:
    """Delays between attempts: ``initial``, times ``factor`` each attempt, capped at ``maximum`` (seconds),
    each spread by ±``jitter`` of itself."""

    initial: float = 1.0
    maximum: float = 30.0
    factor: float = 2.0
    jitter: float = 0.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """The delay before attempt ``attempt`` (1 is the first retry)."""
        base = min(self.maximum, self.initial * self.factor ** max(0, attempt - 1))
        if not self.jitter:
            return base
        spread = base * self.jitter
        return max(0.0, base + (rng or random).uniform(-spread, spread))

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """``delay(1)``, ``delay(2)``, … without end."""
        attempt = 1
        while True:
            yield self.delay(attempt, rng)
            attempt += 1
