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
# The files those functions are defined in, as hypercorn 0.18.0 and wsproto 1.3.2 ship them (sha256, first 16
# hex digits): a target defined in a file that is byte for byte this one is the code fingerprinted above and
# needs no ``inspect.getsource`` (which tokenizes the whole module: ~20 ms of each start).
_FILE_FINGERPRINTS = {
    "hypercorn/trio/tcp_server.py": "fbec50b5df48e46d",
    "hypercorn/protocol/__init__.py": "c34f9d102bb59741",
    "hypercorn/protocol/h11.py": "5d2cfe635578adc6",
    "hypercorn/trio/run.py": "458b9851c196ac5f",
    "hypercorn/protocol/ws_stream.py": "5eb34e4ac40b06f5",
    "wsproto/connection.py": "ba8f00e9c23c2fc1",
}


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


def _in_known_file(name: str, target: Any, files: dict[str, bool]) -> bool:
    """Whether ``target`` is the function ``name`` says, defined in a file of ``_FILE_FINGERPRINTS`` that is
    unchanged (each file read once per check, in ``files``)."""
    code = getattr(target, "__code__", None)
    if code is None or not name.endswith(f".{getattr(target, '__qualname__', None)}"):
        return False
    path = code.co_filename.replace("\\", "/")
    known = next((suffix for suffix in _FILE_FINGERPRINTS if path.endswith(f"/{suffix}")), None)
    if known is None:
        return False
    if path not in files:
        try:
            with open(path, "rb") as source:
                files[path] = hashlib.sha256(source.read()).hexdigest()[:16] == _FILE_FINGERPRINTS[known]
        except OSError:
            files[path] = False
    return files[path]


def check_fix_targets(targets: dict[str, Any]) -> None:
    """Raise ``RuntimeError`` naming each target whose code is not what the fixes were written for."""
    changed = []
    files: dict[str, bool] = {}
    for name, expected in _FINGERPRINTS.items():
        target = targets.get(name)
        if _in_known_file(name, target, files):
            continue
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
