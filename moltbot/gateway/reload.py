"""Hot reload: the config file watched, each saved text decided on by the reload rules and applied.

Theory of operation. ``start`` notes the hash of the file as it is and starts the watcher
(``config/watch.py``), which calls ``reload`` after each debounced change. ``reload`` (one at a time, so an
older read is never applied after a newer one) reads the file once, giving the config and the hash of the
text it came from. A file that cannot be used (does not parse or validate, removed or emptied, or without
the gateway's secret) is logged and the last good config stays. Text already decided on gives
``unchanged``; text a scheduled restart will apply (``expect_restart_for``), ``scheduled``. Otherwise
``config/reload.py`` plans the change and decides: nothing to do, hot-apply to the Runtime
(``Runtime.apply_config``), ignore or refuse (``gateway.reload.mode``), or ask the Gateway for a restart
with the new config.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs
import trio

from ..config.edit import file_hash, read_state
from ..config.load import ConfigError, check_running_config_text, load_config
from ..config.model import Config
from ..config.profiles import cli_command
from ..config.reload import decide, diff_paths, plan_reload
from ..config.watch import serve_config_watch
from .auth import ResolvedAuth

if TYPE_CHECKING:
    from .app import Gateway

log = logging.getLogger("moltbot.gateway")

__all__ = ["ConfigReloader"]


class ConfigReloader:
    """The Gateway's hot reload of its config file (``gateway.reload``)."""

    def __init__(self, gateway: Gateway, *, watch: bool) -> None:
        self.gateway = gateway
        self.watch_ready = trio.Event()
        self.last_reload: str | None = None
        self._watch = watch
        self._done = trio.Event()
        self._lock = trio.Lock()
        self._decided_hash: str | None = None  # the file text the last reload decision was made on
        self._config_file_existed = False  # once seen, a missing file is an invalid edit (not "all defaults")
        self._restart_pending_hash: str | None = None  # a write a scheduled restart will apply

    async def start(self, nursery: trio.Nursery) -> None:
        """Note the file as it is now and start watching it in ``nursery`` (task ``config-watch``)."""
        self._decided_hash = await trio.to_thread.run_sync(self._file_hash_or_none)
        nursery.start_soon(self._serve_watch, name="config-watch")

    def restarting_with(self, digest: str) -> None:
        """A restart re-read the file (text ``digest``): that text is decided on, no restart is pending."""
        self._decided_hash, self._restart_pending_hash = digest, None

    def from_disk(self) -> tuple[Config, str]:
        """The config from the file and the hash of the text it was read from (one read: they agree).

        Raises ``ConfigError`` for a file that cannot be used, which the callers treat as an invalid edit
        (the last good config stays): one that does not parse or validate, one removed or emptied while
        the gateway runs, and one without the gateway's secret (a Runtime cannot be built without it).
        """
        assert self.gateway.config.path is not None
        state = read_state(self.gateway.config.path)
        check_running_config_text(self.gateway.config.path, state.text, existed=self._config_file_existed)
        self._config_file_existed = self._config_file_existed or state.exists
        env = dict(self.gateway.env)
        config = load_config(self.gateway.config.path, env=env, text=state.text or "")
        auth = ResolvedAuth.resolve(config.gateway.auth, self.gateway.env)
        if not auth.secret:
            raise ConfigError(
                self.gateway.config.path,
                [
                    f"gateway.auth: mode is {auth.mode}, but no {auth.mode} is configured; the gateway keeps its last "
                    f"good config. To fix: set gateway.auth.{auth.mode} again (or CLAWDBOT_GATEWAY_"
                    f"{auth.mode.upper()} for the gateway's environment)"
                ],
            )
        # The state dir belongs to the process (its profile), not to the file: keep it across reloads.
        config = attrs.evolve(config, state_dir=self.gateway.config.state_dir)
        return (self.gateway.confine(config) if self.gateway.confine else config), state.hash

    def _file_hash_or_none(self) -> str | None:
        assert self.gateway.config.path is not None
        try:
            state = read_state(self.gateway.config.path)
        except ConfigError:
            return None
        self._config_file_existed = state.exists
        return state.hash

    @property
    def watching(self) -> bool:
        return self._watch and self.gateway.config.path is not None

    def expect_restart_for(self, text: str) -> None:
        """A scheduled restart will apply this file text: the watcher's reload of it is skipped (so a
        config.patch/apply restarts once, not once for the reload and once for the schedule)."""
        self._restart_pending_hash = file_hash(text)

    async def _serve_watch(self) -> None:
        assert self.gateway.config.path is not None

        def ready() -> None:  # a line an operator (or a test driving a process) can wait for
            log.info(
                "watching %s for changes (gateway.reload.mode: %s)",
                self.gateway.config.path,
                self.gateway.config.gateway.reload.mode,
            )
            self.watch_ready.set()

        await serve_config_watch(
            self.gateway.config.path,
            self.reload,
            debounce_ms=lambda: self.gateway.config.gateway.reload.debounce_ms,
            task_status=_SetOnStart(ready),
        )

    async def reload(self) -> str:
        """Re-read the config file and apply it by the reload rules; return the decision taken.

        An invalid file is logged and the gateway keeps its last good config. Text already decided on
        (the same save seen twice) gives ``unchanged``; text a scheduled restart will apply, ``scheduled``.
        """
        async with self._lock:
            return await self._reload()

    async def _reload(self) -> str:
        try:
            new, digest = await trio.to_thread.run_sync(self.from_disk)
        except ConfigError as exc:
            self.gateway.stats.reload_failed(exc.problems)
            log.error(
                "config reload skipped: %s has a problem, the gateway keeps its last good config: %s. "
                "To fix while it runs: `%s`, or edit the file (it is reloaded when saved)",
                exc.path,
                "; ".join(exc.problems),
                cli_command("config set|unset PATH"),
            )
            self._decided_hash = None  # the fixed file is decided on (and logged) even if it is the old text
            runtime = self.gateway.runtime
            outbox = runtime.channels.delivery.outbox if runtime is not None else None
            if (
                outbox is not None
            ):  # a removed config file may be a removed state dir: the outbox checks its file
                outbox.check_store()
            self._finished("invalid")
            return "invalid"
        if self.gateway.stats.reload_failures and self.last_reload == "invalid":
            log.info(
                "config file %s loads again: the fix is picked up (`%s` shows the reload)",
                self.gateway.config.path,
                cli_command("status"),
            )
        if digest in (self._decided_hash, self._restart_pending_hash):
            decision = "scheduled" if digest == self._restart_pending_hash else "unchanged"
            if (
                self.gateway.stats.reload_error is not None
            ):  # the fixed file is the last good one: it loads again
                self.gateway.stats.reloaded(decision)
            self._finished(decision)
            return decision
        self._decided_hash = digest
        plan = plan_reload(diff_paths(self.gateway.config.raw, new.raw))
        decision = decide(new.gateway.reload.mode, plan)
        for warning in new.warnings:
            log.warning("config: %s", warning)
        if decision == "nothing":
            self.gateway.config = (
                attrs.evolve(self.gateway.config, raw=new.raw) if plan.changed else self.gateway.config
            )
        elif decision == "disabled":
            log.info("config reload disabled (gateway.reload.mode=off): %s changed", ", ".join(plan.changed))
        elif decision == "ignored":
            log.warning("hot mode ignoring changes that need a restart: %s", ", ".join(plan.restart_paths))
        elif decision == "restart":
            self.gateway.request_restart(
                "config change: " + ", ".join(plan.restart_paths or plan.changed), new
            )
        else:
            self._apply_hot(new, plan.hot_actions)
        self.gateway.stats.reloads += 1
        self.gateway.stats.reloaded(decision)
        log.info("config reload: %s (%s)", decision, ", ".join(plan.changed) or "no change")
        self._finished(decision)
        return decision

    def next_reload(self) -> trio.Event:
        """An event set when the next config reload has been decided (for tests and tools)."""
        return self._done

    def _finished(self, decision: str) -> None:
        self.last_reload = decision
        self._done.set()
        self._done = trio.Event()

    def _apply_hot(self, config: Config, actions: tuple[str, ...]) -> None:
        """Apply a change that needs no restart: the Runtime reads the new config from now on."""
        assert self.gateway.runtime is not None
        self.gateway.config = config
        self.gateway.runtime.apply_config(config, actions)


class _SetOnStart:
    """A task_status that calls back when the task reports ready (for a start_soon'ed service)."""

    def __init__(self, callback: Callable[[], None]) -> None:
        self._callback = callback

    def started(self, value: Any = None) -> None:
        self._callback()
