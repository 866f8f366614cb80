"""The exec approvals file (``<stateDir>/exec-approvals.json``) and the decision it gives for a command.

Theory of operation. The file is the original's: ``{version: 1, socket?, defaults?: {security, ask,
askFallback, autoAllowSkills}, agents?: {<id>: {…the same, allowlist: [{id, pattern, lastUsedAt,
lastUsedCommand, lastResolvedPath}]}}}``, written atomically with mode 0600. ``effective_policy`` merges
an agent's entry over the file's defaults; a field the file leaves out comes from ``tools.exec.*``, then
from our defaults (``allowlist`` / ``on-miss`` / ``deny``: every command not allowlisted asks, and with
nobody to answer it is refused). Where both the file and the config set a field, the stricter wins, as in
the original.

``evaluate`` splits a command into its pipeline/sequence segments (``|``, ``&&``, ``||``, ``;``) and
resolves each segment's executable on ``PATH``; the command is allowlisted only when every segment's
executable matches a pattern (a glob on the resolved path, or on the bare name for a pattern without
``/``). A command with substitutions, redirections or a newline is never allowlisted: it asks.
``evaluate_argv`` judges an argument vector another host runs (a node's ``system.run``) by ``argv[0]`` as
given, unresolved. Pure except
for ``shutil.which`` and the file I/O functions, which callers run in a worker thread.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import shlex
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import attrs

from ..config.tools import ExecToolConfig
from ..store.atomic import write_atomic

FILE_NAME = "exec-approvals.json"
SECURITY = ("deny", "allowlist", "full")  # strictest first
ASK = ("always", "on-miss", "off")  # strictest first
DECISIONS = ("allow-once", "allow-always", "deny")
DEFAULTS = {"security": "allowlist", "ask": "on-miss", "askFallback": "deny"}
MAX_FILE_BYTES = 1024 * 1024
MAX_ALLOWLIST = 500
MAX_PATTERN = 1024
_SEPARATORS = {"|", "||", "&&", ";", "&"}
_COMPLEX = ("$(", "`", ">", "<", "\n", "${")


class ApprovalsFileError(ValueError):
    """The approvals file (or a file given to ``exec.approvals.set``) is not a valid approvals file."""


def approvals_path(state_dir: Path) -> Path:
    return state_dir / FILE_NAME


def file_hash(text: str | None) -> str | None:
    return hashlib.sha256(text.encode("utf-8")).hexdigest() if text is not None else None


def read_file(path: Path) -> tuple[str | None, dict[str, Any]]:
    """(raw text or None when missing, the normalized file). A file that does not parse is an error."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return None, {"version": 1}
    if len(data) > MAX_FILE_BYTES:
        raise ApprovalsFileError(f"{path} is larger than {MAX_FILE_BYTES} bytes")
    text = data.decode("utf-8", "replace")
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise ApprovalsFileError(f"{path} is not valid JSON: {exc}") from None
    return text, normalize(raw)


def write_file(path: Path, file: dict[str, Any]) -> str:
    text = json.dumps(file, indent=2) + "\n"
    write_atomic(path, text, mode=0o600)
    return text


def _policy_fields(raw: Any, where: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ApprovalsFileError(f"{where} must be an object")
    out: dict[str, Any] = {}
    for key, allowed in (("security", SECURITY), ("ask", ASK), ("askFallback", SECURITY)):
        if raw.get(key) is not None:
            if raw[key] not in allowed:
                raise ApprovalsFileError(f"{where}.{key} must be one of {', '.join(allowed)}")
            out[key] = raw[key]
    if raw.get("autoAllowSkills") is not None:
        if not isinstance(raw["autoAllowSkills"], bool):
            raise ApprovalsFileError(f"{where}.autoAllowSkills must be a boolean")
        out["autoAllowSkills"] = raw["autoAllowSkills"]
    return out


def normalize(raw: Any) -> dict[str, Any]:
    """A checked copy of an approvals file (unknown keys dropped); ``ApprovalsFileError`` names the field."""
    if not isinstance(raw, dict):
        raise ApprovalsFileError("the approvals file must be a JSON object")
    if raw.get("version", 1) != 1:
        raise ApprovalsFileError("version must be 1")
    out: dict[str, Any] = {"version": 1}
    socket = raw.get("socket")
    if socket is not None:
        if not isinstance(socket, dict) or not all(isinstance(socket.get(k, ""), str) for k in ("path", "token")):
            raise ApprovalsFileError("socket must be {path?: string, token?: string}")
        out["socket"] = {k: socket[k] for k in ("path", "token") if socket.get(k)}
    if raw.get("defaults") is not None:
        out["defaults"] = _policy_fields(raw["defaults"], "defaults")
    agents = raw.get("agents")
    if agents is not None:
        if not isinstance(agents, dict):
            raise ApprovalsFileError("agents must be an object keyed by agent id")
        out["agents"] = {}
        for agent_id, entry in agents.items():
            where = f"agents.{agent_id}"
            fields = _policy_fields(entry, where)
            allowlist = (entry or {}).get("allowlist")
            if allowlist is not None:
                if not isinstance(allowlist, list) or len(allowlist) > MAX_ALLOWLIST:
                    raise ApprovalsFileError(f"{where}.allowlist must be a list of at most {MAX_ALLOWLIST} entries")
                fields["allowlist"] = [_allow_entry(item, f"{where}.allowlist[{i}]") for i, item in enumerate(allowlist)]
            out["agents"][str(agent_id)] = fields
    return out


def _allow_entry(item: Any, where: str) -> dict[str, Any]:
    if not isinstance(item, dict) or not isinstance(item.get("pattern"), str) or not item["pattern"].strip():
        raise ApprovalsFileError(f"{where}.pattern must be a non-empty string")
    if len(item["pattern"]) > MAX_PATTERN:
        raise ApprovalsFileError(f"{where}.pattern is longer than {MAX_PATTERN} characters")
    entry = {"id": item["id"] if isinstance(item.get("id"), str) else uuid.uuid4().hex[:12],
             "pattern": item["pattern"].strip()}
    for key in ("lastUsedAt",):
        if isinstance(item.get(key), int):
            entry[key] = item[key]
    for key in ("lastUsedCommand", "lastResolvedPath"):
        if isinstance(item.get(key), str):
            entry[key] = item[key][:2000]
    return entry


def redacted(file: dict[str, Any]) -> dict[str, Any]:
    """The file as ``exec.approvals.get`` shows it: the socket token left out."""
    out = json.loads(json.dumps(file))
    if isinstance(out.get("socket"), dict):
        out["socket"].pop("token", None)
    return out


@attrs.frozen
class Policy:
    security: str
    ask: str
    ask_fallback: str
    allowlist: tuple[dict[str, Any], ...] = ()


def _stricter(order: tuple[str, ...], a: str | None, b: str | None) -> str | None:
    if a is None or b is None:
        return a or b
    return a if order.index(a) <= order.index(b) else b


def effective_policy(file: dict[str, Any], agent_id: str, exec_config: ExecToolConfig) -> Policy:
    defaults = file.get("defaults") or {}
    entry = (file.get("agents") or {}).get(agent_id) or {}
    merged = {key: entry.get(key, defaults.get(key)) for key in ("security", "ask", "askFallback")}
    security = _stricter(SECURITY, merged["security"], exec_config.security) or DEFAULTS["security"]
    ask = _stricter(ASK, merged["ask"], exec_config.ask) or DEFAULTS["ask"]
    return Policy(security=security, ask=ask, ask_fallback=merged["askFallback"] or DEFAULTS["askFallback"],
                  allowlist=tuple(entry.get("allowlist") or ()))


@attrs.frozen
class Evaluation:
    decision: Literal["allow", "deny", "ask"]
    reason: str
    resolved: tuple[str, ...] = ()  # resolved executable of each segment (what "allow-always" records)
    matched: tuple[str, ...] = ()  # ids of the allowlist entries that matched


def segments(command: str) -> list[list[str]] | None:
    """The command's simple commands, or None when it is too complex to judge (substitution, redirection)."""
    if any(mark in command for mark in _COMPLEX):
        return None
    try:
        lexer = shlex.shlex(command, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True
        tokens = list(lexer)
    except ValueError:
        return None
    out: list[list[str]] = []
    current: list[str] = []
    for token in tokens:
        if token in _SEPARATORS:
            if current:
                out.append(current)
            current = []
        elif set(token) <= set(";&|"):
            return None
        else:
            current.append(token)
    if current:
        out.append(current)
    return out or None


def _executable(words: list[str], cwd: Path, path_env: str | None) -> str | None:
    words = [w for w in words]
    while words and "=" in words[0] and not words[0].startswith("="):  # VAR=value cmd
        words.pop(0)
    if not words:
        return None
    name = words[0]
    if "/" in name:
        candidate = (cwd / Path(name).expanduser()).resolve()
        return str(candidate) if candidate.is_file() else None
    found = shutil.which(name, path=path_env)
    return str(Path(found).resolve()) if found else None


def _matches(pattern: str, resolved: str) -> bool:
    pattern = str(Path(pattern).expanduser()) if pattern.startswith("~") else pattern
    target = resolved if "/" in pattern else Path(resolved).name
    return fnmatch.fnmatch(target.lower(), pattern.lower())


def evaluate(policy: Policy, command: str, cwd: Path, path_env: str | None) -> Evaluation:
    if policy.security == "deny":
        return Evaluation("deny", "exec is denied by the approvals policy (security: deny)")
    return _judge(policy, segments(command), lambda words: _executable(words, cwd, path_env))


def evaluate_argv(policy: Policy, argv: list[str]) -> Evaluation:
    """The decision for an argument vector another host runs without a shell (a node's ``system.run``):
    its one executable is ``argv[0]`` as given, since only that host can resolve it, so an allowlist
    pattern with a ``/`` matches only an absolute ``argv[0]``."""
    if policy.security == "deny":
        return Evaluation("deny", "exec is denied by the approvals policy (security: deny)")
    return _judge(policy, [argv] if argv and argv[0] else None, lambda words: words[0])


def _judge(policy: Policy, parts: list[list[str]] | None,
           executable_of: Callable[[list[str]], str | None]) -> Evaluation:
    resolved: list[str] = []
    matched: list[str] = []
    hit = parts is not None
    for words in parts or ():
        executable = executable_of(words)
        if executable is None:
            hit = False
            continue
        resolved.append(executable)
        entry = next((e for e in policy.allowlist if _matches(e["pattern"], executable)), None)
        if entry is None:
            hit = False
        else:
            matched.append(entry["id"])
    if policy.ask == "always":
        return Evaluation("ask", "approval is asked for every command (ask: always)", tuple(resolved), tuple(matched))
    if policy.security == "full" or hit:
        return Evaluation("allow", "full access" if policy.security == "full" else "allowlisted",
                          tuple(resolved), tuple(matched))
    if policy.ask == "on-miss":
        return Evaluation("ask", "not on the allowlist", tuple(resolved))
    return Evaluation("deny", "not on the allowlist (ask: off)", tuple(resolved))


def allow_always(file: dict[str, Any], agent_id: str, resolved: tuple[str, ...], command: str) -> dict[str, Any]:
    """``file`` with the resolved executables added to the agent's allowlist (each once)."""
    agents = file.setdefault("agents", {})
    entry = agents.setdefault(agent_id, {})
    allowlist = entry.setdefault("allowlist", [])
    known = {item["pattern"] for item in allowlist}
    for executable in resolved:
        if executable not in known and len(allowlist) < MAX_ALLOWLIST:
            allowlist.append({"id": uuid.uuid4().hex[:12], "pattern": executable,
                              "lastUsedAt": int(time.time() * 1000), "lastUsedCommand": command[:2000],
                              "lastResolvedPath": executable})
            known.add(executable)
    return file


def record_use(file: dict[str, Any], agent_id: str, ids: tuple[str, ...], command: str) -> dict[str, Any]:
    for item in ((file.get("agents") or {}).get(agent_id) or {}).get("allowlist") or ():
        if item["id"] in ids:
            item["lastUsedAt"] = int(time.time() * 1000)
            item["lastUsedCommand"] = command[:2000]
    return file
