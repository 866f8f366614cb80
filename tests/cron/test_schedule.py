"""Next-run computation: ``at``, ``every`` with anchors, cron expressions in IANA zones across DST."""

from datetime import datetime, timedelta

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from moltbot.cron.schedule import (
    ScheduleError,
    check_schedule,
    cron_next_ms,
    next_run_ms,
    parse_cron,
    resolve_zone,
)
from moltbot.protocol._payloads.cron import CronScheduleAt, CronScheduleCron, CronScheduleEvery
from tests.cron.conftest import iso, ms
from tests.strategies import examples

BERLIN = resolve_zone("Europe/Berlin")


def runs(expr: str, start: str, count: int, tz: str = "Europe/Berlin") -> list[str]:
    schedule, after, out = CronScheduleCron(kind="cron", expr=expr, tz=tz), ms(start), []
    for _ in range(count):
        after = next_run_ms(schedule, after, anchor_ms=0)
        out.append(iso(after))
    return out


def test_at_runs_once_while_ahead():
    schedule = CronScheduleAt(kind="at", at_ms=5_000)
    assert next_run_ms(schedule, 4_999, anchor_ms=0) == 5_000
    assert next_run_ms(schedule, 5_000, anchor_ms=0) is None


def test_every_follows_its_anchor_grid_strictly_after():
    schedule = CronScheduleEvery(kind="every", every_ms=30_000, anchor_ms=1_000_000)
    assert next_run_ms(schedule, 0, anchor_ms=0) == 1_000_000  # before the anchor: the anchor
    assert next_run_ms(schedule, 1_000_000, anchor_ms=0) == 1_030_000  # on a grid point: the next one
    assert next_run_ms(schedule, 1_010_000, anchor_ms=0) == 1_030_000


def test_every_without_anchor_uses_the_given_one():
    schedule = CronScheduleEvery(kind="every", every_ms=60_000)
    assert next_run_ms(schedule, 10_000 + 125_000, anchor_ms=10_000) == 10_000 + 180_000


def test_weekday_job_in_berlin_runs_at_nine_local_in_winter_and_summer():
    assert runs("0 9 * * 1-5", "2025-03-28T12:00:00", 3) == [
        "2025-03-31T09:00:00+02:00", "2025-04-01T09:00:00+02:00", "2025-04-02T09:00:00+02:00"]
    assert runs("0 9 * * 1-5", "2025-10-24T12:00:00", 2) == ["2025-10-27T09:00:00+01:00", "2025-10-28T09:00:00+01:00"]


def test_wall_time_skipped_by_spring_forward_runs_once_when_the_clocks_jump():
    assert runs("30 2 * * *", "2024-03-30T12:00:00", 2) == ["2024-03-31T03:00:00+02:00", "2024-04-01T02:30:00+02:00"]
    # several skipped times coalesce into the jump, which is also a real match of 03:00
    assert runs("*/15 * * * *", "2024-03-31T01:40:00", 3) == [
        "2024-03-31T01:45:00+01:00", "2024-03-31T03:00:00+02:00", "2024-03-31T03:15:00+02:00"]


def test_wall_time_repeated_by_fall_back_runs_once_for_a_daily_job():
    assert runs("30 2 * * *", "2024-10-26T12:00:00", 2) == ["2024-10-27T02:30:00+02:00", "2024-10-28T02:30:00+01:00"]


def test_hourly_jobs_keep_their_rhythm_through_the_repeated_hour():
    assert runs("0 * * * *", "2024-10-27T00:30:00", 4) == [
        "2024-10-27T01:00:00+02:00", "2024-10-27T02:00:00+02:00", "2024-10-27T02:00:00+01:00",
        "2024-10-27T03:00:00+01:00"]
    quarter = runs("*/15 * * * *", "2024-10-27T02:40:00+02:00", 3)
    assert quarter == ["2024-10-27T02:45:00+02:00", "2024-10-27T02:00:00+01:00", "2024-10-27T02:15:00+01:00"]


def test_other_zones_and_the_southern_hemisphere():
    assert runs("0 9 * * *", "2024-03-09T12:00:00-05:00", 2, tz="America/New_York") == [
        "2024-03-10T14:00:00+01:00", "2024-03-11T14:00:00+01:00"]  # 09:00 EST, then 09:00 EDT (printed in Berlin)
    sydney = resolve_zone("Australia/Sydney")
    after = ms("2024-04-06T12:00:00+11:00")  # Sydney falls back on 7 April 03:00 → 02:00
    expr = parse_cron("30 2 * * *")
    first = cron_next_ms(expr, sydney, after)
    second = cron_next_ms(expr, sydney, first)
    assert [datetime.fromtimestamp(v / 1000, sydney).isoformat() for v in (first, second)] == [
        "2024-04-07T02:30:00+11:00", "2024-04-08T02:30:00+10:00"]


def test_aliases_seconds_and_last_day_of_month():
    assert runs("@daily", "2025-01-01T10:00:00", 1) == ["2025-01-02T00:00:00+01:00"]
    assert runs("30 0 9 * * *", "2025-01-01T10:00:00", 1) == ["2025-01-02T09:00:30+01:00"]  # seconds first
    assert runs("0 9 L * *", "2025-01-01T10:00:00", 2) == ["2025-01-31T09:00:00+01:00", "2025-02-28T09:00:00+01:00"]


@pytest.mark.parametrize(("schedule", "message"), [
    (CronScheduleCron(kind="cron", expr="61 * * * *"), "invalid cron expression '61 * * * *'"),
    (CronScheduleCron(kind="cron", expr="* * *"), "expected 5 fields"),
    (CronScheduleCron(kind="cron", expr="0 9 * * *", tz="Mars/Olympus"), "unknown time zone 'Mars/Olympus'"),
    (CronScheduleCron(kind="cron", expr="0 9 * * *", tz="../etc/passwd"), "unknown time zone"),
])
def test_bad_expressions_and_zones_are_refused(schedule, message):
    with pytest.raises(ScheduleError, match=message.replace("*", r"\*")):
        check_schedule(schedule)


def test_impossible_dates_have_no_next_run():
    assert next_run_ms(CronScheduleCron(kind="cron", expr="0 0 30 2 *", tz="UTC"), 0, anchor_ms=0) is None


def _field(low: int, high: int):
    number = st.integers(low, high)
    ranged = st.tuples(number, number).map(sorted).map(lambda pair: f"{pair[0]}-{pair[1]}")
    return st.one_of(st.just("*"), number.map(str), ranged,
                     st.tuples(ranged, st.integers(1, 4)).map(lambda pair: f"{pair[0]}/{pair[1]}"),
                     st.integers(1, max(1, (high - low) // 2)).map(lambda step: f"*/{step}"),
                     st.lists(number, min_size=2, max_size=3).map(lambda values: ",".join(map(str, values))))


expressions = st.tuples(_field(0, 59), _field(0, 23), _field(1, 31), _field(1, 12), _field(0, 6)).map(" ".join)
starts = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1)).map(
    lambda moment: moment.replace(microsecond=0))


@settings(max_examples=examples(100), deadline=None)
@given(expr=expressions, start=starts)
def test_fast_matcher_agrees_with_croniter(expr, start):
    try:
        expected = croniter(expr, start, ret_type=datetime).get_next(datetime)
    except Exception:  # croniter gives up on dates years away (Feb 30); so do we
        expected = None
    assert parse_cron(expr).next_local(start) == expected


@settings(max_examples=examples(80), deadline=None)
@given(expr=expressions, start=st.integers(ms("2020-01-01T00:00:00"), ms("2030-01-01T00:00:00")),
       zone=st.sampled_from(["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]))
def test_next_run_is_strictly_later_and_no_match_is_skipped(expr, start, zone):
    tz = resolve_zone(zone)
    parsed = parse_cron(expr)
    found = cron_next_ms(parsed, tz, start)
    if found is None:
        return
    assert found > start
    # Every instant strictly between start and found whose wall time matches must be one the DST rules
    # leave out: the second pass of a repeated wall time, for a job that does not run every hour.
    wall = datetime.fromtimestamp(start / 1000, tz).replace(tzinfo=None) - timedelta(hours=3)
    end = datetime.fromtimestamp(found / 1000, tz).replace(tzinfo=None) + timedelta(hours=3)
    for _ in range(500):
        candidate = parsed.next_local(wall)
        if candidate is None or candidate > end:
            break
        for fold in (0, 1):
            instant = int(candidate.replace(tzinfo=tz, fold=fold).timestamp() * 1000)
            shown = datetime.fromtimestamp(instant / 1000, tz)
            if start < instant < found and shown.replace(tzinfo=None) == candidate and shown.fold == fold:
                assert fold == 1 and not parsed.every_hour, (expr, zone, iso(start), iso(instant), iso(found))
        wall = candidate
