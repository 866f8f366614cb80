"""Inbound queue modes, as in the original: what happens to a message that arrives while its session is busy.

- ``collect`` (default): messages are gathered into one follow-up turn that runs after the current one
  (a queued follow-up keeps taking messages until it starts; it waits ``debounceMs`` of quiet first);
- ``followup``: one turn per message, in order, after the current one;
- ``steer``: meant to reach the running turn; our providers take no input mid-turn, so it behaves as
  ``followup`` (the reference's own fallback);
- ``interrupt``: the running turn is aborted and the newest message runs.
At most ``cap`` messages wait in a collected turn; past that ``drop`` decides: ``old`` drops the oldest,
``new`` refuses the newest, ``summarize`` drops the oldest but keeps a count of what was dropped.
Channels call ``offer``; the webchat's ``chat.send`` and the ``agent`` method do not queue this way.

``offer`` also frames the text by who sent it (``Sender``): from the owner it only has its "System:"
lines defused; from anyone else it is wrapped as untrusted (``prompt.py``). A chat command (``/approve``
…, ``commands.py``) is not queued: it runs at once as its own run, without the model.
"""

from __future__ import annotations

import uuid
from functools import partial
from typing import TYPE_CHECKING, Any

import attrs
import trio

from .prompt import neutralize_system_lines, wrap_untrusted

if TYPE_CHECKING:
    from .runtime import AgentRuntime, Run

@attrs.frozen
class Sender:
    """Who sent a channel message: ``owner`` when the sender is named in the account's ``allowFrom``."""

    channel: str
    sender_id: str
    name: str | None = None
    chat_type: str = "direct"
    owner: bool = False

    @property
    def group(self) -> bool:
        return self.chat_type != "direct"


def is_owner(channel: str, sender_id: str, allow_from: Any) -> bool:
    """``sender_id`` is listed by name in ``allow_from`` (``*`` admits everyone but makes nobody the owner;
    ``telegram:``/``tg:`` style prefixes are ignored)."""
    if not isinstance(allow_from, (list, tuple)):
        return False
    wanted = str(sender_id).strip().lower()
    for entry in allow_from:
        token = str(entry).strip().lower()
        for prefix in (f"{channel}:", "tg:", "wa:"):
            token = token.removeprefix(prefix)
        if token and token != "*" and token.lstrip("+@") == wanted.lstrip("+@"):
            return True
    return False


def frame_text(text: str, sender: Sender | None) -> str:
    if sender is not None and not sender.owner:
        return wrap_untrusted(text, channel=sender.channel, sender=sender.name or sender.sender_id)
    return neutralize_system_lines(text)


@attrs.define
class Collected:
    """The messages of a follow-up turn that has not started yet."""

    origin: str = ""  # where its messages came from (a chat): only same-origin messages are merged
    messages: list[str] = attrs.field(factory=list)
    dropped: int = 0
    changed: trio.Event = attrs.field(factory=trio.Event)
    last_at: float = 0.0  # trio time of the newest message

    def text(self) -> str:
        if len(self.messages) == 1 and not self.dropped:
            return self.messages[0]
        parts = ["[Queued messages while agent was busy]"]
        if self.dropped:
            parts.append(f"({self.dropped} earlier message(s) dropped)")
        parts += [f"---\nQueued #{index}\n{text}" for index, text in enumerate(self.messages, 1)]
        return "\n".join(parts)


class InboundQueue:
    def __init__(self, agents: AgentRuntime) -> None:
        self._agents = agents
        self._collecting: dict[tuple[str, str], tuple[Run, Collected]] = {}

    def offer(self, session_key: str, text: str, *, mode: str | None = None,
              extra_system_prompt: str | None = None, origin: str = "",
              route: dict[str, Any] | None = None, sender: Sender | None = None) -> Run | None:
        """Queue or start a turn for an inbound message; returns the run that will answer it (``None``
        when ``drop: new`` refused it). ``extra_system_prompt`` (a chat's own prompt) goes to a turn
        started for it; a message collected into a queued turn shares that turn's.

        ``origin`` says where the message came from (channel, account, chat): ``collect`` merges only
        messages of one origin, since the merged turn's reply goes to one place (the original processes
        cross-channel items one by one for the same reason); other origins queue their own turn.
        ``route`` (``lastChannel``/``lastTo``/…) is what the turn records on its session."""
        agents = self._agents
        key = agents.canonical(session_key)
        if agents.commands.match(text) is not None:
            run, _ = agents.submit(run_id=f"command-{uuid.uuid4().hex[:12]}", session_key=key, message=text,
                                   dedupe="inbound", route=route, sender=sender, command=True)
            return run
        text = frame_text(text, sender)
        settings = agents.config.messages.queue
        mode = mode or settings.mode
        busy = agents.lanes.session_busy(key)
        prompt = extra_system_prompt
        start = partial(self._start, sender=sender)
        if not busy or mode in ("followup", "steer", "steer-backlog", "queue"):
            return start(key, text, prompt, route)
        if mode == "interrupt":
            agents.abort(key, reason="interrupt")
            for slot in [slot for slot in self._collecting if slot[0] == key]:
                del self._collecting[slot]
            return start(key, text, prompt, route)
        pending = self._collecting.get((key, origin))
        if pending is None or pending[0].status != "queued":
            collected = Collected(origin=origin)
            run = start(key, "", prompt, route, collected=collected)
            self._collecting[(key, origin)] = (run, collected)
        else:
            run, collected = pending
        if len(collected.messages) >= settings.cap:
            if settings.drop == "new":
                return None
            collected.messages.pop(0)
            collected.dropped += 1
        collected.messages.append(text)
        collected.last_at = trio.current_time()
        collected.changed.set()
        return run

    def _start(self, key: str, text: str, prompt: str | None, route: dict[str, Any] | None, *,
               collected: Collected | None = None, sender: Sender | None = None) -> Run:
        run, _ = self._agents.submit(run_id=f"inbound-{uuid.uuid4().hex[:12]}", session_key=key, message=text,
                                     dedupe="inbound", collected=collected, extra_system_prompt=prompt,
                                     route=route, sender=sender)
        return run

    async def settle(self, run: Run, collected: Collected) -> None:
        """Called when a collected turn gets its slot: wait for quiet, then freeze its message."""
        debounce = self._agents.config.messages.queue.debounce_ms / 1000
        # Trailing debounce: the turn starts once its newest message is ``debounce`` old. Time spent
        # queued behind the previous turn counts, so a follow-up whose messages are already old enough
        # starts at once (a fresh full window per follow-up serialised them a second apart).
        while (remaining := collected.last_at + debounce - trio.current_time()) > 0:
            collected.changed = trio.Event()
            with trio.move_on_after(remaining):
                await collected.changed.wait()
        slot = (run.session_key, collected.origin)
        if self._collecting.get(slot, (None,))[0] is run:
            del self._collecting[slot]
        run.message = collected.text()
