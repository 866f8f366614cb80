"""``web_fetch``: text extraction, caps, redirects re-checked, and the SSRF guard (loopback refused
unless ``tools.web.fetch.allowPrivate``)."""

import attrs

from moltbot.agents.tools.web import html_text, public_address
from moltbot.gateway.app import open_gateway
from tests.agents.test_agent_provider_runs import config_for
from tests.fakes import FakeHttpServer, Reply, open_fake_server

PAGE = (b"<html><head><title>Hi</title><style>x{}</style></head><body><p>Hello <b>world</b></p>"
        b"<script>evil()</script><p>" + b"long " * 400 + b"</p></body></html>")


def html(body: bytes) -> Reply:
    return Reply(200, (("content-type", "text/html; charset=utf-8"), ("content-length", str(len(body)))), (body,))


def with_fetch(config, **fields):
    fetch = attrs.evolve(config.tools.web.fetch, **fields)
    return attrs.evolve(config, tools=attrs.evolve(config.tools, web=attrs.evolve(config.tools.web, fetch=fetch)))


def test_html_is_reduced_to_text_and_private_addresses_are_recognised():
    title, text = html_text(PAGE.decode())
    assert title == "Hi" and text.startswith("Hello world") and "evil" not in text and "x{}" not in text
    assert not any(public_address(a) for a in ("127.0.0.1", "10.1.2.3", "192.168.0.1", "169.254.169.254", "::1",
                                               "::ffff:127.0.0.1", "fd00::1", "0.0.0.0"))
    assert public_address("93.184.216.34")


async def test_loopback_is_refused_by_default_and_fetched_when_allowed(tmp_path):
    redirect = Reply(302, (("location", "/page"), ("content-length", "0")), ())
    async with open_fake_server(FakeHttpServer([redirect, html(PAGE)])) as server:
        url = f"http://127.0.0.1:{server.port}/start"
        config = config_for(tmp_path, "http://127.0.0.1:9/v1")
        async with open_gateway(config, port=0, env={}) as gateway:
            refused, is_error = await gateway.runtime.tools.invoke("web_fetch", {"url": url})
        assert is_error and "refused" in refused["error"] and not server.requests
        async with open_gateway(with_fetch(config, allow_private=True, max_chars=200), port=0, env={}) as gateway:
            fetched, is_error = await gateway.runtime.tools.invoke("web_fetch", {"url": url})
    assert not is_error and fetched["finalUrl"].endswith("/page") and fetched["title"] == "Hi"
    assert fetched["text"].startswith("Hello world") and len(fetched["text"]) == 200 and fetched["truncated"]


async def test_non_http_urls_and_binary_types_are_refused(tmp_path):
    binary = Reply(200, (("content-type", "application/octet-stream"), ("content-length", "3")), (b"abc",))
    async with open_fake_server(FakeHttpServer([binary])) as server:
        config = with_fetch(config_for(tmp_path, "http://127.0.0.1:9/v1"), allow_private=True)
        async with open_gateway(config, port=0, env={}) as gateway:
            tools = gateway.runtime.tools
            scheme, _ = await tools.invoke("web_fetch", {"url": "file:///etc/passwd"})
            kind, _ = await tools.invoke("web_fetch", {"url": f"http://127.0.0.1:{server.port}/bin"})
    assert "http or https" in scheme["error"] and "not a text page" in kind["error"]
