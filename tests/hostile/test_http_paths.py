"""Issue 15 §11 (GHSA-v865-p3gq-hw6m): a multi-encoded path never reaches a protected handler without
auth, nor bypasses auth on a protected prefix. Request targets are sent byte for byte (raw h11)."""

from __future__ import annotations

import attrs
import pytest

from moltbot.config.model import (
    ControlUiConfig,
    HooksConfig,
)
from moltbot.gateway.app import open_gateway
from tests.conftest import HTTP_APIS
from tests.hostile.http_raw import AUTH, request

BODY = {"tool": "gateway", "action": "config.get", "text": "wake", "model": "m", "input": "x",
        "messages": [{"role": "user", "content": "x"}]}

# Encoded twice (or more): what one more decoding would turn into a protected path or a traversal.
MULTI_ENCODED = ["/tools%252finvoke", "/tools%252Finvoke", "/%2574ools/invoke", "/x/%252e%252e/tools/invoke",
                 "/%252e%252e/tools/invoke", "/v1/chat%252fcompletions", "/v1%252fresponses", "/hooks%252fwake",
                 "/%2568ooks/wake", "/hooks/%252e%252e/tools/invoke", "/%25252e%25252e/hooks/wake",
                 "/tools%25252finvoke"]
# Encoded once, mixed case, dot segments: the server's one decoding makes them what they say.
SINGLE_ENCODED = ["/tools%2finvoke", "/tools%2Finvoke", "/%74ools/invoke", "/v1%2fchat%2fcompletions",
                  "/v1%2Fresponses", "/hooks%2fwake", "/%68ooks/wake", "/%2Fhooks/wake", "//tools/invoke",
                  "/hooks/./wake", "/x/%2e%2e/tools/invoke", "/%2e%2e/tools/invoke", "/TOOLS/invoke",
                  "/tools/invoke%00", "/hooks%5cwake"]


@pytest.fixture(params=[False, True], ids=["no-ui", "control-ui"])
async def http_gateway(request, make_config):
    config = attrs.evolve(make_config(http=HTTP_APIS, control_ui=ControlUiConfig(enabled=request.param)),
                          hooks=HooksConfig(enabled=True, token="hook-secret"))
    async with open_gateway(config, port=0, env={}) as gateway:
        yield gateway


@pytest.mark.parametrize("target", MULTI_ENCODED)
async def test_multi_encoded_paths_are_refused_before_any_handler(http_gateway, target):
    for headers in ({}, AUTH, {"Authorization": "Bearer hook-secret"}):
        answer = await request(http_gateway, "POST", target, body=BODY, headers=headers)
        assert (answer.status, answer.body) == (400, b"Bad Request"), (target, headers, answer)
    assert http_gateway.system_events == []


@pytest.mark.parametrize("target", SINGLE_ENCODED)
async def test_encoded_paths_to_protected_handlers_still_need_auth(http_gateway, target):
    answer = await request(http_gateway, "POST", target, body=BODY)
    assert answer.status in (401, 404, 405), (target, answer)  # the handler's auth, or no handler at all
    assert not 200 <= answer.status < 300
    assert http_gateway.system_events == []
