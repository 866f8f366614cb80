"""``logs.tail`` answers truthfully against protocol 4's ``LogsTailResult`` (``file`` a non-empty path): a
gateway that writes no log file at all refuses UNAVAILABLE "log read failed: …" (OpenClaw's answer to a
log it cannot read) instead of ``file: ""``; one whose file does not exist yet answers its path, empty."""

from __future__ import annotations

import functools

import trio

from moltbot.config.model import AuthConfig, Config, ControlUiConfig, GatewayConfig
from moltbot.gateway.app import serve_gateway
from tests.conftest import CANVAS_OFF, TOKEN, open_raw
from tests.v4.handshake_support import schema_errors

CLI = {"id": "cli", "version": "1", "platform": "linux", "mode": "cli"}


async def _tail(url: str) -> dict:
    async with open_raw(url, handshake=True, minProtocol=4, maxProtocol=4, client=CLI,
                        scopes=["operator.read"]) as ws:
        return await ws.call("logs.tail", {})


async def test_no_log_file_at_all_is_unavailable_not_an_empty_file_name(tmp_path, nursery):
    # The service form: an embedded gateway (open_gateway) always has a state dir, a temporary one at least.
    config = Config(gateway=GatewayConfig(auth=AuthConfig(token=TOKEN), control_ui=ControlUiConfig(enabled=False)),
                    canvas_host=CANVAS_OFF, path=tmp_path / "moltbot.json", state_dir=None)
    with trio.fail_after(10):
        gateway = await nursery.start(functools.partial(serve_gateway, config, port=0, env={}, watch_config=False))
        response = await _tail(gateway.url)
        await gateway.stop()
    assert response["ok"] is False
    assert response["error"]["code"] == "UNAVAILABLE"
    assert response["error"]["message"].startswith("log read failed: this gateway writes no log file")


async def test_a_log_file_not_written_yet_is_named_and_validates(gateway, openclaw_schema):
    with trio.fail_after(10):
        response = await _tail(gateway.url)
    assert response["ok"], response
    assert response["payload"]["file"].endswith("gateway.log")
    assert schema_errors(openclaw_schema, "LogsTailResult", response["payload"]) == []
