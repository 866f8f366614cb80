"""The Control UI: the dashboard's static files, served under
``gateway.controlUi.basePath``.

Theory of operation, in the original's order (``control-ui.ts``), reached only after every API endpoint:

Rule 1. At the root base path, ``/ui`` and ``/ui/*`` are 404. With base path ``/x``, ``GET /x`` is a 302 to
        ``/x/`` (query kept) and only paths under ``/x/`` are the UI's; anything else falls through to 404.
Rule 2. The UI's own paths below the base path: ``/``, ``index.html``, its packaged files, its views
        (``VIEWS``: ``/chat``, ``/logs/…``, the first segment names the view) and ``avatar/<agentId>``.
        Any other path falls through to 404, so a mistyped URL or an API client is never handed the
        page. With ``gateway.controlUi.root`` every path below the base path is the build's
        (``control_ui_build``: its client routes are its own).
Rule 3. Only GET and HEAD on the UI's paths: anything else is 405 "Method Not Allowed".
Rule 4. ``<base>/avatar/<agentId>`` answers the assistant's avatar (``?meta=1`` → ``{"avatarUrl"}``).
Rule 5. A file that exists is served with its content type; ``index.html`` gets an injected script setting
        ``window.__CLAWDBOT_CONTROL_UI_BASE_PATH__``, ``__CLAWDBOT_ASSISTANT_NAME__`` and
        ``__CLAWDBOT_ASSISTANT_AVATAR__`` (plus a ``<base href>`` so relative asset URLs work at any depth).
Rule 6. A view's path (``/x/chat``, ``/x/logs/…``) is the SPA fallback: ``index.html``. Paths that try to
        leave the asset folder are 404.

The reference (``control-ui.ts``) checks the method first and serves ``index.html`` for every unknown
path; with that, ``GET /v1/models`` or ``/health`` answered 200 with the page (issue 19).

Every answer carries a strict Content-Security-Policy: the page may talk only to its own origin (HTTP and
WebSocket), loads no fonts, scripts or styles from anywhere else, and cannot be framed. The one inline
script (the injected globals) is allowed by its hash, not by ``'unsafe-inline'``. Assets are revalidated
on every load (``no-cache`` + ETag → 304), because their names carry no content hash.
"""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
from collections.abc import Callable
from functools import cache
from html import escape as html_escape
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import trio
from quart import Response, request

from .common import HttpError, json_response

if TYPE_CHECKING:
    from ..config.model import Config

STATIC_ROOT = Path(__file__).parent / "static" / "control_ui"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".webp": "image/webp",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".txt": "text/plain; charset=utf-8",
}
AVATAR_TYPES = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg"}

# The dashboard's client-side routes: the keys of ``views`` in static/control_ui/views.js (a test keeps
# the two lists equal).
VIEWS = ("overview", "channels", "sessions", "chat", "logs", "cron", "pairing", "config")

DEFAULT_ASSISTANT_NAME = "Assistant"
DEFAULT_ASSISTANT_AVATAR = "A"


def normalize_base_path(value: str | None) -> str:
    """``""`` for the root; else one leading ``/`` and no trailing ``/`` (``"x/"`` → ``"/x"``)."""
    text = (value or "").strip().strip("/")
    return "/" + text if text else ""


def content_security_policy(script_hashes: tuple[str, ...] = ()) -> str:
    scripts = " ".join(["'self'", *(f"'sha256-{digest}'" for digest in script_hashes)])
    return ("default-src 'self'; "
            f"script-src {scripts}; "
            "style-src 'self'; img-src 'self' data:; font-src 'self'; "
            "connect-src 'self' ws: wss:; "
            "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")


def assistant_identity(config: Config) -> tuple[str, str]:
    """The assistant's display name and avatar: ``ui.assistant`` first, then the default agent's identity."""
    ui = config.raw.get("ui") if isinstance(config.raw, dict) else None
    assistant = ui.get("assistant") if isinstance(ui, dict) else None
    name = avatar = None
    if isinstance(assistant, dict):
        name, avatar = assistant.get("name"), assistant.get("avatar")
    entries = config.agents.entries
    agent = next((entry for entry in entries if entry.default), entries[0] if entries else None)
    if agent is not None and agent.identity is not None:
        name = name or agent.identity.name
        avatar = avatar or agent.identity.avatar or agent.identity.emoji
    if agent is not None:
        name = name or agent.name
    return (str(name).strip() or DEFAULT_ASSISTANT_NAME if name else DEFAULT_ASSISTANT_NAME,
            str(avatar).strip() or DEFAULT_ASSISTANT_AVATAR if avatar else DEFAULT_ASSISTANT_AVATAR)


def _script_literal(value: str) -> str:
    """A JSON string that cannot close the ``<script>`` it sits in."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _headers(content_type: str, *, etag: str | None, csp: str) -> dict[str, str]:
    headers = {
        "Content-Type": content_type,
        "Cache-Control": "no-cache",
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
    }
    if etag:
        headers["ETag"] = etag
    return headers


def _respond(body: bytes, content_type: str, *, csp: str) -> Response:
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = _headers(content_type, etag=etag, csp=csp)
    if etag in [tag.strip() for tag in request.headers.get("if-none-match", "").split(",")]:
        return Response(b"", status=304, headers={k: v for k, v in headers.items() if k != "Content-Type"})
    return Response(body, status=200, headers=headers)  # HEAD: the server sends the headers only


def _text(status: int, text: str) -> Response:
    return Response(text, status=status, content_type="text/plain; charset=utf-8")


def render_index(html: str, *, base_path: str, name: str, avatar: str) -> tuple[str, str]:
    """``index.html`` with the injected globals and ``<base href>``; returns (html, sha256 of the script)."""
    script = (f"window.__CLAWDBOT_CONTROL_UI_BASE_PATH__={_script_literal(base_path)};"
              f"window.__CLAWDBOT_ASSISTANT_NAME__={_script_literal(name)};"
              f"window.__CLAWDBOT_ASSISTANT_AVATAR__={_script_literal(avatar)};")
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    injected = f'<base href="{html_escape(base_path + "/", quote=True)}">\n<script>{script}</script>\n'
    charset = html.find('<meta charset="utf-8">')
    head = html.find("<head>")
    if charset >= 0:
        at = charset + len('<meta charset="utf-8">')
    else:
        at = head + len("<head>") if head >= 0 else 0
    return html[:at] + "\n" + injected.rstrip("\n") + html[at:], digest


def is_safe_relative(relative: str) -> bool:
    """No ``..``/``.``/hidden segments, backslashes or NULs: a path that cannot leave the asset folder."""
    parts = relative.split("/")
    return not any(part in ("..", ".") or part.startswith(".") or "\\" in part or "\x00" in part
                   for part in parts if part)


@cache
def _assets() -> dict[str, bytes]:
    """Every packaged asset by its path relative to the folder, read once (they do not change while we run).

    A table built once, not a cache keyed by request path: unknown paths must not grow anything.
    """
    if not STATIC_ROOT.is_dir():
        return {}
    return {path.relative_to(STATIC_ROOT).as_posix(): path.read_bytes()
            for path in sorted(STATIC_ROOT.rglob("*")) if path.is_file() and not path.name.startswith(".")}


def read_asset(relative: str) -> bytes | None:
    """The bytes of the packaged asset at ``relative`` (``a/b.js``), or ``None``."""
    return _assets().get(relative)


def _index(config: Config, base_path: str) -> Response:
    index = read_asset("index.html")
    if index is None:
        return _text(503, "Control UI assets not found: reinstall moltbot (moltbot/http/static/control_ui)")
    name, avatar = assistant_identity(config)
    if avatar != DEFAULT_ASSISTANT_AVATAR and _avatar_file(avatar) is not None:
        avatar = f"{base_path}/avatar/main"
    html, digest = render_index(index.decode("utf-8"), base_path=base_path, name=name, avatar=avatar)
    return _respond(html.encode("utf-8"), CONTENT_TYPES[".html"], csp=content_security_policy((digest,)))


def _refuse() -> None:
    raise HttpError(401, {"error": {"message": "Unauthorized", "type": "unauthorized"}})


def _avatar_file(avatar: str) -> Path | None:
    if avatar.startswith(("http:", "https:", "data:")) or len(avatar) < 3:
        return None
    path = Path(avatar).expanduser()
    return path if path.suffix.lower() in AVATAR_TYPES and path.is_file() else None


async def _avatar(config: Config, base_path: str, agent_id: str) -> Response:
    """The avatar of the default agent: ``?meta=1`` tells where it is; else the file itself (404 if none)."""
    _, avatar = assistant_identity(config)
    path = _avatar_file(avatar) if avatar != DEFAULT_ASSISTANT_AVATAR else None
    if request.args.get("meta") == "1":
        url: str | None
        if path is not None:
            url = f"{base_path}/avatar/{agent_id}"
        else:
            url = avatar if avatar.startswith(("http:", "https:", "data:image/")) else None
        return json_response({"avatarUrl": url}, headers={"Cache-Control": "no-cache"})
    if path is None:
        return _text(404, "Not Found")
    content_type = CONTENT_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or "image/png"
    return _respond(await trio.Path(path).read_bytes(), content_type, csp=content_security_policy())


def is_dashboard_path(relative: str) -> bool:
    """Rule 2 for the packaged dashboard: the page, one of its files, a view or an avatar."""
    if relative in ("", "index.html") or read_asset(relative) is not None:
        return True
    first = relative.split("/", 1)[0]
    return first in VIEWS or (first == "avatar" and relative.count("/") == 1)


async def serve_control_ui(config: Config, path: str,
                           authorize: Callable[[], None] | None = None) -> Response | None:
    """Answer ``path`` if it belongs to the Control UI; ``None`` lets the caller answer 404.

    With ``gateway.controlUi.root`` set, the files come from that build (``control_ui_build``);
    ``authorize`` (raising the HTTP 401) guards its bootstrap JSON, and without it that JSON is refused.
    """
    base_path = normalize_base_path(config.gateway.control_ui.base_path)
    if not base_path and (path == "/ui" or path.startswith("/ui/")):
        return _text(404, "Not Found")
    if base_path:
        if path == base_path:
            if request.method not in ("GET", "HEAD"):
                return _text(405, "Method Not Allowed")
            query = request.query_string.decode("latin-1")
            redirect = Response("", status=302, headers={"Location": base_path + "/" + (f"?{query}" if query else "")})
            del redirect.headers["Content-Type"]  # an empty redirect has no type (as the original's)
            return redirect
        if not path.startswith(base_path + "/"):
            return None
        path = path[len(base_path):]
    relative = path.lstrip("/")
    if not is_safe_relative(relative):
        return _text(404, "Not Found")
    if not config.gateway.control_ui.root and not is_dashboard_path(relative):
        return None
    if request.method not in ("GET", "HEAD"):
        return _text(405, "Method Not Allowed")
    if relative.startswith("avatar/") and relative.count("/") == 1:
        return await _avatar(config, base_path, relative.split("/", 1)[1])
    if config.gateway.control_ui.root:
        from .control_ui_build import serve_build

        return await serve_build(config, base_path, path, authorize or _refuse)
    body = read_asset(relative) if relative not in ("", "index.html") else None
    if body is None:
        return _index(config, base_path)  # the page itself, or the SPA fallback for a view (/chat)
    suffix = PurePosixPath(relative).suffix.lower()
    return _respond(body, CONTENT_TYPES.get(suffix) or "application/octet-stream", csp=content_security_policy())
