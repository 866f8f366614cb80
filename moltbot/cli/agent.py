"""``moltbot agent -m TEXT``: one agent turn through the gateway, the reply streamed as it is written.

The ``agent`` method answers twice on one id (``accepted``, then the final result), so the call is made
with ``expect_final``; meanwhile the ``assistant`` deltas of ``agent`` events for this run (``runId`` is
our idempotency key) are written to stdout. Deltas are droppable events, so the final text decides: what
the stream missed is printed at the end. Ctrl-C aborts the run (``chat.abort``) before exiting 130.

When the run waits for an exec approval (an ``exec.approval.requested`` event for its session), the command
is shown and, on a terminal, the user is asked: yes once, always (the allowlist), or no; the answer goes
back as ``exec.approval.resolve``. Another approver may answer first (the chat's owner, ``moltbot approvals``):
the prompt's answer is then refused by the gateway and said so. Without a terminal the command only says
what waits and how to answer it from elsewhere.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable
from typing import Any

import click
import trio

from .._util import collapse_single_exception_group
from ..client import GatewayClient
from ..protocol import ProtocolError
from .errors import interrupted
from .output import spinner
from .rpc import Session


class ReplyStream:
    """Writes the assistant text of one run to stdout as it grows."""

    def __init__(self, run_id: str, *, echo: bool) -> None:
        self.run_id = run_id
        self.echo = echo
        self.text = ""
        self.session_key: str | None = None
        self.first_output = trio.Event()

    def feed(self, payload: Any) -> None:
        if not isinstance(payload, dict) or payload.get("runId") != self.run_id:
            return
        self.session_key = payload.get("sessionKey") or self.session_key
        data = payload.get("data") or {}
        if payload.get("stream") != "assistant" or not isinstance(data, dict):
            return
        text = data.get("text")
        if isinstance(text, str) and text.startswith(self.text):
            self._write(text[len(self.text):])
        elif isinstance(data.get("delta"), str):
            self._write(data["delta"])

    def finish(self, final_text: str) -> None:
        """Write what the stream missed, then end the line."""
        if final_text.startswith(self.text):
            self._write(final_text[len(self.text):])
        elif final_text and self.echo:
            self._write("\n" + final_text)
        if self.echo and self.text:
            sys.stdout.write("\n")
            sys.stdout.flush()

    def _write(self, delta: str) -> None:
        if not delta:
            return
        self.text += delta
        self.first_output.set()
        if self.echo:
            sys.stdout.write(delta)
            sys.stdout.flush()


ANSWERS = {"y": "allow-once", "yes": "allow-once", "a": "allow-always", "always": "allow-always", "n": "deny",
           "no": "deny", "": "deny"}
Ask = Callable[[str], str]  # prompt → the user's answer (blocking: run in a worker thread)


def approval_prompt(payload: dict[str, Any]) -> str:
    request = payload.get("request") or {}
    return (f"\nThe agent wants to run:\n  {str(request.get('command', ''))[:500]}\n  (in {request.get('cwd')})\n"
            f"Allow? [y]es once, [a]lways, [n]o: ")


async def answer_approval(client: GatewayClient, payload: dict[str, Any], ask: Ask | None) -> None:
    """Ask about one waiting approval (``ask`` None: only say what waits) and send the answer."""
    approval_id = payload.get("id")
    if ask is None:
        sys.stderr.write(f"\nwaiting for approval {approval_id}: moltbot approvals allow {approval_id} "
                         f"(or deny {approval_id})\n")
        return
    answer = (await trio.to_thread.run_sync(ask, approval_prompt(payload), abandon_on_cancel=True)).strip().lower()
    decision = ANSWERS.get(answer, "deny")
    try:
        await client.call("exec.approval.resolve", {"id": approval_id, "decision": decision})
    except ProtocolError as exc:  # answered elsewhere first, or expired
        sys.stderr.write(f"approval {approval_id} not answered here: {exc.message}\n")


async def run_turn(client: GatewayClient, params: dict[str, Any], stream: ReplyStream, *,
                   ask: Ask | None = None) -> dict[str, Any]:
    """Send ``agent`` and stream its deltas until the final response; abort the run if cancelled. An
    approval the run waits for is put to ``ask`` (see the module docstring)."""
    events = client.subscribe()

    async def pump(nursery: trio.Nursery) -> None:
        async for frame in events:
            if frame.event == "agent":
                stream.feed(frame.payload)
            elif frame.event == "exec.approval.requested" and isinstance(frame.payload, dict):
                waiting_for = (frame.payload.get("request") or {}).get("sessionKey")
                if waiting_for and waiting_for in (stream.session_key, params.get("sessionKey")):
                    stream.first_output.set()  # the spinner stops: the prompt needs the terminal
                    nursery.start_soon(answer_approval, client, frame.payload, ask)

    async def spin_until_output() -> None:
        async with spinner("Thinking…"):
            await stream.first_output.wait()

    try:
        # A refused run must reach Session.run as the RemoteProtocolError it is, not inside a group.
        with collapse_single_exception_group():
            async with trio.open_nursery() as nursery:
                nursery.start_soon(pump, nursery)
                nursery.start_soon(spin_until_output)
                final = await client.call("agent", params, expect_final=True)
                stream.first_output.set()
                nursery.cancel_scope.cancel()
    except BaseException:
        session_key = stream.session_key or params.get("sessionKey")
        if session_key:
            with trio.CancelScope(shield=True), trio.move_on_after(2):
                await client.call("chat.abort", {"sessionKey": session_key, "runId": stream.run_id})
        raise
    stream.finish(result_text((final or {}).get("result") or {}))
    return final


def result_text(result: dict[str, Any]) -> str:
    """The reply of an ``agent`` result: ours has ``text``; protocol 4 (today's OpenClaw) has
    ``payloads[].text``."""
    if isinstance(result.get("text"), str) and result["text"]:
        return result["text"]
    payloads: list[Any] = result["payloads"] if isinstance(result.get("payloads"), list) else []
    return "\n".join(p["text"] for p in payloads if isinstance(p, dict) and isinstance(p.get("text"), str))


@click.command("agent")
@click.option("--message", "-m", required=True, help="The message to send.")
@click.option("--session", "session_key", help="Session key (default: the agent's main session).")
@click.option("--agent", "agent_id", help="Agent id (default: the default agent).")
@click.option("--thinking", help="Thinking level for this run.")
@click.option("--url", help="Gateway WebSocket URL.")
@click.option("--token", help="Gateway token.")
@click.option("--password", help="Gateway password.")
@click.option("--timeout", type=click.IntRange(1), default=600, show_default=True, help="Seconds for the whole run.")
@click.option("--json", "as_json", is_flag=True, help="Print the final result as JSON instead of streaming.")
def agent_command(message: str, session_key: str | None, agent_id: str | None, thinking: str | None,
                  timeout: int, **options) -> None:
    """Run one agent turn through the gateway and stream the reply."""
    session = Session.from_options({**options, "timeout": timeout * 1000})
    run_id = str(uuid.uuid4())
    params: dict[str, Any] = {"message": message, "idempotencyKey": run_id, "timeout": timeout}
    for key, value in (("sessionKey", session_key), ("agentId", agent_id), ("thinking", thinking)):
        if value:
            params[key] = value
    stream = ReplyStream(run_id, echo=not options["as_json"])
    try:
        ask = _ask_terminal if sys.stdin.isatty() and not options["as_json"] else None
        final = session.run(lambda client: run_turn(client, params, stream, ask=ask), waiting=None)
    except BaseException as exc:
        if not interrupted(exc):
            raise
        if stream.text:
            sys.stdout.write("\n")
        session.out.note("aborted")
        raise SystemExit(130) from None
    if options["as_json"]:
        session.out.json(final)


def _ask_terminal(prompt: str) -> str:
    sys.stderr.write(prompt)
    sys.stderr.flush()
    return sys.stdin.readline()
