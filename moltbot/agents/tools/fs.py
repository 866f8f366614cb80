"""``read``, ``write`` and ``edit``: the agent's file tools, relative to its workspace.

Argument shapes are the original's (pi-coding-agent): ``read {path, offset?, limit?}`` (1-based line
offset, line count), ``write {path, content}``, ``edit {path, oldText, newText}`` (one exact, unique
match replaced). With ``tools.fs.workspaceOnly`` (the default) a path is resolved, symlinks included,
and refused unless it stays inside the workspace: ``../x``, an absolute path elsewhere, or a link in
the workspace pointing out of it are all refused alike. Writes are atomic (``store.write_atomic``) and
keep an existing file's mode. Every file operation runs in a worker thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from ...store.atomic import write_atomic
from .registry import ToolError

if TYPE_CHECKING:
    from ..runtime import AgentRuntime, Run
    from .registry import ToolRegistry

MAX_READ_BYTES = 256 * 1024  # of a file read in one call (``offset``/``limit`` page through the rest)
DEFAULT_LINES = 2000
MAX_WRITE_CHARS = 5 * 1024 * 1024
MAX_PATH = 4096

READ_SCHEMA = {"type": "object", "properties": {
    "path": {"type": "string", "description": "file path, relative to the workspace"},
    "offset": {"type": "integer", "minimum": 1, "description": "first line to read (1-based)"},
    "limit": {"type": "integer", "minimum": 1, "description": "number of lines"}}, "required": ["path"]}
WRITE_SCHEMA = {"type": "object", "properties": {
    "path": {"type": "string"}, "content": {"type": "string"}}, "required": ["path", "content"]}
EDIT_SCHEMA = {"type": "object", "properties": {
    "path": {"type": "string"}, "oldText": {"type": "string", "description": "exact text to replace (unique)"},
    "newText": {"type": "string"}}, "required": ["path", "oldText", "newText"]}


def confine(workspace: Path, raw: Any, *, workspace_only: bool) -> Path:
    """The real path ``raw`` names (relative to ``workspace``), refused when it leaves the workspace."""
    if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_PATH or "\0" in raw:
        raise ToolError("path must be a non-empty string")
    root = workspace.resolve()
    target = (root / Path(raw).expanduser()).resolve()  # symlinks resolved, whatever exists of the path
    if workspace_only and not target.is_relative_to(root):
        raise ToolError(f"path is outside the workspace ({root}); tools.fs.workspaceOnly is on")
    return target


def _read(path: Path, offset: int, limit: int) -> dict[str, Any]:
    if path.is_dir():
        names = sorted(entry.name + ("/" if entry.is_dir() else "") for entry in path.iterdir())[:1000]
        return {"path": str(path), "directory": True, "entries": names}
    with open(path, "rb") as handle:
        data = handle.read(MAX_READ_BYTES * 8 if offset > 1 else MAX_READ_BYTES + 1)
    text = data.decode("utf-8", "replace")
    lines = text.splitlines(keepends=True)
    chosen = lines[offset - 1:offset - 1 + limit]
    body = "".join(chosen)
    truncated = len(body) > MAX_READ_BYTES or offset - 1 + limit < len(lines)
    body = body[:MAX_READ_BYTES]
    result: dict[str, Any] = {"path": str(path), "content": body}
    if truncated:
        result["note"] = (f"showing lines {offset}-{offset - 1 + len(chosen)}; pass offset/limit for more")
    return result


def _write(path: Path, content: str) -> dict[str, Any]:
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    write_atomic(path, content.encode("utf-8"), mode=mode)
    return {"path": str(path), "bytes": len(content.encode("utf-8"))}


def _edit(path: Path, old: str, new: str) -> dict[str, Any]:
    text = path.read_text("utf-8")
    count = text.count(old)
    if count == 0:
        raise ToolError("oldText was not found in the file (it must match exactly, whitespace included)")
    if count > 1:
        raise ToolError(f"oldText occurs {count} times; give more context so it matches once")
    return _write(path, text.replace(old, new, 1)) | {"replaced": 1}


def register_fs_tools(registry: ToolRegistry, agents: AgentRuntime) -> None:
    async def target(arguments: dict[str, Any], run: Run | None) -> Path:
        agent_id = run.agent_id if run is not None else agents.default_agent_id()
        workspace = await agents.ensure_workspace(agent_id)
        only = agents.config.tools.fs.workspace_only
        return await trio.to_thread.run_sync(lambda: confine(workspace, arguments.get("path"), workspace_only=only))

    async def read(arguments: dict[str, Any], run: Run | None) -> Any:
        path = await target(arguments, run)
        offset, limit = arguments.get("offset", 1), arguments.get("limit", DEFAULT_LINES)
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in (offset, limit)):
            raise ToolError("offset and limit must be positive integers")
        try:
            return await trio.to_thread.run_sync(_read, path, offset, limit)
        except FileNotFoundError:
            raise ToolError(f"no such file: {arguments['path']}") from None
        except PermissionError:
            raise ToolError(f"permission denied: {arguments['path']}") from None

    async def write(arguments: dict[str, Any], run: Run | None) -> Any:
        content = arguments.get("content")
        if not isinstance(content, str) or len(content) > MAX_WRITE_CHARS:
            raise ToolError(f"content must be a string of at most {MAX_WRITE_CHARS} characters")
        path = await target(arguments, run)
        try:
            return await trio.to_thread.run_sync(_write, path, content)
        except IsADirectoryError:
            raise ToolError(f"is a directory: {arguments['path']}") from None
        except PermissionError:
            raise ToolError(f"permission denied: {arguments['path']}") from None

    async def edit(arguments: dict[str, Any], run: Run | None) -> Any:
        old, new = arguments.get("oldText"), arguments.get("newText")
        if not isinstance(old, str) or not old or not isinstance(new, str) or len(new) > MAX_WRITE_CHARS:
            raise ToolError("oldText must be a non-empty string and newText a string")
        path = await target(arguments, run)
        try:
            return await trio.to_thread.run_sync(_edit, path, old, new)
        except FileNotFoundError:
            raise ToolError(f"no such file: {arguments['path']}") from None
        except (UnicodeDecodeError, IsADirectoryError):
            raise ToolError(f"not a text file: {arguments['path']}") from None

    registry.register("read", "Read a file (text) or list a directory in the workspace; offset/limit page "
                      "through long files.", READ_SCHEMA, read)
    registry.register("write", "Create or overwrite a file in the workspace with content.", WRITE_SCHEMA, write)
    registry.register("edit", "Replace one exact, unique occurrence of oldText with newText in a file.",
                      EDIT_SCHEMA, edit)

