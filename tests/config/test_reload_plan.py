"""The reload rule table and modes (which change is applied hot, which restarts), as pure
functions."""

import pytest

from moltbot.config.reload import classify, decide, diff_paths, plan_reload


def test_diff_reports_changed_leaves_arrays_whole_and_added_keys():
    old = {"gateway": {"port": 1, "auth": {"token": "a"}}, "list": [1, 2], "x": 1}
    new = {"gateway": {"port": 2, "auth": {"token": "a"}}, "list": [1, 3], "y": 1}
    assert diff_paths(old, new) == ["gateway.port", "list", "x", "y"]
    assert diff_paths({"a": 1}, {"a": 1}) == []
    assert diff_paths({"a": 1}, {"a": True}) == ["a"]  # 1 == True in Python, not in JSON
    assert diff_paths([], {}) == ["<root>"]


@pytest.mark.parametrize(("path", "kind", "action"), [
    ("gateway.remote.url", "none", None),
    ("gateway.reload.debounceMs", "none", None),
    ("gateway.port", "restart", None),
    ("gateway.http.endpoints.chatCompletions.enabled", "none", None),
    ("gateway.auth.token", "restart", None),
    ("hooks.gmail.account", "hot", "restart-gmail-watcher"),
    ("hooks.path", "hot", "reload-hooks"),
    ("agents.defaults.heartbeat.every", "hot", "reload-heartbeat"),
    ("agents.defaults.maxConcurrent", "none", None),
    ("cron.enabled", "hot", "reload-cron"),
    ("channels.telegram.botToken", "hot", "restart-channel:telegram"),
    ("web.enabled", "hot", "restart-channel:whatsapp"),
    ("channels.whatsapp.allowFrom", "none", None),
    ("channels.defaults.x", "restart", None),
    ("plugins.x", "restart", None),
    ("meta.lastTouchedAt", "none", None),
    ("commands.restart", "restart", None),
    ("gatewayx", "restart", None),
])
def test_first_matching_prefix_wins(path, kind, action):
    assert classify(path) == (kind, action)


def test_plan_groups_paths_and_deduplicates_actions():
    plan = plan_reload(["channels.telegram.a", "channels.telegram.b", "models.x", "gateway.port"])
    assert plan.hot_actions == ("restart-channel:telegram",)
    assert plan.restart_paths == ("gateway.port",) and plan.noop_paths == ("models.x",)
    assert plan.needs_restart


@pytest.mark.parametrize(("mode", "paths", "decision"), [
    ("hybrid", [], "nothing"),
    ("hybrid", ["cron.enabled"], "hot"),
    ("hybrid", ["models.x"], "hot"),
    ("hybrid", ["gateway.port", "cron.enabled"], "restart"),
    ("hot", ["gateway.port"], "ignored"),
    ("hot", ["cron.enabled"], "hot"),
    ("restart", ["models.x"], "restart"),
    ("off", ["gateway.port"], "disabled"),
])
def test_modes(mode, paths, decision):
    assert decide(mode, plan_reload(paths)) == decision
