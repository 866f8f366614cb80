"""The channel manager: one supervised child per channel account, restart by stop-and-start.

Theory of operation: every account (``telegram:default``) is a ``Child`` of the gateway's supervisor
primitive (``gateway/supervisor.py``), run in the manager's nursery. The child reports ready at once (the
manager never waits for a platform to answer), then runs the account's ``serve``; when that raises, the
status gets ``lastError`` and the child runs it again after the backoff ladder (2 s … 5 min, reset by a
run of ``STABLE_SECONDS``), forever, so one crashing account never touches the others or the gateway;
past ``liveness.STALL_ATTEMPTS`` failures in a row the account is reported ``stalled`` (``health``
warning, ``stalledSince``) and still retried every few minutes. ``ChannelUnavailable`` (not linked, no
state dir) ends the child for good. ``liveness`` restarts an account that is connected but silent past
its ``silence_limit``. ``restart(channel)`` holds that channel's lock and *stops each child, waiting for
it to end*, before starting the new ones: two pollers for one bot (the original's permanent 409
"terminated by other getUpdates request" after a restart) cannot exist. Inbound messages from every account go through the ``InboundGate`` (receipts) into
one inbox; ``inbound.dispatch`` answers each in its own task in the manager's nursery.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs
import trio

from ..gateway.supervisor import Child, describe
from ..protocol import LinkChannel
from . import liveness, summary
from .base import AccountStatus, Backoff, ChannelAccount, ChannelUnavailable, DeliveryError, wall_ms
from .inbound import Dispatcher
from .outbound import Deliveries, InboundGate
from .pairing import PairingStore
from .summary import CHANNEL_ORDER as CHANNEL_ORDER  # methods/channels.py validates names with it
from .summary import DETAIL_LABELS, LABELS, SYSTEM_IMAGES, channel_order
from .webchat import webchat_accounts
from .whatsapp.channel import WhatsAppChannel
from .whatsapp.login import WhatsAppLogins

if TYPE_CHECKING:
    from .host import ChannelHost

log = logging.getLogger("moltbot.channels")

SUPERVISED = ("telegram", "whatsapp", "discord", "slack")
BACKOFF = Backoff(initial=2.0, maximum=300.0, jitter=0.2)
STABLE_SECONDS = 60.0  # a run this long resets the backoff
APPROVAL_CHECK_SECONDS = 5.0  # how often the pairing allowlists are checked for new approvals
APPROVED_TEXT = "✅ Moltbot access approved. Send a message to start chatting."


@attrs.define(eq=False)
class Slot:
    """One supervised account: its child (state, attempts), its status, the account object while it runs."""

    status: AccountStatus
    child: Child = attrs.field(init=False)
    account: ChannelAccount | None = None


@attrs.frozen
class ChannelStatistics:
    accounts: int
    running: int
    connected: int
    restarts: int
    inbound_handled: int


class _Ready:
    def __init__(self, on_ready: Callable[[], None]) -> None:
        self._on_ready = on_ready

    def started(self, value: Any = None) -> None:
        self._on_ready()


def _mode(channel: str, account: Any) -> str | None:
    if channel == "slack":
        return account.mode
    if channel != "telegram":
        return None
    return "webhook" if account.webhook_url else "polling"


def account_configs(runtime: ChannelHost, channel: str) -> dict[str, Any]:
    """Account id → account config for ``channel`` (the top-level block is the ``default`` account)."""
    section = getattr(runtime.config.channels, channel, None)
    if section is None:
        return {}
    if section.accounts:
        return dict(section.accounts)
    return {"default": section}


class ChannelManager:
    def __init__(self, runtime: ChannelHost) -> None:
        self.runtime = runtime
        self.backoff = BACKOFF
        self.slots: dict[tuple[str, str], Slot] = {}
        self.statuses: dict[str, dict[str, AccountStatus]] = {name: {} for name in SUPERVISED}
        self.pairing = {name: PairingStore(runtime.config.state_dir, name) for name in SUPERVISED}
        self._locks = {name: trio.Lock() for name in SUPERVISED}
        self._inbox_send, self._inbox_receive = trio.open_memory_channel[Any](256)
        self._nursery: trio.Nursery | None = None
        self.delivery = Deliveries(self)
        self.inbox: InboundGate | None = None
        self._resumed: dict[tuple[str, str], list[Any]] = {}  # received before a stop, not yet handled
        self.restarts = 0
        self._restarted = trio.Event()
        self.dispatcher = Dispatcher(self)
        self.whatsapp_logins = WhatsAppLogins(self)

    # --- lifecycle ------------------------------------------------------------------------------

    async def serve(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Open the delivery store and resume its outbox, hand the messages a stopped run left unfinished
        to the dispatcher, start every configured account (not waiting for them to connect)."""
        async with self.delivery.open() as outbox, trio.open_nursery() as nursery:
            self._nursery = nursery
            await nursery.start(outbox.serve)
            assert self.delivery.receipts is not None
            self.inbox = InboundGate(self.delivery.receipts, self._inbox_send)
            self.delivery.started()
            nursery.start_soon(self.dispatcher.serve, self._inbox_receive)
            for message in await self.delivery.receipts.resume():  # handled again once their account is up
                self._resumed.setdefault((message.channel, message.account_id), []).append(message)
            for channel in SUPERVISED:
                await self._start_channel(channel)
            nursery.start_soon(self._serve_approvals)
            nursery.start_soon(liveness.serve_liveness, self)
            self._status_changed()
            task_status.started()

    async def _serve_approvals(self) -> None:
        """Tell a sender when the owner approves them (``moltbot pairing approve`` edits the files)."""
        seen = await trio.to_thread.run_sync(self._allowed, list(self.pairing))
        next_due = trio.current_time()
        while True:
            next_due += APPROVAL_CHECK_SECONDS
            await trio.sleep_until(next_due)
            # Only channels with an account can send the notice; without one no file is read (one worker-thread
            # call for all of them otherwise): a gateway without channels reads nothing and wakes no thread.
            names = sorted({channel for channel, _ in self.slots} & set(self.pairing))
            if not names:
                continue
            for name, allowed in (await trio.to_thread.run_sync(self._allowed, names)).items():
                for sender in sorted(allowed - seen[name]):  # queued: the outbox retries, this loop goes on
                    try:
                        await self.delivery.queue(name, None, sender, APPROVED_TEXT, kind="notice",
                                                  key=f"notice:approved:{name}:{sender}:{wall_ms()}")
                    except DeliveryError as exc:
                        log.warning("%s: approval notice to %s not queued: %s", name, sender, exc)
                seen[name] = allowed

    def _allowed(self, names: list[str]) -> dict[str, set[str]]:
        """Each named channel's approved senders (a worker thread reads the files)."""
        return {name: self.pairing[name].allowed() for name in names}

    def _status_changed(self) -> None:
        """An account connected or stopped: the health snapshot (``health`` events, ``hello-ok``) follows."""
        self.runtime.health.mark_stale()

    def restart_action(self, action: str) -> None:
        """Hot-reload hook for ``restart-channel:<name>``."""
        channel = action.partition(":")[2]
        if channel in SUPERVISED and self._nursery is not None:
            self._nursery.start_soon(self.restart, channel, f"config reload: channels.{channel} changed")

    async def restart(self, channel: str, reason: str = "restart") -> None:
        """Stop every account of ``channel`` (waiting for each to finish), then start them from config."""
        async with self._locks[channel]:
            await self._stop_channel(channel, reason)
            await self._start_channel(channel)
            self.restarts += 1
            self._restarted.set()
            self._restarted = trio.Event()

    async def wait_restarts(self, count: int) -> None:
        """Wait until ``count`` channel restarts have finished (accounts started again)."""
        while self.restarts < count:
            await self._restarted.wait()

    async def stop_account(self, channel: str, account_id: str, reason: str) -> bool:
        async with self._locks[channel]:
            slot = self.slots.pop((channel, account_id), None)
            if slot is None:
                return False
            await slot.child.stop(reason)
            return True

    async def _stop_channel(self, channel: str, reason: str) -> None:
        for key in [k for k in self.slots if k[0] == channel]:
            await self.slots.pop(key).child.stop(reason)

    async def _start_channel(self, channel: str) -> None:
        configs = account_configs(self.runtime, channel)
        statuses = self.statuses[channel]
        for stale in set(statuses) - set(configs):
            del statuses[stale]
        for account_id, account in configs.items():
            await self._start_account(channel, account_id, account)

    async def _start_account(self, channel: str, account_id: str, account: Any) -> bool:
        assert self._nursery is not None
        statuses = self.statuses[channel]
        status = statuses[account_id] = self._fresh_status(channel, account_id, account, statuses.get(account_id))
        if not account.enabled:
            status.last_error = "disabled"
            return False
        if not status.configured:
            status.last_error = "not configured"
            return False
        slot = Slot(status)
        slot.child = Child(f"{channel}:{account_id}", functools.partial(self._serve_account, slot, channel, account),
                           backoff=self.backoff, stable_seconds=STABLE_SECONDS, permanent=(ChannelUnavailable,),
                           on_change=lambda child: liveness.child_changed(self, slot))
        self.slots[(channel, account_id)] = slot
        await slot.child.start(self._nursery)
        return True

    async def start_account(self, channel: str, account_id: str, reason: str = "start") -> bool:
        """(Re)start one account from the current config (after a WhatsApp login); False if not configured."""
        async with self._locks[channel]:
            slot = self.slots.pop((channel, account_id), None)
            if slot is not None:
                await slot.child.stop(reason)
            account = account_configs(self.runtime, channel).get(account_id)
            if account is None:
                return False
            return await self._start_account(channel, account_id, account)

    def _fresh_status(self, channel: str, account_id: str, account: Any, old: AccountStatus | None) -> AccountStatus:
        # A channel's modules are imported with its first account: a gateway without Discord never loads them.
        policy = account
        if channel == "discord":  # Discord's and Slack's legacy ``dm`` block is read.
            from .discord import policy as discord_policy

            policy = discord_policy.effective(account)
        elif channel == "slack":
            from .slack.events import policy_view as slack_policy

            policy = slack_policy(account)
        status = AccountStatus(account_id=account_id, name=account.name, enabled=account.enabled,
                               dm_policy=policy.dm_policy, mode=_mode(channel, account),
                               allow_from=[str(e) for e in policy.allow_from or ()] or None)
        if old is not None:  # keep history across restarts
            status.last_start_at, status.last_stop_at = old.last_start_at, old.last_stop_at
            status.last_inbound_at, status.last_outbound_at = old.last_inbound_at, old.last_outbound_at
            status.linked, status.self_id = old.linked, old.self_id
        if channel == "telegram":
            from .telegram.channel import resolve_token as telegram_token

            token, status.token_source = telegram_token(account, account_id, self.runtime.env)
            status.configured = bool(token)
        elif channel == "discord":
            from .discord.channel import resolve_token as discord_token

            token, status.token_source = discord_token(account, account_id, self.runtime.env)
            status.configured = bool(token)
        elif channel == "slack":
            from .slack.channel import is_configured as slack_configured

            status.configured, status.token_source = slack_configured(account, account_id, self.runtime.env)
        else:
            status.configured = True
        return status

    def _build(self, channel: str, account_id: str, account: Any, status: AccountStatus) -> ChannelAccount:
        if channel == "telegram":
            from .telegram.channel import TelegramChannel

            return TelegramChannel(account_id, account, status, env=self.runtime.env,
                                   state_dir=self.runtime.config.state_dir)
        if channel == "discord":
            from .discord.channel import DiscordChannel

            return DiscordChannel(account_id, account, status, env=self.runtime.env,
                                  state_dir=self.runtime.config.state_dir)
        if channel == "slack":
            from .slack.channel import SlackChannel

            return SlackChannel(account_id, account, status, env=self.runtime.env)
        return WhatsAppChannel(account_id, account, status, state_dir=self.runtime.config.state_dir)

    async def _serve_account(self, slot: Slot, channel: str, account: Any, *,
                             task_status=trio.TASK_STATUS_IGNORED) -> None:
        """One run of one account (the child's ``fn``): ready at once, then the account's ``serve``."""
        status, account_id = slot.status, slot.status.account_id
        task_status.started()  # the manager does not wait for the platform; a failure to connect is retried
        slot.account = self._build(channel, account_id, account, status)
        status.running, status.last_start_at = True, wall_ms()

        def ready() -> None:
            status.connected, status.last_error = True, None
            status.last_transport_activity_at = wall_ms()
            liveness.child_changed(self, slot)
            if self.delivery.outbox is not None:  # what waited for this account goes out now
                self.delivery.outbox.poke(channel, account_id)
            resumed = self._resumed.pop((channel, account_id), None)
            if resumed and self._nursery is not None:
                self._nursery.start_soon(self._redispatch, resumed)

        try:  # the inbox exists once ``serve`` runs (a unit test may run one account without it)
            await slot.account.serve(self.inbox, task_status=_Ready(ready))  # type: ignore[arg-type]
        except Exception as exc:
            status.last_error = describe(exc)
            if isinstance(exc, ChannelUnavailable):
                log.warning("%s:%s cannot start: %s", channel, account_id, exc)
            raise
        finally:
            status.running = status.connected = False
            status.last_stop_at = wall_ms()
            slot.account = None
            self._status_changed()
        status.last_error = "channel stopped unexpectedly"

    def handle_when_ready(self, message: Any) -> None:
        """Hand ``message`` to the dispatcher again when its account is next ready (it arrived while the
        account restarts, e.g. read from its old connection at the last moment); its receipt stays open,
        so a gateway stop before then leaves it for the next start."""
        self._resumed.setdefault((message.channel, message.account_id), []).append(message)

    async def _redispatch(self, messages: list[Any]) -> None:
        for message in messages:
            self.dispatcher.again(message)  # its turn counts an attempt (while it runs: ``inbound.py``)
            await self._inbox_send.send(message)

    # --- outbound -------------------------------------------------------------------------------

    def account(self, channel: str, account_id: str | None) -> ChannelAccount | None:
        if account_id is None:
            account_id = "default" if (channel, "default") in self.slots else next(
                (a for c, a in self.slots if c == channel), "default")
        slot = self.slots.get((channel, account_id))
        return slot.account if slot is not None else None

    async def deliver(self, channel: str, account_id: str | None, target: str, text: str,
                      reply_to: str | None = None, *, key: str | None = None, kind: str = "notice") -> str:
        """Send through the outbox and wait for the first attempt; raises ``DeliveryError``."""
        return await self.delivery.deliver(channel, account_id, target, text, reply_to, key=key, kind=kind)

    async def send(self, key: str, channel: str, account_id: str | None, target: str, text: str) -> dict[str, Any]:
        """The ``send`` method: one delivery per idempotency key (across restarts: the outbox keeps it)."""
        return await self.delivery.send(key, channel, account_id, target, text)

    # --- status ---------------------------------------------------------------------------------

    def accounts(self, channel: str) -> list[dict[str, Any]]:
        if channel == "webchat":
            return webchat_accounts(self.runtime)
        statuses = self.statuses.get(channel) or {}
        if not statuses:
            return [AccountStatus(account_id="default", configured=False, enabled=False).snapshot()]
        return [{**status.snapshot(), **self.delivery.counts(channel, status.account_id),
                 **liveness.fields(self.slots.get((channel, status.account_id)), status.last_error)}
                for status in statuses.values()]

    def summary(self, channel: str) -> dict[str, Any]:
        return summary.channel_summary(self, channel)

    def account_configs(self, channel: str) -> dict[str, Any]:
        return account_configs(self.runtime, channel)

    def link_channel(self) -> LinkChannel | None:
        return summary.link_channel(self)

    def summary_lines(self) -> list[str]:
        return summary.summary_lines(self)

    async def probe(self, seconds: float) -> dict[tuple[str, str], dict[str, Any]]:
        """Probe every running account that can (Telegram: ``getMe``), concurrently, each ≤ ``seconds``."""
        results: dict[tuple[str, str], dict[str, Any]] = {}

        async def one(key: tuple[str, str], probe: Callable[[float], Any]) -> None:
            results[key] = await probe(seconds)

        async with trio.open_nursery() as nursery:
            for key, slot in list(self.slots.items()):
                probe = getattr(slot.account, "probe", None)
                if probe is not None:
                    nursery.start_soon(one, key, probe)
        return results

    def status_payload(self, probes: dict[tuple[str, str], dict[str, Any]] | None = None) -> dict[str, Any]:
        order = channel_order(self)
        accounts = {c: self.accounts(c) for c in order}
        for (channel, account_id), probe in (probes or {}).items():
            for row in accounts.get(channel, []):
                if row["accountId"] == account_id:
                    row["probe"], row["lastProbeAt"] = probe, wall_ms()
        return {
            "ts": wall_ms(), "channelOrder": order, "channelLabels": {c: LABELS[c] for c in order},
            "channelDetailLabels": {c: DETAIL_LABELS[c] for c in order},
            "channelSystemImages": {c: SYSTEM_IMAGES[c] for c in order if c in SYSTEM_IMAGES},
            "channelMeta": [{"id": c, "label": LABELS[c], "detailLabel": DETAIL_LABELS[c],
                             **({"systemImage": SYSTEM_IMAGES[c]} if c in SYSTEM_IMAGES else {})} for c in order],
            "channels": {c: self.summary(c) for c in order},
            "channelAccounts": accounts,
            "channelDefaultAccountId": {c: "default" for c in order},
        }

    def statistics(self) -> ChannelStatistics:
        statuses = [status for accounts in self.statuses.values() for status in accounts.values()]
        return ChannelStatistics(accounts=len(statuses), running=sum(s.running for s in statuses),
                                 connected=sum(s.connected for s in statuses), restarts=self.restarts,
                                 inbound_handled=self.dispatcher.handled)

    def health(self) -> tuple[dict[str, Any], list[str], dict[str, str]]:
        order = channel_order(self)
        return {c: self.summary(c) for c in order}, order, {c: LABELS[c] for c in order}
