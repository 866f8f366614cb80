"""The profile manager: starts each profile's browser on first use, restarts it on a crash, stops it idle.

Theory of operation: ``BrowserManager.serve`` owns a nursery for the life of the control service. A
profile's browser runs in one task of that nursery (``_run_profile``), inside a cancel scope the
profile's state keeps, so ``stop(name)`` is "cancel that scope"; leaving ``serve`` cancels them all.
Nothing is started at service start: ``ensure(name)`` starts the task on first use and waits until the
browser answers CDP (bounded by ``LAUNCH_TIMEOUT``).

One run of a managed profile: take its CDP port (``PortBook``), spawn Chromium in a session of its own
(so its zygote and renderers are one process group, killed together), poll ``/json/version`` until it
answers, open the browser-level CDP socket. The run ends when the process exits or the socket closes;
unless a stop was asked for, that is a crash: the profile is relaunched after 0.5, 1, 2 … 30 s (reset
after a run that lasted a minute), and given up after ``MAX_QUICK_FAILURES`` launches in a row that
never got ready. Remote (``cdpUrl``) and extension profiles run the same loop without a process: a lost
connection is retried with the same backoff. A run unused for ``browser.idleTimeoutMs`` is stopped
(``_serve_idle``); the next use starts it again.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import httpx
import psutil
import trio

from ..config.model import BrowserConfig
from ..store.atomic import ensure_dir
from .cdp import CdpConnection, CdpError, fetch_version, open_cdp
from .pages import PageSession
from .profiles import PortBook, ProfileError, ProfileSpec, chromium_argv, find_executable
from .ssrf import Guard

log = logging.getLogger("moltbot.browser")

LAUNCH_TIMEOUT = 20.0
RESTART_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
STABLE_AFTER = 60.0  # a run this long resets the backoff
MAX_QUICK_FAILURES = 5
KILL_GRACE = 3.0


class BrowserError(Exception):
    """A profile cannot be used now; ``status`` is the HTTP status the control service answers."""

    def __init__(self, message: str, status: int = 503) -> None:
        super().__init__(message)
        self.status = status


@attrs.define(eq=False)
class ProfileState:
    spec: ProfileSpec
    status: str = "stopped"  # stopped · starting · running · restarting · failed
    pid: int | None = None
    cdp_port: int | None = None
    restarts: int = 0
    last_error: str | None = None
    started_at: float | None = None
    last_used: float = 0.0
    session: PageSession | None = None
    scope: trio.CancelScope | None = None
    done: trio.Event | None = None
    stopping: bool = False
    changed: trio.Event = attrs.field(factory=trio.Event)

    def notify(self, status: str, error: str | None = None) -> None:
        self.status = status
        if error is not None:
            self.last_error = error
        self.changed.set()
        self.changed = trio.Event()

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.spec.name,
            "driver": self.spec.driver,
            "status": self.status,
            "running": self.status == "running",
            "pid": self.pid,
            "cdpPort": self.cdp_port,
            "cdpUrl": self.spec.cdp_url or (f"http://127.0.0.1:{self.cdp_port}" if self.cdp_port else None),
            "color": self.spec.color,
            "headless": self.spec.headless,
            "restarts": self.restarts,
            "lastError": self.last_error,
            "userDataDir": str(self.spec.user_data_dir) if self.spec.user_data_dir else None,
            "tabCount": self.session.tab_count() if self.session else 0,
        }


class BrowserManager:
    def __init__(
        self,
        config: BrowserConfig,
        specs: dict[str, ProfileSpec],
        ports: PortBook,
        *,
        client: httpx.AsyncClient,
        no_sandbox: bool,
        relay_headers: dict[str, str] | None = None,
        guard: Guard | None = None,
    ) -> None:
        self.config = config
        # Vets what managed and cdpUrl tabs load; the extension profile's tabs are the user's own.
        self.guard = guard
        self.profiles = {name: ProfileState(spec) for name, spec in specs.items()}
        self.ports = ports
        self.client = client
        self.no_sandbox = no_sandbox
        self.relay_headers = relay_headers  # what the extension profiles' CDP socket presents to the relay
        self.default_profile = config.default_profile if config.default_profile in specs else "moltbot"
        self._nursery: trio.Nursery | None = None
        self._launch_lock = trio.Lock()  # one port choice and spawn at a time: no two profiles take one port

    async def serve(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Run until cancelled; every browser this manager started is stopped when it ends."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self._serve_idle)
            task_status.started(self)
            try:
                await trio.sleep_forever()
            finally:
                self._nursery = None
                nursery.cancel_scope.cancel(reason="browser control service stopping")

    def profile(self, name: str | None) -> ProfileState:
        state = self.profiles.get(name or self.default_profile)
        if state is None:
            raise BrowserError(
                f"unknown browser profile {str(name)[:64]!r} (known: {', '.join(self.profiles)})", 404
            )
        return state

    async def ensure(self, name: str | None) -> PageSession:
        """The profile's page session, starting its browser if needed (waits ≤ ``LAUNCH_TIMEOUT``).

        Raises:
            BrowserError: unknown profile, the launch failed or timed out, or the service is stopping.
        """
        state = self.profile(name)
        state.last_used = trio.current_time()
        if state.session is not None and state.status == "running":
            return state.session
        if self._nursery is None:
            raise BrowserError("browser control service is not running")
        if state.done is None:
            state.stopping, state.done = False, trio.Event()
            state.restarts = 0
            self._nursery.start_soon(self._run_profile, state)
        with trio.move_on_after(LAUNCH_TIMEOUT):
            while True:
                if state.session is not None and state.status == "running":
                    state.last_used = trio.current_time()
                    return state.session
                if state.status == "failed" or state.done is None:
                    raise BrowserError(f"browser profile {state.spec.name} did not start: {state.last_error}")
                await state.changed.wait()
        raise BrowserError(
            f"browser profile {state.spec.name} did not start within {LAUNCH_TIMEOUT:g} s"
            f" ({state.last_error or 'no answer on its CDP port'})"
        )

    async def stop(self, name: str | None) -> bool:
        """Stop the profile's browser; False when it was not running."""
        state = self.profile(name)
        done = state.done
        if done is None:
            return False
        state.stopping = True
        if state.scope is not None:
            state.scope.cancel(reason=f"browser profile {state.spec.name} stopped")
        with trio.move_on_after(KILL_GRACE + 2):
            await done.wait()
        return True

    async def _run_profile(self, state: ProfileState) -> None:
        quick_failures, delays = 0, iter(RESTART_DELAYS)
        try:
            with trio.CancelScope() as state.scope:
                while not state.stopping:
                    state.notify("starting" if state.restarts == 0 else "restarting")
                    began = trio.current_time()
                    try:
                        await self._run_once(state)
                        reason = "the browser exited" if state.spec.driver == "managed" else "connection lost"
                    except (CdpError, ProfileError, OSError) as exc:
                        reason = str(exc)[:300]
                    state.session, state.pid = None, None
                    if state.stopping:
                        break
                    lasted = trio.current_time() - began
                    if lasted >= STABLE_AFTER:
                        quick_failures, delays = 0, iter(RESTART_DELAYS)
                    quick_failures += state.started_at is None
                    if quick_failures >= MAX_QUICK_FAILURES:
                        state.notify("failed", f"{reason} (gave up after {quick_failures} failed launches)")
                        log.warning("browser profile %s: %s; giving up", state.spec.name, state.last_error)
                        return
                    delay = next(delays, RESTART_DELAYS[-1])
                    state.restarts += 1
                    state.started_at = None
                    state.notify("restarting", reason)
                    log.warning(
                        "browser profile %s: %s; restarting in %.1f s", state.spec.name, reason, delay
                    )
                    await trio.sleep(delay)
        finally:
            state.session, state.pid, state.scope, state.started_at = None, None, None, None
            done, state.done = state.done, None
            if state.status != "failed":
                state.notify("stopped")
            if done is not None:
                done.set()

    async def _run_once(self, state: ProfileState) -> None:
        spec = state.spec
        if spec.driver != "managed":
            assert spec.cdp_url is not None
            base = spec.cdp_url.replace("ws://", "http://", 1).replace("wss://", "https://", 1)
            headers = self.relay_headers if spec.driver == "extension" else None
            version = await fetch_version(self.client, base, within=3.0, headers=headers)
            await self._serve_connection(state, version["webSocketDebuggerUrl"], headers=headers)
            return
        executable = find_executable(spec.executable_path)
        if executable is None:
            raise ProfileError(
                f"no Chromium found (browser.executablePath: {spec.executable_path or 'unset'})"
            )
        assert spec.user_data_dir is not None
        async with trio.open_nursery() as nursery:
            async with self._launch_lock:
                in_use = {
                    s.cdp_port for s in self.profiles.values() if s is not state and s.pid and s.cdp_port
                }
                port = await trio.to_thread.run_sync(
                    partial(
                        self.ports.port_for,
                        spec,
                        {s.spec.name: s.spec for s in self.profiles.values()},
                        in_use=in_use,
                    )
                )
                log_file = await trio.to_thread.run_sync(_prepare_dirs, spec.user_data_dir)
                argv = chromium_argv(
                    spec,
                    port,
                    executable=executable,
                    no_sandbox=self.no_sandbox,
                    extra=list(self.config.extra_args),
                )
                try:
                    process = await nursery.start(
                        partial(
                            trio.run_process,
                            argv,
                            check=False,
                            stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL,
                            stderr=log_file,
                            start_new_session=True,
                            deliver_cancel=_kill_group,
                        )
                    )
                finally:
                    log_file.close()
                state.pid, state.cdp_port = process.pid, port
                ws_url = await self._wait_devtools(f"http://127.0.0.1:{port}", process)
            try:
                await self._serve_connection(state, ws_url, process)
            finally:
                nursery.cancel_scope.cancel()  # the socket went first: the process goes too
                _kill_leftovers(process.pid)

    async def _wait_devtools(self, base: str, process: trio.Process) -> str:
        with trio.move_on_after(LAUNCH_TIMEOUT):
            while process.returncode is None:
                try:
                    return (await fetch_version(self.client, base, within=1.0))["webSocketDebuggerUrl"]
                except CdpError:
                    await trio.sleep(0.05)
            raise ProfileError(
                f"Chromium exited with status {process.returncode} while starting (see chromium.log)"
            )
        raise ProfileError(f"Chromium did not open its CDP port within {LAUNCH_TIMEOUT:g} s")

    async def _serve_connection(
        self,
        state: ProfileState,
        ws_url: str,
        process: trio.Process | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        async with open_cdp(ws_url, headers=headers) as cdp, trio.open_nursery() as vetting:
            guard = self.guard if state.spec.driver != "extension" else None
            state.session = await PageSession.open(cdp, state.spec, guard=guard, nursery=vetting)
            state.started_at = state.last_used = trio.current_time()
            state.notify("running")
            log.info(
                "browser profile %s: running (pid %s, CDP port %s)",
                state.spec.name,
                state.pid,
                state.cdp_port,
            )
            await _first_of(cdp, process)
            vetting.cancel_scope.cancel()

    async def _serve_idle(self) -> None:
        idle = self.config.idle_timeout_ms / 1000
        if idle <= 0:
            return
        while True:
            await trio.sleep(max(0.05, min(30.0, idle / 4)))
            now = trio.current_time()
            for state in list(self.profiles.values()):
                if state.status == "running" and now - state.last_used >= idle:
                    log.info(
                        "browser profile %s: idle for %.0f s, stopping",
                        state.spec.name,
                        now - state.last_used,
                    )
                    self._nursery.start_soon(self.stop, state.spec.name)  # type: ignore[union-attr]
                    state.last_used = now


async def _first_of(cdp: CdpConnection, process: trio.Process | None) -> None:
    """Return when the CDP socket closes or the browser process exits, whichever comes first."""
    async with trio.open_nursery() as nursery:

        async def wait_then_cancel(fn: Any) -> None:
            await fn()
            nursery.cancel_scope.cancel()

        nursery.start_soon(wait_then_cancel, cdp.closed.wait)
        if process is not None:
            nursery.start_soon(wait_then_cancel, process.wait)


def _prepare_dirs(user_data_dir: Path) -> Any:
    ensure_dir(user_data_dir.parent)
    ensure_dir(user_data_dir)
    _reap_orphan(user_data_dir)
    return open(user_data_dir.parent / "chromium.log", "wb")  # noqa: SIM115 (closed by the caller)


def _reap_orphan(user_data_dir: Path) -> None:
    """Kill a Chromium left running on this profile's data dir by a gateway that died without stopping it:
    its ``SingletonLock`` (``host-pid``) would make the new launch hand over to it and exit. Only a process
    whose command line names this very data dir is killed."""
    try:
        target = os.readlink(user_data_dir / "SingletonLock")
        pid = int(target.rsplit("-", 1)[1])
        process = psutil.Process(pid)
        if f"--user-data-dir={user_data_dir}" not in process.cmdline():
            return
        log.warning(
            "browser profile data dir %s: killing Chromium %d left by an earlier run", user_data_dir, pid
        )
        if os.getpgid(pid) == pid:  # its own group (as we start it): renderers go with it
            os.killpg(pid, signal.SIGKILL)
        else:
            process.kill()
        process.wait(timeout=3)
    except (OSError, ValueError, IndexError, psutil.Error):
        return


async def _kill_group(process: trio.Process) -> None:
    """Cancel delivery for Chromium: SIGTERM to its process group, SIGKILL after ``KILL_GRACE``."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    with trio.move_on_after(KILL_GRACE):
        await process.wait()
        return
    _kill_leftovers(process.pid)


def _kill_leftovers(pgid: int) -> None:
    """Renderers and helpers of a Chromium whose main process went first (its group, SIGKILL)."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
