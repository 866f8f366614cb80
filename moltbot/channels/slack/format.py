"""Markdown (what agents write) → Slack ``mrkdwn``, cut into pieces Slack shows well. Pure.

Slack's text is not Markdown: ``*bold*``, ``_italic_``, ``~strike~``, ``<url|label>`` links, and ``&``,
``<``, ``>`` must be escaped as entities, except inside Slack's own tokens (``<@U…>``, ``<#C…>``,
``<!here>``, ``<https://…>``), which are kept so mentions and links still work. Code spans and fenced
blocks are escaped but not restyled.

Chunking: Slack accepts 40,000 characters, but long messages are collapsed behind "show more" and hard to
read, so, as the original, pieces are ``textChunkLimit`` (4,000) characters, cut at paragraph, line or
space boundaries (``channels.chunk``); a fenced code block cut in two is closed at the end of one piece and
opened again at the start of the next, so both render as code.
"""

from __future__ import annotations

import re

from ..chunk import chunk_text

SLACK_TEXT_LIMIT = 40_000
_TOKEN = re.compile(r"<[^>\n]+>")
_ALLOWED_TOKEN = ("@", "#", "!", "mailto:", "tel:", "http://", "https://", "slack://")
_FENCE = re.compile(r"^```")
_CODE_SPAN = re.compile(r"(`[^`\n]+`)")
_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|__(?=\S)(.+?)(?<=\S)__")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*$")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_keeping_tokens(text: str) -> str:
    out, last = [], 0
    for match in _TOKEN.finditer(text):
        out.append(_escape(text[last:match.start()]))
        token = match.group(0)
        out.append(token if token[1:].startswith(_ALLOWED_TOKEN) else _escape(token))
        last = match.end()
    out.append(_escape(text[last:]))
    return "".join(out)


def _styled(text: str) -> str:
    """Text outside code spans: links kept aside (their URLs must not be restyled), styles converted."""
    links: list[str] = []

    def keep_link(match: re.Match[str]) -> str:
        links.append(f"<{_escape(match.group(2))}|{_escape(match.group(1))}>")
        return f"\x00{len(links) - 1}\x00"

    text = _LINK.sub(keep_link, text)
    text = _BOLD.sub(lambda m: f"*{m.group(1) or m.group(2)}*", text)
    text = _STRIKE.sub(lambda m: f"~{m.group(1)}~", text)
    text = escape_keeping_tokens(text)
    return re.sub(r"\x00(\d+)\x00", lambda m: links[int(m.group(1))], text)


def _inline(line: str) -> str:
    """One line outside code blocks: styles converted, code spans only escaped."""
    parts = _CODE_SPAN.split(line)
    return "".join(_escape(part) if index % 2 else _styled(part) for index, part in enumerate(parts))


def to_mrkdwn(markdown: str) -> str:
    lines, in_fence = [], False
    for line in markdown.split("\n"):
        if _FENCE.match(line.strip()):
            in_fence = not in_fence
            lines.append("```")
        elif in_fence:
            lines.append(_escape(line))
        else:
            heading = _HEADING.match(line)
            if heading:
                lines.append(f"*{_inline(heading.group(1))}*")
            elif line.startswith("> "):
                lines.append("> " + _inline(line[2:]))
            else:
                lines.append(_inline(line))
    return "\n".join(lines)


def chunk_mrkdwn(text: str, limit: int) -> list[str]:
    """``text`` as mrkdwn in pieces of at most ``limit`` characters, fences balanced in each piece."""
    limit = max(16, min(limit, SLACK_TEXT_LIMIT))
    pieces = chunk_text(to_mrkdwn(text), limit - 8)  # room for a fence closed and one reopened
    out, open_fence = [], False
    for piece in pieces:
        if open_fence:
            piece = "```\n" + piece
        fences = sum(1 for line in piece.split("\n") if line.strip().startswith("```"))
        open_fence = fences % 2 == 1
        if open_fence:
            piece += "\n```"
        out.append(piece)
    return out
