"""``moltbot agent -m TEXT``: one agent turn through the gateway, the reply streamed as it is written.

The ``agent`` method answers twice on one id (``accepted``, then the final result), so the call is made
with ``expect_final``; meanwhile the ``assistant`` deltas of ``agent`` events for this run (``runId`` is
our idempotency key) are written to stdout. Deltas are droppable events, so the final text decides: what
the stream missed is printed at the end. Ctrl-C aborts the run (``chat.abort``) before exiting 130.
"""

from __future__ import annotations

import sys
import uuid
from typing import Any

import click
import trio

from .._util import collapse_single_exception_group
from ..client import GatewayClient
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


async def run_turn(client: GatewayClient, params: dict[str, Any], stream: ReplyStream) -> dict[str, Any]:
    """Send ``agent`` and stream its deltas until the final response; abort the run if cancelled."""
    events = client.subscribe()

    async def pump() -> None:
        async for frame in events:
            if frame.event == "agent":
                stream.feed(frame.payload)

    async def spin_until_output() -> None:
        async with spinner("Thinking…"):
            await stream.first_output.wait()

    try:
        # A refused run must reach Session.run as the RemoteProtocolError it is, not inside a group.
        with collapse_single_exception_group():
            async with trio.open_nursery() as nursery:
                nursery.start_soon(pump)
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
        final = session.run(lambda client: run_turn(client, params, stream), waiting=None)
    except BaseException as exc:
        if not interrupted(exc):
            raise
        if stream.text:
            sys.stdout.write("\n")
        session.out.note("aborted")
        raise SystemExit(130) from None
    if options["as_json"]:
        session.out.json(final)
