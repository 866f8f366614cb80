"""``web_fetch {url, maxChars?}``: fetch a page over http(s) and return its readable text.

Caps (``tools.web.fetch``): ``timeoutSeconds`` for the whole fetch including redirects, ``maxBytes`` read
of the body (the rest is not downloaded), ``maxChars`` of text returned, ``maxRedirects`` followed (each
hop checked again). SSRF guard: the host is resolved first and the fetch is refused when any address it
resolves to is loopback, private, link-local, multicast, reserved or unspecified, unless
``allowPrivate``. (The connection resolves the name again, so a DNS answer that changes between the two
lookups is not caught; the guard is against pointing the agent at the LAN, not against a hostile DNS.)
HTML is reduced to text (scripts and styles dropped); text and JSON pass through; other types are refused.
"""

from __future__ import annotations

import html.parser
import ipaddress
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import trio

from .registry import ToolError

if TYPE_CHECKING:
    from ..runtime import AgentRuntime, Run
    from .registry import ToolRegistry

MAX_URL = 4096
SCHEMA = {"type": "object", "properties": {
    "url": {"type": "string", "description": "http or https URL"},
    "maxChars": {"type": "integer", "minimum": 100}}, "required": ["url"]}
TEXT_TYPES = ("text/", "application/json", "application/xml", "application/xhtml+xml")


class _Text(html.parser.HTMLParser):
    SKIP = {"script", "style", "noscript", "template", "svg"}
    BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "pre"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in self.SKIP:
            self._skip += 1
        elif tag == "title":
            self._in_title = True
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP and self._skip:
            self._skip -= 1
        elif tag == "title":
            self._in_title = False
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._skip:
            self.parts.append(data)


def html_text(markup: str) -> tuple[str, str]:
    parser = _Text()
    parser.feed(markup)
    parser.close()
    text = re.sub(r"[ \t\r\f\v]+", " ", "".join(parser.parts))
    text = re.sub(r"\n\s*\n+", "\n\n", text)
    return parser.title.strip(), text.strip()


def public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved
                or ip.is_unspecified)


async def check_url(url: str, *, allow_private: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ToolError("url must be an http or https URL with a host")
    if allow_private:
        return
    try:
        infos = await trio.socket.getaddrinfo(parts.hostname, parts.port or 443, type=trio.socket.SOCK_STREAM)
    except OSError:
        raise ToolError(f"cannot resolve {parts.hostname}") from None
    if not infos or not all(public_address(str(info[4][0])) for info in infos):
        raise ToolError(f"refused: {parts.hostname} is a private, loopback or otherwise non-public address "
                        "(tools.web.fetch.allowPrivate is off)")


def register_web_tools(registry: ToolRegistry, agents: AgentRuntime) -> None:
    async def web_fetch(arguments: dict[str, Any], run: Run | None) -> Any:
        settings = agents.config.tools.web.fetch
        if not settings.enabled:
            raise ToolError("web_fetch is disabled (tools.web.fetch.enabled)")
        url = arguments.get("url")
        if not isinstance(url, str) or len(url) > MAX_URL:
            raise ToolError(f"url must be a string of at most {MAX_URL} characters")
        max_chars = arguments.get("maxChars", settings.max_chars)
        if not isinstance(max_chars, int) or isinstance(max_chars, bool) or max_chars < 100:
            raise ToolError("maxChars must be an integer of at least 100")
        max_chars = min(max_chars, settings.max_chars)
        import httpx  # with the first fetch: a gateway whose agents never fetch does not load it

        try:
            with trio.fail_after(settings.timeout_seconds):
                return await _fetch(url, settings, max_chars)
        except trio.TooSlowError:
            raise ToolError(f"web_fetch timed out after {settings.timeout_seconds} s") from None
        except httpx.HTTPError as exc:
            raise ToolError(f"web_fetch failed: {type(exc).__name__}") from None

    async def _fetch(url: str, settings: Any, max_chars: int) -> dict[str, Any]:
        import httpx

        async with httpx.AsyncClient(follow_redirects=False, timeout=None,
                                     headers={"user-agent": "moltbot-web-fetch/1"}) as client:
            current = url
            for _ in range(settings.max_redirects + 1):
                await check_url(current, allow_private=settings.allow_private)
                async with client.stream("GET", current) as response:
                    if response.is_redirect and response.headers.get("location"):
                        current = urljoin(current, response.headers["location"])
                        continue
                    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
                    if kind and not kind.startswith(TEXT_TYPES):
                        raise ToolError(f"not a text page (content-type {kind})")
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) >= settings.max_bytes:
                            break
                    text = bytes(body[:settings.max_bytes]).decode(response.encoding or "utf-8", "replace")
                    title = ""
                    if "html" in kind or (not kind and "<html" in text[:1000].lower()):
                        title, text = html_text(text)
                    result = {"url": url, "finalUrl": current, "status": response.status_code,
                              "contentType": kind or None, "text": text[:max_chars],
                              "truncated": len(text) > max_chars or len(body) >= settings.max_bytes}
                    if title:
                        result["title"] = title
                    return result
            raise ToolError(f"too many redirects (more than {settings.max_redirects})")

    registry.register("web_fetch", "Fetch an http(s) URL and return its readable text (size and time capped; "
                      "private and loopback addresses refused).", SCHEMA, web_fetch)
