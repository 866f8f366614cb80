"""When a schedule runs next: pure functions of (schedule, after) → epoch milliseconds. No I/O, no clock.

Theory of operation. Every answer is the first run *strictly after* ``after_ms``, so a scheduler that
asks again with the time it just ran at can never get the same run twice.

- ``at``: its ``atMs``, while that is still ahead.
- ``every``: the grid ``anchor + k·everyMs``; the anchor is the job's creation time when the schedule
  has none, so the grid stays put across restarts (the original anchors at "now", so every restart
  moved it).
- ``cron``: the expression (parsed by croniter) is matched against *local wall time* in the job's IANA
  zone (zoneinfo; default the host's), and wall times are mapped to instants with two rules for DST,
  the ones Vixie cron uses:
  * a wall time the clocks skip (spring forward) runs once, at the instant the clocks jump;
  * a wall time that happens twice (fall back) runs once, in the first pass, except for jobs that run
    every hour (hour field ``*``), which keep their rhythm through both passes.
  Plain expressions (numbers, ranges, lists, steps, names) are matched by a small day-by-day search
  over the expanded fields, an order of magnitude faster than croniter's iterator; expressions using
  ``L``, ``#`` or a seconds field fall back to croniter's iterator.
"""

from __future__ import annotations

import bisect
import functools
import os
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from ..protocol import CronSchedule, CronScheduleAt, CronScheduleCron, CronScheduleEvery

__all__ = ["CronExpression", "ScheduleError", "check_schedule", "local_zone", "next_run_ms", "parse_cron",
           "resolve_zone"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MS = timedelta(milliseconds=1)
_LOOKAHEAD = timedelta(hours=3)  # longer than any DST shift: a fold this close is still ahead of us
_MAX_DAYS = 8 * 366  # a Feb 29 that is also a given weekday can be 28 years away; give up after 8


class ScheduleError(ValueError):
    """A schedule that cannot run: a bad cron expression or an unknown time zone."""


@attrs.frozen
class CronExpression:
    """A parsed cron expression: the expanded fields, or ``None`` for a wildcard field."""

    text: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...] | None
    days: frozenset[int] | None
    months: frozenset[int] | None
    weekdays: frozenset[int] | None  # 0 = Sunday, as in cron
    seconds_first: bool
    plain: bool  # matched by the fast search (no L, #, seconds)

    @property
    def every_hour(self) -> bool:
        return self.hours is None

    def next_local(self, after: datetime) -> datetime | None:
        """The first matching naive wall time strictly after ``after`` (``None``: none for years)."""
        if self.plain:
            return self._search(after)
        from croniter import CroniterBadDateError, croniter  # imported by the first cron expression

        try:
            return croniter(self.text, after, ret_type=datetime, second_at_beginning=self.seconds_first).get_next(
                datetime)
        except (CroniterBadDateError, OverflowError):
            return None

    def _day_matches(self, day: datetime) -> bool:
        if self.days is None and self.weekdays is None:
            return True
        # Both restricted: either one matching is enough (Vixie cron, croner and croniter agree).
        in_month = self.days is not None and day.day in self.days
        return in_month or (self.weekdays is not None and day.isoweekday() % 7 in self.weekdays)

    def _search(self, after: datetime) -> datetime | None:
        moment = (after + timedelta(minutes=1)).replace(second=0, microsecond=0)
        hours = self.hours or tuple(range(24))
        for _ in range(_MAX_DAYS):
            midnight = moment.replace(hour=0, minute=0)
            if self.months is not None and moment.month not in self.months:
                moment = (midnight.replace(day=1) + timedelta(days=32)).replace(day=1)
                continue
            if self._day_matches(moment):
                hour_index = bisect.bisect_left(hours, moment.hour)
                if hour_index < len(hours):
                    hour = hours[hour_index]
                    if hour > moment.hour:
                        return moment.replace(hour=hour, minute=self.minutes[0])
                    minute_index = bisect.bisect_left(self.minutes, moment.minute)
                    if minute_index < len(self.minutes):
                        return moment.replace(minute=self.minutes[minute_index])
                    if hour_index + 1 < len(hours):
                        return moment.replace(hour=hours[hour_index + 1], minute=self.minutes[0])
            moment = midnight + timedelta(days=1)
        return None


@functools.lru_cache(maxsize=4096)
def parse_cron(text: str) -> CronExpression:
    """Parse (and cache) a 5-field expression, a 6-field one with seconds first (as croner reads it), or an
    ``@daily``-style alias. Raises ``ScheduleError``."""
    expr = text.strip()
    fields = expr.split()
    if not expr.startswith("@") and len(fields) not in (5, 6):
        raise ScheduleError(f"invalid cron expression {text!r}: expected 5 fields (or 6 with seconds first)")
    seconds_first = len(fields) == 6
    from croniter import CroniterError, croniter  # here: no cron job, no croniter (nor dateutil)

    try:
        expanded, nth_weekday = croniter.expand(expr, second_at_beginning=seconds_first)
    except (CroniterError, ValueError) as exc:
        raise ScheduleError(f"invalid cron expression {text!r}: {exc}") from None
    # Every field is a list of ints, or ``["*"]``; "l" (last day) only in days.
    minutes, hours, days, months, weekdays = cast(list[list[Any]], expanded[:5])
    seconds = expanded[5] if len(expanded) > 5 else [0]

    def field(values: list) -> frozenset[int] | None:
        return None if values == ["*"] else frozenset(values)

    plain = not nth_weekday and seconds == [0] and all("l" not in values for values in expanded)
    return CronExpression(
        text=expr,
        minutes=tuple(range(60)) if minutes == ["*"] else tuple(sorted(minutes)),
        hours=None if hours == ["*"] or len(hours) == 24 else tuple(sorted(hours)),
        days=field(days) if plain else None, months=field(months) if plain else None,
        weekdays=field(weekdays) if plain else None, seconds_first=seconds_first, plain=plain,
    )


@functools.cache
def local_zone() -> tzinfo:
    """The host's IANA zone: ``$TZ``, else the ``/etc/localtime`` link, else ``/etc/timezone``, else UTC."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    try:
        target = os.readlink("/etc/localtime")
        candidates.append(target.split("zoneinfo/", 1)[1] if "zoneinfo/" in target else "")
    except OSError:
        pass
    try:
        candidates.append(Path("/etc/timezone").read_text().strip())
    except OSError:
        pass
    for name in candidates:
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return UTC


@functools.lru_cache(maxsize=1024)
def resolve_zone(name: str | None) -> tzinfo:
    """The zone called ``name`` (``None`` or blank: the host's). Raises ``ScheduleError``."""
    if name is None or not name.strip():
        return local_zone()
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"unknown time zone {name!r} (use an IANA name such as Europe/Berlin)") from None


def check_schedule(schedule: CronSchedule) -> None:
    """Raise ``ScheduleError`` if ``schedule`` can never be evaluated."""
    if isinstance(schedule, CronScheduleCron):
        parse_cron(schedule.expr)
        resolve_zone(schedule.tz)


def next_run_ms(schedule: CronSchedule, after_ms: int, *, anchor_ms: int) -> int | None:
    """The first run of ``schedule`` strictly after ``after_ms``; ``None`` if there is none.

    ``anchor_ms`` anchors an ``every`` schedule that has no ``anchorMs`` of its own.
    """
    if isinstance(schedule, CronScheduleAt):
        return schedule.at_ms if schedule.at_ms > after_ms else None
    if isinstance(schedule, CronScheduleEvery):
        anchor = schedule.anchor_ms if schedule.anchor_ms is not None else anchor_ms
        if after_ms < anchor:
            return anchor
        return anchor + ((after_ms - anchor) // schedule.every_ms + 1) * schedule.every_ms
    return cron_next_ms(parse_cron(schedule.expr), resolve_zone(schedule.tz), after_ms)


def _offset(moment: datetime) -> timedelta:
    """The UTC offset of an aware datetime (every one here carries a zone)."""
    offset = moment.utcoffset()
    assert offset is not None
    return offset


def _to_ms(moment: datetime) -> int:
    return (moment - EPOCH) // ONE_MS


def _from_ms(ms: int, zone: tzinfo) -> datetime:
    return (EPOCH + ms * ONE_MS).astimezone(zone)


def _instants(wall: datetime, zone: tzinfo, every_hour: bool) -> list[tuple[int, datetime]]:
    """The instants (ms, with the wall time they show) at which wall time ``wall`` runs in ``zone``."""
    first = _to_ms(wall.replace(tzinfo=zone, fold=0))
    second = _to_ms(wall.replace(tzinfo=zone, fold=1))
    if first == second:
        return [(first, wall)]
    if _from_ms(first, zone).replace(tzinfo=None) == wall:  # the clocks go back: this wall time repeats
        return [(first, wall), (second, wall)] if every_hour else [(first, wall)]
    # The clocks skip this wall time: run when they jump, the first instant at the later offset.
    # fold=1 reads the wall time at the offset after the jump, which lands before the jump; fold=0 after it.
    low, high = second, first
    after_offset = _from_ms(high, zone).utcoffset()
    while high - low > 1000:
        middle = (low + high) // 2
        if _from_ms(middle, zone).utcoffset() == after_offset:
            high = middle
        else:
            low = middle
    jump = high - high % 1000
    return [(jump, _from_ms(jump, zone).replace(tzinfo=None))]


def cron_next_ms(expr: CronExpression, zone: tzinfo, after_ms: int) -> int | None:
    """The first instant strictly after ``after_ms`` at which ``expr`` runs in ``zone`` (rules above)."""
    after = EPOCH + after_ms * ONE_MS
    local = after.astimezone(zone)
    wall = local.replace(tzinfo=None, fold=0)
    # Clocks going back within the look-ahead: wall times we already passed come round again.
    ahead = (after + _LOOKAHEAD).astimezone(zone)
    fold = max(_offset(local) - _offset(ahead), timedelta(0))
    cursor = wall - fold if fold and expr.every_hour else wall
    best: tuple[int, datetime] | None = None
    for _ in range(256):
        candidate = expr.next_local(cursor)
        if candidate is None or (best is not None and candidate > best[1] + fold):
            break
        for instant in _instants(candidate, zone, expr.every_hour):
            if instant[0] > after_ms and (best is None or instant[0] < best[0]):
                best = instant
        if best is not None and not fold and best[1] == candidate:
            break  # the common case: no DST change near, the first match is the answer
        cursor = candidate
    return best[0] if best is not None else None

