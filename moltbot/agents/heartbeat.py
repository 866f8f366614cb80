"""Heartbeat, as the original runs it: a periodic agent turn on the main session.

The runner sleeps on the trio clock until the next beat (``agents.defaults.heartbeat.every``, default
``30m``), or until ``request_now()`` (``wake`` with mode ``now``). A beat runs the heartbeat prompt as a
turn on the main session; a reply that is just ``HEARTBEAT_OK`` (plus at most ``ackMaxChars``) is an
acknowledgement, not a message to deliver. Every outcome is reported (``heartbeat`` event, and kept for
``last-heartbeat``).
"""

from __future__ import annotations

import logging
import math
import re
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

import trio

from ..protocol import HeartbeatEvent, HeartbeatOutcome
from .sessions import now_ms

if TYPE_CHECKING:
    from .runtime import AgentRuntime

log = logging.getLogger("moltbot.agents")

DEFAULT_PROMPT = ("Read HEARTBEAT.md if it exists and follow it. If nothing needs attention, reply "
                  "HEARTBEAT_OK.")
TOKEN = "HEARTBEAT_OK"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 60}


def parse_duration(text: str) -> float:
    """``"30m"`` → 1800.0 seconds (a bare number means minutes). Raises ``ValueError``."""
    match = _DURATION.match(text or "")
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30m, 1h, 45s)")
    return float(match.group(1)) * _UNITS[match.group(2)]


def classify_reply(text: str, ack_max_chars: int) -> HeartbeatOutcome:
    stripped = text.strip()
    if not stripped:
        return "ok-empty"
    if TOKEN in stripped and len(stripped.replace(TOKEN, "").strip()) <= ack_max_chars:
        return "ok-token"
    return "sent"


class HeartbeatRunner:
    def __init__(self, agents: AgentRuntime, *, report: Callable[[HeartbeatEvent], None],
                 enabled: Callable[[], bool]) -> None:
        self._agents = agents
        self._report = report
        self._enabled = enabled
        self._wake = trio.Event()
        self._run_now = False

    def request_now(self) -> None:
        """Run a beat right away (``wake`` with mode ``now``)."""
        self._run_now = True
        self._wake.set()

    def poke(self, _action: str = "") -> None:
        """The heartbeat config changed (hot reload): recompute when the next beat is due."""
        self._wake.set()

    def _interval(self) -> float | None:
        every = self._agents.config.agents.defaults.heartbeat.every
        try:
            seconds = parse_duration(every)
        except ValueError as exc:
            log.error("heartbeat disabled: agents.defaults.heartbeat.every: %s", exc)
            return None
        return seconds if seconds > 0 else None

    async def serve(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Beat every interval on the trio clock (so ``MockClock`` tests can drive it), or when asked."""
        task_status.started()
        last = trio.current_time()
        while True:
            interval = self._interval()
            deadline = last + interval if interval else math.inf
            with trio.move_on_at(deadline):
                await self._wake.wait()
            self._wake = trio.Event()
            if self._run_now or trio.current_time() >= deadline:
                self._run_now = False
                last = trio.current_time()
                await self.beat()

    async def beat(self) -> HeartbeatEvent:
        config = self._agents.config.agents.defaults.heartbeat
        started = trio.current_time()
        if not self._enabled():
            event = HeartbeatEvent(ts=now_ms(), status="skipped", reason="disabled")
        else:
            prompt = config.prompt or DEFAULT_PROMPT
            try:
                run, _ = self._agents.submit(run_id=f"heartbeat-{uuid.uuid4().hex[:12]}",
                                             session_key=config.session or self._agents.main_key(),
                                             message=prompt, dedupe="heartbeat")
                await run.done.wait()
                if run.status != "ok":
                    raise RuntimeError(run.error or run.status)
                status = classify_reply(run.text, config.ack_max_chars)
                event = HeartbeatEvent(
                    ts=now_ms(), status=status, preview=run.text[:200] or None,
                    duration_ms=int((trio.current_time() - started) * 1000), silent=status != "sent",
                    indicator_type="ok" if status != "sent" else "alert")
            except Exception as exc:
                log.warning("heartbeat failed: %s", exc)
                event = HeartbeatEvent(ts=now_ms(), status="failed", reason=str(exc)[:200], indicator_type="error")
        self._report(event)
        return event
