"""Issue 15 §3 (HTTP): a lone UTF-16 surrogate (``"\\ud800"``, a valid JSON escape) in a request to
``/v1/chat/completions``, ``/v1/responses`` (plain and SSE) or ``/tools/invoke`` is data: the answer is
valid UTF-8 with the surrogate escaped as Node writes it, never a 500, and other clients never notice."""

from __future__ import annotations

import pytest

from moltbot.config.model import (
    GatewayToolsConfig,
)
from moltbot.gateway.app import open_gateway
from tests.conftest import HTTP_APIS, open_raw
from tests.hostile.http_raw import AUTH, request

LONE = '"x\\ud800y"'  # as written in the request body: JSON's escape for a lone high surrogate


def lone(template: str) -> str:
    """``template`` (JSON) with each ``@`` replaced by a string holding a lone surrogate escape."""
    return template.replace("@", LONE)


CASES = [
    pytest.param("/v1/chat/completions", lone('{"model": @, "user": @, "messages": [{"role": "user", "content": @}]}'),
                 id="chat"),
    pytest.param("/v1/chat/completions", lone('{"stream": true, "messages": [{"role": "system", "content": @}, '
                                              '{"role": "user", "content": [{"type": "text", "text": @}]}]}'),
                 id="chat-sse"),
    pytest.param("/v1/responses", lone('{"model": @, "instructions": @, "input": @}'), id="responses"),
    pytest.param("/v1/responses", lone('{"model": "moltbot", "stream": true, "user": @, "input": [{"type": '
                                       '"message", "role": "user", "content": [{"type": "input_text", "text": @}]}]}'),
                 id="responses-sse"),
    pytest.param("/tools/invoke", lone('{"tool": @}'), id="tools-unknown-name"),
    pytest.param("/tools/invoke", lone('{"tool": "gateway", "action": "config.get", "args": {"note": @}}'),
                 id="tools-args"),
    pytest.param("/v1/responses", lone('{"model": "m", "input": [{"type": @}]}'), id="responses-invalid"),
    pytest.param("/v1/chat/completions", lone('{"messages": [{"role": @, "content": "x"}]}'), id="chat-invalid"),
]


@pytest.mark.parametrize(("path", "body"), CASES)
async def test_lone_surrogates_are_answered_escaped(make_config, path, body):
    config = make_config(http=HTTP_APIS, tools=GatewayToolsConfig(allow=["gateway"]))
    async with open_gateway(config, port=0, env={}) as gateway:
        async with open_raw(gateway.url, handshake=True) as bystander:
            answer = await request(gateway, "POST", path, body=body, headers=AUTH)
            text = answer.body.decode("utf-8")  # strict: a raw surrogate would not even encode
            assert answer.status < 500, (answer.status, text[:300])
            if answer.status == 200 and "/v1/" in path or "Tool not available" in text:
                assert "\\ud800" in text, text[:500]  # echoed (the model, the prompt, the name), escaped
            health = await bystander.call("health")
            assert health["ok"], health
