"""Compaction: a session's transcript made short again, the old one archived.

Theory of operation. Two kinds, as the original has:

- ``truncate`` is ``sessions.compact``: the last ``maxLines`` (400) non-empty lines are kept, the rest
  dropped, token counters cleared. Unlike the original the session header stays the first line (a
  transcript without it is not one) and the file is replaced atomically.
- ``summarize_session`` is ``/compact`` and the automatic compaction before a turn whose session's last
  prompt came within ``agents.defaults.compaction.reserveTokensFloor`` of the context window
  (``usage.context_tokens``): the transcript is cut at a turn boundary (a turn starts at a user message, so
  a tool call and its result stay together) such that the newest turns worth about ``keepRecentTokens``
  (estimated at 4 characters a token, and at most ``KEEP_MAX_MESSAGES`` messages, so the summary stays in
  the replayed window) are kept; the model summarises the older ones (an earlier summary among them);
  the new transcript is the header, one ``compaction`` line (the reference's line type: ``summary``,
  ``firstKeptEntryId``, ``tokensBefore``; replayed to the model as a user message framed as a summary) and
  the kept lines verbatim.

Both run while holding the session's place in its lane (a turn of that session cannot append meanwhile;
the automatic one runs inside the turn's own slot) and archive the old file first as
``<file>.bak.<timestamp>`` (a hard link, else a copy), then replace it with ``write_atomic``: a crash
leaves either file whole, never a half-written transcript, and ``usage.cost`` still finds the archived
lines. File work is blocking code run in a worker thread.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from contextlib import aclosing
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import trio

from ..store.atomic import write_atomic
from .providers.base import Message, ModelRequest, Provider, TextDelta, Usage
from .sessions import iso_now, message_text, now_ms
from .usage import usage_record

if TYPE_CHECKING:
    from .sessions import SessionStore

log = logging.getLogger("moltbot.agents")

DEFAULT_MAX_LINES = 400
KEEP_MAX_MESSAGES = 40  # below turns.HISTORY_MESSAGES (50): the summary must stay in what is replayed
CHARS_PER_TOKEN = 4
MAX_MESSAGE_CHARS = 4_000  # of one message, in what the model is asked to summarise
MAX_SUMMARY_INPUT_CHARS = 400_000
SUMMARY_MAX_TOKENS = 2_048
SUMMARY_PROMPT = (
    "You compact a conversation between a user and an AI assistant so that the assistant can continue it "
    "without the full history. Write a concise summary of the conversation below: the user's goals and "
    "preferences, decisions made, facts learned, files and commands involved, what was done and what is "
    "still open. Keep names, numbers, paths and identifiers exactly. If it contains an earlier summary, "
    "fold it in. Answer with the summary only.")


@attrs.frozen
class Compacted:
    compacted: bool
    kept: int = 0  # lines (truncate) or messages (summarize) kept
    archived: str | None = None
    reason: str | None = None
    summary: str | None = None
    tokens_before: int | None = None
    usage: Usage | None = None


def archive_path(path: Path) -> Path:
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace(":", "-").replace("+00-00", "Z")
    return path.with_name(f"{path.name}.bak.{stamp}")


def _archive_then_replace(path: Path, text: str) -> Path:
    archive = archive_path(path)
    try:
        os.link(path, archive)
    except OSError:  # a file system without hard links
        shutil.copy2(path, archive)
    write_atomic(path, text)
    return archive


def _lines(path: Path) -> list[str]:
    try:
        return [line for line in path.read_text("utf-8").splitlines() if line.strip()]
    except FileNotFoundError:
        return []


def _truncate_file(path: Path, max_lines: int) -> Compacted:
    lines = _lines(path)
    if not lines:
        return Compacted(False, reason="no transcript")
    if len(lines) <= max_lines:
        return Compacted(False, kept=len(lines))
    kept = lines[-max_lines:]
    if _is_header(lines[0]) and not _is_header(kept[0]):
        kept = [lines[0], *kept[1:]] if max_lines == 1 else [lines[0], *kept[-(max_lines - 1):]]
    archive = _archive_then_replace(path, "\n".join(kept) + "\n")
    return Compacted(True, kept=len(kept), archived=str(archive))


def _is_header(line: str) -> bool:
    return line.startswith('{"type":"session"') or line.startswith('{"type": "session"')


async def truncate(store: SessionStore, path: Path, max_lines: int = DEFAULT_MAX_LINES) -> Compacted:
    """``sessions.compact``; the caller holds the session's lane place."""
    await store.settled(path)
    result = await trio.to_thread.run_sync(_truncate_file, path, max(1, max_lines))
    if result.compacted:
        store.forget(path)
    return result


# --- summarising ---------------------------------------------------------------------------------

def _parsed(path: Path) -> tuple[list[dict[str, Any]], dict[int, int]]:
    """The transcript's lines, and each one's estimated tokens (its JSON's length / 4) by ``id()``."""
    out, sizes = [], {}
    for line in _lines(path):
        try:
            item = json.loads(line)
        except ValueError:  # a torn line after a crash: not kept
            continue
        if isinstance(item, dict):
            out.append(item)
            sizes[id(item)] = len(line) // CHARS_PER_TOKEN + 1
    return out, sizes


def _size(item: dict[str, Any], sizes: dict[int, int] | None = None) -> int:
    known = sizes.get(id(item)) if sizes else None
    return known if known is not None else len(json.dumps(item, ensure_ascii=False)) // CHARS_PER_TOKEN + 1


def split(items: list[dict[str, Any]], keep_tokens: int, sizes: dict[int, int] | None = None,
          ) -> tuple[dict | None, list[dict], list[dict]]:
    """``(header, older, kept)``: ``kept`` is the newest whole turns within ``keep_tokens`` (estimated) and
    ``KEEP_MAX_MESSAGES`` messages; ``older`` every message and summary line before them."""
    header = items[0] if items and items[0].get("type") == "session" else None
    body = [item for item in items if item.get("type") in ("message", "compaction")]
    starts = [i for i, item in enumerate(body)
              if item.get("type") == "message" and (item.get("message") or {}).get("role") == "user"]
    cut, tokens = len(body), 0
    for start in reversed(starts):
        tokens += sum(_size(item, sizes) for item in body[start:cut])
        if tokens > keep_tokens or len(body) - start > KEEP_MAX_MESSAGES:
            break
        cut = start
    return header, body[:cut], body[cut:]


def render(older: list[dict[str, Any]]) -> str:
    """The older turns as plain text for the model to summarise (each message capped; the whole capped
    by keeping its start, where an earlier summary is, and its end)."""
    parts = []
    for item in older:
        if item.get("type") == "compaction":
            parts.append(f"[Earlier summary]\n{item.get('summary', '')}")
            continue
        message = item.get("message") or {}
        role, text = message.get("role"), message_text(message)[:MAX_MESSAGE_CHARS]
        if role == "user":
            parts.append(f"User: {text}")
        elif role == "assistant":
            calls = [f"{part.get('name')}({json.dumps(part.get('arguments'), ensure_ascii=False)[:300]})"
                     for part in message.get("content") or () if isinstance(part, dict)
                     and part.get("type") == "toolCall"]
            parts.append("Assistant: " + text + "".join(f"\n[called tool {call}]" for call in calls))
        elif role == "toolResult":
            parts.append(f"[result of {message.get('toolName')}]: {text[:1000]}")
    text = "\n\n".join(parts)
    if len(text) > MAX_SUMMARY_INPUT_CHARS:
        head = MAX_SUMMARY_INPUT_CHARS // 5
        text = text[:head] + "\n\n[… middle of the conversation left out …]\n\n" + text[-(MAX_SUMMARY_INPUT_CHARS - head):]
    return text


async def ask_summary(provider: Provider, model: str, text: str) -> tuple[str, Usage | None]:
    """The model's summary of ``text``. Raises ``ProviderError``."""
    request = ModelRequest(model=model, system=SUMMARY_PROMPT, max_tokens=SUMMARY_MAX_TOKENS,
                           messages=(Message(role="user", content=f"<conversation>\n{text}\n</conversation>"),))
    summary, usage = "", None
    async with aclosing(provider.stream(request)) as chunks:
        async for chunk in chunks:
            if isinstance(chunk, TextDelta):
                summary += chunk.text
            elif isinstance(chunk, Usage):
                usage = (usage or Usage()) + chunk
    return summary.strip(), usage


async def summarize_session(store: SessionStore, path: Path, provider: Provider, model: str, *,
                            keep_tokens: int, price: dict[str, float] | None = None) -> Compacted:
    """Summarise the older turns of a transcript with the model; the caller holds the session's place."""
    await store.settled(path)
    items, sizes = await trio.to_thread.run_sync(_parsed, path)
    header, older, kept = split(items, keep_tokens, sizes)
    if not [item for item in older if item.get("type") == "message"]:
        return Compacted(False, kept=len(kept), reason="nothing to compact")
    tokens_before = sum(_size(item, sizes) for item in older + kept)
    summary, usage = await ask_summary(provider, model, render(older))
    if not summary:
        return Compacted(False, kept=len(kept), reason="the model returned no summary")
    line: dict[str, Any] = {"type": "compaction", "id": uuid.uuid4().hex[:8], "timestamp": iso_now(), "ms": now_ms(),
                            "summary": summary, "tokensBefore": tokens_before, "provider": provider.id,
                            "model": model, "firstKeptEntryId": kept[0].get("id") if kept else None}
    if usage is not None:
        line["usage"] = usage_record(usage, price)
    lines = ([header] if header else []) + [line] + kept
    text = "".join(json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n" for item in lines)
    archive = await trio.to_thread.run_sync(_archive_then_replace, path, text)
    store.forget(path)
    log.info("compacted %s: %d messages summarised, %d kept, archive %s", path.name, len(older), len(kept),
             archive.name)
    return Compacted(True, kept=len(kept), archived=str(archive), summary=summary, tokens_before=tokens_before,
                     usage=usage)


def should_compact(config: Any, entry: dict[str, Any], window: int) -> bool:
    """Whether the session's last prompt (``totalTokens``) came within the reserve of the window."""
    settings = config.agents.defaults.compaction
    used = entry.get("totalTokens")
    if settings.mode == "off" or not isinstance(used, int):
        return False
    return used >= window - max(0, settings.reserve_tokens_floor)


def cleared(entry: dict[str, Any]) -> None:
    """The entry after a compaction: counters of the old context gone, one more compaction counted."""
    for field in ("inputTokens", "outputTokens", "totalTokens"):
        entry.pop(field, None)
    entry["compactionCount"] = int(entry.get("compactionCount") or 0) + 1
    entry["updatedAt"] = now_ms()


