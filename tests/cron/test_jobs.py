"""Jobs as values: creation, patches, the run protocol (claim/finish/unclaim) and recovery at load."""

import attrs
import pytest

from moltbot.cron.jobs import (
    MISSED_GRACE_MS,
    JobError,
    RunOutcome,
    apply_patch,
    claim,
    create_job,
    finish,
    post_to_main_text,
    recover,
    unclaim,
    with_state,
)
from moltbot.protocol import structure
from moltbot.protocol._payloads.cron import CronIsolation, CronJobPatch, normalize_cron_update
from tests.cron.conftest import add_params

NOW = 1_700_000_000_000
MINUTE = 60_000


def every_job(minutes=10, **extra):
    params = add_params(name="tick", schedule={"everyMs": minutes * MINUTE},
                        payload={"kind": "systemEvent", "text": "tick"}, **extra)
    return create_job(params, job_id="job-1", now_ms=NOW)


def patch(**fields) -> CronJobPatch:
    return structure(normalize_cron_update({"id": "x", "patch": fields})["patch"], CronJobPatch, what="patch")


def test_new_every_job_runs_one_interval_after_creation():
    job = every_job()
    assert job.enabled and job.state.next_run_at_ms == NOW + 10 * MINUTE and job.created_at_ms == NOW


def test_one_shot_in_the_past_is_due_at_once():
    job = create_job(add_params(name="once", schedule={"atMs": NOW - 5}, payload={"text": "x"}), job_id="a",
                     now_ms=NOW)
    assert job.state.next_run_at_ms == NOW - 5


@pytest.mark.parametrize(("target", "payload", "message"), [
    ("main", {"kind": "agentTurn", "message": "m"}, 'main cron jobs require payload.kind="systemEvent"'),
    ("isolated", {"kind": "systemEvent", "text": "t"}, 'isolated cron jobs require payload.kind="agentTurn"'),
])
def test_session_target_and_payload_must_agree(target, payload, message):
    with pytest.raises(JobError, match=message):
        create_job(add_params(name="x", schedule={"everyMs": 1}, sessionTarget=target, payload=payload),
                   job_id="x", now_ms=NOW)


def test_patch_keeps_the_schedule_grid_unless_the_schedule_changes():
    job = every_job()
    renamed = apply_patch(job, patch(name="renamed"), now_ms=NOW + 3 * MINUTE)
    assert renamed.name == "renamed" and renamed.state.next_run_at_ms == NOW + 10 * MINUTE
    faster = apply_patch(job, patch(schedule={"everyMs": 4 * MINUTE}), now_ms=NOW + 3 * MINUTE)
    assert faster.state.next_run_at_ms == NOW + 4 * MINUTE  # on the grid anchored at creation


def test_disable_then_enable_schedules_from_now():
    job = apply_patch(every_job(), patch(enabled=False), now_ms=NOW)
    assert job.state.next_run_at_ms is None
    job = apply_patch(job, patch(enabled=True), now_ms=NOW + 25 * MINUTE)
    assert job.state.next_run_at_ms == NOW + 30 * MINUTE


def test_payload_patch_merges_same_kind_and_replaces_other_kind():
    job = create_job(add_params(name="n", schedule={"everyMs": MINUTE}, payload={"message": "hi", "to": "42"}),
                     job_id="i", now_ms=NOW)
    merged = apply_patch(job, patch(payload={"kind": "agentTurn", "thinking": "low"}), now_ms=NOW)
    assert (merged.payload.message, merged.payload.to, merged.payload.thinking) == ("hi", "42", "low")
    with pytest.raises(JobError, match="requires text"):
        apply_patch(job, patch(sessionTarget="main", payload={"kind": "systemEvent"}), now_ms=NOW)
    assert apply_patch(job, patch(agentId=None), now_ms=NOW).agent_id is None


def test_claim_moves_next_past_the_occurrence_and_coalesces_missed_ones():
    job = every_job()
    due = job.state.next_run_at_ms
    late = NOW + 47 * MINUTE  # four occurrences were missed: one run, then back on the grid
    claimed = claim(job, scheduled_ms=due, now_ms=late)
    assert claimed.state.running_at_ms == late and claimed.state.next_run_at_ms == NOW + 50 * MINUTE
    assert unclaim(claimed, previous_next_ms=due).state.next_run_at_ms == due


def test_one_shot_is_disabled_after_success_deleted_with_delete_after_run_and_kept_after_failure():
    params = add_params(name="once", schedule={"atMs": NOW}, payload={"text": "x"})
    job = claim(create_job(params, job_id="a", now_ms=NOW), scheduled_ms=NOW, now_ms=NOW)
    done = finish(job, RunOutcome(status="ok"), started_ms=NOW, ended_ms=NOW + 5)
    assert not done.enabled and done.state.next_run_at_ms is None and done.state.last_duration_ms == 5
    assert finish(attrs.evolve(job, delete_after_run=True), RunOutcome(status="ok"), started_ms=NOW,
                  ended_ms=NOW) is None
    failed = finish(job, RunOutcome(status="error", error="boom"), started_ms=NOW, ended_ms=NOW)
    assert failed.enabled and failed.state.next_run_at_ms is None and failed.state.last_error == "boom"


def test_recover_records_an_interrupted_run_and_does_not_run_it_again():
    job = claim(every_job(), scheduled_ms=NOW + 10 * MINUTE, now_ms=NOW + 10 * MINUTE)
    fixed, entries, warnings = recover(job, now_ms=NOW + 12 * MINUTE)
    assert fixed.state.running_at_ms is None and fixed.state.next_run_at_ms == NOW + 20 * MINUTE
    assert fixed.state.last_status == "error" and "interrupted" in fixed.state.last_error
    assert [(e.status, e.run_at_ms) for e in entries] == [("error", NOW + 10 * MINUTE)] and warnings


def test_recover_corrects_a_next_run_later_than_the_schedule_allows():
    job = with_state(every_job(), next_run_at_ms=NOW + 3 * 86_400_000)  # days ahead: the original's bug
    fixed, entries, warnings = recover(job, now_ms=NOW + MINUTE)
    assert fixed.state.next_run_at_ms == NOW + 10 * MINUTE and not entries and "corrected" in warnings[0]


def test_recover_leaves_a_missed_run_due_for_one_catch_up_run():
    job = every_job()
    fixed, entries, _ = recover(job, now_ms=NOW + 95 * MINUTE)
    assert fixed.state.next_run_at_ms == NOW + 10 * MINUTE and not entries


def test_recover_skips_and_logs_missed_runs_when_catch_up_is_off():
    job = every_job(catchUp=False)
    fixed, entries, _ = recover(job, now_ms=NOW + 95 * MINUTE)
    assert fixed.state.next_run_at_ms == NOW + 100 * MINUTE and fixed.state.last_status == "skipped"
    assert [(e.status, e.run_at_ms) for e in entries] == [("skipped", NOW + 10 * MINUTE)]
    assert "catchUp is off" in entries[0].error
    just_late, entries, _ = recover(job, now_ms=NOW + 10 * MINUTE + MISSED_GRACE_MS - 1)
    assert just_late.state.next_run_at_ms == NOW + 10 * MINUTE and not entries  # late, not missed


def test_post_to_main_lines():
    job = create_job(add_params(name="n", schedule={"everyMs": MINUTE}, payload={"message": "hi"}), job_id="i",
                     now_ms=NOW)
    assert post_to_main_text(job, RunOutcome(status="ok", summary="all good")) == "Cron: all good"
    assert post_to_main_text(job, RunOutcome(status="error", error="boom")) == "Cron (error): boom"
    full = attrs.evolve(job, isolation=CronIsolation(post_to_main_prefix="Daily", post_to_main_mode="full",
                                                     post_to_main_max_chars=5))
    assert post_to_main_text(full, RunOutcome(status="ok", summary="s", output="abcdefgh")) == "Daily: abcde…"
