"""``moltbot pairing list/approve`` on the pairing files."""

from click.testing import CliRunner

from moltbot.channels.pairing import PairingStore
from moltbot.cli.pairing import pairing_group


def test_pairing_approve_moves_the_sender_to_the_allowlist(tmp_path, monkeypatch):
    monkeypatch.setenv("MOLTBOT_STATE_DIR", str(tmp_path))
    code, _ = PairingStore(tmp_path, "telegram").request("42", {"username": "alice"})
    runner = CliRunner()
    listed = runner.invoke(pairing_group, ["list", "telegram"])
    assert listed.exit_code == 0 and code in listed.output and "alice" in listed.output
    approved = runner.invoke(pairing_group, ["approve", "telegram", code.lower()])
    assert approved.exit_code == 0, approved.output
    assert PairingStore(tmp_path, "telegram").allowed() == {"42"}
    again = runner.invoke(pairing_group, ["approve", "telegram", code])
    assert again.exit_code != 0 and "no pending telegram pairing request" in again.output
    assert runner.invoke(pairing_group, ["list", "signal"]).exit_code != 0
