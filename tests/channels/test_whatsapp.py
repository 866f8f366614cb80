"""WhatsApp end to end: a real gateway on port 0, the production channel, login and manager code, with the
WhatsApp Web client replaced at the bridge boundary by tests/fakes/whatsapp.py (and, where neonize is
installed, the real neonize client pointed at a network that refuses connections)."""

from __future__ import annotations

import base64
import socket
import stat
import struct

import pytest
import trio

from moltbot.channels import manager as manager_module
from moltbot.channels.base import Backoff, DeliveryError
from moltbot.channels.whatsapp import bridge
from moltbot.channels.whatsapp import channel as channel_module
from moltbot.channels.whatsapp.channel import NOT_LINKED, normalize_target
from moltbot.channels.whatsapp.login import qr_png_data_url
from moltbot.client import open_gateway_client
from moltbot.config.model import AuthConfig, ChannelsConfig, Config, GatewayConfig, WhatsAppConfig
from moltbot.gateway.app import open_gateway
from tests.conftest import TOKEN
from tests.fakes.whatsapp import PHONE, QR_CODE, SELF_JID, SELF_LID, FakeWhatsApp, link

PEER = "4917012345678@s.whatsapp.net"
GROUP = "120363012345678901@g.us"


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    monkeypatch.setattr(manager_module, "BACKOFF", Backoff(initial=0.05, maximum=0.2, jitter=0.1))


@pytest.fixture
def fake(monkeypatch):
    backend = FakeWhatsApp()
    monkeypatch.setattr(bridge, "BACKEND", backend)
    return backend


def whatsapp_config(tmp_path, **account) -> Config:
    return Config(gateway=GatewayConfig(auth=AuthConfig(token=TOKEN)), state_dir=tmp_path,
                  channels=ChannelsConfig(whatsapp=WhatsAppConfig(**account)))


def auth_dir(tmp_path, account_id="default"):
    return tmp_path / "credentials" / "whatsapp" / account_id


def account_status(gateway, account_id="default"):
    return gateway.runtime.channels.statuses["whatsapp"][account_id]


async def wait_until(predicate):
    while not predicate():  # noqa: ASYNC110 (gateway state, polled under the test's fail_after)
        await trio.sleep(0.01)


def png_size(data_url: str) -> tuple[int, int]:
    prefix = "data:image/png;base64,"
    assert data_url.startswith(prefix)
    png = base64.b64decode(data_url[len(prefix):], validate=True)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


async def test_unlinked_account_reports_how_to_link_without_retrying(tmp_path, fake):
    with trio.fail_after(10):
        async with open_gateway(whatsapp_config(tmp_path), port=0, env={}) as gateway:
            await wait_until(lambda: account_status(gateway).last_error is not None)
            async with open_gateway_client(gateway.url, token=TOKEN) as client:
                status = await client.call("channels.status", {})
                health = await client.call("health", {"probe": True})
    row = status["channelAccounts"]["whatsapp"][0]
    assert row["linked"] is False and row["running"] is False and row["connected"] is False
    assert row["lastError"] == NOT_LINKED
    assert health["channels"]["whatsapp"]["linked"] is False
    assert fake.clients == []  # nothing tried to connect without a session
    # The catalogue fields as the original's channel registry gives them (its macOS app draws these).
    assert status["channelDetailLabels"]["whatsapp"] == "WhatsApp Web"
    assert status["channelSystemImages"] == {"telegram": "paperplane", "whatsapp": "message"}
    meta = {entry["id"]: entry for entry in status["channelMeta"]}
    assert meta["whatsapp"] == {"id": "whatsapp", "label": "WhatsApp", "detailLabel": "WhatsApp Web",
                                "systemImage": "message"}
    assert meta["telegram"]["detailLabel"] == "Telegram Bot" and "systemImage" not in meta["webchat"]


async def test_qr_login_over_websocket_links_and_starts_the_account(tmp_path, fake):
    with trio.fail_after(15):
        async with open_gateway(whatsapp_config(tmp_path), port=0, env={}) as gateway:
            async with open_gateway_client(gateway.url, token=TOKEN) as client:
                started = await client.call("web.login.start", {"timeoutMs": 5000})
                again = await client.call("web.login.start", {})
                still = await client.call("web.login.wait", {"timeoutMs": 50})
                fake.scan()
                done = await client.call("web.login.wait", {"timeoutMs": 5000})
                running = account_status(gateway).running  # started by the time wait answers
                await wait_until(lambda: account_status(gateway).connected)
                status = await client.call("channels.status", {})
                linked_again = await client.call("web.login.start", {})
    width, height = png_size(started["qrDataUrl"])
    assert width == height and width > 100
    assert started["qrDataUrl"] == qr_png_data_url(QR_CODE)
    assert "Linked Devices" in started["message"]
    assert again["qrDataUrl"] == started["qrDataUrl"]  # the active QR is reused
    assert still["connected"] is False and "waiting" in still["message"]
    assert done == {"connected": True, "message": "✅ Linked! WhatsApp is ready."} and running
    row = status["channelAccounts"]["whatsapp"][0]
    assert row["linked"] and row["running"] and row["connected"] and row["lastConnectedAt"] > 0
    assert row["self"] == {"e164": f"+{PHONE}", "jid": SELF_JID}
    assert "lastError" not in row
    assert "already linked" in linked_again["message"] and "qrDataUrl" not in linked_again
    creds = auth_dir(tmp_path)
    assert stat.S_IMODE(creds.stat().st_mode) == 0o700
    files = list(creds.iterdir())
    assert files and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    assert len(fake.clients) == 2  # the login client, then the account's own


async def test_login_without_a_whatsapp_config_links_but_says_how_to_start(tmp_path, fake, config):
    with trio.fail_after(15):
        async with open_gateway(config, port=0, env={}) as gateway:
            async with open_gateway_client(gateway.url, token=TOKEN) as client:
                nothing = await client.call("web.login.wait", {"timeoutMs": 10})
                await client.call("web.login.start", {"accountId": "phone"})
                fake.scan()
                done = await client.call("web.login.wait", {"accountId": "phone"})
                after = await client.call("web.login.wait", {"accountId": "phone"})
    assert nothing == {"connected": False, "message": "No active WhatsApp login in progress."}
    assert done["connected"] is True and "Enable channels.whatsapp" in done["message"]
    assert after["connected"] is False  # a finished login is reported once
    assert fake.linked(auth_dir(tmp_path, "phone")) == SELF_JID


async def test_login_start_answers_a_clear_message_when_no_qr_comes(tmp_path, fake, monkeypatch):
    """As the original: no QR in time is a success answer with a message only (no qrDataUrl), not an error."""
    from moltbot.channels.whatsapp import login

    monkeypatch.setattr(login, "MIN_START_TIMEOUT_MS", 200)
    fake.hang = True
    with trio.fail_after(10):
        async with open_gateway(whatsapp_config(tmp_path), port=0, env={}) as gateway:
            async with open_gateway_client(gateway.url, token=TOKEN) as client:
                started = await client.call("web.login.start", {"timeoutMs": 0})
                assert started == {"message": "Failed to get QR: Error: Timed out waiting for WhatsApp QR"}
                waited = await client.call("web.login.wait", {"timeoutMs": 0})
            await wait_until(lambda: fake.active == 0)
    assert waited == {"connected": False, "message": "No active WhatsApp login in progress."}


async def test_dm_reaches_the_echo_agent_and_the_reply_is_sent_in_chunks(tmp_path, fake):
    link(auth_dir(tmp_path))
    config = whatsapp_config(tmp_path, dm_policy="allowlist", allow_from=["0049 170 1234 5678"], text_chunk_limit=12)
    with trio.fail_after(15):
        async with open_gateway(config, port=0, env={}) as gateway:
            await wait_until(lambda: account_status(gateway).connected)
            fake.push_text("hello from my phone")
            await gateway.runtime.channels.dispatcher.wait_handled(1)
            entry = gateway.runtime.agents.store("main").entries["agent:main:main"]
            status = account_status(gateway)
    assert len(fake.sent) > 1 and {jid for jid, _ in fake.sent} == {PEER}
    assert all(len(text) <= 12 for _, text in fake.sent)
    assert " ".join(text for _, text in fake.sent).endswith("You said: hello from my phone")
    assert (entry["lastChannel"], entry["lastTo"]) == ("whatsapp", "+4917012345678")
    assert status.last_inbound_at and status.last_outbound_at


async def test_group_messages_need_a_mention_and_own_messages_are_ignored(tmp_path, fake):
    link(auth_dir(tmp_path))
    config = whatsapp_config(tmp_path, group_policy="open", dm_policy="open")
    with trio.fail_after(15):
        async with open_gateway(config, port=0, env={}) as gateway:
            dispatcher = gateway.runtime.channels.dispatcher
            await wait_until(lambda: account_status(gateway).connected)
            fake.push_text("just chatting", chat=GROUP, group=True)
            fake.push_text("note to self", from_me=True)
            await wait_until(lambda: dispatcher.handled >= 1)
            fake.push_text("@bot what time is it", chat=GROUP, group=True, mentions=(SELF_LID,))
            await fake.wait_sent(1)
            fake.push_text("and now?", chat=GROUP, group=True, quoted_sender=SELF_JID)
            await fake.wait_sent(2)
            await dispatcher.wait_handled(3)
    assert dispatcher.handled == 3  # the own message never reached the dispatcher
    assert [jid for jid, _ in fake.sent] == [GROUP, GROUP]
    assert fake.sent[0][1].endswith("You said: @bot what time is it")


async def test_send_method_normalises_numbers_and_rejects_bad_targets(tmp_path, fake):
    link(auth_dir(tmp_path))
    with trio.fail_after(15):
        async with open_gateway(whatsapp_config(tmp_path), port=0, env={}) as gateway:
            await wait_until(lambda: account_status(gateway).connected)
            async with open_gateway_client(gateway.url, token=TOKEN) as client:
                sent = await client.call("send", {"to": "+49 170 1234-567", "message": "hi", "idempotencyKey": "k1"})
                with pytest.raises(Exception, match="invalid WhatsApp target 'call me maybe'"):
                    await client.call("send", {"to": "call me maybe", "message": "hi", "idempotencyKey": "k2"})
                fake.send_error = "server returned error 463"
                with pytest.raises(Exception, match="whatsapp send to .* failed: server returned error 463"):
                    await client.call("send", {"to": GROUP, "message": "hi", "idempotencyKey": "k3"})
    assert sent["channel"] == "whatsapp" and sent["messageId"].startswith("3EB0")
    assert fake.sent == [("491701234567@s.whatsapp.net", "hi")]


async def test_logout_unlinks_stops_the_account_and_deletes_the_credentials(tmp_path, fake):
    link(auth_dir(tmp_path))
    with trio.fail_after(15):
        async with open_gateway(whatsapp_config(tmp_path), port=0, env={}) as gateway:
            await wait_until(lambda: account_status(gateway).connected)
            async with open_gateway_client(gateway.url, token=TOKEN) as client:
                result = await client.call("channels.logout", {"channel": "whatsapp"})
                status = await client.call("channels.status", {})
                with pytest.raises(Exception, match="not available"):
                    await client.call("send", {"to": PEER, "message": "hi", "idempotencyKey": "k1"})
            assert fake.active == 0
    assert result == {"channel": "whatsapp", "accountId": "default", "cleared": True, "loggedOut": True}
    assert fake.logouts == 1 and not auth_dir(tmp_path).exists()
    row = status["channelAccounts"]["whatsapp"][0]
    assert row["linked"] is False and row["running"] is False and "not linked" in row["lastError"]


async def test_unreachable_network_is_a_clear_status_and_retried_with_backoff(tmp_path, fake):
    link(auth_dir(tmp_path))
    fake.unreachable = "dial tcp: lookup web.whatsapp.com: no such host"
    with trio.fail_after(10):
        async with open_gateway(whatsapp_config(tmp_path), port=0, env={}) as gateway:
            await wait_until(lambda: account_status(gateway).reconnect_attempts >= 2)
            status = account_status(gateway).snapshot()
            fake.unreachable = None
            await wait_until(lambda: account_status(gateway).connected)
    assert status["lastError"] == "cannot reach WhatsApp Web: dial tcp: lookup web.whatsapp.com: no such host"
    assert status["linked"] is True and status["connected"] is False


async def test_a_connection_that_never_opens_fails_within_the_connect_deadline(tmp_path, fake, monkeypatch):
    monkeypatch.setattr(channel_module, "CONNECT_TIMEOUT", 0.2)
    link(auth_dir(tmp_path))
    fake.hang = True
    with trio.fail_after(10):
        async with open_gateway(whatsapp_config(tmp_path), port=0, env={}) as gateway:
            await wait_until(lambda: account_status(gateway).last_error is not None)
            error = account_status(gateway).last_error
    assert error == "cannot reach WhatsApp Web: not connected after 0.2s"
    assert fake.active == 0


async def test_a_drop_that_does_not_heal_restarts_the_client(tmp_path, fake, monkeypatch):
    monkeypatch.setattr(channel_module, "RECONNECT_WATCHDOG", 0.2)
    link(auth_dir(tmp_path))
    with trio.fail_after(10):
        async with open_gateway(whatsapp_config(tmp_path, dm_policy="open"), port=0, env={}) as gateway:
            await wait_until(lambda: account_status(gateway).connected)
            fake.drop()
            await wait_until(lambda: not account_status(gateway).connected)
            dropped = account_status(gateway).last_error
            await wait_until(lambda: len(fake.clients) == 2 and account_status(gateway).connected)
            fake.push_text("still there?")
            await fake.wait_sent(1)
    assert dropped == "disconnected; reconnecting"
    assert account_status(gateway).reconnect_attempts == 1 and fake.active == 0


async def test_gateway_stop_leaves_no_client_running(tmp_path, fake):
    link(auth_dir(tmp_path))
    link(auth_dir(tmp_path, "work"), jid="4930123456@s.whatsapp.net")
    config = Config(gateway=GatewayConfig(auth=AuthConfig(token=TOKEN)), state_dir=tmp_path,
                    channels=ChannelsConfig(whatsapp=WhatsAppConfig(accounts={
                        "default": WhatsAppConfig(), "work": WhatsAppConfig()})))
    with trio.fail_after(10):
        async with open_gateway(config, port=0, env={}) as gateway:
            await wait_until(lambda: all(account_status(gateway, a).connected for a in ("default", "work")))
            assert fake.active == 2
            async with open_gateway_client(gateway.url, token=TOKEN) as client:
                await client.call("web.login.start", {"accountId": "third"})
            assert fake.active == 3
    assert fake.active == 0 and not any(c.running for c in fake.clients)


def test_allow_from_entries_normalise_to_e164():
    from moltbot.channels.whatsapp.channel import normalize_allow_entry

    assert [normalize_allow_entry(e) for e in ("4917012345678", "+49 170 123", "whatsapp:0049170", "*", GROUP)] == [
        "+4917012345678", "+49170123", "+49170", "*", GROUP]


def test_targets_normalise_to_jids():
    assert normalize_target("+49 170 123-4567") == "491701234567@s.whatsapp.net"
    assert normalize_target("0049 (170) 1234567") == "491701234567@s.whatsapp.net"
    assert normalize_target("whatsapp:4917012345678@c.us") == "4917012345678@s.whatsapp.net"
    assert normalize_target(GROUP) == GROUP
    assert normalize_target("123456-987654@g.us") == "123456-987654@g.us"
    for bad in ("", "hello", "+12", "abc@s.whatsapp.net", "49170@example.com", "+" + "1" * 16):
        with pytest.raises(DeliveryError, match="invalid WhatsApp target"):
            normalize_target(bad)


# --- the real client (neonize), pointed at a proxy port where nothing listens ---------------------------

def _refused_proxy() -> str:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return f"socks5://127.0.0.1:{port}"


def _neonize_backend():
    from moltbot.channels.whatsapp.neonize_backend import NeonizeBackend

    backend = NeonizeBackend(proxy=_refused_proxy())
    reason = backend.unavailable_reason()
    if reason:
        pytest.skip(reason)
    return backend


async def test_real_neonize_client_without_network_reports_a_clear_error(tmp_path):
    backend = _neonize_backend()
    with trio.fail_after(20):
        assert await trio.to_thread.run_sync(backend.linked, tmp_path) is None
        client = await trio.to_thread.run_sync(lambda: backend.client(tmp_path, name=bridge.client_name("t", "test")))
        async with bridge.open_bridge(client) as running:
            events = [event async for event in running.events]
    assert len(events) == 1 and isinstance(events[0], bridge.Closed)
    assert "failed to dial whatsapp web websocket" in events[0].error and "connection refused" in events[0].error
    assert stat.S_IMODE((tmp_path / bridge.DB_NAME).stat().st_mode) == 0o600


async def test_real_neonize_login_without_network_fails_fast_over_the_gateway(tmp_path, monkeypatch):
    monkeypatch.setattr(bridge, "BACKEND", _neonize_backend())
    with trio.fail_after(20):
        async with open_gateway(whatsapp_config(tmp_path), port=0, env={}) as gateway:
            async with open_gateway_client(gateway.url, token=TOKEN) as client:
                started = await client.call("web.login.start", {"timeoutMs": 15000})
            assert started["message"].startswith("Failed to get QR: Error: connection closed: failed to dial")
            assert "qrDataUrl" not in started
            assert account_status(gateway).last_error == NOT_LINKED


def test_terminal_qr_reads_the_png_back_into_modules():
    import segno

    from moltbot.cli.channels import qr_modules, qr_text

    modules = qr_modules(qr_png_data_url(QR_CODE))
    assert modules == [[bool(v) for v in row] for row in segno.make_qr(QR_CODE, error="l").matrix]
    lines = qr_text(modules).splitlines()
    assert len(lines) == (len(modules) + 4 + 1) // 2 and {len(line) for line in lines} == {len(modules) + 4}


async def test_cli_channels_login_draws_the_qr_and_waits_for_the_scan(tmp_path, fake):
    from click.testing import CliRunner

    from moltbot.cli import cli

    env = {"HOME": str(tmp_path / "cli-home"), "CLAWDBOT_STATE_DIR": str(tmp_path / "cli-state"),
           "CLAWDBOT_CONFIG_PATH": str(tmp_path / "cli-state" / "moltbot.json"), "NO_COLOR": "1"}
    with trio.fail_after(30):
        async with open_gateway(whatsapp_config(tmp_path), port=0, env={}) as gateway:
            args = ["channels", "login", "--url", gateway.url, "--token", TOKEN, "--wait", "20000"]
            async with trio.open_nursery() as nursery:
                async def scan_when_shown():
                    await wait_until(lambda: any(c.running for c in fake.clients)
                                     and gateway.runtime.channels.whatsapp_logins.sessions.get("default")
                                     and gateway.runtime.channels.whatsapp_logins.sessions["default"].qr)
                    fake.scan()

                nursery.start_soon(scan_when_shown)
                result = await trio.to_thread.run_sync(lambda: CliRunner().invoke(cli, args, env=env))
            await wait_until(lambda: account_status(gateway).connected)
    assert result.exit_code == 0, result.output
    assert "▀" in result.output and "Linked Devices" in result.output
    assert "waiting for the scan (up to 20 s; Ctrl-C gives up)…" in result.output  # piped: a plain line
    assert result.output.rstrip().endswith("✅ Linked! WhatsApp is ready.")


def test_neonize_messages_become_incoming_text():
    _neonize_backend()  # skips without neonize
    from neonize.proto import Neonize_pb2 as proto
    from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import (
        ContextInfo,
        ExtendedTextMessage,
        ImageMessage,
        Message,
    )

    from moltbot.channels.whatsapp.neonize_backend import incoming_text

    def event(message, *, chat, sender, group=False, from_me=False, sender_alt=None):
        source = proto.MessageSource(Chat=chat, Sender=sender, IsGroup=group, IsFromMe=from_me)
        if sender_alt is not None:
            source.SenderAlt.CopyFrom(sender_alt)
        return proto.Message(Info=proto.MessageInfo(MessageSource=source, ID="ABC", Pushname="Alice",
                                                    Timestamp=1700000000), Message=message)

    peer = proto.JID(User="4917012345678", Server="s.whatsapp.net")
    group = proto.JID(User="120363012345678901", Server="g.us")
    lid = proto.JID(User="1122334455", Server="lid")
    plain = incoming_text(event(Message(conversation="hi"), chat=peer, sender=peer))
    assert (plain.text, plain.chat, plain.sender, plain.is_group, plain.sender_alt) == (
        "hi", PEER, PEER, False, None)
    assert plain.push_name == "Alice" and plain.id == "ABC" and plain.timestamp == 1700000000
    mention = Message(extendedTextMessage=ExtendedTextMessage(
        text="@99887766554433 hello", contextInfo=ContextInfo(mentionedJID=[SELF_LID], participant=SELF_JID)))
    grouped = incoming_text(event(mention, chat=group, sender=lid, group=True, sender_alt=peer))
    assert grouped.is_group and grouped.chat == GROUP and grouped.sender == "1122334455@lid"
    assert grouped.sender_alt == PEER and grouped.mentions == (SELF_LID,) and grouped.quoted_sender == SELF_JID
    caption = incoming_text(event(Message(imageMessage=ImageMessage(caption="look")), chat=peer, sender=peer))
    assert caption.text == "look"
    assert incoming_text(event(Message(imageMessage=ImageMessage()), chat=peer, sender=peer)) is None
    assert incoming_text(event(Message(conversation="me"), chat=peer, sender=peer, from_me=True)).from_me
