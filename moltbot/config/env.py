"""The environment variables of three generations of installs, resolved in one place.

A variable exists under up to three prefixes: ``MOLTBOT_*`` (ours), ``OPENCLAW_*`` (today's OpenClaw) and
``CLAWDBOT_*`` (the January original, the names most of our code reads). The rule is the same for every
variable in ``ALIASES``:

    MOLTBOT_<NAME>  >  OPENCLAW_<NAME>  >  CLAWDBOT_<NAME>

(an explicit command-line flag beats all three, as it always did). A variable set to the empty string counts
as unset. ``apply_aliases`` writes the winning value under the name our code reads (``canonical``), so
every reader, and every child process, sees one value. When two of the names are set to different values
the conflict is logged once per process, naming the variables and the one used, never the values (they
may be secrets).

Why this order: ``MOLTBOT_*`` is what a user of this program sets on purpose; ``OPENCLAW_*`` is what a
current OpenClaw install sets (OpenClaw itself ignores the other two), so it is newer than a leftover
January ``CLAWDBOT_*`` in the same shell.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import attrs

if TYPE_CHECKING:
    from .model import Config

log = logging.getLogger("moltbot.config")

PREFIXES = ("MOLTBOT_", "OPENCLAW_", "CLAWDBOT_")
PRECEDENCE = "MOLTBOT_* > OPENCLAW_* > CLAWDBOT_*"


@attrs.frozen
class Alias:
    """One variable: its name without prefix, and the full name our code reads."""

    name: str
    canonical: str

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(prefix + self.name for prefix in PREFIXES)


def _alias(name: str, canonical_prefix: str = "CLAWDBOT_") -> Alias:
    return Alias(name, canonical_prefix + name)


# Every variable we have an equivalent for (docs/openclaw-migration.md lists them with their effect).
ALIASES: tuple[Alias, ...] = (
    _alias("HOME", "MOLTBOT_"),
    _alias("STATE_DIR"),
    _alias("CONFIG_PATH"),
    _alias("PROFILE"),
    _alias("GATEWAY_PORT"),
    _alias("GATEWAY_TOKEN"),
    _alias("GATEWAY_PASSWORD"),
    _alias("DISABLE_BONJOUR"),
    _alias("SKIP_CRON"),
    _alias("SKIP_CANVAS_HOST"),
    _alias("ALLOW_MULTI_GATEWAY"),
    _alias("VERSION"),
    _alias("LOG_LEVEL", "MOLTBOT_"),
    _alias("HANDSHAKE_TIMEOUT_MS", "MOLTBOT_"),
)
BY_NAME = {alias.name: alias for alias in ALIASES}

_reported: set[str] = set()  # variables (``Alias.name``) whose conflict this process has logged


@attrs.frozen
class Conflict:
    """Two or more names of one variable set to different values; ``used`` is the winner's name."""

    name: str
    names: tuple[str, ...]
    used: str

    def message(self) -> str:
        return (f"environment: {' and '.join(self.names)} are set to different values; using {self.used} "
                f"({PRECEDENCE})")


def lookup(env: Mapping[str, str], name: str) -> str | None:
    """The value of variable ``name`` (``"STATE_DIR"``) under the first prefix that sets it, or None."""
    for full in BY_NAME[name].names:
        value = env.get(full)
        if value:
            return value
    return None


def conflicts(env: Mapping[str, str]) -> list[Conflict]:
    """Every variable set under two or more names with different values."""
    found = []
    for alias in ALIASES:
        named = [(full, env[full]) for full in alias.names if env.get(full)]
        if len({value for _, value in named}) > 1:
            found.append(Conflict(alias.name, tuple(full for full, _ in named), named[0][0]))
    return found


def apply_aliases(env: MutableMapping[str, str]) -> list[Conflict]:
    """Write each variable's winning value under its canonical name in ``env``; log new conflicts once.

    Idempotent: applying it again (the CLI, then the gateway it starts) changes nothing and logs nothing
    new. Returns the conflicts found (reported or not)."""
    found = conflicts(env)
    for alias in ALIASES:
        value = lookup(env, alias.name)
        if value is not None:
            env[alias.canonical] = value
    for conflict in found:
        # Once per variable: after the first pass the canonical name holds the winner, which a later pass
        # (the gateway the CLI starts) would see as a second, different conflict.
        if conflict.name not in _reported:
            _reported.add(conflict.name)
            log.warning("%s", conflict.message())
    return found


def with_aliases(env: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``env`` with the aliases applied (for a gateway embedded with its own ``env``)."""
    resolved = dict(env)
    apply_aliases(resolved)
    return resolved


def home_dir(env: Mapping[str, str]) -> Path:
    """The directory path defaults start from: ``MOLTBOT_HOME`` / ``OPENCLAW_HOME``, else ``HOME``."""
    return Path(lookup(env, "HOME") or env.get("HOME") or Path.home())


# --- variables that override a config key ------------------------------------------------------------

LOG_LEVELS = ("debug", "info", "warn", "warning", "error")
MAX_HANDSHAKE_TIMEOUT_MS = 600_000


def override_problems(env: Mapping[str, str]) -> list[str]:
    """What is wrong with the override variables' values (``ConfigError`` problems, naming the variable)."""
    problems = []
    level = lookup(env, "LOG_LEVEL")
    if level is not None and level.strip().lower() not in LOG_LEVELS:
        problems.append(f"{_set_name(env, 'LOG_LEVEL')}: must be one of {', '.join(LOG_LEVELS)}")
    timeout = lookup(env, "HANDSHAKE_TIMEOUT_MS")
    if timeout is not None and not (timeout.strip().isdigit() and 0 < int(timeout) <= MAX_HANDSHAKE_TIMEOUT_MS):
        problems.append(f"{_set_name(env, 'HANDSHAKE_TIMEOUT_MS')}: must be a whole number of milliseconds "
                        f"1..{MAX_HANDSHAKE_TIMEOUT_MS}")
    return problems


def apply_overrides(config: Config, env: Mapping[str, str]) -> Config:
    """``config`` with ``*_LOG_LEVEL`` → ``logging.level`` and ``*_HANDSHAKE_TIMEOUT_MS`` →
    ``gateway.handshakeTimeoutMs`` applied (the variable beats the file, as in OpenClaw). Values must have
    passed ``override_problems``."""
    level = lookup(env, "LOG_LEVEL")
    if level is not None:
        # ``override_problems`` accepted it: one of LoggingConfig.level's literals.
        config = attrs.evolve(config, logging=attrs.evolve(config.logging, level=cast(Any, level.strip().lower())))
    timeout = lookup(env, "HANDSHAKE_TIMEOUT_MS")
    if timeout is not None:
        config = attrs.evolve(config, gateway=attrs.evolve(config.gateway, handshake_timeout_ms=int(timeout)))
    return config


def _set_name(env: Mapping[str, str], name: str) -> str:
    return next(full for full in BY_NAME[name].names if env.get(full))
