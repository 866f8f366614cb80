"""QR login (``web.login.start`` / ``web.login.wait``) and logout of WhatsApp accounts, as the original's methods.

A login is a client on a fresh session, run in the channel manager's nursery for at most ``QR_TTL``: its
newest QR code is rendered as a PNG data URL; once the phone has scanned it (``PairSuccess`` then
``Connected``) the client is stopped, the session files are made private and the account is started by
the manager. ``web.login.start`` while a QR is active returns the same login; ``force`` starts over.
"""

from __future__ import annotations

import base64
import functools
import io
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import trio

from . import bridge
from .bridge import (
    Closed,
    Connected,
    Failure,
    LoggedOut,
    PairFailure,
    PairSuccess,
    QrCode,
    client_name,
    jid_to_e164,
    open_bridge,
)
from .channel import WhatsAppChannel, remove_auth_dir, resolve_auth_dir, secure_auth_dir

if TYPE_CHECKING:
    from ..manager import ChannelManager

log = logging.getLogger("moltbot.channels.whatsapp")

QR_TTL = 180.0  # an active login (and its QR) is reused for 3 minutes
PAIR_GRACE = 20.0  # after PairSuccess, how long to wait for the reconnect that confirms it
START_TIMEOUT_MS = 30_000
MIN_START_TIMEOUT_MS = 5_000
WAIT_TIMEOUT_MS = 120_000


class LoginError(Exception):
    """A login could not start (no client in this build, no QR in time); safe to show."""


def qr_png_data_url(code: str) -> str:
    """``data:image/png;base64,…`` of ``code`` as a QR image (segno, pure Python)."""
    import segno

    out = io.BytesIO()
    segno.make_qr(code, error="l").save(out, kind="png", scale=6, border=4)
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode("ascii")


@attrs.define(eq=False)
class LoginSession:
    account_id: str
    auth_dir: Path
    started_at: float
    scope: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    qr: str | None = None
    qr_data_url: str | None = None
    qr_ready: trio.Event = attrs.field(factory=trio.Event)
    done: trio.Event = attrs.field(factory=trio.Event)
    connected: bool = False
    started: bool = False  # the account was started after linking (False: not in the config)
    jid: str | None = None
    error: str | None = None

    def active(self) -> bool:
        return not self.done.is_set() and trio.current_time() - self.started_at < QR_TTL


class WhatsAppLogins:
    """The logins in progress, one per account; their tasks run in the channel manager's nursery."""

    def __init__(self, manager: ChannelManager) -> None:
        self.manager = manager
        self.sessions: dict[str, LoginSession] = {}
        self._lock = trio.Lock()

    def _account(self, account_id: str) -> tuple[Any, Path]:
        from ...config.model import WhatsAppAccount
        from ..manager import account_configs

        account = account_configs(self.manager.runtime, "whatsapp").get(account_id) or WhatsAppAccount()
        auth_dir = resolve_auth_dir(self.manager.runtime.config.state_dir, account_id, account)
        if auth_dir is None:
            raise LoginError("no state directory for the WhatsApp session (set authDir)")
        return account, auth_dir

    async def start(self, account_id: str, *, force: bool = False, timeout_ms: int | None = None) -> dict[str, Any]:
        """Stop the account, start a login client, wait for its first QR (≥ 5 s).

        No QR in time (the client failed, no network) is ``{message: "Failed to get QR: …"}``, as in the original;
        ``LoginError`` is for a login that cannot even start (no client in this build)."""
        _, auth_dir = self._account(account_id)
        backend = bridge.backend()
        reason = await trio.to_thread.run_sync(backend.unavailable_reason)
        if reason:
            raise LoginError(reason)
        async with self._lock:
            current = self.sessions.get(account_id)
            if current is not None and current.active() and current.qr_data_url and not force:
                return {"qrDataUrl": current.qr_data_url,
                        "message": "QR already active. Scan it in WhatsApp → Linked Devices."}
            await self.cancel(account_id)
            linked = await trio.to_thread.run_sync(_linked, backend, auth_dir)
            if linked and not force:
                who = jid_to_e164(linked) or linked
                return {"message": f"WhatsApp is already linked ({who}). Use force to relink with a new QR."}
            if linked:
                await self._logout_running(account_id)
            await self.manager.stop_account("whatsapp", account_id, "web.login.start")
            if force:
                await trio.to_thread.run_sync(remove_auth_dir, auth_dir)
            await trio.to_thread.run_sync(secure_auth_dir, auth_dir)
            session = LoginSession(account_id, auth_dir, trio.current_time())
            nursery = self.manager._nursery
            if nursery is None:
                raise LoginError("the channel manager is not running")
            await nursery.start(self._run, session, backend)
            self.sessions[account_id] = session
        seconds = max(timeout_ms if timeout_ms is not None else START_TIMEOUT_MS, MIN_START_TIMEOUT_MS) / 1000
        with trio.move_on_after(seconds):
            await session.qr_ready.wait()
        if session.qr_data_url is None:  # as the original: an answer with a message only, not an error
            error = session.error or "Timed out waiting for WhatsApp QR"
            await self.cancel(account_id)
            return {"message": f"Failed to get QR: Error: {error}"}
        return {"qrDataUrl": session.qr_data_url, "message": "Scan this QR in WhatsApp → Linked Devices."}

    async def wait(self, account_id: str, *, timeout_ms: int | None = None) -> dict[str, Any]:
        """Wait (default 120 s) for the active login to finish; ``connected`` once the account is linked."""
        session = self.sessions.get(account_id)
        if session is None:
            return {"connected": False, "message": "No active WhatsApp login in progress."}
        seconds = (timeout_ms if timeout_ms is not None else WAIT_TIMEOUT_MS) / 1000
        with trio.move_on_after(seconds):
            await session.done.wait()
        if not session.done.is_set():
            return {"connected": False, "message": "Still waiting for the QR scan. Let me know when you’ve scanned it."}
        if self.sessions.get(account_id) is session:
            del self.sessions[account_id]
        if session.connected and not session.started:
            return {"connected": True, "message": "✅ Linked! Enable channels.whatsapp in the config to start "
                                                  "the channel."}
        if session.connected:
            return {"connected": True, "message": "✅ Linked! WhatsApp is ready."}
        return {"connected": False, "message": f"WhatsApp login failed: {session.error}"}

    async def cancel(self, account_id: str) -> None:
        """Stop the account's login (if any) and wait until its client has stopped."""
        session = self.sessions.pop(account_id, None)
        if session is not None and not session.done.is_set():
            session.error = session.error or "login cancelled"
            session.scope.cancel()
            await session.done.wait()

    async def _run(self, session: LoginSession, backend: bridge.WhatsAppBackend, *,
                   task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with session.scope:
            task_status.started()
            try:
                with trio.move_on_after(QR_TTL):
                    await self._login(session, backend)
                if not session.connected and session.error is None:
                    session.error = "the login QR expired; start a new login"
            except Exception as exc:  # the client failing must end the login, not the manager
                log.warning("whatsapp:%s login failed: %s", session.account_id, exc)
                session.error = session.error or str(exc) or type(exc).__name__
            finally:
                session.qr_ready.set()
                if not session.connected:
                    session.done.set()
        if session.connected:
            try:
                await trio.to_thread.run_sync(secure_auth_dir, session.auth_dir)
                session.started = await self.manager.start_account("whatsapp", session.account_id,
                                                                   "web.login linked")
            finally:
                session.done.set()

    async def _login(self, session: LoginSession, backend: bridge.WhatsAppBackend) -> None:
        client = await trio.to_thread.run_sync(functools.partial(
            backend.client, session.auth_dir, name=client_name(session.account_id, "login")))
        async with open_bridge(client) as running:
            with trio.CancelScope() as grace:
                async for event in running.events:
                    if isinstance(event, QrCode):
                        session.qr = event.code
                        session.qr_data_url = await trio.to_thread.run_sync(qr_png_data_url, event.code)
                        session.qr_ready.set()
                    elif isinstance(event, PairSuccess):
                        session.jid = event.jid
                        grace.deadline = trio.current_time() + PAIR_GRACE
                    elif isinstance(event, Connected):
                        session.jid = session.jid or event.jid
                        session.connected = True
                        return
                    elif isinstance(event, PairFailure | LoggedOut | Failure):
                        session.error = getattr(event, "error", None) or getattr(event, "reason", "")
                        return
                    elif isinstance(event, Closed):
                        session.error = f"connection closed: {event.error}" if event.error else "connection closed"
                        break
            # Paired but the confirming reconnect did not come: the session is stored all the same.
            if session.jid:
                session.connected, session.error = True, None

    async def _logout_running(self, account_id: str) -> bool:
        slot = self.manager.slots.get(("whatsapp", account_id))
        account = slot.account if slot is not None else None
        return await account.logout() if isinstance(account, WhatsAppChannel) else False

    async def logout(self, account_id: str) -> dict[str, Any]:
        """``channels.logout``: unlink on the server when connected, stop the account, delete the session."""
        _, auth_dir = self._account(account_id)
        await self.cancel(account_id)
        logged_out = await self._logout_running(account_id)
        stopped = await self.manager.stop_account("whatsapp", account_id, "channels.logout")
        cleared = await trio.to_thread.run_sync(remove_auth_dir, auth_dir)
        status = self.manager.statuses["whatsapp"].get(account_id)
        if status is not None:
            status.linked, status.self_id = False, None
            status.last_error = NOT_LINKED_AFTER_LOGOUT
        log.info("whatsapp:%s logged out (server: %s, account stopped: %s, session deleted: %s)", account_id,
                 logged_out, stopped, cleared)
        return {"channel": "whatsapp", "accountId": account_id, "cleared": cleared,
                "loggedOut": logged_out or cleared}


NOT_LINKED_AFTER_LOGOUT = "logged out; not linked: run web.login.start / moltbot channels login"


def _linked(backend: bridge.WhatsAppBackend, auth_dir: Path) -> str | None:
    return backend.linked(auth_dir) if auth_dir.exists() else None
