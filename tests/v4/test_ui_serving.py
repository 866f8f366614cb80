"""Serving another Control UI build from ``gateway.controlUi.root`` (OpenClaw's ``dist/control-ui`` layout).

A small build of the same shape is written into ``tmp_path``, so these run everywhere.
"""

from __future__ import annotations

import base64
import hashlib

import httpx
import pytest
import trio

from moltbot.config.model import ControlUiConfig
from moltbot.gateway.app import open_gateway
from tests.conftest import TOKEN

INLINE = "globalThis.__zod_globalConfig ??= {};"
INDEX = ('<!doctype html>\n<html data-openclaw-control-ui-build-id="b1" lang="en">\n<head>\n'
         '<link rel="icon" href="./favicon.svg" />\n'
         f'<script data-cfasync="false">{INLINE}</script>\n'
         '<script type="module" crossorigin src="./assets/index-AbC123.js"></script>\n</head><body></body></html>\n')


@pytest.fixture
def build(tmp_path):
    root = tmp_path / "control-ui"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text(INDEX)
    (root / "assets" / "index-AbC123.js").write_text("console.log('ui')")
    (root / "favicon.svg").write_text("<svg/>")
    (tmp_path / "secret.txt").write_text("not for the browser")
    (root / "assets" / "escape.js").symlink_to(tmp_path / "secret.txt")
    return root


async def _get(config, *paths, headers=None):
    with trio.fail_after(20):
        async with open_gateway(config, port=0, env={}) as gateway:
            async with httpx.AsyncClient(base_url=gateway.urls[0]) as http:
                return [await http.get(path, headers=headers) for path in paths]


def _config(make_config, build, **kwargs):
    return make_config(control_ui=ControlUiConfig(root=str(build), **kwargs))


async def test_index_is_stamped_and_its_inline_script_allowed_by_hash(make_config, build):
    (index,) = await _get(_config(make_config, build), "/")
    html = index.text
    assert index.status_code == 200 and index.headers["cache-control"] == "no-cache"
    assert '<html data-openclaw-control-ui-base-path="" data-openclaw-terminal-enabled="false" lang="en">' in html
    assert "build-id" not in html and 'src="/assets/index-AbC123.js"' in html and 'href="/favicon.svg"' in html
    digest = base64.b64encode(hashlib.sha256(INLINE.encode()).digest()).decode()
    csp = index.headers["content-security-policy"]
    assert f"script-src 'self' 'sha256-{digest}';" in csp  # the module script is 'self', nothing inline else
    assert "unsafe-eval" not in csp and "https:" not in csp and "frame-ancestors 'none'" in csp
    assert index.headers["x-frame-options"] == "DENY"


async def test_hashed_assets_are_immutable_and_deep_links_find_them(make_config, build):
    asset, deep, icon = await _get(_config(make_config, build), "/assets/index-AbC123.js",
                                   "/chat/assets/index-AbC123.js", "/__openclaw__/favicon.svg")
    assert asset.text == "console.log('ui')" and asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert asset.headers["content-type"] == "text/javascript; charset=utf-8"
    assert deep.text == asset.text
    assert icon.headers["content-type"] == "image/svg+xml" and icon.headers["cache-control"] == "no-cache"


async def test_client_routes_fall_back_to_index_but_missing_files_are_404(make_config, build):
    route, missing, escape, dotdot = await _get(_config(make_config, build), "/settings/models",
                                                "/assets/gone-1.js", "/assets/escape.js", "/%2e%2e/secret.txt")
    assert route.status_code == 200 and "data-openclaw-control-ui-base-path" in route.text
    assert missing.status_code == 404
    assert escape.status_code == 404 and "not for the browser" not in escape.text  # a symlink out of the root
    assert dotdot.status_code == 404


async def test_bootstrap_config_needs_the_gateway_token(make_config, build):
    config = _config(make_config, build)
    (anonymous,) = await _get(config, "/control-ui-config.json")
    authorized, legacy = await _get(config, "/__openclaw__/control-ui-config.json", "/__openclaw/control-ui-config.json",
                                    headers={"Authorization": f"Bearer {TOKEN}"})
    assert anonymous.status_code == 401 and TOKEN not in anonymous.text
    body = authorized.json()
    assert authorized.status_code == 200 and legacy.json() == body
    assert body["basePath"] == "" and body["assistantName"] == "Assistant" and body["terminalEnabled"] is False


async def test_a_base_path_prefixes_links_and_the_bootstrap(make_config, build):
    config = _config(make_config, build, base_path="/ui-x")
    index, bootstrap = await _get(config, "/ui-x/", "/ui-x/control-ui-config.json",
                                  headers={"Authorization": f"Bearer {TOKEN}"})
    assert 'data-openclaw-control-ui-base-path="/ui-x"' in index.text and 'src="/ui-x/assets/' in index.text
    assert bootstrap.json()["basePath"] == "/ui-x"


async def test_a_root_without_index_answers_503_without_its_path(make_config, tmp_path):
    (index,) = await _get(make_config(control_ui=ControlUiConfig(root=str(tmp_path / "nowhere"))), "/")
    assert index.status_code == 503 and str(tmp_path) not in index.text
