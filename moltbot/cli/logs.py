"""``moltbot logs``: the gateway's log file through ``logs.tail``, once or followed with a cursor.

When the gateway cannot be reached at a loopback URL (it crashed, or was never started), the command
says so and reads the local log file itself (``logging.file``, default ``<stateDir>/logs/gateway.log``),
naming it; ``--follow`` then tails that file, across rotation (``locallog.py``).

Following polls ``logs.tail`` every ``--interval`` ms with the cursor of the previous answer, on a
reconnecting client: when the gateway restarts (in-process or as a new process on the same port) the
poll waits for the next connection and goes on from the same cursor, so no line is shown twice and none is
missed. A ``reset`` answer (the file was rotated, truncated, or too much was written in between) is
announced, and reading goes on from the end of the new file.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click
import trio

from ..client import Backoff, GatewayClosed, open_reconnecting_client
from ..protocol import LOGS_MAX_LIMIT as MAX_LIMIT
from ..protocol import RemoteProtocolError, dumps
from .errors import command
from .locallog import follow_file, local_log_path, read_tail
from .output import STYLES, Output
from .rpc import Session, connection_options


def parse_line(line: str) -> dict[str, Any]:
    """A log line as ``{ts, level, logger, msg}`` (ours, or the original's tslog shape), else ``{raw}``."""
    try:
        entry = json.loads(line)
    except ValueError:
        return {"raw": line}
    if not isinstance(entry, dict):
        return {"raw": line}
    meta: dict[str, Any] = entry["_meta"] if isinstance(entry.get("_meta"), dict) else {}
    return {
        "ts": entry.get("ts") or entry.get("time") or meta.get("date"),
        "level": str(entry.get("level") or meta.get("logLevelName") or "info").lower(),
        "logger": entry.get("logger") or entry.get("subsystem") or meta.get("name") or "",
        "msg": entry.get("msg") or entry.get("message") or entry.get("0") or "",
        **({"exc": entry["exc"]} if entry.get("exc") else {}),
    }


class LogPrinter:
    def __init__(self, out: Output, *, as_json: bool) -> None:
        self.out = out
        self.as_json = as_json

    def meta(self, result: dict[str, Any]) -> None:
        if self.as_json:
            self._json({"type": "meta", "file": result.get("file"), "cursor": result.get("cursor"),
                        "size": result.get("size"), "truncated": bool(result.get("truncated")),
                        "reset": bool(result.get("reset")), "source": result.get("source", "gateway")})

    def lines(self, lines: list[str]) -> None:
        for line in lines:
            entry = parse_line(line)
            if self.as_json:
                self._json({"type": "log", **entry})
            elif "raw" in entry:
                self.out.line(entry["raw"])
            else:
                self._human(entry)
        sys.stdout.flush()

    def _human(self, entry: dict[str, Any]) -> None:
        from rich.text import Text

        level = entry["level"]
        text = Text.assemble((f"{entry['ts'] or ''} ", "dim"), (f"{level:<5} ", STYLES.get(level, "")),
                             (f"{entry['logger']}: " if entry["logger"] else "", "cyan"), entry["msg"])
        self.out.out.print(text)
        if entry.get("exc"):
            self.out.line(entry["exc"], style="red")

    def _json(self, value: dict[str, Any]) -> None:
        sys.stdout.write(dumps(value, separators=None) + "\n")


DEFAULT_BACKOFF = Backoff()


def _params(cursor: int | None, limit: int, max_bytes: int) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": limit, "maxBytes": max_bytes}
    if cursor is not None:
        params["cursor"] = cursor
    return params


async def follow(session: Session, printer: LogPrinter, *, limit: int, max_bytes: int, interval: float,
                 backoff: Backoff = DEFAULT_BACKOFF) -> None:
    """Poll ``logs.tail`` forever on a reconnecting client (module docstring)."""
    out, timeout = session.out, session.timeout_ms / 1000
    kwargs = await trio.to_thread.run_sync(session.connect_kwargs)
    cursor: int | None = None
    async with open_reconnecting_client(session.target.url, backoff=backoff, **kwargs) as client:
        connects = client.connects
        lost = False
        while True:
            if client.client is None and not lost:
                lost = True
                out.note("lost the gateway; reconnecting…", style="yellow")
            connection = await client.wait_connected()
            if client.connects != connects:
                connects, lost = client.connects, False
                out.note("reconnected to the gateway", style="green")
            # --limit is for the first screenful; after that every new line is shown.
            params = _params(cursor, limit if cursor is None else MAX_LIMIT, max_bytes)
            try:
                with trio.fail_after(timeout):
                    result = await connection.call("logs.tail", params)
            except (GatewayClosed, trio.TooSlowError) as exc:
                if not lost:
                    lost = True
                    out.note(f"lost the gateway ({exc or 'no answer'}); reconnecting…", style="yellow")
                await trio.sleep(interval)
                continue
            if cursor is None or result.get("reset"):
                printer.meta(result)
                if result.get("reset"):
                    out.note("the log file was rotated or truncated; continuing from its end", style="yellow")
            printer.lines(result.get("lines") or [])
            cursor = result.get("cursor")
            await trio.sleep(interval)


@click.command("logs")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines (survives gateway restarts).")
@click.option("--limit", type=click.IntRange(1, 5000), default=200, show_default=True, help="Lines at most.")
@click.option("--max-bytes", type=click.IntRange(1, 1_000_000), default=250_000, show_default=True)
@click.option("--interval", type=click.IntRange(50), default=1000, show_default=True,
              help="Milliseconds between polls when following.")
@click.option("--plain", is_flag=True, help="No colours.")
@connection_options
def logs_command(follow: bool, limit: int, max_bytes: int, interval: int, plain: bool, **options) -> None:
    """Print the gateway's log file (JSON lines with --json)."""
    if plain:
        os.environ["NO_COLOR"] = "1"
    session = Session.from_options(options)
    printer = LogPrinter(session.out, as_json=bool(options["as_json"]))
    try:
        try:
            result = session.attempt(lambda client: client.call("logs.tail", _params(None, limit, max_bytes)))
        except GatewayClosed as exc:
            path = local_log_path(session.target)
            if exc.code is not None or path is None:
                session.fail(exc)
            _read_local(session, printer, path, exc, follow=follow, limit=limit, max_bytes=max_bytes,
                        interval=interval / 1000)
            return
        except (RemoteProtocolError, trio.TooSlowError) as exc:
            session.fail(exc)
        if not follow:
            printer.meta(result)
            printer.lines(result.get("lines") or [])
            return
        trio.run(lambda: _follow(session, printer, limit, max_bytes, interval / 1000))
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except BrokenPipeError:
        sys.stderr.close()  # the reader went away (`| head`): nothing left to say
        raise SystemExit(0) from None


def _read_local(session: Session, printer: LogPrinter, path: Any, exc: GatewayClosed, *, follow: bool,
                limit: int, max_bytes: int, interval: float) -> None:
    """The gateway is down: its log file, read here (and followed with ``--follow``)."""
    why = exc.reason or "not running"
    session.out.note(f"gateway unreachable at {session.target.url} ({why}); reading the local log file {path}",
                     style="yellow")
    try:
        lines, size = read_tail(path, limit, max_bytes)
    except FileNotFoundError:
        if not follow:
            session.out.error(f"no log file at {path}: has this profile's gateway run? (`{command('gateway')}` "
                              "starts it)")
            raise SystemExit(1) from None
        lines, size = [], 0
    printer.meta({"file": str(path), "cursor": size, "size": size, "source": "file"})
    printer.lines(lines)
    if follow:
        follow_file(path, size, printer.lines, interval,
                    rotated=lambda: session.out.note("the log file was rotated; reading the new one", style="yellow"))


async def _follow(session: Session, printer: LogPrinter, limit: int, max_bytes: int, interval: float) -> None:
    try:
        await follow(session, printer, limit=limit, max_bytes=max_bytes, interval=interval)
    except (RemoteProtocolError, GatewayClosed, trio.TooSlowError) as exc:
        session.fail(exc)
