"""Fixtures: a real gateway on a loopback port (port 0), raw WebSocket access and the client library."""

from __future__ import annotations

import json
import logging
import os
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
from hypothesis import settings
from trio_websocket import open_websocket_url

from moltbot.client import open_gateway_client
from moltbot.config.model import (
    AuthConfig,
    CanvasHostConfig,
    Config,
    ControlUiConfig,
    EndpointToggle,
    GatewayConfig,
    HttpConfig,
    HttpEndpoints,
    ResponsesEndpoint,
)
from moltbot.gateway.app import open_gateway
from moltbot.gateway.logfile import configure_logging

TOKEN = "test-token-0123456789"

# Hypothesis profiles. The suite runs the default one; the tests that set ``max_examples`` take it from
# ``tests.strategies.examples``, which scales with the profile, so
# ``python -m pytest --hypothesis-profile=thorough`` runs ten times as many examples everywhere.
settings.register_profile("thorough", max_examples=1000)

# The official protocol-4 contract (OpenClaw's protocol.schema.json, MIT), the oracle of the v4 tests. It lives in
# the shared reference folder beside the checkout (``../shared``); MOLTBOT_SHARED_DIR names another place.
_SHARED_CANDIDATES = [os.environ.get("MOLTBOT_SHARED_DIR", ""),
                      str(Path(__file__).resolve().parents[1].parent / "shared"), "/work/shared"]


def shared_reference(*parts: str) -> Path:
    """A file under the shared reference folder; the test is skipped (with the paths tried) when it is absent."""
    for root in filter(None, _SHARED_CANDIDATES):
        path = Path(root, "reference", *parts)
        if path.exists():
            return path
    pytest.skip(f"shared reference {'/'.join(parts)} not found (tried {_SHARED_CANDIDATES}; set MOLTBOT_SHARED_DIR)")


@pytest.fixture(scope="session")
def openclaw_schema() -> dict[str, Any]:
    """OpenClaw's protocol.schema.json (2026.9.1): ``methods`` (scope, since) and ``definitions``."""
    return json.loads(shared_reference("openclaw-protocol", "protocol.schema.json").read_text())
CANVAS_OFF = CanvasHostConfig(enabled=False)
# The OpenAI-compatible endpoints on (they are off by default), for the HTTP tests.
HTTP_APIS = HttpConfig(endpoints=HttpEndpoints(chat_completions=EndpointToggle(enabled=True),
                                               responses=ResponsesEndpoint(enabled=True)))


@pytest.fixture(autouse=True, scope="session")
def isolated_home(tmp_path_factory):
    """HOME is a temporary directory for the whole run: no test (nor a gateway or CLI process it starts)
    writes to the real home, e.g. the canvas root ``~/clawd/canvas`` or the state dir ``~/.clawdbot``."""
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))
        yield home


@pytest.fixture
def make_config(tmp_path):
    """A config with a token, its file and state dir in ``tmp_path``; the canvas host is off (canvas tests
    turn it on with ``canvas_host=CanvasHostConfig(root=..., port=0)``)."""

    def make(*, canvas_host: CanvasHostConfig = CANVAS_OFF, **gateway: Any) -> Config:
        auth = gateway.pop("auth", AuthConfig(token=TOKEN))
        # As in the reference's tests, the Control UI is off unless a test turns it on (tests/ui).
        gateway.setdefault("control_ui", ControlUiConfig(enabled=False))
        return Config(gateway=GatewayConfig(auth=auth, **gateway), canvas_host=canvas_host,
                      path=tmp_path / "moltbot.json", state_dir=tmp_path)

    return make


@pytest.fixture
def config(make_config):
    return make_config()


def gateway_fixture(deadline_s: float):
    """A ``gateway`` fixture whose deadline (over the whole test body) is ``deadline_s``. A module whose tests
    start the CLI as a process several times (a second or more each, far more on a busy 2-core machine)
    takes a longer one: ``gateway = gateway_fixture(CLI_DEADLINE_S)``."""

    @pytest.fixture(name="gateway")
    async def gateway(config):
        with trio.fail_after(deadline_s):
            async with open_gateway(config, port=0, env=WS_PATH_ENV) as gw:
                yield gw

    return gateway


# ``MOLTBOT_WS_PATH=asgi python -m pytest …`` runs the ``gateway`` fixture's gateways on that WebSocket path.
WS_PATH_ENV = {"MOLTBOT_WS_PATH": os.environ["MOLTBOT_WS_PATH"]} if os.environ.get("MOLTBOT_WS_PATH") else {}


CLI_DEADLINE_S = 90
gateway = gateway_fixture(10)


async def reload_after(gateway, change) -> str:
    """Apply ``change()`` (a config-file edit or fault) and wait until the gateway has decided what to do
    with it; return the decision (``gateway.last_reload``)."""
    done = gateway.next_reload()
    change()
    with trio.fail_after(10):
        await done.wait()
    return gateway.last_reload


@contextmanager
def installed_gateway_log(config: Config, *, verbose: bool, env: dict[str, str]):
    """The gateway's JSON-lines log file installed as ``moltbot gateway`` installs it (yields its path),
    then the handlers removed and the ``moltbot`` logger as it was, so later tests log as before."""
    path = configure_logging(config, verbose=verbose, env=env)
    try:
        yield path
    finally:
        root = logging.getLogger("moltbot")
        for handler in list(root.handlers):
            root.removeHandler(handler)
            handler.close()
        root.propagate = True
        root.setLevel(logging.NOTSET)


def connect_frame(request_id: str = "c1", **params: Any) -> str:
    body: dict[str, Any] = {
        "minProtocol": 3, "maxProtocol": 7,
        "client": {"id": "test", "version": "1.0", "platform": "linux", "mode": "test"},
        "auth": {"token": TOKEN},
    }
    body.update(params)
    body = {key: value for key, value in body.items() if value is not None}
    return json.dumps({"type": "req", "id": request_id, "method": "connect", "params": body})


@attrs.define
class RawClient:
    """A bare WebSocket speaking JSON, for driving the protocol by hand (including malformed input)."""

    ws: Any
    challenge: dict

    async def send(self, value: Any) -> None:
        await self.ws.send_message(value if isinstance(value, (str, bytes)) else json.dumps(value))

    async def receive(self) -> dict:
        return json.loads(await self.ws.get_message())

    async def response(self, request_id: str) -> dict:
        """The next ``res`` with ``request_id``, skipping events."""
        while True:
            frame = await self.receive()
            if frame.get("type") == "res" and frame.get("id") == request_id:
                return frame

    async def event(self, name: str) -> dict:
        while True:
            frame = await self.receive()
            if frame.get("type") == "event" and frame.get("event") == name:
                return frame

    async def closed(self) -> tuple[int, str]:
        """Read until the server closes; return (code, reason)."""
        from trio_websocket import ConnectionClosed

        try:
            while True:
                await self.ws.get_message()
        except ConnectionClosed as exc:
            return exc.reason.code, exc.reason.reason or ""

    async def call(self, method: str, params: Any = None, request_id: str = "r1") -> dict:
        frame: dict[str, Any] = {"type": "req", "id": request_id, "method": method}
        if params is not None:
            frame["params"] = params
        await self.send(frame)
        return await self.response(request_id)


@asynccontextmanager
async def open_raw(url: str, *, handshake: bool = False, extra_headers: list[tuple[str, str]] | None = None,
                   **params: Any):
    """A raw client; with ``handshake=True`` it has sent ``connect`` and read ``hello-ok``."""
    streams = []
    try:
        async with open_websocket_url(url, max_message_size=16 * 1024 * 1024, extra_headers=extra_headers) as ws:
            streams.append(ws._stream)
            client = RawClient(ws, json.loads(await ws.get_message()))
            if handshake:
                await client.send(connect_frame(**params))
                hello = await client.response("c1")
                assert hello["ok"], hello
            yield client
    finally:
        # trio-websocket's client leaves its TCP stream open when the server closed first (it waits for the
        # server's TCP close, then returns without closing its own end): every refused connect left a socket
        # behind, a ResourceWarning at garbage collection. Closing an already closed stream is a no-op.
        for stream in streams:
            await trio.aclose_forcefully(stream)


@pytest.fixture
def raw(gateway):
    return lambda **kwargs: open_raw(gateway.url, **kwargs)


@pytest.fixture
def client(gateway):
    return lambda **kwargs: open_gateway_client(gateway.url, **{"token": TOKEN, **kwargs})
