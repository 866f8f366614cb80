"""The client library against a real gateway on loopback: two-stage results, timeouts, tick timeout,
reconnect with backoff across an in-process restart and across a full stop and start."""

from __future__ import annotations

import uuid

import pytest
import trio

from moltbot.client import Backoff, open_gateway_client, open_reconnecting_client
from moltbot.gateway.app import open_gateway
from moltbot.gateway.broadcast import Broadcaster
from moltbot.protocol import RemoteProtocolError
from tests.conftest import TOKEN

FAST = Backoff(initial=0.05, maximum=0.2)


async def run_gateway_until(config, port: int, stop: trio.Event, *, task_status=trio.TASK_STATUS_IGNORED):
    async with open_gateway(config, port=port, env={}) as gateway:
        task_status.started(gateway)
        await stop.wait()


def test_backoff_doubles_from_one_second_to_thirty():
    delays = Backoff().delays()
    assert [next(delays) for _ in range(8)] == [1, 2, 4, 8, 16, 30, 30, 30]


async def test_expect_final_skips_the_accepted_response(gateway):
    params = {"message": "hello", "idempotencyKey": str(uuid.uuid4())}
    with trio.fail_after(10):
        async with open_gateway_client(gateway.url, token=TOKEN) as client:
            final = await client.call("agent", params, expect_final=True)
            assert final["status"] == "ok" and final["runId"] == params["idempotencyKey"]
            accepted = await client.call("agent", {**params, "idempotencyKey": str(uuid.uuid4())})
            assert accepted["status"] == "accepted"


async def test_a_call_cut_by_fail_after_leaves_the_connection_usable(gateway):
    with trio.fail_after(10):
        async with open_gateway_client(gateway.url, token=TOKEN) as client:
            with pytest.raises(trio.TooSlowError), trio.fail_after(0.2):
                await client.call("agent.wait", {"runId": "nope", "timeoutMs": 60_000})
            assert (await client.call("health"))["ok"] is True
            assert client.statistics().pending_requests == 0


async def test_a_silent_gateway_is_closed_4000_tick_timeout(make_config, monkeypatch):
    async def no_ticks(self, interval_ms, *, task_status=trio.TASK_STATUS_IGNORED):
        await trio.sleep_forever()

    monkeypatch.setattr(Broadcaster, "serve_ticks", no_ticks)
    async with open_gateway(make_config(tick_interval_ms=100), port=0, env={}) as gateway:
        with trio.fail_after(5):
            async with open_gateway_client(gateway.url, token=TOKEN, watch_ticks=True) as client:
                start = trio.current_time()
                closed = await client.wait_closed()
                assert (closed.code, closed.reason) == (4000, "tick timeout")
                assert trio.current_time() - start >= 0.15  # not before 2 x 100 ms of silence (minus the hello)
                with pytest.raises(type(closed)):
                    await client.call("health")


async def test_ticks_keep_a_watched_connection_open(make_config):
    async with open_gateway(make_config(tick_interval_ms=50), port=0, env={}) as gateway:
        with trio.fail_after(5):
            async with open_gateway_client(gateway.url, token=TOKEN, watch_ticks=True) as client:
                events = client.subscribe()
                ticks = 0
                async for frame in events:
                    ticks += frame.event == "tick"
                    if ticks == 8:  # 400 ms: twice the allowance
                        break
                assert client.closed is None


async def test_reconnects_after_an_in_process_restart(gateway):
    with trio.fail_after(10):
        async with open_reconnecting_client(gateway.url, token=TOKEN, backoff=FAST) as client:
            assert client.connects == 1
            gateway.request_restart("test", config=gateway.config)
            await client.wait_reconnected(1)
            assert (await client.call("health"))["ok"] is True
            assert client.statistics().last_close_code == 1012


async def test_survives_a_stop_and_a_start_and_a_waiting_call_completes(make_config):
    config = make_config()
    result: list = []
    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            first_stop = trio.Event()
            first = await nursery.start(run_gateway_until, config, 0, first_stop)
            port = first.port
            async with open_reconnecting_client(first.url, token=TOKEN, backoff=FAST) as client:
                events = client.subscribe()
                connection = client.client
                first_stop.set()
                await connection.wait_closed()

                answered = trio.Event()

                async def call_health() -> None:
                    result.append(await client.call("health"))
                    answered.set()

                nursery.start_soon(call_health)
                while client.statistics().failed_attempts < 2:  # noqa: ASYNC110 (polling, bounded above)
                    await trio.sleep(0.01)
                second_stop = trio.Event()
                await nursery.start(run_gateway_until, config, port, second_stop)
                await client.wait_reconnected(1)
                async for frame in events:  # events flow again on the same subscription
                    if frame.event == "tick" or frame.event == "health":
                        break
                await answered.wait()
                second_stop.set()
    assert result[0]["ok"] is True


async def test_a_refused_connect_is_raised_not_retried(gateway):
    with trio.fail_after(5), pytest.raises(RemoteProtocolError, match="token mismatch"):
        async with open_reconnecting_client(gateway.url, token="wrong", backoff=FAST):
            pass  # pragma: no cover
