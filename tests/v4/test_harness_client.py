"""Our client library and CLI against a protocol-4 gateway shaped like today's OpenClaw.

Before: the client refused OpenClaw's hello-ok ("invalid hello-ok: at /server: unexpected property
'bootId'…"), so every CLI command failed against it; events with 9.6's ``recipientProfileId`` were dropped.
"""

from __future__ import annotations

import os

import pytest
import trio

from moltbot.client import connect_params, open_gateway_client
from moltbot.client._hello import parse_hello
from moltbot.protocol import RemoteProtocolError
from tests.cli_inprocess import run_cli_inprocess
from tests.conformance.fake_gateway4 import TOKEN, VERSION, FakeGateway4

CLI_KIND = {"client_id": "cli", "mode": "cli"}


@pytest.fixture
async def fake4(nursery):
    return await nursery.start(FakeGateway4(frozenset({"tick_with_profile"})).serve)


async def test_client_reads_protocol_4_hello_ok_and_keeps_the_raw_payload(fake4):
    with trio.fail_after(20):
        async with open_gateway_client(fake4.url, token=TOKEN, scopes=["operator.read"], **CLI_KIND) as client:
            assert client.protocol == 4
            assert client.hello.server.version == VERSION
            assert client.hello_payload["pluginSurfaceUrls"]["canvas"].startswith("http://127.0.0.1:")
            assert client.hello_payload["auth"]["scopes"] == ["operator.read"]
            assert (await client.call("status"))["runtimeVersion"] == VERSION


async def test_client_reports_forbidden_with_its_missing_scope_details(fake4):
    with trio.fail_after(20):
        async with open_gateway_client(fake4.url, token=TOKEN, scopes=["operator.read"], **CLI_KIND) as client:
            with pytest.raises(RemoteProtocolError) as refused:
                await client.call("config.set", {})
    assert refused.value.code == "FORBIDDEN"
    assert refused.value.details == {"code": "MISSING_SCOPE", "missingScope": "operator.admin",
                                     "requiredScopes": ["operator.admin"]}


async def test_events_with_fields_of_a_newer_server_still_reach_subscribers(nursery):
    fake = await nursery.start(FakeGateway4(frozenset({"tick_with_profile"})).serve)
    with trio.fail_after(20):
        async with open_gateway_client(fake.url, token=TOKEN, scopes=["operator.read"], **CLI_KIND) as client:
            events = client.subscribe()
            await client.call("status")  # the tick was sent (and so read) before this answer
    assert client.last_seq == 1 and client.statistics().dropped_events == 0
    assert (await events.receive()).event == "tick"


def test_default_connect_offers_3_to_7():
    params = connect_params(token="t", client_id="cli", mode="cli", scopes=["operator.admin"])
    assert (params["minProtocol"], params["maxProtocol"]) == (3, 7)
    assert params["client"]["id"] == "cli" and params["scopes"] == ["operator.admin"]


def test_an_auth_block_without_a_device_token_is_not_fatal():
    hello = FakeGateway4().hello_ok({"client": {"id": "cli", "mode": "cli"}, "scopes": ["operator.read"]})
    parsed = parse_hello(hello)
    assert parsed.protocol == 4 and parsed.auth is not None and parsed.auth.device_token is None
    assert parsed.auth.scopes == ["operator.read"] and parsed.features.methods == ["health", "status"]
    with pytest.raises(RemoteProtocolError):
        parse_hello({**hello, "protocol": "4"})  # a real mistake still fails


@pytest.fixture
def home(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CLAWDBOT_", "MOLTBOT_"))}
    env["HOME"] = str(tmp_path)
    return env


@pytest.mark.parametrize("command, expected", [
    (["status"], f"Gateway {VERSION} (pid 4242)"),
    (["health"], "Gateway health: ok"),
    (["gateway", "call", "status"], '"runtimeVersion"'),
])
async def test_cli_commands_work_against_a_protocol_4_gateway(nursery, home, command, expected):
    fake = await nursery.start(FakeGateway4().serve)
    result = await run_cli_inprocess(home, *command, "--url", fake.url, "--token", TOKEN)  # click's runner
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert expected in out
