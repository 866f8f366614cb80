"""The production WhatsApp Web client: neonize (whatsmeow, a Go library) behind ``WhatsAppClient``.

neonize is imported on first use, never at gateway import: it loads an 18 MB native library and, on
import, configures the root logger and starts a log-forwarding daemon thread. The root logger's handlers
and level are restored after the import so the gateway's logging is untouched. The exact version is
pinned (``NEONIZE_VERSION``): with a mismatched native library neonize tries to download another one.

whatsmeow keeps the session (keys, device identity) in a sqlite file in the account's auth dir; the file
is created 0600 before whatsmeow opens it (sqlite gives its journal files the database file's mode).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .bridge import (
    DB_NAME,
    NEONIZE_VERSION,
    Connected,
    Disconnected,
    Failure,
    IncomingText,
    LoggedOut,
    PairFailure,
    PairSuccess,
    QrCode,
    WhatsAppClientError,
    WhatsAppEvent,
)

log = logging.getLogger("moltbot.channels.whatsapp")

_import_lock = threading.Lock()
_modules: dict[str, Any] | None = None
_import_error: str | None = None


def _load() -> dict[str, Any]:
    """Import neonize once (thread-safe), keeping the root logger as it was; raise with the reason."""
    global _modules, _import_error
    with _import_lock:
        if _modules is not None:
            return _modules
        if _import_error is not None:
            raise WhatsAppClientError(_import_error)
        root = logging.getLogger()
        handlers, level = list(root.handlers), root.level
        try:
            import neonize
            from neonize import client as client_module
            from neonize import events
            from neonize._binder import ProxySettings
            from neonize.proto import Neonize_pb2
            from neonize.utils import ffmpeg, jid
        except Exception as exc:  # ImportError, OSError from the native library, libmagic missing …
            _import_error = (f"WhatsApp Web client (neonize {NEONIZE_VERSION}) not available: {type(exc).__name__}: "
                             f"{exc} (pip install 'moltbot[whatsapp]')")
            raise WhatsAppClientError(_import_error) from None
        finally:
            root.handlers[:] = handlers
            root.setLevel(level)
        version = getattr(neonize, "__version__", "?")
        if version != NEONIZE_VERSION:
            _import_error = (f"WhatsApp Web client: neonize {version} is installed but this build needs "
                             f"exactly {NEONIZE_VERSION} (pip install neonize=={NEONIZE_VERSION})")
            raise WhatsAppClientError(_import_error)
        ffmpeg._ffmpeg_checked = True  # text only: no media, so no "ffmpeg missing" warning at connect
        _modules = {"client": client_module, "events": events, "proto": Neonize_pb2, "jid": jid,
                    "ProxySettings": ProxySettings}
        return _modules


def _jid_string(jid: Any) -> str | None:
    if jid is None or not (jid.User or jid.Server):
        return None
    user = jid.User
    if jid.Device:
        user = f"{user}:{jid.Device}"
    return f"{user}@{jid.Server}" if user else jid.Server


def _text_of(message: Any) -> tuple[str, Any]:
    """(text, contextInfo) of a text message or a media caption; ("", None) for anything else."""
    if message.conversation:
        return message.conversation, None
    for field in ("extendedTextMessage", "imageMessage", "videoMessage", "documentMessage"):
        if message.HasField(field):
            part = getattr(message, field)
            text = part.text if field == "extendedTextMessage" else part.caption
            return text, part.contextInfo if part.HasField("contextInfo") else None
    return "", None


def incoming_text(ev: Any) -> IncomingText | None:
    """A neonize ``MessageEv`` as ``IncomingText``; None when it carries no text."""
    text, context = _text_of(ev.Message)
    if not text:
        return None
    source = ev.Info.MessageSource
    return IncomingText(
        id=ev.Info.ID, chat=_jid_string(source.Chat) or "", sender=_jid_string(source.Sender) or "",
        text=text, from_me=source.IsFromMe, is_group=source.IsGroup,
        push_name=ev.Info.Pushname or None,
        sender_alt=_jid_string(source.SenderAlt) if source.HasField("SenderAlt") else None,
        mentions=tuple(context.mentionedJID) if context is not None else (),
        quoted_sender=(context.participant or None) if context is not None else None,
        timestamp=ev.Info.Timestamp or None)


class NeonizeClient:
    """One neonize ``NewClient`` on the sqlite store in ``auth_dir``."""

    def __init__(self, auth_dir: Path, name: str, *, proxy: str | None = None) -> None:
        modules = _load()
        self._proxy = proxy
        self._m = modules
        db = auth_dir / DB_NAME
        if not db.exists():
            fd = os.open(db, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.close(fd)
        self._client = modules["client"].NewClient(str(db), uuid=name)

    def connect(self, emit: Callable[[WhatsAppEvent], None]) -> None:
        events, client = self._m["events"], self._client
        ProxySettings = self._m["ProxySettings"]  # noqa: N806

        def guarded(handler: Callable[..., None]) -> Callable[..., None]:
            def call(_client: Any, payload: Any) -> None:
                try:
                    handler(payload)
                except Exception:  # an exception must not unwind into Go's callback
                    log.exception("whatsapp event handler failed")
            return call

        def on_connected(_: Any) -> None:
            me = client.get_me()
            emit(Connected(jid=_jid_string(me.JID), lid=_jid_string(me.LID), push_name=me.PushName or None))

        def on_pair(ev: Any) -> None:
            if ev.Status == self._m["proto"].PairStatus.SUCCESS:
                emit(PairSuccess(_jid_string(ev.ID) or ""))
            else:
                emit(PairFailure(ev.Error or "pairing failed"))

        def on_logged_out(ev: Any) -> None:
            reason = self._m["proto"].ConnectFailureReason.Name(ev.Reason) if ev.Reason else "logged out"
            emit(LoggedOut(reason))

        def on_connect_failure(ev: Any) -> None:
            emit(Failure(f"connect failure: {ev.Message or ev.Reason}"))

        def on_message(ev: Any) -> None:
            incoming = incoming_text(ev)
            if incoming is not None:
                emit(incoming)

        client.event.qr(guarded(lambda data: emit(QrCode(data.decode()))))
        handlers = {
            events.ConnectedEv: on_connected,
            events.PairStatusEv: on_pair,
            events.LoggedOutEv: on_logged_out,
            events.ConnectFailureEv: on_connect_failure,
            events.DisconnectedEv: lambda ev: emit(Disconnected()),
            events.KeepAliveTimeoutEv: lambda ev: emit(Disconnected("keepalive timeout")),
            events.KeepAliveRestoredEv: lambda ev: emit(Connected()),
            events.StreamReplacedEv: lambda ev: emit(Failure("stream replaced: this session was opened elsewhere")),
            events.TemporaryBanEv: lambda ev: emit(Failure(f"temporary ban (code {ev.Code})")),
            events.ClientOutdatedEv: lambda ev: emit(Failure("client outdated: WhatsApp rejected this client version")),
            events.MessageEv: on_message,
        }
        for event_type, handler in handlers.items():
            client.event(event_type)(guarded(handler))
        try:
            client.connect(ProxySettings(self._proxy) if self._proxy else None)
        except Exception as exc:  # neonize.exc.NeonizeError carries whatsmeow's error text
            raise WhatsAppClientError(str(exc) or type(exc).__name__) from None

    def stop(self) -> None:
        self._client.stop()

    def send_text(self, jid: str, text: str) -> str:
        try:
            return self._client.send_message(jid, text).ID
        except Exception as exc:
            raise WhatsAppClientError(str(exc) or type(exc).__name__) from None

    def logout(self) -> None:
        try:
            self._client.logout()
        except Exception as exc:
            raise WhatsAppClientError(str(exc) or type(exc).__name__) from None


class NeonizeBackend:
    """``proxy`` (``socks5://host:port`` or ``http://host:port``) routes the WebSocket through a proxy."""

    name = "neonize"

    def __init__(self, proxy: str | None = None) -> None:
        self.proxy = proxy

    def unavailable_reason(self) -> str | None:
        try:
            _load()
        except WhatsAppClientError as exc:
            return str(exc)
        return None

    def linked(self, auth_dir: Path) -> str | None:
        db = auth_dir / DB_NAME
        if not db.exists() or db.stat().st_size == 0:
            return None
        devices = _load()["client"].ClientFactory.get_all_devices_from_db(str(db))
        return next((_jid_string(d.JID) for d in devices if d.JID.User), None)

    def client(self, auth_dir: Path, *, name: str) -> NeonizeClient:
        return NeonizeClient(auth_dir, name, proxy=self.proxy)
