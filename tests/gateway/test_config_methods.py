"""config.get / config.schema / config.set / config.patch / config.apply against a real gateway.

The gateway watches a real config file in tmp_path; every call goes over a real WebSocket.
"""

import hashlib
import json
import stat

import pytest
import trio

from moltbot.client import open_gateway_client
from moltbot.config.load import load_config
from moltbot.config.redact import REDACTED
from moltbot.gateway.app import open_gateway
from moltbot.gateway.sentinel import sentinel_path
from moltbot.protocol import RemoteProtocolError
from tests.conftest import TOKEN

BOT_TOKEN = "123456:telegram-bot-secret-abcdef"
API_KEY = "sk-provider-secret-0123456789"

TEXT = f"""// moltbot config, edited by hand
{{
  gateway: {{
    auth: {{ token: "{TOKEN}" }},  // the shared secret
    reload: {{ debounceMs: 50 }},
  }},
  agents: {{ defaults: {{ maxConcurrent: 3 }} }},
  models: {{ providers: {{ openai: {{ baseUrl: "http://127.0.0.1:9/v1", apiKey: "{API_KEY}" }} }} }},
  channels: {{ telegram: {{ enabled: false, botToken: "{BOT_TOKEN}" }} }},
}}
"""
SECRETS = (TOKEN, BOT_TOKEN, API_KEY)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "moltbot.json"
    path.write_text(TEXT)
    path.chmod(0o600)
    return path


@pytest.fixture
async def watched(config_file, tmp_path):
    config = load_config(config_file, env={"MOLTBOT_STATE_DIR": str(tmp_path)})
    async with open_gateway(config, port=0, env={}, watch_config=True) as gateway:
        with trio.fail_after(5):
            await gateway.watch_ready.wait()
        yield gateway


@pytest.fixture
async def admin(watched):
    with trio.fail_after(20):
        async with open_gateway_client(watched.url, token=TOKEN) as client:
            yield client


def assert_no_secret(value):
    text = json.dumps(value)
    for secret in SECRETS:
        assert secret not in text


async def test_get_returns_hash_of_real_file_and_redacts_every_secret(admin, config_file):
    snap = await admin.call("config.get")
    assert snap["hash"] == sha(TEXT)
    assert snap["exists"] is True and snap["valid"] is True and snap["path"] == str(config_file)
    assert_no_secret(snap)
    assert "// the shared secret" in snap["raw"] and snap["raw"].count(REDACTED) == 3
    assert snap["parsed"]["gateway"]["auth"]["token"] == REDACTED
    assert snap["config"]["channels"]["telegram"]["botToken"] == REDACTED
    assert snap["config"]["models"]["providers"]["openai"]["apiKey"] == REDACTED
    assert snap["config"]["agents"]["defaults"]["maxConcurrent"] == 3
    assert snap["issues"] == [] and snap["legacyIssues"] == []


async def test_get_reports_invalid_file_with_path_and_line(admin, config_file):
    config_file.write_text('{\n  gateway: {\n    auth: { token: "' + TOKEN + '" },\n    port: "nope",\n  },\n}\n')
    snap = await admin.call("config.get")
    assert snap["valid"] is False
    assert snap["issues"][0]["path"] == "gateway.port" and snap["issues"][0]["line"] == 4
    assert_no_secret(snap)


async def test_set_without_base_hash_is_refused(admin):
    with pytest.raises(RemoteProtocolError) as info:
        await admin.call("config.set", {"raw": "{}"})
    assert info.value.code == "INVALID_REQUEST"
    assert info.value.message == "config base hash required; re-run config.get and retry"


async def test_set_with_stale_base_hash_is_refused_and_file_untouched(admin, config_file):
    with pytest.raises(RemoteProtocolError) as info:
        await admin.call("config.set", {"raw": "{}", "baseHash": sha("something else")})
    assert info.value.message == "config changed since last load; re-run config.get and retry"
    assert config_file.read_text() == TEXT


async def test_set_with_redacted_values_keeps_real_secrets_and_comments(admin, watched, config_file):
    snap = await admin.call("config.get")
    edited = snap["raw"].replace("maxConcurrent: 3", "maxConcurrent: 5")
    result = await admin.call("config.set", {"raw": edited, "baseHash": snap["hash"]})
    assert result["ok"] is True and result["path"] == str(config_file)
    assert_no_secret(result)
    written = config_file.read_text()
    assert written == TEXT.replace("maxConcurrent: 3", "maxConcurrent: 5")  # comments and layout kept
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600


async def test_set_applies_as_one_hot_reload(admin, watched, config_file):
    snap = await admin.call("config.get")
    reloads = watched.stats.reloads
    reloaded = watched.next_reload()  # the write happens during the call, so the reload comes after this
    await admin.call("config.set", {"raw": snap["raw"].replace("maxConcurrent: 3", "maxConcurrent: 6"),
                                    "baseHash": snap["hash"]})
    with trio.fail_after(10):
        await reloaded.wait()
    assert watched.last_reload == "hot"
    lanes = {lane["lane"]: lane for lane in (await admin.call("status"))["lanes"]}
    assert lanes["main"]["maxConcurrent"] == 6
    # The same save seen again by the watcher is not applied a second time.
    assert await watched.reload_config() == "unchanged"
    assert watched.stats.reloads == reloads + 1 and watched.stats.restarts == 0


async def test_set_with_marker_where_file_has_no_value_names_the_path(admin):
    snap = await admin.call("config.get")
    raw = snap["raw"].replace("maxConcurrent: 3", f'maxConcurrent: 3, workspace: "{REDACTED}"')
    with pytest.raises(RemoteProtocolError) as info:
        await admin.call("config.set", {"raw": raw, "baseHash": snap["hash"]})
    assert info.value.code == "INVALID_REQUEST"
    assert "agents.defaults.workspace" in info.value.message


async def test_set_invalid_json5_gives_line_and_column(admin, config_file):
    snap = await admin.call("config.get")
    with pytest.raises(RemoteProtocolError) as info:
        await admin.call("config.set", {"raw": "{\n  gateway: {\n    port: ,\n  }\n}", "baseHash": snap["hash"]})
    assert info.value.code == "INVALID_REQUEST"
    assert "line 3, column" in info.value.message
    assert info.value.details["line"] == 3
    assert config_file.read_text() == TEXT


async def test_set_invalid_config_lists_issues_with_dotted_path_and_line(admin, config_file):
    snap = await admin.call("config.get")
    raw = snap["raw"].replace("reload: { debounceMs: 50 },", 'reload: { debounceMs: 50 }, bind: "everywhere",')
    with pytest.raises(RemoteProtocolError) as info:
        await admin.call("config.set", {"raw": raw, "baseHash": snap["hash"]})
    assert info.value.message == "invalid config"
    (issue,) = info.value.details["issues"]
    assert issue["path"] == "gateway.bind" and issue["line"] == 5 and "one of" in issue["message"]
    assert config_file.read_text() == TEXT


async def test_concurrent_sets_one_wins_the_other_gets_the_conflict(admin, watched, config_file):
    snap = await admin.call("config.get")
    outcomes = []

    async def attempt(value):
        try:
            await admin.call("config.set", {"raw": snap["raw"].replace("maxConcurrent: 3", f"maxConcurrent: {value}"),
                                            "baseHash": snap["hash"]})
            outcomes.append(("ok", value))
        except RemoteProtocolError as exc:
            outcomes.append(("error", exc.message))

    async with trio.open_nursery() as nursery:
        for value in (7, 8, 9):
            nursery.start_soon(attempt, value)
    winners = [value for kind, value in outcomes if kind == "ok"]
    assert len(winners) == 1
    assert sorted(m for kind, m in outcomes if kind == "error") == [
        "config changed since last load; re-run config.get and retry"] * 2
    assert load_config(config_file, env={}).agents.defaults.max_concurrent == winners[0]


async def test_patch_merges_deletes_with_null_and_schedules_a_restart(admin, watched, config_file, tmp_path):
    snap = await admin.call("config.get")
    restarted = watched.next_restart()
    patch = {"agents": {"defaults": {"maxConcurrent": 2}}, "channels": None}
    result = await admin.call("config.patch", {"raw": json.dumps(patch), "baseHash": snap["hash"],
                                               "note": "tuning", "restartDelayMs": 0})
    assert result["restart"]["ok"] is True and result["restart"]["delayMs"] == 0
    assert result["sentinel"]["path"] == str(sentinel_path(tmp_path))
    assert result["sentinel"]["payload"]["stats"]["mode"] == "config.patch"
    assert result["sentinel"]["payload"]["message"] == "tuning"
    assert_no_secret(result)
    data = json.loads(config_file.read_text())
    assert "channels" not in data
    assert data["agents"]["defaults"]["maxConcurrent"] == 2
    assert data["gateway"]["auth"]["token"] == TOKEN and data["models"]["providers"]["openai"]["apiKey"] == API_KEY
    with trio.fail_after(15):
        await restarted.wait()
    assert watched.stats.restarts == 1
    assert watched.config.agents.defaults.max_concurrent == 2
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    # The new Runtime consumed the sentinel and reports why it restarted.
    assert not sentinel_path(tmp_path).exists()
    assert any(e.startswith("GatewayRestart:") and '"mode": "config.patch"' in e for e in watched.system_events)


async def test_patch_keeps_redacted_marker_values(admin, config_file):
    snap = await admin.call("config.get")
    patch = {"gateway": {"auth": {"token": REDACTED}}, "hooks": {"enabled": False}}
    await admin.call("config.patch", {"raw": json.dumps(patch), "baseHash": snap["hash"], "restartDelayMs": 60000})
    assert json.loads(config_file.read_text())["gateway"]["auth"]["token"] == TOKEN


async def test_patch_refused_while_current_config_is_invalid(admin, config_file):
    config_file.write_text(TEXT.replace("maxConcurrent: 3", 'maxConcurrent: "many"'))
    snap = await admin.call("config.get")
    with pytest.raises(RemoteProtocolError) as info:
        await admin.call("config.patch", {"raw": "{}", "baseHash": snap["hash"]})
    assert info.value.message == "invalid config; fix before patching"  # the original's words
    assert info.value.details["issues"][0]["path"] == "agents.defaults.maxConcurrent"


@pytest.mark.parametrize("method", ["config.set", "config.apply", "config.patch"])
async def test_a_raw_that_is_not_an_object_is_refused_in_the_originals_words(admin, config_file, method):
    snap = await admin.call("config.get")
    with pytest.raises(RemoteProtocolError) as info:
        await admin.call(method, {"raw": "[1, 2]", "baseHash": snap["hash"]})
    assert info.value.code == "INVALID_REQUEST"
    if method == "config.patch":
        assert info.value.message == "config.patch raw must be an object" and info.value.details is None
    else:  # the original validates it as a config: "invalid config" with one issue at the root
        assert info.value.message == "invalid config"
        assert info.value.details == {"issues": [{"path": "", "message": "must be an object (got an array)"}]}
    assert config_file.read_text() == TEXT


async def test_writes_keep_the_previous_files_as_five_rotated_backups(admin, config_file):
    """As the original writes its config: the replaced file is kept as <path>.bak, older ones shift to .bak.1 … .bak.4 (0600)."""
    for n in range(6):  # maxConcurrent 3 → 4 → … → 9
        snap = await admin.call("config.get")
        raw = snap["raw"].replace(f"maxConcurrent: {n + 3}", f"maxConcurrent: {n + 4}")
        await admin.call("config.set", {"raw": raw, "baseHash": snap["hash"]})  # markers restored from the file
    current, *previous = [config_file] + [config_file.with_name(f"moltbot.json.bak{s}") for s in
                                          ("", ".1", ".2", ".3", ".4")]
    assert f"maxConcurrent: {6 + 3}" in current.read_text()
    for index, backup in enumerate(previous):  # newest first: .bak is the file the last set replaced
        assert f"maxConcurrent: {6 + 2 - index}" in backup.read_text()
        assert stat.S_IMODE(backup.stat().st_mode) == 0o600
        assert TOKEN in backup.read_text()  # real copies of the file, secrets and all
    assert not config_file.with_name("moltbot.json.bak.5").exists()


async def test_sentinel_message_is_null_without_a_note_and_blank_fields_are_dropped(admin, tmp_path):
    snap = await admin.call("config.get")
    result = await admin.call("config.patch", {"raw": "{}", "baseHash": snap["hash"], "note": "  ",
                                               "sessionKey": " ", "restartDelayMs": 60000})
    payload = result["sentinel"]["payload"]
    assert payload["message"] is None and "sessionKey" not in payload  # as the original's payload
    assert set(payload) == {"kind", "status", "ts", "message", "doctorHint", "stats"}
    written = json.loads(sentinel_path(tmp_path).read_text())["payload"]
    assert written["message"] is None and "sessionKey" not in written


async def test_apply_replaces_the_whole_file_and_restarts_once(admin, watched, config_file, tmp_path):
    snap = await admin.call("config.get")
    restarted = watched.next_restart()
    new = {"gateway": {"auth": {"token": REDACTED}, "reload": {"debounceMs": 50}}, "cron": {"enabled": False}}
    result = await admin.call("config.apply", {"raw": json.dumps(new), "baseHash": snap["hash"], "restartDelayMs": 0,
                                               "sessionKey": "main"})
    assert result["sentinel"]["payload"]["stats"]["mode"] == "config.apply"
    assert result["sentinel"]["payload"]["sessionKey"] == "main"
    assert json.loads(config_file.read_text()) == {"gateway": {"auth": {"token": TOKEN}, "reload": {"debounceMs": 50}},
                                                    "cron": {"enabled": False}}
    with trio.fail_after(15):
        await restarted.wait()
    assert watched.config.cron.enabled is False
    # The watcher saw the write too, but left it to the scheduled restart: one restart in all.
    assert await watched.reload_config() == "unchanged"
    assert watched.stats.restarts == 1


async def test_config_writes_need_admin_scope_and_reads_need_read(watched):
    """Protocol 4's table, at every version: config.get and config.schema are reads (secrets redacted)."""
    async with open_gateway_client(watched.url, token=TOKEN, scopes=["operator.read", "operator.write"]) as client:
        for method, params in (("config.set", {"raw": "{}"}), ("config.patch", {"raw": "{}"}),
                               ("config.apply", {"raw": "{}"})):
            with pytest.raises(RemoteProtocolError, match="missing scope: operator.admin"):
                await client.call(method, params)
        assert_no_secret(await client.call("config.get"))
        assert (await client.call("config.schema"))["schema"]


async def test_schema_describes_the_config_and_marks_secrets(admin):
    result = await admin.call("config.schema")
    schema = result["schema"]
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    gateway = schema["properties"]["gateway"]
    assert gateway["properties"]["port"]["type"] == "integer"
    assert gateway["properties"]["bind"]["enum"][0] == "loopback"
    assert schema["additionalProperties"] is True
    hints = result["uiHints"]
    for path in ("gateway.auth.token", "channels.telegram.botToken", "models.providers.*.apiKey", "hooks.token"):
        assert hints[path]["sensitive"] is True
    assert "sensitive" not in hints["gateway.port"]
    assert result["version"] and result["generatedAt"]
    assert (await admin.call("config.schema"))["generatedAt"] == result["generatedAt"]  # computed once


async def test_schema_accepts_the_current_config(admin):
    import jsonschema

    schema = (await admin.call("config.schema"))["schema"]
    config = (await admin.call("config.get"))["config"]
    jsonschema.Draft202012Validator(schema).validate(config)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate({"gateway": {"bind": "everywhere"}})


async def test_agent_gateway_tool_reads_and_patches_the_config(watched, config_file):
    tools = watched.runtime.tools
    snap, failed = await tools.invoke("gateway", {"action": "config.get"})
    assert not failed and snap["hash"] == sha(TEXT)
    assert_no_secret(snap)
    schema, failed = await tools.invoke("gateway", {"action": "config.schema"})
    assert not failed and schema["uiHints"]["gateway.auth.token"]["sensitive"] is True
    stale, failed = await tools.invoke("gateway", {"action": "config.patch", "raw": "{}", "baseHash": sha("x")})
    assert failed and stale["error"] == "config changed since last load; re-run config.get and retry"
    restarted = watched.next_restart()
    result, failed = await tools.invoke("gateway", {"action": "config.patch", "baseHash": snap["hash"],
                                                    "raw": '{cron: {enabled: false}}', "restartDelayMs": 0})
    assert not failed and result["restart"]["ok"] is True
    assert_no_secret(result)
    with trio.fail_after(15):
        await restarted.wait()
    assert watched.config.cron.enabled is False and watched.config.gateway.auth.token == TOKEN


async def test_results_match_the_published_protocol_schema(admin, config_file):
    from moltbot.protocol._payloads import config as payloads
    from moltbot.protocol._schema import validator_for

    snap = await admin.call("config.get")
    validator_for(payloads.ConfigFileSnapshot).validate(snap)
    validator_for(payloads.ConfigSchemaResult).validate(await admin.call("config.schema"))
    done = await admin.call("config.set", {"raw": snap["raw"], "baseHash": snap["hash"]})
    validator_for(payloads.ConfigSetResult).validate(done)
    snap = await admin.call("config.get")
    applied = await admin.call("config.patch", {"raw": "{}", "baseHash": snap["hash"], "restartDelayMs": 60000})
    validator_for(payloads.ConfigApplyResult).validate(applied)


async def test_set_creates_a_missing_file_and_applies_it_on_a_gateway_not_watching(client, gateway, config):
    async with client() as c:
        snap = await c.call("config.get")
        assert snap["exists"] is False and snap["raw"] is None and snap["hash"] == sha("")
        raw = json.dumps({"gateway": {"auth": {"token": TOKEN}}, "agents": {"defaults": {"maxConcurrent": 9}}})
        restarted = gateway.next_restart()
        await c.call("config.set", {"raw": raw})
        assert stat.S_IMODE(config.path.stat().st_mode) == 0o600
        assert gateway.last_reload == "restart"  # gateway.auth is new to the file: a restart-needing change
    with trio.fail_after(15):
        await restarted.wait()
    assert gateway.config.agents.defaults.max_concurrent == 9
    async with client() as c:
        assert (await c.call("config.get"))["hash"] == sha(raw)


async def test_config_without_the_gateway_secret_is_refused(admin, config_file):
    snap = await admin.call("config.get")
    with pytest.raises(RemoteProtocolError) as info:
        await admin.call("config.apply", {"raw": "{cron: {enabled: false}}", "baseHash": snap["hash"]})
    assert info.value.message == "invalid config"
    assert info.value.details["issues"][0]["path"] == "gateway.auth.token"
    assert config_file.read_text() == TEXT
