"""The canvas root on disk: preparing it, mapping a request path to a file inside it, content types.

Blocking filesystem code (run it through ``trio.to_thread``). ``resolve_request_path`` is the one gate
between a URL and the disk: it works on the *raw* path bytes, refuses anything that could name a file
outside the root (``..``, percent-encoded ``/``, ``.``, ``\\``, NUL, absolute paths, invalid UTF-8) and
then checks that the real path (symlinks resolved) is still under the root's real path.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote_to_bytes

DEFAULT_INDEX_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Moltbot Canvas</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; margin: 2rem auto; max-width: 40rem; padding: 0 1rem; }
  code { background: #8882; padding: 0 .25em; border-radius: 3px; }
</style>
</head>
<body>
<h1>Moltbot Canvas</h1>
<p>This page is <code>index.html</code> in the canvas root. Edit it, or add files next to it: pages
open at <code>/__moltbot__/canvas/&lt;file&gt;</code> and reload by themselves when a file changes.</p>
</body>
</html>
"""

# Our own table first, so a type never depends on the machine's /etc/mime.types.
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8", ".htm": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8", ".json": "application/json",
    ".map": "application/json", ".txt": "text/plain; charset=utf-8", ".md": "text/markdown; charset=utf-8",
    ".csv": "text/csv; charset=utf-8", ".xml": "application/xml", ".svg": "image/svg+xml",
    ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
    ".webp": "image/webp", ".avif": "image/avif", ".ico": "image/x-icon", ".bmp": "image/bmp",
    ".wasm": "application/wasm", ".pdf": "application/pdf", ".woff": "font/woff", ".woff2": "font/woff2",
    ".ttf": "font/ttf", ".otf": "font/otf", ".mp3": "audio/mpeg", ".wav": "audio/wav", ".ogg": "audio/ogg",
    ".mp4": "video/mp4", ".webm": "video/webm", ".jsonl": "application/jsonl",
}
OCTET_STREAM = "application/octet-stream"


def content_type(path: Path) -> str:
    return CONTENT_TYPES.get(path.suffix.lower(), OCTET_STREAM)


def is_html(path: Path) -> bool:
    return path.suffix.lower() in (".html", ".htm")


def default_root(env: Mapping[str, str]) -> Path:
    """``~/clawd/canvas`` for the gateway's environment (its ``HOME``, else the process's home)."""
    home = Path(env.get("HOME") or Path.home())
    return home / "clawd" / "canvas"


def resolve_root(configured: str | None, env: Mapping[str, str]) -> Path:
    """``canvasHost.root`` (``~`` expanded with the gateway's ``HOME``), absolute."""
    if not configured:
        return default_root(env)
    if configured == "~" or configured.startswith("~/"):
        home = Path(env.get("HOME") or Path.home())
        return home / configured[2:]
    return Path(configured).absolute()


def prepare_root(root: Path) -> Path:
    """Create the root (and a default ``index.html`` when it has none); return its real path."""
    root.mkdir(parents=True, exist_ok=True)
    real = root.resolve(strict=True)
    if not real.is_dir():
        raise NotADirectoryError(f"canvasHost.root is not a directory: {root}")
    index = real / "index.html"
    if not index.exists() and not index.is_symlink():
        try:
            with open(index, "x", encoding="utf-8") as handle:  # never replaces a file made meanwhile
                handle.write(DEFAULT_INDEX_HTML)
        except FileExistsError:
            pass
    return real


def resolve_request_path(root: Path, raw_path: bytes) -> Path | None:
    """The regular file under ``root`` (a real path) that ``raw_path`` names, or None (→ 404).

    ``raw_path`` is what follows the mount point, still percent-encoded. A path ending in ``/``, or naming
    a directory, means that directory's ``index.html``; directories are never listed.
    """
    if b"\\" in raw_path or b"%2f" in raw_path.lower() or b"%5c" in raw_path.lower():
        return None
    decoded = unquote_to_bytes(raw_path)
    if b"\x00" in decoded or b"\\" in decoded:
        return None
    try:
        text = decoded.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if text.startswith("/"):  # an absolute path after the mount point ("…/canvas//etc/passwd")
        return None
    parts = text.split("/")
    directory = parts[-1] == ""
    parts = [part for part in parts if part != ""]
    if any(part in (".", "..") for part in parts):
        return None
    candidate = root.joinpath(*parts) if parts else root
    if directory:
        candidate = candidate / "index.html"
    return _regular_file_within(root, candidate)


def _regular_file_within(root: Path, candidate: Path) -> Path | None:
    try:
        real = Path(os.path.realpath(candidate, strict=True))
        info = real.stat()
    except (OSError, ValueError):
        return None
    if real != root and root not in real.parents:  # a symlink out of the root
        return None
    if stat.S_ISDIR(info.st_mode):
        return _regular_file_within(root, real / "index.html")
    return real if stat.S_ISREG(info.st_mode) else None


def open_file(path: Path) -> BinaryIO:
    """Open a resolved file for reading, without following a symlink swapped in since it was resolved."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    handle = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
        handle.close()
        raise IsADirectoryError(path)
    return handle
