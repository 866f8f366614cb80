"""Read the JSON5 config file into a ``Config``: the original's file, format and environment
overrides.

Order: parse JSON5 → resolve ``$include`` (string or list of paths relative to the including file, deep
merged, depth ≤ 10) → apply the top-level ``env`` block to the environment without overriding what is set
→ substitute ``${VAR}`` in string values (``$${VAR}`` is a literal) → structure the typed tree. Every
problem is collected, named by dotted path and line, and raised together as one ``ConfigError``; unknown
keys are kept in ``Config.raw`` and listed in ``Config.warnings``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from types import NoneType, UnionType
from typing import Any, Literal, Union, get_args, get_origin

import attrs

from .._util import camel
from . import json5_fast
from .env import apply_overrides, override_problems
from .model import ORIGINAL_SECTIONS, Config, normalize_agent_id
from .paths import resolve_config_path, resolve_state_dir
from .positions import key_lines, line_of
from .profiles import cli_command
from .tools import sandbox_problem

MAX_INCLUDE_DEPTH = 10
_VAR = re.compile(r"\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)\}")
_PARSE_ERROR = re.compile(r"^<string>:(\d+) (.*) at column (\d+)$", re.S)
_PROBLEM = re.compile(r"^(?P<path>.+?)(?: \(line (?P<line>\d+)\))?: (?P<message>.*)$", re.S)


class ConfigError(Exception):
    """The config cannot be used; ``problems`` lists each one as ``path (line N): message``."""

    def __init__(self, path: Path | None, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        where = f" at {path}" if path else ""
        super().__init__(f"Invalid config{where}:\n" + "\n".join(f"  - {p}" for p in problems)
                         + f"\nTo fix: `{cli_command('config set PATH VALUE')}` or `{cli_command('config unset PATH')}` "
                         "(each change is "
                         "checked before it is written), or edit the file. A running gateway keeps its last good "
                         "config and reloads the file once it is valid; a stopped one starts with it.")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number" if isinstance(value, float) else "integer"
    names: dict[type, str] = {str: "string", list: "array", dict: "object"}
    return names.get(type(value), type(value).__name__)


def _describe(tp: Any) -> str:
    origin = get_origin(tp)
    if origin in (Union, UnionType):
        return " or ".join(_describe(arg) for arg in get_args(tp) if arg is not NoneType)
    if origin is Literal:
        return "one of " + ", ".join(json.dumps(arg) for arg in get_args(tp))
    if attrs.has(tp) or origin is dict:
        return "an object"
    if origin is list:
        return "an array"
    return {bool: "a boolean", int: "a non-negative integer", str: "a string", float: "a number"}.get(tp, str(tp))


def _matches(tp: Any, value: Any) -> bool:
    origin = get_origin(tp)
    if tp is Any:
        return True
    if origin is Literal:
        return any(value == arg and type(value) is type(arg) for arg in get_args(tp))
    if attrs.has(tp) or origin is dict:
        return isinstance(value, dict)
    if origin is list:
        return isinstance(value, list)
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    return False


@attrs.define
class _Context:
    lines: dict[str, int]
    problems: list[str] = attrs.field(factory=list)
    warnings: list[str] = attrs.field(factory=list)

    def where(self, path: str) -> str:
        line = line_of(self.lines, path)
        return f"{path} (line {line})" if line else path

    def problem(self, path: str, message: str) -> None:
        self.problems.append(f"{self.where(path)}: {message}")


_INVALID = object()


def _structure(tp: Any, value: Any, path: str, ctx: _Context) -> Any:
    origin = get_origin(tp)
    if origin in (Union, UnionType):
        if value is None and NoneType in get_args(tp):
            return None
        for arg in get_args(tp):
            if arg is not NoneType and _matches(arg, value):
                return _structure(arg, value, path, ctx)
    elif _matches(tp, value):
        if attrs.has(tp):
            return _build(tp, value, path, ctx)
        if origin is list:
            (item_tp,) = get_args(tp)
            items = [_structure(item_tp, item, f"{path}[{i}]", ctx) for i, item in enumerate(value)]
            return [item for item in items if item is not _INVALID]
        if origin is dict:
            _, value_tp = get_args(tp)
            entries = {key: _structure(value_tp, item, f"{path}.{key}", ctx) for key, item in value.items()}
            return {key: item for key, item in entries.items() if item is not _INVALID}
        return value
    ctx.problem(path, f"must be {_describe(tp)} (got {_json_type(value)} {json.dumps(value)[:60]})")
    return _INVALID


def _build(cls: type, data: dict[str, Any], path: str, ctx: _Context) -> Any:
    kwargs: dict[str, Any] = {}
    known = set()
    invalid = False
    for field in attrs.fields(attrs.resolve_types(cls)):
        if field.metadata.get("file") is False:
            continue
        key = field.metadata.get("key") or camel(field.name)
        known.add(key)
        if key not in data:
            if field.default is attrs.NOTHING:
                ctx.problem(f"{path}.{key}" if path else key, "is required")
                return _INVALID
            continue
        value = _structure(field.type, data[key], f"{path}.{key}" if path else key, ctx)
        if value is not _INVALID:
            kwargs[field.name] = value
        elif field.default is attrs.NOTHING:  # already reported; the object cannot be built
            invalid = True
    for key in data:
        if key not in known and not key.startswith("$") and not (cls is Config and key in ORIGINAL_SECTIONS):
            ctx.warnings.append(f"{ctx.where(f'{path}.{key}' if path else key)}: unknown key (kept, not used)")
    return _INVALID if invalid else cls(**kwargs)


def check_bindings(config: Config, raw: Mapping[str, Any], ctx: _Context) -> Config:
    """``bindings[]`` must name configured agents and usable match keys; peer ids become text.

    Checked on the raw items, so a problem names the item's own index even when an earlier one was
    dropped as malformed."""
    known = [normalize_agent_id(entry.id) for entry in config.agents.entries] or ["main"]
    items = raw.get("bindings")
    for index, item in enumerate(items if isinstance(items, list) else []):
        if not isinstance(item, dict):
            continue
        where = f"bindings[{index}]"
        agent = item.get("agentId")
        if isinstance(agent, str) and normalize_agent_id(agent) not in known:
            ctx.problem(f"{where}.agentId", f"unknown agent {json.dumps(agent)} (agents.list has: {', '.join(known)})")
        match = item.get("match")
        if not isinstance(match, dict):
            continue
        if isinstance(match.get("channel"), str) and not match["channel"].strip():
            ctx.problem(f"{where}.match.channel", "must not be empty")
        peer = match.get("peer")
        if isinstance(peer, dict) and "id" in peer:
            value = peer["id"]
            if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
                ctx.problem(f"{where}.match.peer.id", f"must be a non-empty string or an integer "
                            f"(got {_json_type(value)} {json.dumps(value)[:60]})")
    checked = []
    for binding in config.bindings:
        peer = binding.match.peer
        if peer is not None:
            peer = attrs.evolve(peer, id=str(peer.id).strip())
        checked.append(attrs.evolve(binding, match=attrs.evolve(binding.match, peer=peer)))
    return attrs.evolve(config, bindings=checked)


# --- includes, env block, substitution ---------------------------------------------------------------

def deep_merge(base: Any, overlay: Any) -> Any:
    if isinstance(base, dict) and isinstance(overlay, dict):
        merged = dict(base)
        for key, value in overlay.items():
            merged[key] = deep_merge(merged[key], value) if key in merged else value
        return merged
    return overlay


def parse_json5(text: str) -> Any:
    """JSON5 text to a value. Plain JSON (what our writers produce) and the usual hand-written JSON5
    (comments, bare keys, trailing commas, single quotes) take the C parser (``json5_fast``): the
    pure-Python json5 parser needs ~50 ms per KB, paid on every reload, restart and config.get."""
    if not text.strip():
        return {}
    try:
        return json.loads(text)
    except ValueError:
        return json5_fast.loads(text)


def _read_json5(path: Path) -> Any:
    return parse_json5(path.read_text("utf-8"))


def resolve_includes(raw: Any, base_dir: Path) -> tuple[Any, list[str]]:
    """``raw`` with every ``$include`` merged in (paths relative to ``base_dir``), and the problems met."""
    problems: list[str] = []
    return _resolve_includes(raw, base_dir, 0, problems, ""), problems


def _resolve_includes(value: Any, base_dir: Path, depth: int, problems: list[str], where: str) -> Any:
    if isinstance(value, list):
        return [_resolve_includes(item, base_dir, depth, problems, where) for item in value]
    if not isinstance(value, dict):
        return value
    merged: Any = {}
    if "$include" in value:
        targets = value["$include"]
        targets = [targets] if isinstance(targets, str) else targets
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            problems.append(f"{where or '<root>'}.$include: must be a path or a list of paths")
            targets = []
        for target in targets:
            included = (base_dir / os.path.expanduser(target)).resolve()
            if depth >= MAX_INCLUDE_DEPTH:
                problems.append(f"{where or '<root>'}.$include: nested deeper than {MAX_INCLUDE_DEPTH} ({included})")
                continue
            try:
                content = _read_json5(included)
            except FileNotFoundError:
                problems.append(f"{where or '<root>'}.$include: file not found: {included}")
                continue
            except ValueError as exc:
                problems.append(f"{where or '<root>'}.$include: {included}: JSON5 parse error: {exc}")
                continue
            merged = deep_merge(merged, _resolve_includes(content, included.parent, depth + 1, problems, where))
    rest = {key: _resolve_includes(item, base_dir, depth, problems, f"{where}.{key}" if where else key)
            for key, item in value.items() if key != "$include"}
    return deep_merge(merged, rest)


def apply_env_block(raw: Mapping[str, Any], env: MutableMapping[str, str]) -> None:
    """Top-level ``env`` (``{KEY: "v"}`` or ``{vars: {KEY: "v"}}``) fills variables that are not set."""
    block = raw.get("env")
    if not isinstance(block, dict):
        return
    entries = dict(block.get("vars") or {}) if isinstance(block.get("vars"), dict) else {}
    entries.update({k: v for k, v in block.items() if isinstance(v, str)})
    for key, item in entries.items():
        if isinstance(item, (str, int, float)) and not isinstance(item, bool):
            env.setdefault(key, str(item))


def substitute_env(value: Any, env: Mapping[str, str], path: str, problems: list[str]) -> Any:
    if isinstance(value, str):
        def replace(match: re.Match) -> str:
            if match.group(1):
                return "${" + match.group(2) + "}"
            name = match.group(2)
            if name not in env:
                problems.append(f"{path or '<root>'}: environment variable {name} is not set")
                return match.group(0)
            return env[name]

        return _VAR.sub(replace, value)
    if isinstance(value, list):
        return [substitute_env(item, env, f"{path}[{i}]", problems) for i, item in enumerate(value)]
    if isinstance(value, dict):
        return {key: item if (not path and key == "env") else
                substitute_env(item, env, f"{path}.{key}" if path else key, problems)
                for key, item in value.items()}
    return value


# --- entry points ------------------------------------------------------------------------------------

def parse_config(raw: Mapping[str, Any], *, path: Path | None = None, state_dir: Path | None = None,
                 text: str = "") -> Config:
    """Structure an already-resolved raw config. Raises ``ConfigError`` listing every problem."""
    ctx = _Context(lines=key_lines(text) if text else {})
    config = _build(Config, dict(raw), "", ctx)
    if config is not _INVALID:
        port = config.gateway.port
        if not 0 <= port <= 65535:
            ctx.problem("gateway.port", f"must be a port number 0..65535 (got {port})")
        canvas_port = config.canvas_host.port
        if canvas_port is not None and not 0 <= canvas_port <= 65535:
            ctx.problem("canvasHost.port", f"must be a port number 0..65535 (got {canvas_port})")
        config = check_bindings(config, raw, ctx)
        # Never a silent unsandboxed run: a sandbox this machine cannot provide refuses the config.
        sandbox_reason = sandbox_problem(config.agents.defaults.sandbox)
        if sandbox_reason is not None:
            ctx.problem("agents.defaults.sandbox.mode", sandbox_reason)
        auth = config.gateway.auth
        if config.hooks.token and config.hooks.token in (auth.token, auth.password):
            ctx.problem("hooks.token", "must differ from the gateway's token and password (whoever sends "
                        "webhooks would hold full control of the gateway); generate a separate hooks token")
    if ctx.problems or config is _INVALID:
        raise ConfigError(path, ctx.problems)
    return attrs.evolve(config, path=path, state_dir=state_dir, raw=dict(raw), warnings=tuple(ctx.warnings))


def describe_json5_error(exc: ValueError) -> tuple[str, int | None, int | None]:
    """The parser's message as ``line L, column C: what`` (and L, C) instead of ``<string>:L what at column C``."""
    text = str(exc)
    match = _PARSE_ERROR.match(text)
    if match is None:
        return text, None, None
    line, column = int(match.group(1)), int(match.group(3))
    return f"line {line}, column {column}: {match.group(2)}", line, column


def issues_from_problems(problems: list[str]) -> list[dict[str, Any]]:
    """``ConfigError.problems`` (``path (line N): message``) as ``[{path, message, line?}]``.

    The whole config's path is ``""`` on the wire, as in the original's issues (``<root>`` only in text)."""
    issues = []
    for problem in problems:
        match = _PROBLEM.match(problem)
        if match is None:
            issues.append({"path": "", "message": problem})
            continue
        path = match.group("path")
        issue: dict[str, Any] = {"path": "" if path == "<root>" else path, "message": match.group("message")}
        if match.group("line"):
            issue["line"] = int(match.group("line"))
        issues.append(issue)
    return issues


def read_config_file(path: Path, env: MutableMapping[str, str], *,
                     text: str | None = None) -> tuple[dict[str, Any], str]:
    """Parse, include, apply ``env``, substitute. Returns (raw, main file text). Raises ``ConfigError``.

    ``text``, when given, is used instead of the file's content (checking a config before writing it).
    """
    text = path.read_text("utf-8") if text is None else text
    try:
        raw = parse_json5(text)
    except ValueError as exc:
        message, line, _ = describe_json5_error(exc)
        where = f"<root> (line {line})" if line else "<root>"
        raise ConfigError(path, [f"{where}: JSON5 parse error at {message}"]) from None
    return resolve_parsed(path, raw, env), text


def resolve_parsed(path: Path, raw: Any, env: MutableMapping[str, str]) -> dict[str, Any]:
    """The file's parsed content with includes resolved, its ``env`` block applied and ``${VAR}`` substituted
    (``raw`` itself is not changed). Raises ``ConfigError``."""
    if not isinstance(raw, dict):
        raise ConfigError(path, [f"<root>: must be an object (got {_json_type(raw)})"])
    problems: list[str] = []
    raw = _resolve_includes(raw, path.parent, 0, problems, "")
    apply_env_block(raw, env)
    raw = substitute_env(raw, env, "", problems)
    if problems:
        raise ConfigError(path, problems)
    return raw


def load_config(path: Path | None = None, *, env: MutableMapping[str, str] | None = None,
                text: str | None = None) -> Config:
    """Load the config file (a missing file is an empty config with every default).

    Args:
        path: the file; default resolved from the environment (``MOLTBOT_CONFIG_PATH`` …).
        env: the environment to read and to fill from the file's ``env`` block (default ``os.environ``);
            ``*_LOG_LEVEL`` and ``*_HANDSHAKE_TIMEOUT_MS`` in it override their keys (``config/env.py``).
        text: the file's content when the caller has read it already (``""`` for a missing file).

    Raises:
        ConfigError: the file does not parse or has invalid values (every problem listed).
    """
    env = os.environ if env is None else env
    path = Path(path) if path else resolve_config_path(env)
    state_dir = resolve_state_dir(env)
    try:
        raw, text = read_config_file(path, env, text=text)
    except FileNotFoundError:
        return _with_env_overrides(Config(path=path, state_dir=state_dir), env)
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise ConfigError(path, [f"<root>: cannot read the file: {read_problem(exc)}"]) from None
    return _with_env_overrides(parse_config(raw, path=path, state_dir=state_dir, text=text), env)


def _with_env_overrides(config: Config, env: Mapping[str, str]) -> Config:
    """Checked after the file's ``env`` block has been applied: it may set the variables too."""
    problems = override_problems(env)
    if problems:
        raise ConfigError(config.path, problems)
    return apply_overrides(config, env)


def read_problem(exc: OSError | UnicodeDecodeError) -> str:
    """Why a file could not be read, in words (``Permission denied``), without Python's exception text:
    ``config.get`` shows the problems to clients."""
    if isinstance(exc, UnicodeDecodeError):
        return "it is not UTF-8 text"
    return exc.strerror or type(exc).__name__


def check_running_config_text(path: Path, text: str | None, *, existed: bool) -> None:
    """Raise ``ConfigError`` when a running gateway's config file was removed (``text`` None after it
    ``existed``) or emptied: that is an edit gone wrong (a failed save, a removed state dir), not a wish
    for every default, which would drop the token ``moltbot setup`` wrote there. Blocking (it looks for
    the ``.bak`` copy the gateway keeps, to say where the last version is)."""
    if text is None and not existed:
        return
    if text is not None and text.strip():
        return
    backup = Path(f"{path}.bak")
    restore = f"restore it from {backup}" if backup.exists() else "restore it"
    what = "was removed" if text is None else "is empty"
    raise ConfigError(path, [f"<root>: the file {what} while the gateway runs; the gateway keeps its last good "
                             f"config. To fix: {restore}, or run `{cli_command('setup')}` to write a new one "
                             "(it is reloaded when saved)"])


def generate_token() -> str:
    return secrets.token_hex(24)


def update_config_file(path: Path, change: Any) -> dict[str, Any]:
    """Re-read the file, apply ``change(raw)`` to its own (unincluded) content, write it back atomically.

    JSON5 comments are not preserved (the original's writer also writes plain JSON). Mode 0600, dir 0700; the
    previous file is kept as ``<path>.bak``.
    """
    raw: dict[str, Any] = {}
    if path.exists():
        loaded = _read_json5(path)
        raw = loaded if isinstance(loaded, dict) else {}
    change(raw)
    from .edit import write_config_text  # edit builds on this module

    write_config_text(path, json.dumps(raw, indent=2) + "\n")
    return raw


def store_gateway_token(config: Config, token: str, *, env: MutableMapping[str, str] | None = None) -> Config:
    """Write ``gateway.auth.token`` into the config file and return the reloaded config."""
    if config.path is None:
        raise ValueError("config has no file path")
    update_config_file(config.path, lambda raw: raw.setdefault("gateway", {}).setdefault("auth", {})
                       .__setitem__("token", token))
    return load_config(config.path, env={} if env is None else env)
