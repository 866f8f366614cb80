"""Slack end to end: a real gateway on port 0 against the fake Slack (Web API + Socket Mode WebSocket),
the echo agent answering; HTTP Events mode through the gateway's own port."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest
import trio

from moltbot.channels import manager as manager_module
from moltbot.channels.base import Backoff, wall_ms
from moltbot.channels.slack import http_events, socket
from moltbot.channels.slack.channel import send_marker
from moltbot.client import open_gateway_client
from moltbot.config.model import (
    AuthConfig,
    ChannelsConfig,
    Config,
    GatewayConfig,
    SlackChannelEntry,
    SlackConfig,
)
from moltbot.delivery import outbox as outbox_module
from moltbot.delivery.store import DB_NAME, DeliveryDB
from moltbot.gateway.app import open_gateway
from tests.conftest import TOKEN
from tests.fakes.slack import BOT_USER, open_fake_slack
from tests.nodes.helpers import wait_until

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    monkeypatch.setattr(manager_module, "BACKOFF", Backoff(initial=0.05, maximum=0.2, jitter=0.1))
    monkeypatch.setattr(outbox_module, "BACKOFF", Backoff(initial=0.05, maximum=0.2, jitter=0.0))


def slack_config(tmp_path, fake, **account) -> Config:
    account.setdefault("bot_token", fake.bot_token)
    account.setdefault("app_token", fake.app_token)
    return Config(gateway=GatewayConfig(auth=AuthConfig(token=TOKEN)), state_dir=tmp_path,
                  channels=ChannelsConfig(slack=SlackConfig(api_root=fake.api_root, **account)))


def replies(fake) -> list[str]:
    return [posted["text"].rsplit("You said: ", 1)[-1] for posted in fake.posted]


async def status_row(gateway) -> dict:
    async with open_gateway_client(gateway.url, token=TOKEN) as client:
        status = await client.call("channels.status", {})
    assert "slack" in status["channelOrder"]
    (row,) = status["channelAccounts"]["slack"]
    return row


async def test_a_dm_is_acked_then_answered_once_and_channels_status_shows_the_account(tmp_path):
    with trio.fail_after(15):
        async with open_fake_slack() as fake:
            config = slack_config(tmp_path, fake, dm_policy="allowlist", allow_from=["slack:U1"])
            async with open_gateway(config, port=0, env={}) as gateway:
                await fake.wait_connected()
                envelope = await fake.push_message(channel="D1", user="U1", text="hello bot", channel_type="im")
                await fake.wait_acked(envelope)
                await fake.wait_posted(1)
                await gateway.runtime.channels.dispatcher.wait_handled(1)

                async def delivered() -> bool:  # the outbox records the delivery once Slack has answered
                    return (await status_row(gateway))["delivered"] == 1

                await wait_until(delivered)
                row = await status_row(gateway)
                entry = gateway.runtime.agents.store("main").entries["agent:main:main"]
    assert replies(fake) == ["hello bot"]
    posted = fake.posted[0]
    assert posted["channel"] == "D1" and "thread_ts" not in posted  # replyToMode off: a DM is answered in place
    assert fake.method_calls("auth.test") and len(fake.method_calls("apps.connections.open")) == 1
    assert fake.calls[0][2]["authorization"] == f"Bearer {fake.bot_token}"  # tokens in the header only
    assert (entry["lastChannel"], entry["lastTo"]) == ("slack", "D1")
    assert row["connected"] and row["mode"] == "socket" and row["tokenSource"] == "config"
    assert row["healthState"] == "connected" and row["self"] == {"userId": BOT_USER, "teamId": "T0FAKE"}
    assert row["delivered"] == 1 and row["deadLetters"] == 0


async def test_a_channel_mention_is_answered_once_in_its_thread_and_a_plain_message_is_not(tmp_path):
    with trio.fail_after(15):
        async with open_fake_slack() as fake:
            config = slack_config(tmp_path, fake, reply_to_mode="all", channels={"C1": SlackChannelEntry()})
            async with open_gateway(config, port=0, env={}) as gateway:
                await fake.wait_connected()
                await fake.push_message(channel="C1", user="U2", text="no mention here", channel_type="channel")
                mention = fake.message_event(channel="C1", user="U2", text=f"<@{BOT_USER}> ping",
                                             channel_type="channel")
                # Slack sends a mention in a channel the bot reads twice: as message and as app_mention.
                twin = {**mention, "type": "app_mention"}
                twin.pop("channel_type")
                for event in (mention, twin):
                    await fake.send_envelope(fake.envelope(event))
                await fake.push_message(channel="C9", user="U2", text=f"<@{BOT_USER}> elsewhere",
                                        channel_type="channel")  # not in the allowlist
                await gateway.runtime.channels.dispatcher.wait_handled(3)
                await fake.wait_posted(1)
                await gateway.runtime.channels.delivery.outbox.wait_idle()
                duplicates = gateway.runtime.channels.delivery.receipts.duplicates
    assert replies(fake) == ["ping"] and duplicates == 1
    assert fake.posted[0]["channel"] == "C1" and fake.posted[0]["thread_ts"] == mention["ts"]
    assert len(fake.acks) == 4


async def test_a_reply_to_a_thread_message_stays_in_that_thread(tmp_path):
    with trio.fail_after(15):
        async with open_fake_slack() as fake:
            config = slack_config(tmp_path, fake, group_policy="open", require_mention=False)
            async with open_gateway(config, port=0, env={}) as gateway:
                await fake.wait_connected()
                await fake.push_message(channel="C2", user="U2", text="in a thread", channel_type="channel",
                                        thread_ts="1699999999.000001")
                await fake.wait_posted(1)
                key = gateway.runtime.channels.dispatcher.route(_message("C2"))
    assert fake.posted[0]["thread_ts"] == "1699999999.000001"
    assert key == "agent:main:slack:channel:c2"  # session keys are lowercased, as the original


def _message(chat: str):
    from moltbot.channels.base import InboundMessage

    return InboundMessage(channel="slack", account_id="default", sender_id="U2", chat_id=chat, text="x",
                          chat_type="channel", message_id="1.2")


async def test_disconnect_refresh_reconnects_to_a_fresh_url_and_link_disabled_goes_through_backoff(tmp_path):
    with trio.fail_after(15):
        async with open_fake_slack() as fake:
            config = slack_config(tmp_path, fake, dm_policy="open")
            async with open_gateway(config, port=0, env={}) as gateway:
                await fake.wait_connected()
                await fake.disconnect("refresh_requested")
                await fake.wait_connected(2)
                await fake.push_message(channel="D1", user="U1", text="after refresh")
                await fake.wait_posted(1)
                slot = gateway.runtime.channels.slots[("slack", "default")]
                reconnects, attempts = slot.account.reconnects, slot.child.attempt
                await fake.disconnect("link_disabled")
                await fake.wait_connected(3)
                await fake.push_message(channel="D1", user="U1", text="after link_disabled")
                await fake.wait_posted(2)
                row = await status_row(gateway)
    assert replies(fake) == ["after refresh", "after link_disabled"]
    assert (reconnects, attempts) == (1, 0)  # refreshed inside the account: no restart
    assert len(fake.method_calls("apps.connections.open")) == 3 and len(fake.tickets) == 0  # each URL used once
    assert len(fake.method_calls("auth.test")) == 2  # link_disabled restarted the account
    assert row["connected"] and row["reconnectAttempts"] >= 1


async def test_a_429_is_retried_no_sooner_than_its_retry_after_and_errors_are_classified(tmp_path):
    with trio.fail_after(15):
        async with open_fake_slack() as fake:
            config = slack_config(tmp_path, fake, dm_policy="open")
            fake.fail("chat.postMessage", status=429, retry_after=0.4)
            async with open_gateway(config, port=0, env={}) as gateway:
                await fake.wait_connected()
                times: list[float] = []
                answer = fake.answer

                def timed(method, body, token):
                    if method == "chat.postMessage":
                        times.append(trio.current_time())
                    return answer(method, body, token)

                fake.answer = timed
                await fake.push_message(channel="D1", user="U1", text="rate limited")
                await fake.wait_posted(1)
                attempts = list(times)
                fake.fail("chat.postMessage", error="channel_not_found")
                fake.fail("chat.postMessage", error="internal_error")
                account = gateway.runtime.channels.slots[("slack", "default")].account
                errors = []
                for _ in range(2):
                    with pytest.raises(Exception) as caught:
                        await account.send("C404", "x")
                    errors.append((str(caught.value), caught.value.permanent))
    assert len(attempts) == 2 and attempts[1] - attempts[0] >= 0.4  # the outbox's own backoff is 0.05 s here
    assert replies(fake) == ["rate limited"]
    assert errors == [("slack chat.postMessage: channel_not_found", True),
                      ("slack chat.postMessage: internal_error", False)]


async def test_a_redelivered_envelope_starts_one_turn_across_in_process_and_process_restarts(tmp_path):
    with trio.fail_after(30):
        async with open_fake_slack() as fake:
            config = slack_config(tmp_path, fake, dm_policy="open")
            async with open_gateway(config, port=0, env={}) as gateway:
                await fake.wait_connected()
                one = await fake.push_message(channel="D1", user="U1", text="one")
                await fake.wait_posted(1)
                await fake.redeliver(one)  # Slack did not see the ack in time
                await fake.wait_acked(one, times=2)
                done = gateway.next_restart()
                gateway.request_restart("test: in-process restart")
                await done.wait()
                await fake.wait_connected(2)
                await fake.redeliver(one)
                two = await fake.push_message(channel="D1", user="U1", text="two")
                await fake.wait_posted(2)
                in_process = gateway.runtime.channels.delivery.receipts.duplicates
            async with open_gateway(config, port=0, env={}) as gateway:
                await fake.wait_connected(3)
                for envelope in (one, two):
                    await fake.redeliver(envelope)
                await fake.push_message(channel="D1", user="U1", text="three")
                await fake.wait_posted(3)
                await gateway.runtime.channels.dispatcher.wait_handled(1)
                across = gateway.runtime.channels.delivery.receipts.duplicates
    assert replies(fake) == ["one", "two", "three"]
    assert in_process >= 1 and across == 2
    assert fake.acks.count(one["envelope_id"]) == 4  # every copy acknowledged


async def test_one_unreadable_event_is_dead_lettered_acked_and_the_channel_goes_on(tmp_path):
    with trio.fail_after(15):
        async with open_fake_slack() as fake:
            config = slack_config(tmp_path, fake, dm_policy="open")
            async with open_gateway(config, port=0, env={}) as gateway:
                await fake.wait_connected()
                bad = fake.envelope({"type": "message", "channel": {"not": "a string"}, "user": "U1",
                                     "text": "x", "ts": "1.1"})
                await fake.send_envelope(bad)
                await fake.wait_acked(bad)
                await fake.redeliver(bad)
                await fake.push_message(channel="D1", user="U1", text="after the bad one")
                await fake.wait_posted(1)
                row = await status_row(gateway)
    assert replies(fake) == ["after the bad one"]
    assert row["inboundDeadLetters"] == 1 and row["connected"]
    (dead,) = DeliveryDB(tmp_path / "delivery" / DB_NAME).dead_receipts()
    assert dead["messageKey"] == f"event:{bad['payload']['event_id']}"
    assert dead["reason"].startswith("unreadable event: UnreadableEvent")


async def test_a_socket_that_stops_answering_pings_is_replaced(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(socket, "PING_SECONDS", 0.1)
    monkeypatch.setattr(socket, "PONG_SECONDS", 0.2)
    monkeypatch.setattr(socket, "CLOSE_SECONDS", 0.1)
    with trio.fail_after(15):
        async with open_fake_slack() as fake:
            fake.silent_next = True
            async with open_gateway(slack_config(tmp_path, fake, dm_policy="open"), port=0, env={}):
                await fake.wait_connected()
                await fake.push_message(channel="D1", user="U1", text="on the new socket")
                await fake.wait_posted(1)
    assert fake.silent_opened == 1 and len(fake.method_calls("apps.connections.open")) == 2
    assert any("no pong within" in record.getMessage() for record in caplog.records)
    assert replies(fake) == ["on the new socket"]


async def test_a_reply_queued_while_slack_fails_is_posted_once_after_a_restart(tmp_path):
    with trio.fail_after(30):
        async with open_fake_slack() as fake:
            config = slack_config(tmp_path, fake, dm_policy="open")
            for _ in range(1000):
                fake.fail("chat.postMessage", status=503)
            async with open_gateway(config, port=0, env={}) as gateway:
                await fake.wait_connected()
                await fake.push_message(channel="D1", user="U1", text="are you there")
                await gateway.runtime.channels.dispatcher.wait_handled(1)
                row = await status_row(gateway)
            assert fake.posted == [] and fake.method_calls("chat.postMessage")
            assert row["pending"] == 1 and row["deadLetters"] == 0
            fake.failures.clear()
            for run in range(2):  # the first start posts it; the second finds nothing left to post
                async with open_gateway(config, port=0, env={}) as gateway:
                    await fake.wait_connected(2 + run)
                    await fake.wait_posted(1)
                    await gateway.runtime.channels.delivery.outbox.wait_idle()
    assert replies(fake) == ["are you there"]
    (stored,) = DeliveryDB(tmp_path / "delivery" / DB_NAME).rows()
    assert (stored.kind, stored.state, stored.message_id) == ("reply", "delivered", fake.posted[0]["ts"])


async def test_tokens_slack_refuses_stop_the_account_with_the_reason(tmp_path):
    with trio.fail_after(15):
        async with open_fake_slack() as fake:
            bad_bot = slack_config(tmp_path, fake, bot_token="xoxb-revoked")
            bad_app = slack_config(tmp_path, fake, app_token="xapp-1-revoked")
            rows = []
            for config in (bad_bot, bad_app):
                async with open_gateway(config, port=0, env={}) as gateway:
                    slot = gateway.runtime.channels.slots[("slack", "default")]
                    await slot.child.wait_state("failed")
                    rows.append(await status_row(gateway))
    assert [row["lastError"] for row in rows] == ["slack refused the bot token: invalid_auth",
                                                  "slack refused the app token: not_allowed_token_type"]
    assert all(row["healthState"] == "failed" and not row["connected"] for row in rows)
    assert len(fake.method_calls("auth.test")) == 2  # each tried once, not retried


async def test_a_reply_slack_got_just_before_a_kill_is_found_and_not_posted_again(tmp_path):
    db = DeliveryDB(tmp_path / "delivery" / DB_NAME)
    # The killed run had begun sending the first (in doubt), not the second (queued behind it).
    for key, text, sending in (("reply:slack:default:D1/1.1", "arrived", True),
                               ("reply:slack:default:D1/1.2", "never sent", False)):
        db.enqueue(key=key, kind="reply", channel="slack", account_id="default", target="D1", text=text,
                   reply_to=None, now_ms=wall_ms(), sending=sending)
    db.close()
    with trio.fail_after(15):
        async with open_fake_slack() as fake:
            # The killed run's post of the first reply reached Slack; its "delivered" was never written.
            fake.posted.append({"channel": "D1", "text": "arrived", "ts": f"{wall_ms() // 1000 + 1}.000001",
                                "metadata": send_marker("reply:slack:default:D1/1.1#0")})
            async with open_gateway(slack_config(tmp_path, fake, dm_policy="open"), port=0, env={}) as gateway:
                await fake.wait_posted(2)
                await gateway.runtime.channels.delivery.outbox.wait_idle()
    assert [p["text"] for p in fake.posted] == ["arrived", "never sent"]
    assert fake.posted[1]["metadata"] == send_marker("reply:slack:default:D1/1.2#0")
    assert len(fake.method_calls("conversations.history")) == 1  # only the one in doubt is looked up
    rows = {row.key: row for row in DeliveryDB(tmp_path / "delivery" / DB_NAME).rows()}
    assert rows["reply:slack:default:D1/1.1"].state == "delivered"
    assert rows["reply:slack:default:D1/1.1"].message_id == fake.posted[0]["ts"]
    assert rows["reply:slack:default:D1/1.2"].message_id == fake.posted[1]["ts"]


# --- HTTP Events mode ---------------------------------------------------------------------------------

def signed(body: bytes, *, secret: str = SECRET, at: float | None = None, retry: int | None = None) -> dict:
    stamp = str(int(time.time() if at is None else at))
    headers = {"x-slack-request-timestamp": stamp, "x-slack-signature": http_events.sign(secret, stamp, body),
               "content-type": "application/json"}
    if retry is not None:
        headers["x-slack-retry-num"], headers["x-slack-retry-reason"] = str(retry), "http_timeout"
    return headers


async def test_http_events_mode_verifies_signatures_and_answers_each_event_once(tmp_path):
    with trio.fail_after(15):
        async with open_fake_slack() as fake:
            config = slack_config(tmp_path, fake, mode="http", app_token=None, signing_secret=SECRET,
                                  dm_policy="open")
            async with open_gateway(config, port=0, env={}) as gateway:
                url = gateway.url.replace("ws://", "http://") + "/slack/events"
                await _wait_accepting(gateway)
                event = fake.envelope(fake.message_event(channel="D1", user="U1", text="over http"))["payload"]
                body = json.dumps(event).encode()
                challenge = json.dumps({"type": "url_verification", "challenge": "c-123", "token": "x"}).encode()
                async with httpx.AsyncClient() as http:
                    verify = await http.post(url, content=challenge, headers=signed(challenge))
                    forged = await http.post(url, content=body, headers=signed(body, secret="wrong"))
                    stale = await http.post(url, content=body, headers=signed(body, at=time.time() - 301))
                    unsigned = await http.post(url, content=body)
                    first = await http.post(url, content=body, headers=signed(body))
                    retried = await http.post(url, content=body, headers=signed(body, retry=1))
                    huge = await http.post(url, content=b"x" * (http_events.MAX_BODY + 1),
                                           headers=signed(b"x" * (http_events.MAX_BODY + 1)))
                await fake.wait_posted(1)
                await gateway.runtime.channels.delivery.outbox.wait_idle()
                row = await status_row(gateway)
    assert (verify.status_code, verify.text) == (200, "c-123")
    assert [r.status_code for r in (forged, stale, unsigned)] == [401, 401, 401]
    assert forged.text == "unauthorized: signature mismatch" and "stale" in stale.text
    assert (first.status_code, retried.status_code, huge.status_code) == (200, 200, 413)
    assert replies(fake) == ["over http"] and row["mode"] == "http" and row["connected"]
    assert fake.method_calls("apps.connections.open") == []


async def test_http_events_mode_without_a_signing_secret_refuses_every_request(tmp_path):
    with trio.fail_after(15):
        async with open_fake_slack() as fake:
            config = slack_config(tmp_path, fake, mode="http", app_token=None, dm_policy="open")
            async with open_gateway(config, port=0, env={}) as gateway:
                url = gateway.url.replace("ws://", "http://") + "/slack/events"
                body = json.dumps({"type": "url_verification", "challenge": "c"}).encode()
                async with httpx.AsyncClient() as http:
                    answer = await http.post(url, content=body, headers=signed(body, secret=""))
                row = await status_row(gateway)
    assert answer.status_code == 503 and "signingSecret is not set" in answer.text
    assert not row["connected"] and "signingSecret" in row["lastError"] and row["healthState"] == "failed"


async def _wait_accepting(gateway) -> None:
    def accepting() -> bool:
        slot = gateway.runtime.channels.slots.get(("slack", "default"))
        return bool(slot and slot.account and slot.account.accepting)

    while not accepting():  # noqa: ASYNC110 (gateway state, polled under the test's fail_after)
        await trio.sleep(0.01)


async def polled(predicate) -> None:
    """Until ``predicate()`` (what it reads has no event to wait on); the caller's deadline bounds it."""
    while not predicate():  # noqa: ASYNC110
        await trio.sleep(0.01)


async def test_an_envelope_read_when_a_restart_stops_the_account_gets_its_receipt_and_ack_first(tmp_path, monkeypatch):
    """The racing moment of the restart bench's losses: an envelope has been read from the socket, but its
    receipt waits for the store's one writer (busy with another transaction) when a restart stops the
    account. Slack redelivers an unacknowledged envelope at most 3 times, so a restart that drops it spends
    one of them, and a few in a row lose the message; here the fake redelivers none (the last retry)."""
    monkeypatch.setattr(outbox_module, "STORE_CHECK_SECONDS", 3600.0)  # the only store call waiting: the receipt
    with trio.fail_after(20):
        async with open_fake_slack() as fake:
            config = slack_config(tmp_path, fake, dm_policy="open")
            async with open_gateway(config, port=0, env={}) as gateway:
                await fake.wait_connected()
                manager = gateway.runtime.channels
                store, old = manager.delivery.receipts.store, manager.slots[("slack", "default")]
                writer_free = threading.Event()
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(store.run, writer_free.wait)  # the writer is busy
                    try:
                        await polled(lambda: store.statistics().borrowed_tokens == 1)
                        envelope = await fake.push_message(channel="D1", user="U1", text="racing")
                        await polled(lambda: store.statistics().tasks_waiting == 1)  # read; receipt waits
                        nursery.start_soon(manager.restart, "slack", "test restart")
                        await polled(lambda: manager.slots.get(("slack", "default")) is not old)  # stopping it
                    finally:
                        writer_free.set()  # also when the test fails: the nursery waits for that thread
                await manager.wait_restarts(1)
                await fake.wait_posted(1)
                acks = fake.acks.count(envelope["envelope_id"])
    assert replies(fake) == ["racing"] and acks == 1
