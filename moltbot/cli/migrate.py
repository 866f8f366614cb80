"""``moltbot migrate``: import an OpenClaw or Clawdbot install's config and state (``moltbot.migrate``).

A progress bar (files done of all) on a terminal while the files are written; piped, one line says how
many files are being imported, and the summary follows as before.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from .output import Steps, progress


def _step(steps: Steps, action, state_dir: Path) -> None:
    """One file of the import: shown on the bar (a terminal), counted."""
    try:
        where = action.target.relative_to(state_dir)
    except ValueError:
        where = action.target
    steps.advance()
    steps.step(f"importing {where}")


@click.command("migrate")
@click.option("--from", "kind", type=click.Choice(["openclaw", "clawdbot"]),
              help="What to import (default: ~/.openclaw if it exists, else ~/.clawdbot).")
@click.option("--source", type=click.Path(path_type=Path, file_okay=False),
              help="The folder to import (default ~/.openclaw or ~/.clawdbot).")
@click.option("--dry-run", is_flag=True, help="List what would be written, write nothing.")
@click.option("--force", is_flag=True, help="Also write files that exist: stores are merged, other files replaced.")
def migrate_command(kind: str | None, source: Path | None, dry_run: bool, force: bool) -> None:
    """Import config, sessions, transcripts, cron jobs, pairings and workspace files into this gateway's state.

    The source is only read. Without --force, files that exist already are left alone (and listed). Stop
    the gateway first: a running gateway keeps its stores in memory and would write over the import.
    """
    from ..migrate import MigrateError, apply_plan, build_plan, describe, summarize

    try:
        plan = build_plan(os.environ, source=source, kind=kind)
    except MigrateError as exc:
        raise click.ClickException(str(exc)) from None
    name = "OpenClaw" if plan.kind == "openclaw" else "Clawdbot"
    click.echo(f"{'Would import' if dry_run else 'Importing'} {name} state from {plan.source}\n"
               f"  into {plan.state_dir} (config {plan.config_path})")
    if dry_run:
        for line in describe(plan, force=force):
            click.echo(f"- {line}")
    else:
        try:
            with progress(f"importing {len(plan.actions)} file(s)", total=len(plan.actions),
                          announce=bool(plan.actions), plain_steps=False) as steps:
                outcomes = apply_plan(plan, force=force, on_action=lambda action: _step(steps, action, plan.state_dir))
        except MigrateError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            raise click.ClickException(f"cannot write {exc.filename or 'a file'}: {exc.strerror or 'failed'}") from None
        for line in summarize(outcomes):
            click.echo(f"- {line}")
        skipped = sum(1 for outcome in outcomes if outcome.status.startswith("skipped"))
        if skipped:
            click.echo(f"{skipped} file(s) exist already and were left alone: --force merges or replaces them")
    if not plan.actions:
        click.echo("Nothing to import.")
    if plan.notes:
        click.echo("Not imported, or imported in part:")
        for note in plan.notes:
            click.echo(f"- {note}")
