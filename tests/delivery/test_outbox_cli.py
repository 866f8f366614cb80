"""``moltbot channels outbox`` on the delivery store a gateway left behind."""

from __future__ import annotations

import json

from click.testing import CliRunner

from moltbot.cli.channels import channels_group
from moltbot.delivery.store import DB_NAME, DeliveryDB

NOW = 1_800_000_000_000


def test_outbox_lists_pending_delivered_and_dead_letters_with_their_reasons(tmp_path, monkeypatch):
    monkeypatch.setenv("MOLTBOT_STATE_DIR", str(tmp_path))
    runner = CliRunner()
    empty = runner.invoke(channels_group, ["outbox"])
    assert empty.exit_code == 0 and "No delivery store yet" in empty.output
    db = DeliveryDB(tmp_path / "delivery" / DB_NAME)
    for key, text in (("send:a", "first"), ("send:b", "blocked one"), ("reply:c", "still waiting")):
        db.enqueue(key=key, kind=key.partition(":")[0], channel="telegram", account_id="default", target="42",
                   text=text, reply_to=None, now_ms=NOW)
    db.finish(1, state="delivered", attempts=1, now_ms=NOW, message_id="100")
    db.finish(2, state="dead", attempts=1, now_ms=NOW, error="telegram 403: Forbidden: bot was blocked by the user")
    db.settle("telegram", "default", "update:500", state="dead", now_ms=NOW, reason="unreadable update")
    db.close()
    listed = runner.invoke(channels_group, ["outbox"])
    assert listed.exit_code == 0, listed.output
    assert "telegram:default: 1 pending, 1 delivered, 1 dead, 1 inbound dead" in listed.output
    assert "#2 dead" in listed.output and "bot was blocked by the user" in listed.output
    dead = json.loads(runner.invoke(channels_group, ["outbox", "--state", "dead", "--json"]).output)
    assert [(r["key"], r["state"], r["preview"]) for r in dead["rows"]] == [("send:b", "dead", "blocked one")]
    inbound = runner.invoke(channels_group, ["outbox", "--inbound"])
    assert "update:500  unreadable update" in inbound.output
