"""The hypercorn and wsproto code our fixes (``httpserver.py``, ``wsclose.py``) build on, fingerprinted.

Each function is fingerprinted as hypercorn 0.18.0 and wsproto 1.3 wrote it: after an upgrade any of it
may have changed and a fix would fail silently (a stuck socket, a lost close frame), so the first
``httpserver.serve`` of the process refuses to start instead, naming what changed.
"""

from __future__ import annotations

import hashlib
import inspect
from typing import Any

from hypercorn.protocol import ProtocolWrapper
from hypercorn.protocol.h11 import H11Protocol
from hypercorn.protocol.ws_stream import WSStream
from hypercorn.trio.tcp_server import TCPServer

__all__ = ["check_fix_targets", "check_once", "fix_targets"]

# sha256 of the source, first 16 hex digits. ``_read_data`` and ``WSStream._handle_events`` are replaced
# wholesale, ``protocol_send``, ``_close``, ``_maybe_recycle``, ``WSStream.app_send`` and ``WSStream.handle``
# are wrapped; ``run`` must still assign ``self.protocol`` (a ``ProtocolWrapper``, which makes an
# ``H11Protocol``), hand ``protocol_send`` to it and call ``_read_data`` then ``_close``; ``_create_stream``
# must still assign the ``WSStream`` to ``self.stream`` and ``WSStream._accept`` the connection
# ``Handshake.accept`` makes to ``self.connection``; ``serve`` is ``worker_serve`` with our server class;
# ``FailingConnection`` sets wsproto's ``_state``.
_FINGERPRINTS = {
    "hypercorn.trio.tcp_server.TCPServer.run": "fd34b021d1a86c98",
    "hypercorn.trio.tcp_server.TCPServer.protocol_send": "225856426bff7be0",
    "hypercorn.trio.tcp_server.TCPServer._read_data": "7ca747d922c65cf1",
    "hypercorn.trio.tcp_server.TCPServer._close": "bc73c4ae25a1ceec",
    "hypercorn.protocol.ProtocolWrapper.__init__": "df25e181b9e2e64d",
    "hypercorn.protocol.h11.H11Protocol._maybe_recycle": "3ac53f52bc4e65de",
    "hypercorn.protocol.h11.H11Protocol._create_stream": "a2338a57ab343908",
    "hypercorn.trio.run.worker_serve": "8dc8347a9fc357ca",
    "hypercorn.protocol.ws_stream.Handshake.accept": "e163533bf7919793",
    "hypercorn.protocol.ws_stream.WSStream._accept": "144623ad2e13fc56",
    "hypercorn.protocol.ws_stream.WSStream._handle_events": "b90f3f595ff9fd47",
    "hypercorn.protocol.ws_stream.WSStream.app_send": "a6dd1160bfc416e7",
    "hypercorn.protocol.ws_stream.WSStream.handle": "743209f49012b8c7",
    "wsproto.connection.Connection.state": "0e2424b8f32a078f",
}
TESTED_HYPERCORN = "0.18."  # the series pyproject.toml pins (hypercorn>=0.18,<0.19)


def fix_targets() -> dict[str, Any]:
    """The functions named in ``_FINGERPRINTS``, as hypercorn and wsproto define them."""
    from hypercorn.protocol import ws_stream
    from hypercorn.trio import run as trio_run
    from wsproto.connection import Connection

    return {
        "hypercorn.trio.tcp_server.TCPServer.run": TCPServer.run,
        "hypercorn.trio.tcp_server.TCPServer.protocol_send": TCPServer.protocol_send,
        "hypercorn.trio.tcp_server.TCPServer._read_data": TCPServer._read_data,
        "hypercorn.trio.tcp_server.TCPServer._close": TCPServer._close,
        "hypercorn.protocol.ProtocolWrapper.__init__": ProtocolWrapper.__init__,
        "hypercorn.protocol.h11.H11Protocol._maybe_recycle": H11Protocol._maybe_recycle,
        "hypercorn.protocol.h11.H11Protocol._create_stream": H11Protocol._create_stream,
        "hypercorn.trio.run.worker_serve": trio_run.worker_serve,
        "hypercorn.protocol.ws_stream.Handshake.accept": ws_stream.Handshake.accept,
        "hypercorn.protocol.ws_stream.WSStream._accept": WSStream._accept,
        "hypercorn.protocol.ws_stream.WSStream._handle_events": WSStream._handle_events,
        "hypercorn.protocol.ws_stream.WSStream.app_send": WSStream.app_send,
        "hypercorn.protocol.ws_stream.WSStream.handle": WSStream.handle,
        "wsproto.connection.Connection.state": Connection.state.fget,  # type: ignore[attr-defined]
    }


def _fingerprint(function: Any) -> str | None:
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):  # installed without sources: only the version can be checked
        return None
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def _hypercorn_version() -> str:
    """The installed hypercorn's version (importlib.metadata, and the email package it loads, only when a
    fingerprint cannot be read or does not match)."""
    import importlib.metadata

    return importlib.metadata.version("hypercorn")


def check_fix_targets(targets: dict[str, Any]) -> None:
    """Raise ``RuntimeError`` naming each target whose code is not what the fixes were written for."""
    changed = []
    for name, expected in _FINGERPRINTS.items():
        target = targets.get(name)
        found = _fingerprint(target) if target is not None else "missing"
        if found != expected and not (found is None and _hypercorn_version().startswith(TESTED_HYPERCORN)):
            changed.append(name)
    if changed:
        version = _hypercorn_version()
        raise RuntimeError(
            f"moltbot's fixes to hypercorn (moltbot/gateway/httpserver.py, wsclose.py) were written for hypercorn "
            f"{TESTED_HYPERCORN}x and wsproto 1.3, but with hypercorn {version} these are not the code they "
            f"build on: {', '.join(changed)}. Install hypercorn>=0.18,<0.19, or review the fixes against "
            f"the new code and update _FINGERPRINTS."
        )


_checked = False


def check_once() -> None:
    """``check_fix_targets`` once per process (at the first ``httpserver.serve``)."""
    global _checked
    if not _checked:
        check_fix_targets(fix_targets())
        _checked = True
