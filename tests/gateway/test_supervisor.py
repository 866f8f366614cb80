"""The supervisor primitive (``moltbot.gateway.supervisor``): start, stop, restart, crash backoff, status.

No sockets: the children are small services over the Trio clock, run with ``autojump_clock`` so every
backoff is exact.
"""

from __future__ import annotations

import pytest
import trio

from moltbot._backoff import Backoff
from moltbot.gateway.supervisor import Child, statuses

FIXED = Backoff(initial=1.0, maximum=8.0)


class Service:
    """A service that reports ``value`` when ready, counts its runs, and can be told to crash or return."""

    def __init__(self, value: object = "ready") -> None:
        self.value = value
        self.runs = 0
        self.live = 0  # runs in progress right now
        self.most_live = 0
        self.crash_before_ready: list[BaseException] = []  # raised by the next runs, before ready
        self.crash = trio.Event()
        self.finish = trio.Event()
        self.ran = trio.Event()

    async def serve(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        self.runs += 1
        self.live += 1
        self.most_live = max(self.most_live, self.live)
        try:
            if self.crash_before_ready:
                raise self.crash_before_ready.pop(0)
            task_status.started(self.value)
            self.ran.set()
            self.ran = trio.Event()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._wait_finish, nursery.cancel_scope)
                await self.crash.wait()
                self.crash = trio.Event()
                raise RuntimeError(f"crash in run {self.runs}")
        finally:
            self.live -= 1

    async def _wait_finish(self, scope: trio.CancelScope) -> None:
        await self.finish.wait()
        self.finish = trio.Event()
        scope.cancel()


async def test_start_returns_what_the_service_reported_and_names_the_task(nursery):
    service = Service(value=("127.0.0.1", 8080))
    child = Child("listener", service.serve)
    assert child.state == "idle" and not child.active
    assert await child.start(nursery) == ("127.0.0.1", 8080)
    assert child.running and child.active and child.value == ("127.0.0.1", 8080)
    assert "listener" in [task.name for task in nursery.child_tasks]
    await child.stop("test over")


async def test_stop_cancels_with_the_reason_and_waits_until_the_run_has_ended(nursery):
    reasons: list[str] = []

    async def serve(*, task_status=trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        try:
            await trio.sleep_forever()
        except trio.Cancelled as exc:
            reasons.append(str(exc))
            await trio.lowlevel.cancel_shielded_checkpoint()
            raise

    child = Child("canvas", serve)
    await child.start(nursery)
    await child.stop("config reload: canvasHost changed")
    assert child.state == "stopped" and not child.active
    assert reasons and "config reload: canvasHost changed" in reasons[0]
    await child.stop("again")  # stopping a stopped child is a no-op


async def test_graceful_stop_is_asked_first_and_cancel_comes_after_the_grace(nursery, autojump_clock):
    asked = trio.Event()
    ended_by: list[str] = []

    async def serve(*, task_status=trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        await asked.wait()
        ended_by.append("graceful")

    child = Child("listener", serve, graceful=asked.set, grace=2.0)
    await child.start(nursery)
    started = trio.current_time()
    await child.stop("stop")
    assert ended_by == ["graceful"] and trio.current_time() == started  # ended at once, no deadline

    stuck = Child("stuck", Service().serve, graceful=lambda: None, grace=2.0)
    await stuck.start(nursery)
    started = trio.current_time()
    await stuck.stop("stop")
    assert trio.current_time() - started == pytest.approx(2.0) and stuck.state == "stopped"


async def test_restart_never_runs_two_copies_and_can_swap_the_service(nursery):
    first, second = Service("one"), Service("two")
    child = Child("runtime", first.serve)
    await child.start(nursery)
    assert await child.restart("SIGUSR1") == "one"
    assert first.runs == 2 and first.most_live == 1
    assert await child.restart("new config", fn=second.serve) == "two"
    assert first.live == 0 and second.live == 1 and child.status().starts == 3
    await child.stop("test over")


async def test_concurrent_restarts_are_serialised(nursery):
    service = Service()
    child = Child("channel", service.serve)
    await child.start(nursery)
    async with trio.open_nursery() as restarts:
        for n in range(3):
            restarts.start_soon(child.restart, f"restart {n}")
    assert service.runs == 4 and service.most_live == 1 and service.live == 1
    await child.stop("test over")


async def test_start_twice_is_refused(nursery):
    child = Child("runtime", Service().serve)
    await child.start(nursery)
    with pytest.raises(RuntimeError, match="runtime is already running"):
        await child.start(nursery)
    await child.stop("test over")


async def test_failure_before_ready_reaches_the_caller_of_start(nursery):
    service = Service()
    service.crash_before_ready.append(OSError("address in use"))
    child = Child("listener", service.serve, backoff=FIXED)  # even with a backoff: start() says why
    with pytest.raises(OSError, match="address in use"):
        await child.start(nursery)
    assert child.state == "failed" and child.last_error == "address in use" and not child.active
    assert await child.start(nursery) == "ready"  # and it can be started again
    await child.stop("test over")


async def test_crash_without_backoff_propagates_to_the_owner():
    service = Service()
    child = Child("runtime", service.serve)
    with pytest.raises(ExceptionGroup) as caught:
        async with trio.open_nursery() as nursery:
            await child.start(nursery)
            service.crash.set()
    assert caught.value.subgroup(RuntimeError) is not None
    assert child.state == "failed" and child.last_error == "crash in run 1"


async def test_contained_crash_is_logged_and_the_child_stays_failed(nursery, caplog):
    service = Service()
    child = Child("canvas", service.serve, contain=True)
    await child.start(nursery)
    service.crash.set()
    await child.wait_stopped()
    assert child.state == "failed" and child.last_error == "crash in run 1" and service.runs == 1
    assert "canvas failed and is not restarted: crash in run 1" in caplog.text


async def test_crashes_back_off_exponentially_and_a_stable_run_resets_the_attempts(nursery, autojump_clock):
    service = Service()
    child = Child("telegram:default", service.serve, backoff=FIXED, stable_seconds=60)
    await child.start(nursery)
    restarted_at = []
    for _ in range(3):
        crashed = trio.current_time()
        service.crash.set()
        await service.ran.wait()
        restarted_at.append(trio.current_time() - crashed)
    assert restarted_at == [1.0, 2.0, 4.0]
    assert child.status().crashes == 3 and child.status().attempt == 3
    await trio.sleep(60)  # a stable run: the next crash is attempt 1 again
    crashed = trio.current_time()
    service.crash.set()
    await service.ran.wait()
    assert trio.current_time() - crashed == 1.0 and child.status().attempt == 1
    await child.stop("test over")


async def test_a_return_counts_as_a_crash_when_supervised(nursery, autojump_clock):
    service = Service()
    child = Child("whatsapp:default", service.serve, backoff=FIXED)
    await child.start(nursery)
    service.finish.set()
    await service.ran.wait()
    assert child.status().crashes == 1 and child.last_error == "stopped unexpectedly"
    await child.stop("test over")


async def test_a_return_without_backoff_is_a_stop(nursery):
    service = Service()
    child = Child("listener", service.serve)
    await child.start(nursery)
    service.finish.set()
    await child.wait_stopped()
    assert child.state == "stopped" and child.status().crashes == 0


async def test_permanent_errors_are_not_retried(nursery, autojump_clock):
    class Unavailable(Exception):
        pass

    service = Service()
    child = Child("whatsapp:default", service.serve, backoff=FIXED, permanent=(Unavailable,))
    await child.start(nursery)
    service.crash_before_ready.append(Unavailable("neonize is not installed"))
    service.crash.set()
    await child.wait_stopped()
    assert child.state == "failed" and child.last_error == "neonize is not installed" and service.runs == 2


async def test_stop_during_backoff_ends_the_wait(nursery, autojump_clock):
    service = Service()
    child = Child("telegram:default", service.serve, backoff=Backoff(initial=100.0, maximum=100.0))
    await child.start(nursery)
    service.crash.set()
    await child.wait_state("backoff")
    assert child.status().retry_at == pytest.approx(child.status().since + 100.0)
    started = trio.current_time()
    await child.stop("config reload")
    assert trio.current_time() == started and child.state == "stopped" and service.runs == 1


async def test_start_later_waits_then_retries_until_ready(nursery, autojump_clock):
    service = Service()
    service.crash_before_ready += [OSError("busy"), OSError("busy")]
    ready: list[float] = []
    child = Child("canvas", service.serve, backoff=FIXED,
                  on_change=lambda c: ready.append(trio.current_time()) if c.state == "running" else None)
    began = trio.current_time()
    child.start_later(nursery, "port busy")
    assert child.active and child.last_error == "port busy"
    await service.ran.wait()
    # 1 s before the first try, then 2 and 4 s after each busy port.
    assert ready == [began + 7.0] and service.runs == 3 and child.value == "ready"
    await child.stop("test over")


async def test_status_snapshot_reports_state_and_next_retry(nursery, autojump_clock):
    service = Service()
    runtime = Child("runtime", Service().serve)
    channel = Child("telegram:default", service.serve, backoff=FIXED)
    await runtime.start(nursery)
    await channel.start(nursery)
    service.crash.set()
    await channel.wait_state("backoff")
    now = trio.current_time()
    assert [s.snapshot(now) for s in statuses([runtime, channel])] == [
        {"name": "runtime", "state": "running", "starts": 1, "crashes": 0, "attempt": 0, "sinceMs": 0},
        {"name": "telegram:default", "state": "backoff", "starts": 1, "crashes": 1, "attempt": 1, "sinceMs": 0,
         "lastError": "crash in run 1", "retryInMs": 1000},
    ]
    await runtime.stop("test over")
    await channel.stop("test over")


def test_backoff_is_one_class_with_and_without_jitter():
    import random

    from moltbot.channels.base import Backoff as ChannelBackoff
    from moltbot.client import Backoff as ClientBackoff

    assert ChannelBackoff is ClientBackoff is Backoff
    assert list(zip(range(6), Backoff().delays(), strict=False)) == [(0, 1), (1, 2), (2, 4), (3, 8), (4, 16), (5, 30)]
    jittered = Backoff(initial=10.0, maximum=10.0, jitter=0.2)
    delays = [jittered.delay(1, random.Random(n)) for n in range(50)]
    assert all(8.0 <= d <= 12.0 for d in delays) and len(set(delays)) > 1
