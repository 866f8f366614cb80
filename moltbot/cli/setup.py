"""``moltbot setup``: the state dir and config with a gateway token, and optionally a model provider and a
Telegram bot. Safe to run again.

On a terminal it asks (workspace, model provider and key, Telegram token) for what no flag gave;
otherwise, or with ``--non-interactive``, only the flags count (``onboard.py`` has the questions and the
settings each answer gives). Every change of one run is one edit of the file: in place in its text, so
comments and layout stay (``config/textedit.py``), checked exactly as the gateway will load it, written
atomically with a ``.bak`` and mode 0600. A file that does not load is left untouched: ``moltbot config
set`` fixes it (setup names that).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from ..config.edit import EditError, FileState, prepare_path_change, read_state, write_config_text
from ..config.load import ConfigError, generate_token, load_config, parse_json5
from ..config.textedit import MISSING, get_in, parse_path, set_in_tree
from .errors import command
from .onboard import (
    DEFAULT_MODELS,
    ProviderChoice,
    Setting,
    ask_provider,
    ask_telegram,
    check_base_url,
    check_env_name,
    check_provider,
    check_telegram_token,
    provider_settings,
    read_secret_stdin,
    telegram_settings,
)


def base_settings(raw: dict[str, Any], *, workspace: str | None, mode: str) -> list[tuple[Setting, str]]:
    """What a working local gateway needs and ``raw`` lacks, each with the line to print."""
    wanted = []
    gateway: dict[str, Any] = raw["gateway"] if isinstance(raw.get("gateway"), dict) else {}
    if not gateway.get("mode"):
        wanted.append((Setting("gateway.mode", mode), f"set gateway.mode = {mode}"))
    auth: dict[str, Any] = gateway["auth"] if isinstance(gateway.get("auth"), dict) else {}
    if not auth.get("token") and not auth.get("password"):
        wanted.append((Setting("gateway.auth.token", generate_token(), secret=True),
                       "generated a gateway token (gateway.auth.token)"))
    if workspace and get_in(raw, ("agents", "defaults", "workspace")) in (MISSING, None, ""):
        wanted.append((Setting("agents.defaults.workspace", workspace), f"set agents.defaults.workspace = {workspace}"))
    return wanted


def _grouped(settings: list[Setting], tree: Any) -> list[tuple[str, Any]]:
    """``settings`` as (path, value) edits, those under one missing object joined into one nested value, so
    the text gets one new member per missing object (``"models": {…}``) rather than a splice per key."""
    edits: dict[tuple[Any, ...], Any] = {}
    for setting in settings:
        segments = parse_path(setting.path)
        depth = next((i for i in range(len(segments)) if get_in(tree, segments[:i + 1]) is MISSING), len(segments))
        head, rest = segments[:depth + 1], segments[depth + 1:]
        if not rest or any(isinstance(segment, int) for segment in rest):
            edits[segments] = setting.value
            continue
        edits[head] = set_in_tree(edits[head] if isinstance(edits.get(head), dict) else {}, rest, setting.value)
    return [(".".join(str(segment) for segment in path), value) for path, value in edits.items()]


def write_settings(path: Path, state_dir: Path, settings: list[Setting], env: dict[str, str]) -> bool:
    """Apply ``settings`` to the file in one checked, atomic write; return whether comments were kept.

    Raises:
        click.ClickException: a setting the config refuses (nothing is written then).
    """
    state: FileState = read_state(path)
    new_file = not state.exists
    kept = True
    try:
        tree = state.parsed()
    except ValueError:
        tree = {}
    for dotted, value in _grouped(settings, tree):
        try:
            change = prepare_path_change(state, dotted, value, env, state_dir)
        except EditError as exc:
            issues = exc.details.get("issues") if isinstance(exc.details, dict) else None
            why = "; ".join(f"{issue.get('path') or '<root>'}: {issue.get('message')}" for issue in issues or [])
            raise click.ClickException(f"cannot set {dotted}: {why or exc.message}; nothing was written") from None
        kept = kept and change.comments_kept
        state = FileState(path, change.checked.text)
    if settings:
        text = state.text or "{}\n"
        if new_file:  # nothing to keep: lay the new file out as JSON, one member per line
            text = json.dumps(parse_json5(text), indent=2, ensure_ascii=False) + "\n"
        write_config_text(path, text)
    return kept


def ensure_setup(path: Path, state_dir: Path, *, workspace: str | None, mode: str,
                 extra: list[Setting] | None = None, env: dict[str, str] | None = None) -> list[str]:
    """Create what is missing and apply ``extra``; return what was done (empty when nothing changed).

    Raises:
        ConfigError: the existing file does not load (it is then left untouched).
    """
    env = dict(os.environ) if env is None else env
    done: list[str] = []
    if not state_dir.exists():
        done.append(f"created {state_dir}")
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(state_dir, 0o700)
    existed = path.exists()
    raw: dict[str, Any] = {}
    if existed:
        load_config(path, env=dict(env))
        raw = parse_json5(path.read_text("utf-8"))
    else:
        done.append(f"created {path} (mode 0600)")
    wanted = base_settings(raw, workspace=workspace, mode=mode)
    settings = [setting for setting, _ in wanted] + list(extra or [])
    if not existed and not settings:
        write_config_text(path, "{}\n")
    kept = write_settings(path, state_dir, settings, env)
    if existed and not kept:
        done.append("note: the file was rewritten as JSON; its comments could not be kept")
    os.chmod(path, 0o600)
    return done + [line for _, line in wanted] + [setting.describe() for setting in extra or []]


def current_model(path: Path) -> str | None:
    """``agents.defaults.model.primary`` as the file has it (or None), for the question's default."""
    try:
        raw = parse_json5(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    model = get_in(raw, tuple(parse_path("agents.defaults.model")))
    model = model.get("primary") if isinstance(model, dict) else model
    return model if isinstance(model, str) and model else None


def provider_from_flags(provider: str | None, model: str | None, base_url: str | None, key_env: str | None,
                        key_stdin: bool) -> ProviderChoice | None:
    if provider is None:
        if model or base_url or key_env or key_stdin:
            raise click.UsageError("--model, --base-url, --api-key-env and --api-key-stdin need --provider")
        return None
    base_url = check_base_url(base_url)
    provider = check_provider(provider, base_url)
    if key_env and key_stdin:
        raise click.UsageError("--api-key-env and --api-key-stdin cannot be combined: give one")
    model = (model or DEFAULT_MODELS.get(provider) or "").strip()
    if not model:
        raise click.UsageError(f"--model is needed for provider {provider!r}")
    key = read_secret_stdin("--api-key-stdin") if key_stdin else None
    return ProviderChoice(provider, model, base_url=base_url, key=key,
                          key_env=check_env_name(key_env) if key_env else None)


def _next_steps(path: Path, state_dir: Path, choice: ProviderChoice | None, model: str | None) -> str:
    lines = [f"Config: {path}", f"State:  {state_dir}",
             f"The gateway token is in gateway.auth.token. Local clients ({command('status')}) read it from",
             "there; remote clients pass --token or set CLAWDBOT_GATEWAY_TOKEN. Print it with:",
             f"  {command('config get gateway.auth.token')}"]
    if choice is not None and choice.key is None and choice.provider != "ollama":
        env_name = choice.key_env or choice.default_env()
        note = "" if os.environ.get(env_name) else " (it is not set in this shell)"
        lines.append(f"The gateway reads the {choice.provider} API key from ${env_name}{note}.")
    if model is None:
        lines.append(f"No model provider yet: agents answer with echo. Pick one with `{command('setup')}` on a "
                     "terminal, or `" + command("setup --provider openai --api-key-env OPENAI_API_KEY") + "`.")
    lines.append(f"Start the gateway with: {command('gateway')}")
    return "\n".join(lines)


def _workspaces(path: Path) -> list[str]:
    """The agents' workspaces with their starter files (``agents/workspace.py``), from the config just set up."""
    from ..agents.workspace import setup_workspaces

    return setup_workspaces(load_config(path, env=dict(os.environ)))


@click.command("setup")
@click.option("--non-interactive", is_flag=True, help="Never prompt (flags only).")
@click.option("--mode", type=click.Choice(["local", "remote"]), default="local", show_default=True)
@click.option("--workspace", help="Agent workspace folder (default ~/clawd, or ~/clawd-dev for --dev).")
@click.option("--provider", help="Model provider: openai, anthropic, openrouter, ollama, or an id of your own "
              "with --base-url (OpenAI-compatible: vLLM, llama.cpp, LM Studio).")
@click.option("--model", help="Model name at that provider (default: gpt-4o-mini, claude-sonnet-4-5, …).")
@click.option("--base-url", help="The provider's base URL (e.g. http://127.0.0.1:8000/v1).")
@click.option("--api-key-env", metavar="VAR", help="Read the API key from VAR when the gateway runs "
              "(nothing secret is written; default: the provider's usual variable, e.g. OPENAI_API_KEY).")
@click.option("--api-key-stdin", is_flag=True, help="Read the API key from stdin and store it in the config (0600).")
@click.option("--telegram-token", metavar="TOKEN", help="Telegram bot token from @BotFather ('-': read it from stdin).")
def setup_command(non_interactive: bool, mode: str, workspace: str | None, provider: str | None, model: str | None,
                  base_url: str | None, api_key_env: str | None, api_key_stdin: bool,
                  telegram_token: str | None) -> None:
    """Create the state dir (0700) and config (0600) with a gateway token, if missing; optionally a model
    provider and a Telegram bot (asked on a terminal, flags otherwise)."""
    from ..config.paths import resolve_config_path, resolve_state_dir

    env = os.environ
    state_dir, path = resolve_state_dir(env), resolve_config_path(env)
    home = Path(env.get("HOME") or Path.home())
    default_workspace = home / ("clawd-dev" if env.get("CLAWDBOT_PROFILE") == "dev" else "clawd")
    choice = provider_from_flags(provider, model, base_url, api_key_env, api_key_stdin)
    if telegram_token is not None:
        telegram_token = check_telegram_token(read_secret_stdin("--telegram-token -") if telegram_token == "-"
                                              else telegram_token)
    interactive = not non_interactive and sys.stdin.isatty()
    if interactive:
        _check_loads(path)
        if workspace is None:
            workspace = click.prompt("Agent workspace", default=str(default_workspace))
        if provider is None:
            choice = ask_provider(current_model(path))
        if telegram_token is None:
            telegram_token = ask_telegram()
    extra = (provider_settings(choice) if choice else []) + (telegram_settings(telegram_token) if telegram_token else [])
    try:
        done = ensure_setup(path, state_dir, workspace=workspace or str(default_workspace), mode=mode, extra=extra,
                            env=dict(env))
    except ConfigError as exc:
        raise click.ClickException(_unloadable(exc)) from None
    done += _workspaces(path)
    for line in done:
        click.echo(f"- {line}")
    if not done:
        click.echo("Already set up; nothing changed.")
    click.echo(_next_steps(path, state_dir, choice, current_model(path)))


def _check_loads(path: Path) -> None:
    """Refuse before asking anything when the file does not load (the answers could not be written)."""
    if path.exists():
        try:
            load_config(path, env=dict(os.environ))
        except ConfigError as exc:
            raise click.ClickException(_unloadable(exc)) from None


def _unloadable(exc: ConfigError) -> str:
    return f"{exc}\n(setup changes nothing until the file loads)"
