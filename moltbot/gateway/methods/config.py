"""``config.get``, ``config.schema``, ``config.set``, ``config.patch``, ``config.apply``.

Writes hold ``Gateway.config_lock`` from reading the file (to check ``baseHash``) to renaming the new one
into place, so of two concurrent changes made from the same read one wins and the other is refused as
stale. ``config.set`` schedules nothing: the config watcher reloads the file as for any save (or, on a
gateway that does not watch its file, the set reloads it at once). ``config.patch``/``config.apply``
write the restart sentinel and schedule a restart; the watcher skips that text so the gateway restarts
once.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from ..._util import wall_ms
from ...config.edit import (
    EditError,
    prepare_patch,
    prepare_replace,
    read_state,
    redacted_config,
    snapshot,
    write_config_text,
)
from ...config.load import ConfigError
from ...config.model import Config
from ...config.schema import config_schema
from ...protocol import (
    INVALID_REQUEST,
    UNAVAILABLE,
    ConfigPatchParams,
    ConfigSetParams,
    EmptyParams,
    ProtocolError,
)
from ..auth import ResolvedAuth
from ..sentinel import sentinel_path, write_restart_sentinel

if TYPE_CHECKING:
    from ..app import Gateway
    from ..connection import Connection
    from ..runtime import Runtime

DEFAULT_RESTART_DELAY_MS = 2000
DOCTOR_HINT = "Run: moltbot doctor --non-interactive"


def _config_path(gateway: Gateway) -> Path:
    path = gateway.config.path
    if path is None:
        raise ProtocolError(UNAVAILABLE, "this gateway runs an in-memory config (no config file to edit)")
    return path


async def read_snapshot(gateway: Gateway) -> dict[str, Any]:
    """The redacted ConfigFileSnapshot of the gateway's config file."""
    path = _config_path(gateway)
    try:
        return await trio.to_thread.run_sync(snapshot, path, gateway.env, gateway.config.state_dir)
    except ConfigError as exc:
        raise ProtocolError(UNAVAILABLE, "; ".join(exc.problems)) from None


async def config_get(runtime: Runtime, connection: Connection, params: EmptyParams) -> dict[str, Any]:
    return await read_snapshot(runtime.gateway)


async def config_schema_method(runtime: Runtime, connection: Connection, params: EmptyParams) -> dict[str, Any]:
    return config_schema(runtime.state.version)


def _require_auth_secret(gateway: Gateway, config: Config) -> None:
    """A config without the gateway's secret would lock every client out after the next restart."""
    auth = ResolvedAuth.resolve(config.gateway.auth, gateway.env)
    if auth.secret:
        return
    path = f"gateway.auth.{auth.mode}"
    variable = "CLAWDBOT_GATEWAY_TOKEN" if auth.mode == "token" else "CLAWDBOT_GATEWAY_PASSWORD"
    message = f"no {auth.mode} configured: no client could connect (set {path} or {variable})"
    raise ProtocolError(INVALID_REQUEST, "invalid config", details={"issues": [{"path": path, "message": message}]})


async def _write(gateway: Gateway, prepare: Any, params: ConfigSetParams | ConfigPatchParams,
                 *, restart: bool) -> tuple[Path, Any]:
    path = _config_path(gateway)
    async with gateway.config_lock:
        try:
            state = await trio.to_thread.run_sync(read_state, path)
        except ConfigError as exc:
            raise ProtocolError(UNAVAILABLE, "; ".join(exc.problems)) from None
        try:
            checked = await trio.to_thread.run_sync(prepare, state, params.raw, params.base_hash, gateway.env,
                                                    gateway.config.state_dir)
        except EditError as exc:
            raise ProtocolError(INVALID_REQUEST, exc.message, details=exc.details) from None
        _require_auth_secret(gateway, checked.config)
        if restart:
            gateway.expect_restart_for(checked.text)
        await trio.to_thread.run_sync(write_config_text, path, checked.text)
    return path, checked


async def config_set(runtime: Runtime, connection: Connection, params: ConfigSetParams) -> dict[str, Any]:
    gateway = runtime.gateway
    path, checked = await _write(gateway, prepare_replace, params, restart=False)
    if not gateway.watching_config:
        await gateway.reload_config()
    return {"ok": True, "path": str(path), "config": redacted_config(checked.config, set(checked.secrets))}


async def write_and_restart(gateway: Gateway, params: ConfigPatchParams, mode: str) -> dict[str, Any]:
    """``config.patch`` (``mode="config.patch"``) or ``config.apply``: write, sentinel, scheduled restart."""
    prepare = prepare_patch if mode == "config.patch" else prepare_replace
    path, checked = await _write(gateway, prepare, params, restart=True)
    state_dir = gateway.config.state_dir
    # As the original: a blank sessionKey is left out, a blank or absent note is ``message: null``.
    session_key = (params.session_key or "").strip() or None
    note = (params.note or "").strip() or None
    fields: dict[str, Any] = {"sessionKey": session_key} if session_key else {}
    fields.update(message=note, doctorHint=DOCTOR_HINT, stats={"mode": mode, "root": str(path)})
    payload: dict[str, Any] = {"kind": "config-apply", "status": "ok", "ts": wall_ms(), **fields}
    sentinel: dict[str, Any] = {"path": None, "payload": payload}
    if state_dir is not None:
        written = await trio.to_thread.run_sync(lambda: write_restart_sentinel(state_dir, kind="config-apply",
                                                                               **fields))
        sentinel = {"path": str(sentinel_path(state_dir)), "payload": written}
    delay = params.restart_delay_ms if params.restart_delay_ms is not None else DEFAULT_RESTART_DELAY_MS
    scheduled = gateway.schedule_restart(delay_ms=delay, reason=mode)
    return {"ok": True, "path": str(path), "config": redacted_config(checked.config, set(checked.secrets)),
            "restart": scheduled, "sentinel": sentinel}


async def config_patch(runtime: Runtime, connection: Connection, params: ConfigPatchParams) -> dict[str, Any]:
    return await write_and_restart(runtime.gateway, params, "config.patch")


async def config_apply(runtime: Runtime, connection: Connection, params: ConfigPatchParams) -> dict[str, Any]:
    return await write_and_restart(runtime.gateway, params, "config.apply")
