"""How the gateway serves the Control UI over plain HTTP (the order in which the
HTTP routes are tried, and the rules of the Control UI route)."""

from __future__ import annotations

import base64
import hashlib
import re

import attrs
import httpx
import pytest
import trio

from moltbot.config.model import AgentEntry, AgentIdentity, AgentsConfig, ControlUiConfig
from moltbot.gateway.app import open_gateway
from moltbot.http.control_ui import normalize_base_path, render_index
from tests.conftest import TOKEN


async def _serve(config, fn):
    async with open_gateway(config, port=0, env={}) as gateway:
        async with httpx.AsyncClient(base_url=gateway.urls[0]) as http:
            return await fn(http)


@pytest.fixture
def ui(make_config):
    return lambda **kwargs: make_config(control_ui=ControlUiConfig(**kwargs))


@pytest.mark.parametrize(("raw", "normalized"), [("", ""), ("/", ""), ("  ", ""), ("x", "/x"), ("/x/", "/x"),
                                                 ("//a/b//", "/a/b")])
def test_base_path_is_normalized(raw, normalized):
    assert normalize_base_path(raw) == normalized


async def test_index_at_the_root_with_injected_globals_and_a_strict_csp(ui):
    response = await _serve(ui(), lambda http: http.get("/"))
    assert response.status_code == 200 and response.headers["content-type"] == "text/html; charset=utf-8"
    html = response.text
    script = re.search(r"<script>(window\.__CLAWDBOT_CONTROL_UI_BASE_PATH__.*?)</script>", html).group(1)
    assert 'window.__CLAWDBOT_CONTROL_UI_BASE_PATH__="";' in script
    assert 'window.__CLAWDBOT_ASSISTANT_NAME__="Assistant";' in script
    assert 'window.__CLAWDBOT_ASSISTANT_AVATAR__="A";' in script
    csp = response.headers["content-security-policy"]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'self' 'sha256-{digest}'" in csp  # the inline script is allowed by its hash alone
    assert "default-src 'self'" in csp and "connect-src 'self' ws: wss:" in csp
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_assets_have_their_content_types_and_revalidate_with_etags(ui):
    async def fetch(http):
        js = await http.get("/app.js")
        css = await http.get("/app.css")
        svg = await http.get("/favicon.svg")
        again = await http.get("/app.js", headers={"if-none-match": js.headers["etag"]})
        return js, css, svg, again

    js, css, svg, again = await _serve(ui(), fetch)
    assert js.headers["content-type"] == "text/javascript; charset=utf-8" and "import" in js.text
    assert css.headers["content-type"] == "text/css; charset=utf-8"
    assert svg.headers["content-type"] == "image/svg+xml"
    assert "content-security-policy" in js.headers and js.headers["cache-control"] == "no-cache"
    assert (again.status_code, again.content) == (304, b"")


async def test_nothing_in_the_page_points_outside_the_origin(ui):
    async def fetch(http):
        return [(await http.get(path)).text for path in ("/", "/app.js", "/views.js", "/gateway.js", "/config.js", "/chat.js", "/operations.js",
                                                          "/dom.js", "/app.css")]

    for text in await _serve(ui(), fetch):
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text, re.I), "an off-machine URL"
        assert "@import" not in text and "@font-face" not in text


async def test_spa_fallback_serves_index_for_client_routes(ui):
    async def fetch(http):
        return await http.get("/chat"), await http.get("/logs/deep/link"), await http.get("/no-such.js")

    chat, deep, missing = await _serve(ui(), fetch)
    for response in (chat, deep):
        assert response.status_code == 200 and "__CLAWDBOT_CONTROL_UI_BASE_PATH__" in response.text
    assert (missing.status_code, missing.text) == (404, "Not Found")  # only the views fall back (issue 19)


async def test_only_get_and_head(ui):
    async def fetch(http):
        head = await http.head("/app.js")
        posts = [await http.request(method, path) for method, path in
                 (("POST", "/"), ("PUT", "/app.js"), ("DELETE", "/chat"))]
        return head, posts

    head, posts = await _serve(ui(), fetch)
    assert head.status_code == 200 and head.content == b"" and int(head.headers["content-length"]) > 0
    for response in posts:
        assert (response.status_code, response.text) == (405, "Method Not Allowed")
        assert "allow" not in response.headers


async def test_paths_outside_the_base_path_are_404_for_any_method(ui):
    # The reference checks the method first (405 here); a path that is not the UI's is now 404 (issue 19).
    response = await _serve(ui(base_path="/x"), lambda http: http.post("/elsewhere"))
    assert response.status_code == 404


async def test_ui_paths_are_404_at_the_root(ui):
    async def fetch(http):
        return [await http.get(path) for path in ("/ui", "/ui/", "/ui/app.js")]

    for response in await _serve(ui(), fetch):
        assert (response.status_code, response.text) == (404, "Not Found")
        assert response.headers["content-type"] == "text/plain; charset=utf-8"


async def test_base_path_redirects_and_serves_only_beneath_it(ui):
    async def fetch(http):
        return (await http.get("/console"), await http.get("/console?x=1"), await http.get("/console/"),
                await http.get("/console/app.js"), await http.get("/"), await http.get("/app.js"),
                await http.get("/consoleX"))

    bare, query, index, asset, root, outside, sibling = await _serve(ui(base_path="console/"), fetch)
    assert (bare.status_code, bare.headers["location"]) == (302, "/console/")
    assert query.headers["location"] == "/console/?x=1"
    assert index.status_code == 200 and 'window.__CLAWDBOT_CONTROL_UI_BASE_PATH__="/console";' in index.text
    assert '<base href="/console/">' in index.text
    assert asset.status_code == 200 and asset.headers["content-type"].startswith("text/javascript")
    assert [r.status_code for r in (root, outside, sibling)] == [404, 404, 404]
    # As the original's answers: the redirect has no body type, the 404s are text with a charset.
    assert "content-type" not in bare.headers and bare.content == b""
    for response in (root, outside, sibling):
        assert (response.headers["content-type"], response.text) == ("text/plain; charset=utf-8", "Not Found")


async def test_disabled_ui_is_404(make_config):
    async def fetch(http):
        return [await http.get(path) for path in ("/", "/app.js", "/chat")]

    for response in await _serve(make_config(control_ui=ControlUiConfig(enabled=False)), fetch):
        assert (response.status_code, response.text) == (404, "Not Found")


async def _raw_get(url: str, target: str) -> int:
    """The status of ``GET <target>`` sent byte for byte (HTTP clients would normalise the ``..``)."""
    host, port = url.removeprefix("http://").split(":")
    stream = await trio.open_tcp_stream(host, int(port))
    async with stream:
        await stream.send_all(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        head = await stream.receive_some(4096)
    return int(head.split(b" ", 2)[1])


async def test_paths_leaving_the_asset_folder_are_404(ui):
    targets = ("/../pyproject.toml", "/a/../../control_ui.py", "/%2e%2e/%2e%2e/pyproject.toml", "/.hidden",
               "/..%2fcontrol_ui.py", "/static/../../app.py")
    async with open_gateway(ui(), port=0, env={}) as gateway:
        with trio.fail_after(10):
            statuses = [await _raw_get(gateway.urls[0], target) for target in targets]
            control = await _raw_get(gateway.urls[0], "/app.js")
    assert statuses == [404] * len(targets) and control == 200


async def test_api_endpoints_come_first(ui):
    response = await _serve(ui(), lambda http: http.post("/tools/invoke", json={"tool": "nope"},
                                                          headers={"authorization": f"Bearer {TOKEN}"}))
    assert response.status_code == 404 and response.json()["error"]["type"] == "not_found"


async def test_assistant_identity_comes_from_the_default_agent_and_cannot_break_out(ui):
    config = attrs.evolve(ui(), agents=AgentsConfig(entries=[AgentEntry(
        id="main", default=True, identity=AgentIdentity(name="Molty </script><script>alert(1)</script>", emoji="🦞"))]))
    response = await _serve(config, lambda http: http.get("/"))
    assert "</script><script>alert(1)" not in response.text
    assert '__CLAWDBOT_ASSISTANT_NAME__="Molty \\u003c/script\\u003e' in response.text
    assert '__CLAWDBOT_ASSISTANT_AVATAR__="\\ud83e\\udd9e"' in response.text


async def test_avatar_meta_and_file(ui, tmp_path):
    avatar = tmp_path / "molty.png"
    avatar.write_bytes(b"\x89PNG\r\n\x1a\nfake")
    config = attrs.evolve(ui(), agents=AgentsConfig(entries=[AgentEntry(
        id="main", identity=AgentIdentity(avatar=str(avatar)))]))

    async def fetch(http):
        return await http.get("/avatar/main?meta=1"), await http.get("/avatar/main"), await http.get("/")

    meta, image, index = await _serve(config, fetch)
    assert meta.content == b'{"avatarUrl":"/avatar/main"}'  # compact, as the original's JSON.stringify
    assert meta.headers["cache-control"] == "no-cache" and meta.headers["content-type"].startswith("application/json")
    assert image.headers["content-type"] == "image/png" and image.content.startswith(b"\x89PNG")
    assert '__CLAWDBOT_ASSISTANT_AVATAR__="/avatar/main"' in index.text


def test_render_index_puts_base_and_globals_before_any_asset():
    html, _ = render_index('<html><head><meta charset="utf-8"><link rel="stylesheet" href="app.css"></head></html>',
                           base_path="/x", name="A", avatar="B")
    assert html.index("<base href=") < html.index("<link") and html.index("<meta charset") < html.index("<base")
