"""Inbound → agent → reply: policy, pairing, session routing, the run, the reply.

Each message is handled in its own task in the manager's nursery, so a slow agent run never blocks the
poller. A collect-mode follow-up answers several messages with one run: only the first handler that sees
a run replies for it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import trio

from ..agents.inbound import Sender, is_owner
from ..agents.sessions import SessionStore, agent_of
from ..delivery.outbox import Entry
from .base import DeliveryError, InboundMessage
from .routing import decide, group_settings, message_peers, resolve_agent, session_key

if TYPE_CHECKING:
    from .manager import ChannelManager

log = logging.getLogger("moltbot.channels")

ROUTE_SAVE_SECONDS = 5.0  # bound on writing lastChannel/lastTo after a failed run (shielded)
REPLY_WAIT_SECONDS = 30.0  # a handler counts as done after its reply's first attempt, or this long

PAIRING_TEXT = ("Moltbot: access not configured.\n\nYour {label} user id: {sender}\n\nPairing code: {code}\n\n"
                "Ask the bot owner to approve with:\nmoltbot pairing approve {channel} {code}")


class Dispatcher:
    def __init__(self, manager: ChannelManager) -> None:
        self.manager = manager
        self._replying: set[str] = set()
        # Messages a stopped run left unfinished, handed over again: their turns count attempts.
        self._again: set[tuple[str, str, str]] = set()
        self.handled = 0
        self._handled_changed = trio.Event()

    async def wait_handled(self, count: int) -> None:
        """Wait until ``count`` inbound messages have been handled (answered, paired or ignored)."""
        while self.handled < count:
            await self._handled_changed.wait()

    async def serve(self, inbox: trio.MemoryReceiveChannel[InboundMessage]) -> None:
        async with trio.open_nursery() as nursery:
            async for message in inbox:
                nursery.start_soon(self.handle, message)

    def again(self, message: InboundMessage) -> None:
        """``message`` is handed over again (left unfinished by a stop): its turn counts an attempt."""
        if message.dedupe_key is not None:
            self._again.add((message.channel, message.account_id, message.dedupe_key))

    async def handle(self, message: InboundMessage) -> None:
        """Handle one message and settle its receipt: done, or dead-lettered with the error. A handler
        cancelled by a stopping gateway settles nothing, so the next start handles the message again."""
        reason: str | None = None
        finished = False
        try:
            reply: Entry | None = None
            try:
                finished, reply = await self._handle(message)
            except DeliveryError as exc:
                finished = True
                log.warning("%s:%s reply to %s not delivered: %s", message.channel, message.account_id,
                            message.reply_target, exc)
            except Exception as exc:
                finished = self.manager.runtime.runs.accepting  # refused by a stopping gateway: handled again
                if finished:
                    log.exception("%s:%s inbound message %s failed", message.channel, message.account_id,
                                  message.dedupe_key)
                    reason = f"handler failed: {type(exc).__name__}: {exc}"[:300]
                else:
                    log.info("%s:%s inbound message %s left for the next start: %s", message.channel,
                             message.account_id, message.dedupe_key, exc)
            if finished and self.manager.delivery.receipts is not None:
                with trio.CancelScope(shield=True), trio.move_on_after(ROUTE_SAVE_SECONDS):
                    await self.manager.delivery.receipts.settle(message, reason=reason)
            if reply is not None and not reply.final:  # "handled" once the reply's first attempt is over
                with trio.move_on_after(REPLY_WAIT_SECONDS):
                    await reply.changed.wait()
        finally:
            if finished and message.dedupe_key is not None:
                self._again.discard((message.channel, message.account_id, message.dedupe_key))
            self.handled += 1
            self._handled_changed.set()
            self._handled_changed = trio.Event()

    async def _count_while_running(self, message: InboundMessage, run: Any,
                                   steps: trio.MemoryReceiveChannel[Any]) -> None:
        """An attempt of a message handed over again, counted while its turn runs and only then: a
        process that dies during the turn may have been killed by it (the guard against a message that
        crashes us each time it is handled). A message waiting for its turn (for its session's lane, for a
        ``maxConcurrent`` slot) or past it (its reply queued) is no suspect when the process dies, and a
        graceful stop that cuts the turn short takes the attempt back. (Counted at hand-over, a message in
        flight when the gateway was killed a few times in a row was dead-lettered although it never ran.)"""
        receipts = self.manager.delivery.receipts
        if receipts is None:
            return
        with steps:
            if run.status == "queued":
                async for stream, data in steps:  # closed when the run ends, started or not
                    if stream == "lifecycle" and data.get("phase") == "start":
                        break
        if run.status != "running":
            return
        counted = False
        try:
            with trio.CancelScope(shield=True):  # written, or not begun: the take-back below pairs with it
                await receipts.count_attempt(message)
            counted = True
            await run.done.wait()
        finally:
            if counted:
                with trio.CancelScope(shield=True), trio.move_on_after(ROUTE_SAVE_SECONDS):
                    await receipts.count_attempt(message, -1)

    async def _handle(self, message: InboundMessage) -> tuple[bool, Entry | None]:
        """Answer (or pair, or ignore) ``message``: (finished, the queued reply). Not finished when its
        turn was cut short by a stopping gateway (the receipt stays open; the next start handles it)."""
        manager = self.manager
        slot = manager.slots.get((message.channel, message.account_id))
        if slot is None or slot.account is None:  # restarting: handled again once the account is up
            manager.handle_when_ready(message)
            return False, None
        account = getattr(slot.account, "account", None)
        pairing = manager.pairing[message.channel]
        paired: set[str] = set()
        if message.chat_type == "direct" and getattr(account, "dm_policy", None) == "pairing":
            paired = await trio.to_thread.run_sync(pairing.allowed)  # a file read: only when it can matter
        # A channel with its own access rules (Discord's guilds/channels) decides itself.
        own_rules = getattr(slot.account, "decide", None)
        decision = own_rules(message, paired) if own_rules is not None else decide(message, account, paired)
        if decision == "ignore":
            log.info("%s:%s ignored a message from %s (policy)", message.channel, message.account_id,
                     message.sender_id)
            return True, None
        if decision == "pair":
            code, created = await trio.to_thread.run_sync(
                pairing.request, message.sender_id, {"username": message.sender_name, "chatId": message.chat_id})
            if code is not None and created:
                text = PAIRING_TEXT.format(label=message.channel.capitalize(), sender=message.sender_id,
                                           code=code, channel=message.channel)
                return True, await manager.delivery.queue_reply(message, text, None, f"pair-{code}")
            return True, None
        key = self.route(message)
        store, route = await self._remember_route(key, message)
        by_channel = manager.runtime.config.messages.queue.by_channel
        prompt = None
        if message.chat_type != "direct":
            own_prompt = getattr(slot.account, "group_prompt", None)
            prompt = own_prompt(message) if own_prompt is not None else group_settings(message, account).system_prompt
        origin = f"{message.channel}:{message.account_id}:{message.reply_target}"
        # Who sent it decides how the agent sees it: the owner's text as is, anyone else's as untrusted.
        sender = Sender(channel=message.channel, sender_id=message.sender_id, name=message.sender_name,
                        chat_type=message.chat_type,
                        owner=is_owner(message.channel, message.sender_id, getattr(account, "allow_from", None)))
        run = manager.runtime.agents.inbound.offer(key, message.text, mode=by_channel.get(message.channel),
                                                   extra_system_prompt=prompt, origin=origin, route=route,
                                                   sender=sender)
        if run is None or run.run_id in self._replying:  # refused, or answered by the run of an earlier message
            await store.save()
            return True, None
        self._replying.add(run.run_id)
        # Watched from now, before the run's task can start it, so its start is not missed.
        again = message.dedupe_key is not None and (message.channel, message.account_id,
                                                     message.dedupe_key) in self._again
        steps = run.watch() if again else None
        try:
            async with trio.open_nursery() as nursery:
                if steps is not None:
                    nursery.start_soon(self._count_while_running, message, run, steps)
                typing = getattr(slot.account, "typing", None)  # "typing…" while the agent runs (Discord)
                if typing is not None:
                    nursery.start_soon(typing, message)
                await run.done.wait()
                nursery.cancel_scope.cancel()
            if (run.status == "aborted" and run.stop_reason is None) or not manager.runtime.runs.accepting:
                return False, None  # cut short or refused by a stopping gateway: the next start runs it
            if run.status != "ok" or not run.text.strip():
                log.warning("%s:%s run %s ended %s: %s", message.channel, message.account_id, run.run_id,
                            run.status, run.error)
                return True, None
            reply_to = message.message_id if getattr(account, "reply_to_mode", "first") != "off" else None
            return True, await manager.delivery.queue_reply(message, run.text, reply_to, run.run_id)
        finally:
            self._replying.discard(run.run_id)
            if run.status != "ok":  # the turn did not write the session store: write the route now
                with trio.CancelScope(shield=True), trio.move_on_after(ROUTE_SAVE_SECONDS):
                    await store.save()

    def route(self, message: InboundMessage) -> str:
        """The session key for ``message``: its agent from ``bindings[]``, its key from ``session.*``."""
        config, agents = self.manager.runtime.config, self.manager.runtime.agents
        agent_id, matched_by = resolve_agent(
            config.bindings, channel=message.channel, account_id=message.account_id,
            peers=message_peers(message), guild_id=message.guild_id, team_id=message.team_id,
            default_agent=agents.default_agent_id(),
            known_agents=agents.agent_ids())
        key = session_key(message, agent_id=agent_id, main_key=agents.main_key(agent_id),
                          dm_scope=config.session.dm_scope, identity_links=config.session.identity_links)
        key = agents.canonical(key)
        log.debug("%s:%s message from %s → %s (%s)", message.channel, message.account_id, message.sender_id,
                  key, matched_by)
        return key

    async def _remember_route(self, key: str, message: InboundMessage) -> tuple[SessionStore, dict[str, Any]]:
        """Record ``lastChannel``/``lastTo`` (in memory) so heartbeat/cron "last" delivery can route back:
        on the message's session and, for a direct message, on its agent's main session too (whatever the
        ``dmScope``, as the original does), which is where "last" delivery looks. The turn's own write of
        the store persists it (and records the same route, instead of "webchat"); returns (store, route)."""
        agents = self.manager.runtime.agents
        store = agents.store(agent_of(key, agents.default_agent_id()))
        route = {"lastChannel": message.channel, "lastTo": message.reply_target, "lastAccountId": message.account_id,
                 "deliveryContext": {"channel": message.channel, "to": message.reply_target,
                                     "accountId": message.account_id}}
        keys = {key}
        if message.chat_type == "direct":
            keys.add(agents.main_key(agent_of(key, agents.default_agent_id())))
        for each in keys:
            (await store.ensure(each)).update(route)
        return store, route
