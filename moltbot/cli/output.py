"""Output for people and for scripts: rich tables and colours on a terminal, plain text when piped.

One ``Output`` per command. On a terminal it uses rich (tables with borders, colours by status); piped, it
writes aligned plain columns and no escape codes, so ``grep``/``awk`` work; ``--json`` output goes
through ``json()`` and nothing else is printed to stdout. ``NO_COLOR`` and the global ``--no-color``
turn colours off. Messages for people (errors, hints, progress) go to stderr. A spinner is shown on
stderr, and only on a terminal, once something has waited a second. ``progress`` draws a long operation
(``migrate``, ``doctor``): a rich bar or status line on a terminal, redrawn at each step (no refresh
thread), and plain lines on stderr otherwise, so a log or a pipe still shows what is going on. rich is
imported the first time something is drawn on a terminal: a piped command (a script, a test) never loads it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any, TextIO

import trio

from .._util import collapse_single_exception_group
from ..protocol import dumps

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

# Statuses used across commands, and their colours on a terminal.
STYLES = {"ok": "green", "warn": "yellow", "fail": "bold red", "skip": "dim", "info": "cyan",
          "error": "red", "debug": "dim", "warning": "yellow", "fatal": "bold red"}
SPINNER_FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
# What rich's Text drops from what it prints (bell, backspace, vertical tab, form feed, carriage return).
_STRIPPED = dict.fromkeys((7, 8, 11, 12, 13))


def _colour_allowed() -> bool:
    return not os.environ.get("NO_COLOR")


class Output:
    """Where a command prints: ``stdout`` (results) and ``stderr`` (messages), TTY-aware."""

    def __init__(self, *, as_json: bool = False) -> None:
        self.as_json = as_json
        self.tty = sys.stdout.isatty()
        self._no_color = not _colour_allowed()
        self._consoles: dict[bool, Console] = {}

    def _console(self, stderr: bool) -> Console:
        if stderr not in self._consoles:
            from rich.console import Console

            self._consoles[stderr] = Console(stderr=stderr, highlight=False, markup=False, soft_wrap=True,
                                             no_color=self._no_color)
        return self._consoles[stderr]

    @property
    def out(self) -> Console:
        """The rich console on stdout (made on first use)."""
        return self._console(False)

    @property
    def err(self) -> Console:
        """The rich console on stderr (made on first use)."""
        return self._console(True)

    def _print(self, stderr: bool, parts: tuple[tuple[str, str], ...]) -> None:
        stream: TextIO = sys.stderr if stderr else sys.stdout
        if not stream.isatty():  # what rich writes to a pipe (no styles), without loading rich
            stream.write("".join(text for text, _style in parts).translate(_STRIPPED).expandtabs(8) + "\n")
            stream.flush()
            return
        from rich.text import Text

        (self.err if stderr else self.out).print(Text.assemble(*parts))

    def json(self, value: Any) -> None:
        sys.stdout.write(dumps(value, indent=2) + "\n")
        sys.stdout.flush()

    def line(self, text: str = "", style: str | None = None) -> None:
        self._print(False, ((text, style or ""),))

    def note(self, text: str, style: str | None = None) -> None:
        """A message for the person at the keyboard (stderr)."""
        self._print(True, ((text, style or ""),))

    def error(self, text: str) -> None:
        self._print(True, (("error: ", "bold red"), (text, "")))

    def status_text(self, status: str) -> Text:
        from rich.text import Text

        return Text(status, style=STYLES.get(status, ""))

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str | None = None,
              status_column: int | None = None) -> None:
        """Rows under column headings; ``status_column`` is coloured by its value (ok/warn/fail/…)."""
        cells = [["" if cell is None else str(cell) for cell in row] for row in rows]
        if not self.tty:
            self._plain_table(columns, cells, title)
            return
        from rich.table import Table
        from rich.text import Text

        table = Table(title=title, title_justify="left", header_style="bold")
        for name in columns:
            table.add_column(name, overflow="fold")
        for row in cells:
            table.add_row(*[self.status_text(cell) if index == status_column else Text(cell)
                            for index, cell in enumerate(row)])
        self.out.print(table)

    def _plain_table(self, columns: Sequence[str], rows: list[list[str]], title: str | None) -> None:
        if title:
            self.line(title)
        widths = [max([len(name)] + [len(row[i]) for row in rows]) for i, name in enumerate(columns)]
        for row in [list(columns), *rows]:
            self.line("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


@asynccontextmanager
async def spinner(text: str, *, delay: float = 1.0) -> AsyncIterator[None]:
    """Show ``text`` with a spinner on stderr after ``delay`` seconds, until the block ends (TTY only)."""
    if not sys.stderr.isatty():
        yield
        return
    shown = False

    async def spin() -> None:
        nonlocal shown
        await trio.sleep(delay)
        shown = True
        index = 0
        while True:
            sys.stderr.write(f"\r{SPINNER_FRAMES[index % len(SPINNER_FRAMES)]} {text}")
            sys.stderr.flush()
            index += 1
            await trio.sleep(0.1)

    with collapse_single_exception_group():
        async with trio.open_nursery() as nursery:
            nursery.start_soon(spin)
            try:
                yield
            finally:
                nursery.cancel_scope.cancel()
                if shown:
                    sys.stderr.write("\r\x1b[K")
                    sys.stderr.flush()


class Steps:
    """What a ``progress`` block reports: ``step(text)`` (what is being done now), ``advance()`` (one done)."""

    def __init__(self, bar: Any = None, task: Any = None, *, plain: bool) -> None:
        self._bar, self._task, self._plain = bar, task, plain

    def step(self, text: str) -> None:
        if self._bar is not None:
            self._bar.update(self._task, description=text)
            self._bar.refresh()
        elif self._plain:
            sys.stderr.write(f"{text}…\n")
            sys.stderr.flush()

    def advance(self, count: int = 1) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, count)
            self._bar.refresh()


@contextmanager
def progress(text: str, *, total: int | None = None, announce: bool = True,
             plain_steps: bool = True) -> Iterator[Steps]:
    """A long operation's progress on stderr: on a terminal a spinner with ``text`` (and a bar of ``total``
    steps), removed at the end; otherwise ``text…`` as a plain line (unless ``announce`` is false) and each
    ``step`` as one too (unless ``plain_steps`` is false)."""
    if not sys.stderr.isatty():
        if announce:
            sys.stderr.write(f"{text}…\n")
            sys.stderr.flush()
        yield Steps(plain=plain_steps)
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
    if total is not None:
        columns += [BarColumn(), MofNCompleteColumn()]
    columns.append(TimeElapsedColumn())
    from rich.console import Console

    console = Console(stderr=True, highlight=False, markup=False, no_color=not _colour_allowed())
    with Progress(*columns, console=console, transient=True, auto_refresh=False) as bar:
        task = bar.add_task(text, total=total)
        bar.refresh()
        yield Steps(bar, task, plain=plain_steps)
