"""What ``moltbot setup`` asks besides the gateway itself: a model provider (and its key) and a Telegram bot.

Theory of operation. Each answer becomes a list of ``Setting`` (a config path, its value, and the words
``setup`` prints for it) and nothing else: ``setup.py`` writes every setting of one run in a single
atomic, comment-keeping edit (``write_settings``). The answers come from flags (``--provider``,
``--model``, ``--base-url``, ``--api-key-env``, ``--api-key-stdin``, ``--telegram-token``) or, on a
terminal, from prompts asked only for what no flag gave. Secrets are read with hidden input (or from
stdin, never from the command line for the API key, where other users' ``ps`` would see it), written
only into the config file (0600), and printed as ``(hidden)``.

The key: a built-in provider reads its usual variable (``OPENAI_API_KEY`` …) at run time, so naming that
variable writes nothing; another variable is written as a ``${VAR}`` reference (the config loader
substitutes it, so the gateway's environment must have it); a key typed in is stored as
``models.providers.<id>.apiKey``. With no provider chosen the agents keep the offline ``echo`` model.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import attrs
import click


def _builtins() -> dict:
    """The built-in providers (imported when setup needs them: the registry pulls in httpx, which every
    other command would pay at start-up)."""
    from ..agents.providers.registry import BUILTINS

    return BUILTINS

SKIP = "skip"
OTHER = "other"
# The model a new user gets by default for each built-in provider (README "Pick a model").
DEFAULT_MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-5", "openrouter": "openai/gpt-4o-mini",
                  "ollama": "llama3.1"}
PROVIDER_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
TELEGRAM_TOKEN = re.compile(r"^\d{3,15}:[A-Za-z0-9_-]{20,80}$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
MAX_SECRET = 4096


@attrs.frozen
class Setting:
    """One config value setup writes: ``path`` (dotted), ``value``, and whether to print it as hidden."""

    path: str
    value: Any
    secret: bool = False

    def describe(self) -> str:
        shown = "(hidden)" if self.secret else json.dumps(self.value, ensure_ascii=False)
        return f"set {self.path} = {shown}"


@attrs.frozen
class ProviderChoice:
    """A model provider as setup writes it. ``key`` is a secret typed in; ``key_env`` a variable to read."""

    provider: str
    model: str
    base_url: str | None = None
    key: str | None = attrs.field(default=None, repr=False)
    key_env: str | None = None

    def default_env(self) -> str:
        from ..agents.providers.registry import _env_key_name

        builtin = _builtins().get(self.provider)
        return builtin.env_key if builtin and builtin.env_key else _env_key_name(self.provider)


def provider_settings(choice: ProviderChoice) -> list[Setting]:
    """The settings that make every agent use ``choice`` (``agents.defaults.model.primary`` and, when
    needed, ``models.providers.<id>``)."""
    base = f"models.providers.{choice.provider}"
    settings = []
    if choice.base_url:
        settings.append(Setting(f"{base}.baseUrl", choice.base_url))
        if choice.provider not in _builtins():
            settings.append(Setting(f"{base}.api", "openai-completions"))
    if choice.key:
        settings.append(Setting(f"{base}.apiKey", choice.key, secret=True))
    elif choice.key_env and choice.key_env != choice.default_env():
        settings.append(Setting(f"{base}.apiKey", "${" + choice.key_env + "}"))
    settings.append(Setting("agents.defaults.model.primary", f"{choice.provider}/{choice.model}"))
    return settings


def telegram_settings(token: str) -> list[Setting]:
    return [Setting("channels.telegram.botToken", token, secret=True)]


def check_provider(provider: str, base_url: str | None) -> str:
    """The provider id, lower-cased; refuses a malformed id and a custom one without ``--base-url``."""
    provider = provider.strip().lower()
    if not PROVIDER_ID.match(provider):
        raise click.BadParameter("a provider id is letters, digits, '-' or '_' (e.g. openai, vllm)",
                                 param_hint="--provider")
    if provider not in _builtins() and not base_url:
        raise click.BadParameter(f"{provider!r} is not built in ({', '.join(_builtins())}): give its OpenAI-compatible "
                                 "--base-url (e.g. http://127.0.0.1:8000/v1)", param_hint="--provider")
    return provider


def check_base_url(url: str | None) -> str | None:
    if url is None:
        return None
    url = url.strip().rstrip("/")
    if not re.match(r"^https?://[^\s/]+", url) or len(url) > 2048:
        raise click.BadParameter("an http(s):// URL, e.g. http://127.0.0.1:8000/v1", param_hint="--base-url")
    return url


def check_telegram_token(token: str) -> str:
    token = token.strip()
    if not TELEGRAM_TOKEN.match(token):  # the value is never echoed back, only its shape is described
        raise click.BadParameter("a bot token looks like 123456789:AA… (digits, a colon, then letters, digits, "
                                 "'-' and '_'); @BotFather gives it with /newbot", param_hint="--telegram-token")
    return token


def check_env_name(name: str) -> str:
    if not ENV_NAME.match(name):
        raise click.BadParameter("an environment variable name (letters, digits, '_')", param_hint="--api-key-env")
    return name


def read_secret_stdin(what: str) -> str:
    """One line from stdin (``--api-key-stdin``, ``--telegram-token -``): ``echo $KEY | moltbot setup …``."""
    line = sys.stdin.readline(MAX_SECRET + 2).strip()
    if not line:
        raise click.UsageError(f"{what}: stdin gave no value")
    if len(line) > MAX_SECRET:
        raise click.UsageError(f"{what}: longer than {MAX_SECRET} characters")
    return line


# --- the interactive questions -----------------------------------------------------------------------

def ask_provider(current: str | None) -> ProviderChoice | None:
    """Ask for a provider, its model and key on the terminal; ``None`` keeps what is configured (or echo)."""
    builtins = _builtins()
    names = [*builtins, OTHER, SKIP]
    now = f" (now {current})" if current else " (none yet: agents answer with echo)"
    provider = click.prompt(f"Model provider{now}", type=click.Choice(names, case_sensitive=False), default=SKIP)
    if provider == SKIP:
        return None
    base_url = None
    if provider == OTHER:
        provider = click.prompt("Provider id (a name of your choice, e.g. vllm)", value_proc=_value(check_provider_id))
        base_url = click.prompt("Its OpenAI-compatible base URL", value_proc=_value(check_base_url))
    elif provider == "ollama":
        base_url = click.prompt("Ollama's base URL", default=builtins["ollama"].base_url,
                                value_proc=_value(check_base_url))
        base_url = None if base_url == builtins["ollama"].base_url else base_url
    model = click.prompt("Model", default=DEFAULT_MODELS.get(provider), value_proc=_value(_check_model))
    choice = ProviderChoice(provider, model, base_url=base_url)
    env_name = choice.default_env()
    if provider == "ollama":
        return choice
    key = click.prompt(f"API key (hidden; leave empty to read ${env_name} when the gateway runs)", default="",
                       hide_input=True, show_default=False)
    key = key.strip()
    if len(key) > MAX_SECRET:
        raise click.UsageError(f"the API key is longer than {MAX_SECRET} characters")
    return attrs.evolve(choice, key=key or None, key_env=None if key else env_name)


def ask_telegram() -> str | None:
    """Ask for an optional Telegram bot token (hidden); ``None`` when skipped."""
    while True:
        token = click.prompt("Telegram bot token from @BotFather (hidden; leave empty to skip)", default="",
                             hide_input=True, show_default=False).strip()
        if not token:
            return None
        try:
            return check_telegram_token(token)
        except click.BadParameter as exc:
            click.echo(f"Error: {exc.message}", err=True)


def check_provider_id(value: str) -> str:
    value = value.strip().lower()
    if not PROVIDER_ID.match(value):
        raise click.BadParameter("letters, digits, '-' or '_'")
    return value


def _check_model(value: str) -> str:
    value = value.strip()
    if not value or len(value) > 200 or any(ch.isspace() for ch in value):
        raise click.BadParameter("a model name without spaces (e.g. gpt-4o-mini)")
    return value


def _value(check):
    """A ``value_proc`` for ``click.prompt``: a bad answer is asked again with the reason shown."""
    def proc(value: str) -> str:
        try:
            return check(value)
        except click.BadParameter as exc:
            raise click.UsageError(exc.message) from None
    return proc
