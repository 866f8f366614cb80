"""Supervised children: one named service that can be started, stopped, restarted and revived after a crash.

Theory of operation. A ``Child`` wraps one service ``fn(*, task_status)`` (the house shape: it reports
readiness once and runs until cancelled). Its owner keeps the nursery and passes it to ``start``; the child
holds only its own cancel scope and the event its task sets on the way out. The child's task is named
after it, so the gateway's task tree reads ``runtime``, ``listener``, ``canvas`` …

- ``start(nursery)`` runs the child's task with ``nursery.start`` and returns what ``fn`` reported; a
  failure before that is raised to the caller, as ``nursery.start`` raises it.
- ``stop(reason)`` asks the child to end (its ``graceful`` hook, waited for up to ``grace`` seconds),
  then cancels its scope with ``reason`` and waits until its task has ended: when ``stop`` returns,
  nothing of the child runs (a port it held is released, a poller has stopped polling).
- ``restart(reason)`` is ``stop`` then ``start`` under the child's lock, so two copies never run at
  once; ``fn=`` swaps the service for the next start (a new Runtime built from a new config).
- A crash after readiness (an exception, or with ``backoff`` set a return as well: a supervised
  service runs until cancelled): without ``backoff`` it propagates into the owner's nursery (the
  Runtime or the listener crashing is the gateway crashing), unless ``contain`` is set, which logs it
  and leaves the child ``failed``. With ``backoff`` the child is run again after
  ``backoff.delay(attempt)``; ``attempt`` counts crashes in a row and starts over after a run of
  ``stable_seconds``; an exception in ``permanent`` ends it for good (``failed``, logged, not retried).
  ``start_later`` begins with that wait (a first start that failed with a retryable error).

``status()`` is a frozen snapshot (state, starts, crashes, attempt, last error, next retry) for ``health``
and ``status``; ``on_change`` is called at every state change (a channel's account status follows it).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import attrs
import trio

from .._backoff import Backoff

log = logging.getLogger("moltbot.gateway")

__all__ = ["Backoff", "Child", "ChildStatus", "statuses"]

# idle: never started; starting: fn runs, not ready yet; running: ready; backoff: waiting to run again
# after a crash; stopped: ended (stopped, or returned); failed: crashed and not retried.
STATES = ("idle", "starting", "running", "backoff", "stopped", "failed")


@attrs.frozen
class ChildStatus:
    """One child's state, as ``health``/``status`` report it (times on the Trio clock, in seconds)."""

    name: str
    state: str
    starts: int  # runs of fn, the first included
    crashes: int  # since the child was made
    attempt: int  # crashes in a row (0 after a stable run)
    last_error: str | None
    since: float  # when the state last changed
    retry_at: float | None  # in backoff: when fn runs again

    def snapshot(self, now: float) -> dict[str, Any]:
        """The JSON form: ages in milliseconds relative to ``now``."""
        out: dict[str, Any] = {"name": self.name, "state": self.state, "starts": self.starts,
                               "crashes": self.crashes, "attempt": self.attempt,
                               "sinceMs": max(0, int((now - self.since) * 1000))}
        if self.last_error is not None:
            out["lastError"] = self.last_error
        if self.retry_at is not None:
            out["retryInMs"] = max(0, int((self.retry_at - now) * 1000))
        return out


class _Reporter:
    """The ``task_status`` handed to each run of fn: marks the child running, and forwards the first
    report of a ``start`` to the caller waiting in ``nursery.start``."""

    __slots__ = ("_child", "_task_status", "reported")

    def __init__(self, child: Child, task_status: Any) -> None:
        self._child = child
        self._task_status = task_status
        self.reported = False

    def started(self, value: Any = None) -> None:
        self._child.value = value
        self._child._set_state("running")
        if not self.reported:
            self.reported = True
            self._task_status.started(value)


class Child:
    """One supervised service. Create it once; ``start``/``stop``/``restart`` it as often as needed."""

    def __init__(self, name: str, fn: Callable[..., Awaitable[Any]], *, backoff: Backoff | None = None,
                 stable_seconds: float = 60.0, permanent: tuple[type[BaseException], ...] = (),
                 contain: bool = False, graceful: Callable[[], None] | None = None, grace: float = 0.0,
                 on_change: Callable[[Child], None] | None = None) -> None:
        self.name = name
        self.fn = fn
        self.backoff = backoff
        self.stable_seconds = stable_seconds
        self.permanent = permanent
        self.contain = contain or backoff is not None
        self.graceful = graceful
        self.grace = grace
        self.on_change = on_change
        self.value: Any = None  # what fn reported at its latest readiness
        self.state = "idle"
        self.starts = self.crashes = self.attempt = 0
        self.last_error: str | None = None
        self.since = trio.current_time()
        self.retry_at: float | None = None
        self._nursery: trio.Nursery | None = None
        self._scope: trio.CancelScope | None = None
        self._done: trio.Event | None = None  # set when the child's task has ended
        self._lock = trio.Lock()
        self._changed = trio.Event()  # set (and replaced) at every state change
        self._stopping = False  # stop() asked: a return now is the end, not a crash

    def __repr__(self) -> str:
        return f"<Child {self.name} {self.state}>"

    @property
    def active(self) -> bool:
        """Whether the child's task exists (starting, running or waiting to run again)."""
        return self._done is not None

    @property
    def running(self) -> bool:
        return self.state == "running"

    def status(self) -> ChildStatus:
        return ChildStatus(self.name, self.state, self.starts, self.crashes, self.attempt, self.last_error,
                           self.since, self.retry_at)

    # --- control ------------------------------------------------------------------------------------

    async def start(self, nursery: trio.Nursery, fn: Callable[..., Awaitable[Any]] | None = None) -> Any:
        """Run the child in ``nursery`` (with ``fn`` from now on, when given); return what it reported.

        Raises what fn raised before it was ready, and ``RuntimeError`` if the child is already active.
        """
        async with self._lock:
            return await self._start(nursery, fn, later=False)

    def start_later(self, nursery: trio.Nursery, error: str, fn: Callable[..., Awaitable[Any]] | None = None) -> None:
        """Run the child in ``nursery`` after ``backoff.delay(1)`` (a first start failed with ``error``), and
        again with backoff until it is ready."""
        if self.backoff is None:
            raise RuntimeError(f"{self.name}: start_later needs a backoff")
        self._prepare(nursery, fn)
        self.last_error = error
        nursery.start_soon(self._supervise, True, name=self.name)

    async def stop(self, reason: str) -> None:
        """Ask the child to end (``graceful``, up to ``grace`` s), cancel it with ``reason``, wait until it has.

        Cancellation: the wait is not shielded; a stop that is itself cancelled leaves the child cancelled.
        """
        done, scope = self._done, self._scope
        if done is None or scope is None:
            return
        self._stopping = True
        if self.graceful is not None and self.state == "running" and self.grace > 0:
            self.graceful()
            with trio.move_on_after(self.grace):
                await done.wait()
        scope.cancel(reason=reason)
        await done.wait()

    async def restart(self, reason: str, fn: Callable[..., Awaitable[Any]] | None = None,
                      nursery: trio.Nursery | None = None) -> Any:
        """Stop (waiting until the old run has ended), then start again; return what the new run reported."""
        async with self._lock:
            await self.stop(reason)
            target = nursery or self._nursery
            if target is None:
                raise RuntimeError(f"{self.name} was never started")
            return await self._start(target, fn, later=False)

    async def wait_state(self, *states: str) -> None:
        """Wait until the child is in one of ``states`` (at once when it is)."""
        while self.state not in states:
            await self._changed.wait()

    async def wait_stopped(self) -> None:
        """Wait until the child's task has ended (at once when it is not active)."""
        if self._done is not None:
            await self._done.wait()

    def cancel(self, reason: str) -> None:
        """Cancel the child without waiting (``stop`` waits)."""
        if self._scope is not None:
            self._scope.cancel(reason=reason)

    # --- the child's task ---------------------------------------------------------------------------

    def _prepare(self, nursery: trio.Nursery, fn: Callable[..., Awaitable[Any]] | None) -> None:
        if self._done is not None:
            raise RuntimeError(f"{self.name} is already running")
        if fn is not None:
            self.fn = fn
        self._nursery = nursery
        self._scope, self._done = trio.CancelScope(), trio.Event()
        self._stopping = False

    async def _start(self, nursery: trio.Nursery, fn: Callable[..., Awaitable[Any]] | None, *, later: bool) -> Any:
        self._prepare(nursery, fn)
        return await nursery.start(self._supervise, later, name=self.name)

    def _set_state(self, state: str) -> None:
        self.state = state
        self.since = trio.current_time()
        if state != "backoff":
            self.retry_at = None
        self._changed_now()

    def _changed_now(self) -> None:
        self._changed.set()
        self._changed = trio.Event()
        if self.on_change is not None:
            self.on_change(self)

    async def _supervise(self, later: bool, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        scope, done = self._scope, self._done
        assert scope is not None and done is not None
        reporter = _Reporter(self, task_status)
        try:
            with scope:
                if later:
                    self.attempt = max(self.attempt, 1)
                    await self._wait_backoff()
                while True:
                    if await self._run_once(reporter, first=not later and not reporter.reported):
                        return
                    await self._wait_backoff()
        finally:
            if self.state != "failed":
                self._set_state("stopped")
            if self._done is done:
                self._scope = self._done = None
            done.set()

    async def _run_once(self, reporter: _Reporter, *, first: bool) -> bool:
        """One run of fn; True when the child is over (stopped or failed), False to run again."""
        began = trio.current_time()
        self.starts += 1
        self._set_state("starting")
        try:
            await self.fn(task_status=reporter)
        except Exception as exc:
            error = describe(exc)
            if first and not reporter.reported:  # the caller of start() gets it
                self.last_error = error
                self._set_state("failed")
                raise
            if not self.contain:
                self.last_error = error
                self._set_state("failed")
                raise
            if self.backoff is None or isinstance(exc, self.permanent):
                self.last_error = error
                log.error("%s failed and is not restarted: %s", self.name, error,
                          exc_info=not isinstance(exc, self.permanent))
                self._set_state("failed")
                return True
        else:
            if self.backoff is None or self._stopping:
                self._set_state("stopped")
                return True
            error = "stopped unexpectedly"
        self.last_error = error
        self.crashes += 1
        self.attempt = 1 if trio.current_time() - began >= self.stable_seconds else self.attempt + 1
        return False

    async def _wait_backoff(self) -> None:
        assert self.backoff is not None
        delay = self.backoff.delay(self.attempt)
        self.retry_at = trio.current_time() + delay
        log.warning("%s stopped (%s); restarting in %.1fs (attempt %d)", self.name, self.last_error, delay,
                    self.attempt)
        self.state = "backoff"
        self.since = trio.current_time()
        self._changed_now()
        await trio.sleep_until(self.retry_at)


def describe(exc: BaseException) -> str:
    """An exception as one line for a status: a nursery's group by its leaves, not "Exceptions from…"."""
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(describe(leaf) for leaf in exc.exceptions)
    return str(exc) or type(exc).__name__


def statuses(children: Iterable[Child]) -> list[ChildStatus]:
    """The status of each child, in order."""
    return [child.status() for child in children]
