"""The restart sentinel: why the last restart happened, for the next start to report.

The file is the original's ``<stateDir>/restart-sentinel.json``.

Written (atomically, 0600) before a deliberate restart; read and deleted by the next Runtime start.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from .._util import wall_ms
from ..store.atomic import write_atomic

log = logging.getLogger("moltbot.gateway")

FILE_NAME = "restart-sentinel.json"


def sentinel_path(state_dir: Path) -> Path:
    return state_dir / FILE_NAME


def write_restart_sentinel(state_dir: Path, *, kind: str, status: str = "ok", **fields: Any) -> dict[str, Any]:
    """Write ``{version:1, payload:{kind, status, ts, …}}`` and return the payload.

    Fields given as ``None`` are left out, except ``message`` (``string|null`` in the original's payload)."""
    payload = {"kind": kind, "status": status, "ts": wall_ms(),
               **{k: v for k, v in fields.items() if v is not None or k == "message"}}
    write_atomic(sentinel_path(state_dir), json.dumps({"version": 1, "payload": payload}, indent=2) + "\n")
    return payload


def consume_restart_sentinel(state_dir: Path) -> dict[str, Any] | None:
    """Read and delete the sentinel; ``None`` when there is none (or it is unreadable, which is logged)."""
    path = sentinel_path(state_dir)
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return None
    finally:
        path.unlink(missing_ok=True)
    try:
        data = json.loads(text)
        payload = data["payload"]
        if not isinstance(payload, dict):
            raise TypeError("payload is not an object")
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("ignored unreadable restart sentinel %s: %s", path, exc)
        return None
    return payload
