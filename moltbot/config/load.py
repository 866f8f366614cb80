"""Read the JSON5 config file into a ``Config``; write the generated gateway token back.

Errors name every problem by dotted path, so a user can fix the file in one pass.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

import attrs
import json5

from ..store.atomic import write_atomic
from .model import Config, GatewayConfig
from .paths import resolve_config_path, resolve_state_dir


class ConfigError(Exception):
    """The config file cannot be used; ``problems`` lists each one as ``path: message``."""

    def __init__(self, path: Path | None, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        where = f" at {path}" if path else ""
        super().__init__(f"Invalid config{where}:\n" + "\n".join(f"  - {p}" for p in problems))


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _check_scalar(tp: Any, value: Any) -> bool:
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0
    if tp is str:
        return isinstance(value, str)
    if get_origin(tp) is Literal:
        return any(value == option and type(value) is type(option) for option in get_args(tp))
    return True


def _build(cls: type, data: Any, path: str, problems: list[str]) -> Any:
    """Structure ``data`` into attrs ``cls``, collecting problems; unknown keys are kept in ``raw``."""
    if not isinstance(data, dict):
        problems.append(f"{path}: must be an object")
        return cls()
    kwargs = {}
    hints = attrs.resolve_types(cls)
    for field in attrs.fields(hints):
        key = _camel(field.name)
        if key not in data:
            continue
        value, where = data[key], f"{path}.{key}"
        tp = field.type
        options = [tp]
        if get_origin(tp) in (Union, UnionType):
            options = [a for a in get_args(tp) if a is not type(None)]
        if value is None and type(None) in get_args(tp):
            kwargs[field.name] = None
        elif attrs.has(options[0]):
            kwargs[field.name] = _build(options[0], value, where, problems)
        elif any(_check_scalar(opt, value) for opt in options):
            kwargs[field.name] = value
        else:
            problems.append(f"{where}: invalid value {json.dumps(value)}")
    return cls(**kwargs)


def parse_config(raw: Mapping[str, Any], *, path: Path | None = None, state_dir: Path | None = None) -> Config:
    problems: list[str] = []
    gateway = _build(GatewayConfig, raw.get("gateway", {}), "gateway", problems)
    if problems:
        raise ConfigError(path, problems)
    return Config(gateway=gateway, path=path, state_dir=state_dir, raw=dict(raw))


def load_config(path: Path | None = None, *, env: Mapping[str, str] = os.environ) -> Config:
    """Load the config file (a missing file is an empty config with every default).

    Raises:
        ConfigError: the file does not parse or has invalid values.
    """
    path = Path(path) if path else resolve_config_path(env)
    state_dir = resolve_state_dir(env)
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return Config(path=path, state_dir=state_dir)
    try:
        raw = json5.loads(text) if text.strip() else {}
    except ValueError as exc:
        raise ConfigError(path, [f"<root>: JSON5 parse error: {exc}"]) from None
    if not isinstance(raw, dict):
        raise ConfigError(path, ["<root>: must be an object"])
    return parse_config(raw, path=path, state_dir=state_dir)


def generate_token() -> str:
    return secrets.token_hex(24)


def store_gateway_token(config: Config, token: str) -> Config:
    """Write ``gateway.auth.token`` into the config file (0600, atomic) and return the updated config.

    The file is re-read just before writing so concurrent edits are kept; JSON5 comments are not
    preserved (the original's writer also writes plain JSON).
    """
    if config.path is None:
        raise ValueError("config has no file path")
    raw: dict[str, Any] = {}
    if config.path.exists():
        text = config.path.read_text("utf-8")
        raw = json5.loads(text) if text.strip() else {}
    raw.setdefault("gateway", {}).setdefault("auth", {})["token"] = token
    write_atomic(config.path, json.dumps(raw, indent=2) + "\n", mode=0o600)
    return parse_config(raw, path=config.path, state_dir=config.state_dir)
