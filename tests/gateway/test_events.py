"""Events: tick, presence with state versions, one global seq, shutdown, and the slow-consumer policy."""

import json

import trio

from moltbot.gateway.app import Gateway, open_gateway
from moltbot.gateway.connection import serve_connection
from moltbot.gateway.runtime import Runtime
from moltbot.gateway.transport import TransportClosed, memory_transport_pair
from tests.conftest import connect_frame, open_raw


async def test_tick_is_broadcast_every_interval_with_increasing_seq(make_config):
    async with open_gateway(make_config(tick_interval_ms=50), port=0, env={}) as gateway:
        async with open_raw(gateway.url, handshake=True) as ws:
            with trio.fail_after(5):
                first = await ws.event("tick")
                second = await ws.event("tick")
    assert second["seq"] > first["seq"] >= 1
    assert second["payload"]["ts"] >= first["payload"]["ts"]
    assert "stateVersion" not in first


CLI = {"id": "cli", "version": "1", "platform": "linux", "mode": "cli"}


async def test_presence_event_on_connect_and_disconnect_of_tracked_client(raw):
    async with raw(handshake=True, client=CLI) as watcher:
        async with raw(handshake=True, client={"id": "test", "version": "1", "platform": "linux",
                                                "mode": "ui", "instanceId": "tab-9"}):
            joined = await watcher.event("presence")
        left = await watcher.event("presence")
    assert any(entry.get("instanceId") == "tab-9" for entry in joined["payload"]["presence"])
    assert not any(entry.get("instanceId") == "tab-9" for entry in left["payload"]["presence"])
    assert left["stateVersion"]["presence"] > joined["stateVersion"]["presence"]
    assert left["seq"] > joined["seq"]


async def test_cli_clients_do_not_cause_presence_events(raw, client):
    async with raw(handshake=True, client=CLI) as watcher:
        async with client(client_id="cli", mode="cli") as cli:
            await cli.call("health")
        # Ask for something that broadcasts, then check no presence event came before it.
        await watcher.send({"type": "req", "id": "p", "method": "health", "params": {"probe": True}})
        frames = []
        while not (frames and frames[-1].get("id") == "p"):
            frames.append(await watcher.receive())
    assert not [f for f in frames if f.get("event") == "presence"]


async def test_stop_sends_shutdown_then_closes_1012(make_config):
    async with open_gateway(make_config(), port=0, env={}) as gateway:
        async with open_raw(gateway.url, handshake=True) as ws:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(gateway.stop)
                with trio.fail_after(5):
                    shutdown = await ws.event("shutdown")
                    closed = await ws.closed()
    assert shutdown["payload"] == {"reason": "gateway stopping", "restartExpectedMs": None}
    assert closed == (1012, "service restart")


def _runtime(config):
    """A Runtime whose services are not started: enough to serve connections over memory transports."""
    return Runtime(Gateway(config, env={}), config)


async def _handshake_over_memory(gateway, nursery):
    client_end, server_end = memory_transport_pair(buffer=0)
    nursery.start_soon(serve_connection, gateway, server_end)
    await client_end.receive_text()  # connect.challenge
    await client_end.send_text(connect_frame())
    hello = json.loads(await client_end.receive_text())
    assert hello["ok"]
    await trio.testing.wait_all_tasks_blocked()  # registered; its writer waits for frames
    return client_end, server_end


async def test_slow_consumer_is_closed_1008_for_non_droppable_events(make_config, nursery, autojump_clock):
    gateway = _runtime(make_config(max_buffered_bytes=4096))
    client_end, server_end = await _handshake_over_memory(gateway, nursery)
    # The client stops reading: the writer blocks on the first frame and the queue fills up.
    for _ in range(10):
        gateway.broadcaster.broadcast("health", {"padding": "x" * 1000}, droppable=False)
    await trio.testing.wait_all_tasks_blocked()
    assert (server_end.close_code, server_end.close_reason) == (1008, "slow consumer")
    assert not gateway.broadcaster.connections


async def test_slow_consumer_only_loses_droppable_events(make_config, nursery, autojump_clock):
    gateway = _runtime(make_config(max_buffered_bytes=4096))
    client_end, server_end = await _handshake_over_memory(gateway, nursery)
    for _ in range(10):
        gateway.broadcaster.broadcast("tick", {"padding": "x" * 1000}, droppable=True)
    await trio.testing.wait_all_tasks_blocked()
    (connection,) = gateway.broadcaster.connections
    assert connection.queue.dropped > 0 and server_end.close_code is None
    received = [json.loads(await client_end.receive_text()) for _ in range(10 - connection.queue.dropped)]
    assert [frame["event"] for frame in received] == ["tick"] * len(received)


async def test_handshake_times_out_after_exactly_fifteen_seconds(make_config, nursery, autojump_clock):
    gateway = _runtime(make_config())
    client_end, server_end = memory_transport_pair()
    start = trio.current_time()
    nursery.start_soon(serve_connection, gateway, server_end)
    await client_end.receive_text()
    try:
        await client_end.receive_text()
    except TransportClosed:
        pass
    assert trio.current_time() - start == 15.0  # gateway.handshakeTimeoutMs, protocol 4's default
    assert (server_end.close_code, server_end.close_reason) == (1000, "handshake timeout")


async def test_connect_and_disconnect_storm_with_broadcasts_leaves_the_gateway_serving(make_config):
    """Regression: a broadcast reaching a connection whose nursery was closing crashed the Runtime."""
    async with open_gateway(make_config(tick_interval_ms=5), port=0, env={}) as gateway:
        async def churn(i):
            async with open_raw(gateway.url, handshake=True, client={
                    "id": "test", "version": "1", "platform": "x", "mode": "ui", "instanceId": f"c{i}"}) as ws:
                await ws.call("system-event", {"text": f"hello {i}", "instanceId": f"c{i}"})

        with trio.fail_after(30):
            for _ in range(3):
                async with trio.open_nursery() as nursery:
                    for i in range(40):
                        nursery.start_soon(churn, i)
            async with open_raw(gateway.url, handshake=True) as ws:
                assert (await ws.call("health"))["ok"] is True


async def test_deeply_nested_json_is_answered_after_the_handshake_and_closes_before(raw):
    nested = "[" * 20_000 + "]" * 20_000  # no id to answer: "invalid" after hello-ok (a frame that cannot be parsed)
    async with raw(handshake=True) as ws:
        await ws.send(nested)
        assert (await ws.response("invalid"))["error"]["message"] == "invalid request frame: nesting deeper than 128 levels"
        assert (await ws.call("health"))["ok"] is True
    async with raw() as ws:
        await ws.send(nested)
        assert await ws.closed() == (1008, "invalid request frame")


async def test_a_burst_of_broadcasts_reaches_every_connection_whole_and_in_order(make_config):
    """The writer sends what queued up meanwhile in one socket write: still one message per frame."""
    async with open_gateway(make_config(), port=0, env={}) as gateway:
        async with open_raw(gateway.url, handshake=True) as first, open_raw(gateway.url, handshake=True) as second:
            runtime = await gateway.current_runtime()
            sent = [runtime.broadcaster.broadcast("heartbeat", {"n": n, "pad": "é" * (n % 7) * 300},
                                                  droppable=False) for n in range(300)]
            await first.send({"type": "req", "id": "h", "method": "health"})
            for ws in (first, second):
                with trio.fail_after(10):
                    frames = []
                    while len(frames) < 300:
                        frame = await ws.receive()
                        if frame.get("event") == "heartbeat":
                            frames.append(frame)
                assert [frame["seq"] for frame in frames] == sent
                assert [frame["payload"]["n"] for frame in frames] == list(range(300))
            with trio.fail_after(10):
                assert (await first.response("h"))["ok"] is True


def test_outbound_queue_hands_out_frames_in_batches_up_to_a_close():
    from moltbot.gateway.outbound import CloseRequest, OutboundQueue

    queue = OutboundQueue(10_000)
    for text in ("a" * 10, "b" * 10, "c" * 10):
        queue.put_nowait(text)
    queue.close_nowait(1012, "service restart")
    queue.put_nowait("d")
    assert queue.pop_texts(max_bytes=20) == ["a" * 10, "b" * 10]
    assert queue.pop_texts(max_bytes=5) == ["c" * 10]  # at least one, however large
    assert queue.pop_texts() == CloseRequest(1012, "service restart")
    assert queue.pop_texts() == ["d"]
    assert queue.pop_texts() is None
    assert queue.statistics().queued_bytes == 0 and queue.statistics().sent == 4
