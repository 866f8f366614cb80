"""``memory_search`` and ``memory_get``: the agent's memory files (``MEMORY.md``, ``memory/*.md``).

Search is plain term matching, line by line (every term must appear within a small window of lines);
results carry the original's fields (``path``, ``startLine``, ``endLine``, ``snippet``, ``score``).
Memory is private to the owner: in a group chat both tools refuse, as ``MEMORY.md`` is never in a
group's prompt either.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from ..workspace import MEMORY_DIR
from .fs import confine
from .registry import ToolError

if TYPE_CHECKING:
    from ..runtime import AgentRuntime, Run
    from .registry import ToolRegistry

MAX_FILES = 500
MAX_FILE_BYTES = 1024 * 1024
WINDOW = 3  # lines of context a match may span
MAX_RESULTS = 20

SEARCH_SCHEMA = {"type": "object", "properties": {
    "query": {"type": "string"}, "maxResults": {"type": "integer", "minimum": 1, "maximum": MAX_RESULTS}},
    "required": ["query"]}
GET_SCHEMA = {"type": "object", "properties": {
    "path": {"type": "string", "description": "MEMORY.md or memory/YYYY-MM-DD.md"},
    "from": {"type": "integer", "minimum": 1}, "lines": {"type": "integer", "minimum": 1}}, "required": ["path"]}


def memory_files(workspace: Path) -> list[Path]:
    files = [workspace / "MEMORY.md"] if (workspace / "MEMORY.md").is_file() else []
    directory = workspace / MEMORY_DIR
    if directory.is_dir():
        files += sorted((p for p in directory.rglob("*.md") if p.is_file()), reverse=True)[:MAX_FILES]
    return files


def search(workspace: Path, query: str, limit: int) -> list[dict[str, Any]]:
    terms = [t for t in query.lower().split() if t][:16]
    results: list[dict[str, Any]] = []
    for path in memory_files(workspace):
        with open(path, "rb") as handle:
            lines = handle.read(MAX_FILE_BYTES).decode("utf-8", "replace").splitlines()
        lowered = [line.lower() for line in lines]
        for index, line in enumerate(lowered):
            if not terms or terms[0] not in line:
                continue
            window = " ".join(lowered[index:index + WINDOW])
            found = sum(term in window for term in terms)
            if found == len(terms):
                end = min(len(lines), index + WINDOW)
                results.append({"path": str(path.relative_to(workspace)), "startLine": index + 1, "endLine": end,
                                "snippet": "\n".join(lines[index:end])[:700],
                                "score": round(sum(window.count(t) for t in terms) / (1 + len(window) / 200), 3)})
    results.sort(key=lambda r: (-r["score"], r["path"]))
    return results[:limit]


def _get(workspace: Path, raw: Any, start: int, count: int | None) -> dict[str, Any]:
    path = confine(workspace, raw, workspace_only=True)
    relative = path.relative_to(workspace.resolve())
    if not (str(relative) == "MEMORY.md" or (relative.parts[:1] == (MEMORY_DIR,) and path.suffix == ".md")):
        raise ToolError("memory_get reads MEMORY.md and memory/*.md only")
    try:
        with open(path, "rb") as handle:
            lines = handle.read(MAX_FILE_BYTES).decode("utf-8", "replace").splitlines()
    except FileNotFoundError:
        raise ToolError(f"no such memory file: {raw}") from None
    chosen = lines[start - 1:start - 1 + count] if count else lines[start - 1:]
    return {"path": str(relative), "from": start, "text": "\n".join(chosen)}


def register_memory_tools(registry: ToolRegistry, agents: AgentRuntime) -> None:
    async def workspace_of(run: Run | None) -> Path:
        if run is not None and (run.sender is not None and run.sender.group):
            raise ToolError("memory is private to the owner and not available in a group chat")
        return await agents.ensure_workspace(run.agent_id if run is not None else agents.default_agent_id())

    async def memory_search(arguments: dict[str, Any], run: Run | None) -> Any:
        query, limit = arguments.get("query"), arguments.get("maxResults", 8)
        if not isinstance(query, str) or not query.strip() or len(query) > 500:
            raise ToolError("query must be a non-empty string (at most 500 characters)")
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_RESULTS:
            raise ToolError(f"maxResults must be an integer from 1 to {MAX_RESULTS}")
        workspace = await workspace_of(run)
        return {"results": await trio.to_thread.run_sync(search, workspace, query, limit)}

    async def memory_get(arguments: dict[str, Any], run: Run | None) -> Any:
        start, count = arguments.get("from", 1), arguments.get("lines")
        if not isinstance(start, int) or start < 1 or (count is not None and (not isinstance(count, int) or count < 1)):
            raise ToolError("from and lines must be positive integers")
        workspace = await workspace_of(run)
        return await trio.to_thread.run_sync(_get, workspace, arguments.get("path"), start, count)

    registry.register("memory_search", "Search the memory files (MEMORY.md, memory/*.md) for lines matching "
                      "all the query's words.", SEARCH_SCHEMA, memory_search)
    registry.register("memory_get", "Read a memory file (MEMORY.md or memory/YYYY-MM-DD.md), optionally a "
                      "range of lines.", GET_SCHEMA, memory_get)
