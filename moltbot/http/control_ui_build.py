"""Another Control UI build served from ``gateway.controlUi.root`` (OpenClaw's ``dist/control-ui``).

Theory of operation, on the pattern of OpenClaw 2026.9.6's ``control-ui.ts`` for a configured root, after
``control_ui.py`` has applied the method and base-path rules:

Rule 1. ``<base>/control-ui-config.json`` (also ``<base>/__openclaw/control-ui-config.json`` and, at the
        root, ``/__openclaw__/control-ui-config.json``) is the page's bootstrap: the base path, the
        assistant's name and avatar, our version. It needs the gateway token as ``Authorization: Bearer``
        (401 otherwise), as OpenClaw's does.
Rule 2. A path containing ``/assets/`` names the hashed bundle from there on (``/chat/assets/x.js`` →
        ``assets/x.js``); ``/__openclaw__/<root asset>`` names a root file (``favicon.svg``, ``sw.js``…).
Rule 3. A file that exists inside the folder is served with its content type. Names under ``assets/``
        carry a content hash and are cached for a year (``immutable``); everything else revalidates
        (``no-cache`` + ETag). Symlinks that leave the folder, hidden names and ``..`` are 404.
Rule 4. ``index.html`` is stamped as OpenClaw stamps it: ``data-openclaw-control-ui-base-path`` and
        ``data-openclaw-terminal-enabled="false"`` on ``<html>`` (its build-id attribute removed, as for
        OpenClaw's configured roots), ``./assets/`` and root-asset links made absolute under the base
        path.
Rule 5. A missing path with a static file's extension is 404; any other is the SPA fallback
        (``index.html``).

The CSP is ``control_ui.content_security_policy`` widened only where this build needs it, each measured
in headless Chromium (docs/openclaw-compat.md): the hashes of the page's own inline scripts,
``style-src 'unsafe-inline'`` (its components set ``style`` attributes), ``img-src blob:``,
``media-src 'self' data: blob:``, ``connect-src data:`` (it fetches its inline SVG icons). OpenClaw's own policy
also allows Google Fonts, ``https:`` images and frames, ``api.openai.com`` and ``tweakcn.com``: nothing
off this machine is allowed here, so those features degrade.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Callable
from html import escape as html_escape
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import trio
from quart import Response, request

from .._version import __version__
from ..protocol import dumps
from .control_ui import CONTENT_TYPES, assistant_identity, is_safe_relative

if TYPE_CHECKING:
    from ..config.model import Config

BOOTSTRAP_NAME = "control-ui-config.json"
NAMESPACE = "/__openclaw__/"
ROOT_ASSETS = ("apple-touch-icon.png", "favicon-32.png", "favicon.ico", "favicon.svg", "manifest.webmanifest",
               "sw.js")
BUILD_CONTENT_TYPES = {**CONTENT_TYPES, ".webmanifest": "application/manifest+json; charset=utf-8",
                       ".woff2": "font/woff2", ".wasm": "application/wasm", ".map": "application/json; charset=utf-8"}
STATIC_SUFFIXES = frozenset(BUILD_CONTENT_TYPES) | {".br", ".gz"}
IMMUTABLE = "public, max-age=31536000, immutable"
MAX_FILE_BYTES = 32 * 1024 * 1024  # the largest file of OpenClaw's build is ~3 MB; a bound, not a limit
_INLINE_SCRIPT = re.compile(r"<script(\s[^>]*)?>(.*?)</script>", re.I | re.S)
_SRC_ATTRIBUTE = re.compile(r"\ssrc\s*=", re.I)
_HTML_TAG = re.compile(r"<html\b[^>]*>", re.I)
_BUILD_ID = re.compile(r'\sdata-openclaw-control-ui-build-id="[^"]*"')


def build_csp(script_hashes: tuple[str, ...] = ()) -> str:
    """The policy for an OpenClaw Control UI build: our own, widened only where its pages need it."""
    scripts = " ".join(["'self'", *(f"'sha256-{digest}'" for digest in script_hashes)])
    return ("default-src 'self'; "
            f"script-src {scripts}; "
            "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; media-src 'self' data: blob:; "
            "font-src 'self'; worker-src 'self'; connect-src 'self' ws: wss: data:; frame-src 'self'; "
            "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def inline_script_hashes(html: str) -> tuple[str, ...]:
    """The sha256 of every inline ``<script>`` (no ``src``) of ``html``, for ``script-src``."""
    return tuple(base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode("ascii")
                 for attributes, body in _INLINE_SCRIPT.findall(html)
                 if body and not _SRC_ATTRIBUTE.search(attributes or ""))


def stamp_index(html: str, base_path: str) -> str:
    """Rule 4: ``index.html`` with the base-path attributes and absolute asset links."""
    html = html.replace('src="./assets/', f'src="{base_path}/assets/').replace(
        'href="./assets/', f'href="{base_path}/assets/')
    for asset in ROOT_ASSETS:
        html = html.replace(f'href="./{asset}"', f'href="{base_path}/{asset}"')
    attributes = (f' data-openclaw-control-ui-base-path="{html_escape(base_path, quote=True)}"'
                  ' data-openclaw-terminal-enabled="false"')
    return _HTML_TAG.sub(lambda m: _BUILD_ID.sub("", m.group(0)).replace("<html", "<html" + attributes, 1),
                         html, count=1)


def _headers(content_type: str, *, csp: str, cache: str) -> dict[str, str]:
    return {"Content-Type": content_type, "Cache-Control": cache, "Content-Security-Policy": csp,
            "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}


def _respond(body: bytes, content_type: str, *, csp: str, immutable: bool = False) -> Response:
    headers = _headers(content_type, csp=csp, cache=IMMUTABLE if immutable else "no-cache")
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers["ETag"] = etag
    if etag in [tag.strip() for tag in request.headers.get("if-none-match", "").split(",")]:
        return Response(b"", status=304, headers={k: v for k, v in headers.items() if k != "Content-Type"})
    return Response(body, status=200, headers=headers)


def _text(status: int, text: str) -> Response:
    return Response(text, status=status, headers=_headers("text/plain; charset=utf-8", csp=build_csp(),
                                                          cache="no-cache"))


def relative_path(path: str) -> str:
    """Rule 2: the file a request path (below the base path) names, relative to the build folder."""
    if path.startswith(NAMESPACE) and path[len(NAMESPACE):] in ROOT_ASSETS:
        return path[len(NAMESPACE):]
    at = path.find("/assets/")
    if at >= 0:
        return path[at + 1:]
    return path.lstrip("/")


def _open_inside(root: str, relative: str) -> bytes | None:
    """The bytes of ``root/relative`` if it is a regular file whose real path stays inside ``root``."""
    try:
        real_root = Path(root).expanduser().resolve(strict=True)
        target = (real_root / relative).resolve(strict=True)
        if not target.is_relative_to(real_root) or not target.is_file():
            return None
        with target.open("rb") as file:
            if os.fstat(file.fileno()).st_size > MAX_FILE_BYTES:
                return None
            return file.read()
    except (OSError, RuntimeError, ValueError):
        return None


async def read_build_file(root: str, relative: str) -> bytes | None:
    """``_open_inside`` in a worker thread: the folder is on disk and files can be megabytes."""
    if not is_safe_relative(relative):
        return None
    return await trio.to_thread.run_sync(_open_inside, root, relative)


def is_bootstrap(path: str, base_path: str) -> bool:
    """Rule 1: whether ``path`` (below the base path) is the bootstrap's."""
    return (path in (f"/{BOOTSTRAP_NAME}", f"/__openclaw/{BOOTSTRAP_NAME}")
            or (not base_path and path == f"{NAMESPACE}{BOOTSTRAP_NAME}"))


def bootstrap(config: Config, base_path: str) -> dict[str, Any]:
    """Rule 1's body: only what is true of this gateway (no terminal, no CLI agents, no embeds)."""
    name, avatar = assistant_identity(config)
    entries = config.agents.entries
    agent = next((entry for entry in entries if entry.default), entries[0] if entries else None)
    body: dict[str, Any] = {"basePath": base_path, "assistantName": name, "assistantAvatar": avatar,
                            "assistantAvatarSource": None, "assistantAvatarStatus": None,
                            "assistantAvatarReason": None, "assistantAgentId": agent.id if agent else "main",
                            "serverVersion": __version__, "embedSandbox": "strict",
                            "allowExternalEmbedUrls": False, "automaticallyFetchFavicons": False,
                            "communityInvite": False, "terminalEnabled": False, "cliAgentsEnabled": False,
                            "pluginAssetsRequireAuth": True, "pluginFrameGrants": []}
    return body


async def serve_build(config: Config, base_path: str, path: str, authorize: Callable[[], None]) -> Response:
    """Answer ``path`` (below ``base_path``) from the build in ``gateway.controlUi.root`` (rules 1–5);
    ``authorize`` raises the 401 of a request without the gateway token."""
    root = config.gateway.control_ui.root or ""
    if is_bootstrap(path, base_path):
        authorize()
        body = dumps(bootstrap(config, base_path)).encode("utf-8")
        return Response(body if request.method != "HEAD" else b"", status=200,
                        headers={"Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-cache"})
    relative = relative_path(path)
    if relative and not relative.endswith("/") and PurePosixPath(relative).name != "index.html":
        found = await read_build_file(root, relative)
        if found is not None:
            suffix = PurePosixPath(relative).suffix.lower()
            return _respond(found, BUILD_CONTENT_TYPES.get(suffix) or "application/octet-stream", csp=build_csp(),
                            immutable=relative.startswith("assets/"))
        if PurePosixPath(relative).suffix.lower() in STATIC_SUFFIXES or not is_safe_relative(relative):
            return _text(404, "Not Found")
    index = await read_build_file(root, "index.html")
    if index is None:
        return _text(503, "Control UI assets not found in gateway.controlUi.root")
    html = stamp_index(index.decode("utf-8", "replace"), base_path)
    return _respond(html.encode("utf-8"), BUILD_CONTENT_TYPES[".html"], csp=build_csp(inline_script_hashes(html)))

