"""``moltbot config get|set|unset <path>``: read or change one value of the config file.

``set``/``unset`` edit the file's own text in place (comments kept; a change it cannot make in place
rewrites the file as JSON and says so), check the result exactly as the gateway will load it before
writing anything, and write atomically (the previous file kept as ``.bak``). A running gateway watches
the file and reloads it; the command says what the reload rules (``config/reload.py``) will do with the
change: nothing, a hot reload, or a restart. It also fixes an invalid file (the change is checked, not
the file as it was), which is the fix that works while the gateway runs on its last good config.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from ..config.edit import EditError, PathChange, prepare_path_change, read_state, write_config_text
from ..config.load import ConfigError, load_config, parse_json5
from ..config.paths import resolve_config_path, resolve_state_dir
from ..config.redact import REDACTED, redact_tree
from ..config.reload import decide, diff_paths, plan_reload
from ..config.textedit import MISSING, parse_path


@click.group("config")
def config_group() -> None:
    """Read or change the config file (a running gateway reloads it)."""


@config_group.command("get")
@click.argument("path")
def config_get(path: str) -> None:
    """Print the value at a dotted PATH (e.g. gateway.auth.token)."""
    try:
        config = load_config()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    value = config.raw
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            click.echo(f"{path} is not set in {config.path}", err=True)
            sys.exit(1)
        value = value[part]
    click.echo(value if isinstance(value, str) else json.dumps(value, indent=2))


@config_group.command("set")
@click.argument("path")
@click.argument("value")
@click.option("--string", "as_string", is_flag=True, help="Take VALUE as a string, never as JSON5.")
def config_set(path: str, value: str, as_string: bool) -> None:
    """Set PATH (dotted, e.g. gateway.port or agents.list[0].id) to VALUE.

    VALUE is JSON5 (18790, true, "text", {a: 1}, [1, 2]); anything that does not parse as JSON5 is
    taken as a string (openai/gpt-4o). The change is checked before the file is written.
    """
    parsed: Any = value
    if not as_string:
        try:
            parsed = parse_json5(value)
        except ValueError:
            parsed = value
    _change(path, parsed)


@config_group.command("unset")
@click.argument("path")
def config_unset(path: str) -> None:
    """Remove PATH from the config file (its default applies again)."""
    _change(path, MISSING)


def _change(path: str, value: Any) -> None:
    env = os.environ
    try:
        parse_path(path)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    file = resolve_config_path(env)
    try:
        state = read_state(file)
        change = prepare_path_change(state, path, value, env, resolve_state_dir(env))
    except ConfigError as exc:
        raise click.ClickException("; ".join(exc.problems)) from None
    except EditError as exc:
        _refuse(exc)
    write_config_text(file, change.checked.text)
    _report(path, change, file)


def _refuse(exc: EditError) -> None:
    issues = exc.details.get("issues") if isinstance(exc.details, dict) else None
    click.echo(f"Error: {exc.message}; nothing was written", err=True)
    for issue in issues or []:
        line = f" (line {issue['line']})" if issue.get("line") else ""
        click.echo(f"  - {issue.get('path') or '<root>'}{line}: {issue.get('message')}", err=True)
    sys.exit(1)


def _shown(path: str, value: Any, secrets: frozenset[str]) -> str:
    if value is MISSING:
        return "(not set)"
    # Redacted by its place in the file, so a secret inside an object or list value is hidden too.
    shown = redact_tree(value, set(secrets), parse_path(path))
    if shown == REDACTED:
        return "***"
    text = json.dumps(shown, ensure_ascii=False).replace(REDACTED, "***")
    return text if len(text) <= 200 else text[:200] + "…"


def _report(path: str, change: PathChange, file: Any) -> None:
    secrets = change.checked.secrets
    verb = "removed" if change.after is MISSING else "set"
    after = "" if change.after is MISSING else f" = {_shown(path, change.after, secrets)}"
    click.echo(f"{verb} {path}{after} in {file} (was {_shown(path, change.before, secrets)})")
    if not change.comments_kept:
        click.echo("note: the file was rewritten as JSON; its comments could not be kept")
    click.echo(_what_follows(change))


def _what_follows(change: PathChange) -> str:
    """What a running gateway (it watches the file) does with the change, by the reload rules."""
    new = change.checked.config
    if change.old_raw is None:
        return ("the file loads again: a running gateway (which kept its last good config) reloads it now; "
                "its log says `config reload: …`")
    plan = plan_reload(diff_paths(change.old_raw, new.raw))
    decision = decide(new.gateway.reload.mode, plan)
    if decision == "nothing":
        return "the resolved config is unchanged: nothing to reload"
    if decision == "restart":
        return ("a running gateway restarts to apply it (needs a restart: "
                + ", ".join(plan.restart_paths or plan.changed) + ")")
    if decision == "disabled":
        return "gateway.reload.mode is off: restart the gateway to apply it"
    if decision == "ignored":
        return ("gateway.reload.mode is hot, and this needs a restart (" + ", ".join(plan.restart_paths)
                + "): restart the gateway to apply it")
    return "a running gateway applies it without a restart (hot reload)"
