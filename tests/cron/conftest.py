"""Helpers for cron tests: a host that records what runs do, and a wall clock driven by the trio clock."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import attrs
import trio

from moltbot.cron.host import TurnRefused, TurnRequest, TurnResult
from moltbot.protocol._payloads.cron import CronAddParams, CronEvent, CronJob

BERLIN = ZoneInfo("Europe/Berlin")


def ms(text: str) -> int:
    """Epoch ms of an ISO time (a naive one is read in Europe/Berlin)."""
    moment = datetime.fromisoformat(text)
    return int((moment if moment.tzinfo else moment.replace(tzinfo=BERLIN)).timestamp() * 1000)


def iso(value: int) -> str:
    return datetime.fromtimestamp(value / 1000, UTC).astimezone(BERLIN).isoformat()


@attrs.define
class WallClock:
    """Epoch ms that advance with the trio clock (``MockClock`` in tests), plus a settable step."""

    base_ms: int
    start: float = attrs.field(factory=trio.current_time)
    step_ms: int = 0

    def __call__(self) -> int:
        return self.base_ms + self.step_ms + round((trio.current_time() - self.start) * 1000)

    async def sleep_until_ms(self, target_ms: int) -> None:
        await trio.sleep_until(self.start + (target_ms - self.base_ms - self.step_ms) / 1000)


@attrs.define
class RecordingHost:
    """A ``CronHost`` that records system events, wakes, agent turns and events with their wall time."""

    clock: WallClock
    system_events: list[tuple[int, str]] = attrs.field(factory=list)
    wakes: int = 0
    turns: list[tuple[int, TurnRequest]] = attrs.field(factory=list)
    events: list[CronEvent] = attrs.field(factory=list)
    turn: object = None  # async (request) -> TurnResult; default: an instant "done"
    delivered: list[tuple[CronJob, str]] = attrs.field(factory=list)

    def system_event(self, text: str, agent_id: str | None) -> None:
        self.system_events.append((self.clock(), text))

    def wake(self) -> None:
        self.wakes += 1

    async def agent_turn(self, request: TurnRequest) -> TurnResult:
        self.turns.append((self.clock(), request))
        if self.turn is not None:
            return await self.turn(request)
        await trio.lowlevel.checkpoint()
        request.started = True
        return TurnResult(ok=True, text=f"did: {request.message}")

    async def deliver(self, job: CronJob, text: str):
        self.delivered.append((job, text))
        return "not-delivered", "no channels running"

    def emit(self, event: CronEvent) -> None:
        self.events.append(event)

    def actions(self, job_id: str | None = None) -> list[str]:
        return [event.action for event in self.events if job_id in (None, event.job_id)]


def add_params(**fields) -> CronAddParams:
    """``cron.add`` params from wire-style keyword arguments (normalised like a request)."""
    from moltbot.protocol import structure
    from moltbot.protocol._payloads.cron import normalize_cron_add

    return structure(normalize_cron_add(fields), CronAddParams, what="cron.add params")


async def refuse(request: TurnRequest) -> TurnResult:
    await trio.lowlevel.checkpoint()
    raise TurnRefused("gateway is restarting")

