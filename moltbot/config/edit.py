"""Read the config file for a client, and check a client's new config before it is written.

Theory of operation. A client (the Control UI, the CLI, an agent tool) reads the file with ``snapshot``:
its text, its parse, the resolved config, what is wrong with it, and ``hash``, the sha256 of the real text
(of ``""`` when there is none). Secrets are redacted everywhere in the snapshot (``redact.py``). To change
the file the client sends the new text (``prepare_replace``) or a merge patch (``prepare_patch``) with the
hash it read as ``baseHash``: if the file changed since, the change is refused, so two editors never
overwrite each other unseen. Redaction markers the client sends back are replaced by the file's current
secrets, the result is checked exactly as the loader will read it, and only a config that loads is
returned for writing. These functions do blocking file I/O: call them through ``trio.to_thread``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from ..protocol import dumps
from ..store.atomic import write_atomic
from .load import (
    ConfigError,
    describe_json5_error,
    issues_from_problems,
    parse_config,
    parse_json5,
    read_config_file,
    read_problem,
    resolve_parsed,
)
from .model import Config
from .positions import scan
from .redact import (
    REDACTED,
    RestoreError,
    collect_secrets,
    redact_text,
    redact_tree,
    restore_text,
    restore_tree,
    text_secrets,
)

BASE_HASH_REQUIRED = "config base hash required; re-run config.get and retry"
BASE_HASH_STALE = "config changed since last load; re-run config.get and retry"


class EditError(Exception):
    """A change that cannot be made; ``message`` and ``details`` go to the client as INVALID_REQUEST."""

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


def file_hash(text: str | None) -> str:
    return hashlib.sha256((text or "").encode("utf-8")).hexdigest()


_UNPARSED = object()


@attrs.define
class FileState:
    """The config file's text as read once (``None``: no file), so checks and hash agree; parsed at most once."""

    path: Path
    text: str | None
    _parsed: Any = attrs.field(default=_UNPARSED, init=False, repr=False)

    @property
    def exists(self) -> bool:
        return self.text is not None

    @property
    def hash(self) -> str:
        return file_hash(self.text)

    def parsed(self) -> Any:
        """The file's own parse (before includes); ``{}`` for no file; raises ``ValueError`` if it does not parse."""
        if self._parsed is _UNPARSED:
            try:
                self._parsed = parse_json5(self.text) if self.text is not None else {}
            except ValueError as exc:
                self._parsed = exc
        if isinstance(self._parsed, ValueError):
            raise self._parsed
        return self._parsed

    def secrets(self) -> set[str]:
        if self.text is None:
            return set()
        found = text_secrets(scan(self.text))
        try:
            return found | collect_secrets(self.parsed())
        except ValueError:
            return found


def read_state(path: Path) -> FileState:
    """Read the file once. Raises ``ConfigError`` when it exists but cannot be read (permissions, not UTF-8)."""
    try:
        return FileState(path, path.read_text("utf-8"))
    except FileNotFoundError:
        return FileState(path, None)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, [f"<root>: cannot read the file: {read_problem(exc)}"]) from None


CONFIG_BACKUPS = 5  # <path>.bak, .bak.1 … .bak.4, as the original keeps


def backup_config_file(path: Path) -> None:
    """Keep the file about to be replaced as ``<path>.bak`` (0600: it holds secrets), the older copies shifted to
    ``.bak.1`` … ``.bak.4`` and the oldest dropped, as the original rotates them. Best effort, as in the
    original: a backup that cannot be made never stops the write."""
    try:
        text = path.read_bytes()
    except OSError:
        return
    base = Path(f"{path}.bak")
    try:
        Path(f"{base}.{CONFIG_BACKUPS - 1}").unlink(missing_ok=True)
        for index in range(CONFIG_BACKUPS - 2, 0, -1):
            older = Path(f"{base}.{index}")
            if older.exists():
                older.replace(f"{base}.{index + 1}")
        if base.exists():
            base.replace(f"{base}.1")
        write_atomic(base, text, mode=0o600)
    except OSError:
        pass


def write_config_text(path: Path, text: str) -> None:
    """Replace the file atomically (the previous one kept as a backup); it holds secrets, so 0600 (dir 0700)."""
    backup_config_file(path)
    write_atomic(path, text, mode=0o600)


def load_text(path: Path, text: str, env: Mapping[str, str], state_dir: Path | None, *,
              parsed: Any = _UNPARSED) -> Config:
    """Load ``text`` (already ``parsed``, when given) as if it were the file's content. The env is copied,
    never changed. Raises ``ConfigError``."""
    if parsed is _UNPARSED:
        raw, _ = read_config_file(path, dict(env), text=text)
    else:
        raw = resolve_parsed(path, parsed, dict(env))
    return parse_config(raw, path=path, state_dir=state_dir, text=text)


def redacted_config(config: Config, secrets: set[str]) -> dict[str, Any]:
    return redact_tree(config.raw, secrets | collect_secrets(config.raw))


def _warning_issues(warnings: tuple[str, ...] | list[str]) -> list[dict[str, Any]]:
    return issues_from_problems(list(warnings))


def snapshot(path: Path, env: Mapping[str, str], state_dir: Path | None) -> dict[str, Any]:
    """The original's ConfigFileSnapshot (camelCase keys), secrets redacted, ``hash`` of the real text."""
    state = read_state(path)
    result: dict[str, Any] = {"path": str(path), "exists": state.exists, "raw": None, "parsed": {}, "valid": True,
                              "config": {}, "hash": state.hash, "issues": [], "warnings": [], "legacyIssues": []}
    if state.text is None:
        return result
    secrets = state.secrets()
    try:
        parsed = state.parsed()
    except ValueError as exc:
        message, line, _ = describe_json5_error(exc)
        # As the original's snapshot: ``parsed`` and ``config`` stay ``{}``, one issue for the whole file.
        issue = {"path": "", "message": f"JSON5 parse failed: {message}"}
        result.update(valid=False, issues=[{**issue, "line": line} if line else issue])
    else:
        result["parsed"] = redact_tree(parsed, secrets)
        try:
            config = load_text(path, state.text, env, state_dir, parsed=parsed)
        except ConfigError as exc:
            result.update(valid=False, config=result["parsed"], issues=issues_from_problems(exc.problems))
        else:
            secrets |= collect_secrets(config.raw)
            result.update(config=redact_tree(config.raw, secrets), warnings=_warning_issues(config.warnings))
            result["parsed"] = redact_tree(parsed, secrets)
    result["raw"] = redact_text(state.text, secrets)
    return result


# --- changes -----------------------------------------------------------------------------------------

@attrs.frozen
class Checked:
    """A change that loads: the text to write and the config it gives."""

    text: str
    config: Config
    secrets: frozenset[str]

    @property
    def hash(self) -> str:
        return file_hash(self.text)


def check_base_hash(state: FileState, base_hash: str | None) -> None:
    """Refuse a change made from a stale read (``baseHash`` is required once the file exists)."""
    if base_hash is None:
        if state.exists:
            raise EditError(BASE_HASH_REQUIRED)
        return
    if base_hash.strip() != state.hash:
        raise EditError(BASE_HASH_STALE)


def parse_object(text: str, method: str = "config.set") -> dict[str, Any]:
    """``text`` parsed as a JSON5 object; a non-object is refused in the original's words for ``method``."""
    try:
        value = parse_json5(text)
    except ValueError as exc:
        message, line, column = describe_json5_error(exc)
        raise EditError(f"invalid raw: JSON5 parse error at {message}",
                        {"line": line, "column": column} if line else None) from None
    if not isinstance(value, dict):
        kind = "an array" if isinstance(value, list) else type(value).__name__ if value is not None else "null"
        if method == "config.patch":
            raise EditError("config.patch raw must be an object")
        raise EditError("invalid config", {"issues": [{"path": "", "message": f"must be an object (got {kind})"}]})
    return value


def _restore(incoming: dict[str, Any], state: FileState, secrets: set[str]) -> dict[str, Any]:
    try:
        current = state.parsed()
    except ValueError:
        current = {}
    try:
        return restore_tree(incoming, current, secrets)
    except RestoreError as exc:
        raise EditError(f"invalid config: {exc}", {"issues": [{"path": "" if exc.path == "<root>" else exc.path,
                                                           "message": str(exc)}]}) from None


def _check(path: Path, text: str, env: Mapping[str, str], state_dir: Path | None, secrets: set[str],
           parsed: Any) -> Checked:
    try:
        config = load_text(path, text, env, state_dir, parsed=parsed)
    except ConfigError as exc:
        raise EditError("invalid config", {"issues": issues_from_problems(exc.problems)}) from None
    return Checked(text, config, frozenset(secrets | collect_secrets(config.raw)))


def _as_json(tree: Any) -> str:
    return dumps(tree, indent=2) + "\n"


def prepare_replace(state: FileState, raw: str, base_hash: str | None, env: Mapping[str, str],
                    state_dir: Path | None) -> Checked:
    """``config.set``/``config.apply``: the new text with secrets restored in place (comments kept)."""
    check_base_hash(state, base_hash)
    incoming = parse_object(raw)
    if REDACTED not in raw:  # nothing to restore: spare parsing the current file (JSON5 parsing is slow)
        return _check(state.path, raw, env, state_dir, text_secrets(scan(raw)), incoming)
    secrets = state.secrets()
    restored = _restore(incoming, state, secrets)
    text = raw
    if restored != incoming:  # restore_text has checked that its text parses to ``restored``
        text = restore_text(raw, restored, state.text or "", secrets) or _as_json(restored)
    return _check(state.path, text, env, state_dir, secrets, restored)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge key by key, ``null`` deletes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def prepare_patch(state: FileState, raw: str, base_hash: str | None, env: Mapping[str, str],
                  state_dir: Path | None) -> Checked:
    """``config.patch``: merge ``raw`` into the file's own content; refused while the current file is invalid."""
    check_base_hash(state, base_hash)
    patch = parse_object(raw, "config.patch")
    if state.text is not None:
        try:
            load_text(state.path, state.text, env, state_dir, parsed=state.parsed())
        except (ConfigError, ValueError) as exc:  # invalid, or the file does not parse
            problems = exc.problems if isinstance(exc, ConfigError) else [
                f"<root>: JSON5 parse error at {describe_json5_error(exc)[0]}"]
            raise EditError("invalid config; fix before patching",
                            {"issues": issues_from_problems(problems)}) from None
    secrets = state.secrets()
    current = state.parsed()
    merged = merge_patch(current, _restore(patch, state, secrets))
    return _check(state.path, _as_json(merged), env, state_dir, secrets, merged)


# --- one path (``moltbot config set|unset``) ----------------------------------------------------------

@attrs.frozen
class PathChange:
    """A checked ``config set|unset``: what to write, whether the comments were kept, and the values before
    and after (for the message; the caller redacts them)."""

    checked: Checked
    comments_kept: bool
    before: Any
    after: Any
    old_raw: dict[str, Any] | None  # the resolved config before (None: the file did not load)


def prepare_path_change(state: FileState, path: str, value: Any, env: Mapping[str, str],
                        state_dir: Path | None) -> PathChange:
    """Set ``path`` to ``value`` (``textedit.MISSING``: remove it) in the file's own content, in place in its
    text when possible. The file may be invalid (that is how one fixes it) but must parse. Raises
    ``EditError`` (a bad path, a file that does not parse, a result that does not load)."""
    from . import textedit

    try:
        segments = textedit.parse_path(path)
    except ValueError as exc:
        raise EditError(str(exc)) from None
    try:
        current = state.parsed()
    except ValueError as exc:
        message, line, _ = describe_json5_error(exc)
        where = f" (line {line})" if line else ""
        raise EditError(f"{state.path} does not parse{where}: {message}; fix it in an editor first") from None
    if not isinstance(current, dict):
        raise EditError(f"{state.path} is not a JSON5 object; fix it in an editor first")
    try:
        old_raw: dict[str, Any] | None = load_text(state.path, state.text or "{}", env, state_dir, parsed=current).raw
    except ConfigError:
        old_raw = None
    before = textedit.get_in(current, segments)
    if value is textedit.MISSING:
        if before is textedit.MISSING:
            raise EditError(f"{path} is not set in {state.path}")
        tree = textedit.unset_in_tree(current, segments)
        text = textedit.unset_in_text(state.text or "", segments)
    else:
        try:
            tree = textedit.set_in_tree(current, segments, value)
        except ValueError as exc:
            raise EditError(f"cannot set {path}: {exc}") from None
        text = textedit.set_in_text(state.text, segments, value) if state.text and state.text.strip() else None
    comments_kept = text is not None and _parses_to(text, tree)
    if not comments_kept:
        text = _as_json(tree)
    assert text is not None  # kept with its comments, or written anew just above
    secrets = state.secrets()
    checked = _check(state.path, text, env, state_dir, secrets, tree)
    return PathChange(checked, comments_kept or not scan(state.text or "").comments, before, value, old_raw)


def _parses_to(text: str, tree: Any) -> bool:
    from .redact import _same

    try:
        return _same(parse_json5(text), tree)
    except ValueError:
        return False
