"""Structured logs: JSON lines to ``<stateDir>/logs/gateway.log`` (rotated), and the console.

Each line is ``{"ts", "level", "logger", "msg"}`` (+ ``"exc"``); ``logs.tail`` adds OpenClaw's ``time``/
``subsystem``/``message`` to the lines it returns, the file keeps this format. ``--verbose`` mirrors every event to the
console; otherwise the console shows warnings and the few lines a person starting the gateway needs.
Known secrets (gateway token/password, channel tokens, provider keys) are replaced by ``***`` in every
line, wherever they appear.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from ..config.model import Config
from ..protocol import dumps
from ..store.reopen import ReopeningFileHandler

REDACTED = "***"
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "warning": logging.WARNING,
           "error": logging.ERROR}


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            for secret in self.secrets:
                message = message.replace(secret, REDACTED)
            record.msg, record.args = message, None
        return True


class DropNoise(logging.Filter):
    """Drops hypercorn's "Running on http://… (CTRL + C to quit)": the gateway says where it listens itself
    (``gateway listening on …``), and the hint is wrong for a service."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str)
                    and record.msg.startswith("Running on ") and record.msg.endswith("(CTRL + C to quit)"))


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                 "level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage()}
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return dumps(entry)


def config_secrets(config: Config, env: dict[str, str]) -> list[str]:
    found = [config.gateway.auth.token, config.gateway.auth.password, config.gateway.remote.token,
             config.gateway.remote.password, config.hooks.token, env.get("CLAWDBOT_GATEWAY_TOKEN"),
             env.get("CLAWDBOT_GATEWAY_PASSWORD"), env.get("TELEGRAM_BOT_TOKEN")]
    telegram = config.channels.telegram
    if telegram is not None:
        found += [telegram.bot_token, telegram.webhook_secret]
        found += [account.bot_token for account in telegram.accounts.values()]
    slack = config.channels.slack
    if slack is not None:
        for account in (slack, *slack.accounts.values()):
            found += [account.bot_token, account.app_token, account.signing_secret]
    found += [env.get("SLACK_BOT_TOKEN"), env.get("SLACK_APP_TOKEN")]
    found += [provider.api_key for provider in config.models.providers.values()]
    return [secret for secret in found if secret]


def log_file_path(config: Config) -> Path | None:
    if config.logging.file:
        return Path(os.path.expanduser(config.logging.file))
    return config.state_dir / "logs" / "gateway.log" if config.state_dir else None


def configure_logging(config: Config, *, verbose: bool, env: dict[str, str]) -> Path | None:
    """Install the file and console handlers on the ``moltbot`` logger; return the log file path."""
    root = logging.getLogger("moltbot")
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False
    redact, noise = RedactSecrets(config_secrets(config, env)), DropNoise()
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.DEBUG if verbose else logging.WARNING)
    console.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    console.addFilter(noise)
    console.addFilter(redact)
    root.addHandler(console)
    path = log_file_path(config)
    if path is not None:
        file_handler = ReopeningFileHandler(  # made again (dir 0700, file 0600) if the state dir is removed
            path, maxBytes=config.logging.max_bytes, backupCount=config.logging.backups, encoding="utf-8")
        os.chmod(path, 0o600)
        file_handler.setFormatter(JsonLines())
        file_handler.addFilter(noise)
        file_handler.addFilter(redact)
        file_handler.setLevel(logging.DEBUG if verbose else _LEVELS[config.logging.level])
        root.addHandler(file_handler)
    return path
