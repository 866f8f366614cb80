"""``bindings[]`` routing (the most specific binding wins): which agent answers, in which session; config validation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from moltbot.channels.base import InboundMessage
from moltbot.channels.routing import Peer, message_peers, resolve_agent, session_key
from moltbot.config.load import ConfigError, parse_config
from moltbot.config.model import Binding, BindingMatch, BindingPeer
from tests.strategies import BINDING_AGENTS, BINDING_PEERS, bindings


def bind(agent, channel="telegram", account=None, peer=None, guild=None, team=None) -> Binding:
    return Binding(agent_id=agent, match=BindingMatch(
        channel=channel, account_id=account, guild_id=guild, team_id=team,
        peer=BindingPeer(kind=peer[0], id=peer[1]) if peer else None))


def route(rules, *, account="default", peers=(), guild=None, team=None, channel="telegram"):
    return resolve_agent(rules, channel=channel, account_id=account, peers=[Peer(*p) for p in peers],
                         guild_id=guild, team_id=team, default_agent="main", known_agents=BINDING_AGENTS)


def test_peer_beats_guild_beats_team_beats_account_beats_any_account():
    rules = [bind("home", account="*"), bind("work"), bind("home", team="t1"), bind("work", guild="g1"),
             bind("home", peer=("dm", "42"))]
    assert route(rules, peers=[("dm", "42")], guild="g1", team="t1") == ("home", "binding.peer")
    assert route(rules, peers=[("dm", "7")], guild="g1", team="t1") == ("work", "binding.guild")
    assert route(rules, peers=[("dm", "7")], team="t1") == ("home", "binding.team")
    assert route(rules, peers=[("dm", "7")]) == ("work", "binding.account")
    assert route(rules, account="other", peers=[("dm", "7")]) == ("home", "binding.channel")
    assert route(rules, channel="whatsapp") == ("main", "default")


def test_account_id_unset_matches_only_the_default_account():
    assert route([bind("work", peer=("dm", "42"))], account="second", peers=[("dm", "42")]) == ("main", "default")
    assert route([bind("work", account="Second")], account="second") == ("work", "binding.account")


def test_a_topic_binding_wins_over_its_group_and_a_group_binding_covers_its_topics():
    topic = InboundMessage(channel="telegram", account_id="default", sender_id="9", chat_id="-100", text="x",
                           chat_type="group", thread_id="5")
    peers = message_peers(topic)
    assert peers == [Peer("group", "-100:topic:5"), Peer("group", "-100")]
    both = [bind("work", peer=("group", "-100")), bind("home", peer=("group", "-100:topic:5"))]
    assert resolve_agent(both, channel="telegram", account_id="default", peers=peers, default_agent="main") == (
        "home", "binding.peer")
    assert resolve_agent(both[:1], channel="telegram", account_id="default", peers=peers,
                         default_agent="main") == ("work", "binding.peer")


def test_a_binding_to_an_agent_that_is_not_configured_falls_back_to_the_default():
    assert resolve_agent([bind("Gone")], channel="telegram", account_id="default", default_agent="main",
                         known_agents=["main"]) == ("main", "binding.account")


def _expected(rules, channel, account, peers, guild, team):
    """The precedence written as one sort: (level, position in the file) over every eligible binding."""
    ranked = []
    for index, rule in enumerate(rules):
        match = rule.match
        wanted = (match.account_id or "").strip()
        if match.channel.lower() != channel or not (wanted == "*" or wanted == account
                                                    or (not wanted and account == "default")):
            continue
        levels = []
        if match.peer is not None and (match.peer.kind, match.peer.id) in peers:
            levels.append((0, peers.index((match.peer.kind, match.peer.id))))
        if guild and match.guild_id == guild:
            levels.append((1, 0))
        if team and match.team_id == team:
            levels.append((2, 0))
        if match.peer is None and not match.guild_id and not match.team_id:
            levels.append((4, 0) if wanted == "*" else (3, 0))
        if levels:
            ranked.append((min(levels), index, rule.agent_id))
    return min(ranked)[2] if ranked else "main"


@given(rules=st.lists(bindings, max_size=8), channel=st.sampled_from(("telegram", "whatsapp")),
       account=st.sampled_from(("default", "work", "other")),
       peers=st.lists(st.sampled_from(BINDING_PEERS), max_size=2, unique=True),
       guild=st.sampled_from((None, "g1", "g2")), team=st.sampled_from((None, "t1")))
def test_precedence_matches_the_ranking_of_every_eligible_binding(rules, channel, account, peers, guild, team):
    agent, _ = route(rules, channel=channel, account=account, peers=peers, guild=guild, team=team)
    assert agent == _expected(rules, channel, account, peers, guild, team)


def test_session_keys_use_the_routed_agent_dm_scope_and_identity_links():
    message = InboundMessage(channel="telegram", account_id="bot2", sender_id="42", chat_id="42", text="x")
    links = {"Alice": ["telegram:42", "whatsapp:+15550001"]}
    assert session_key(message, agent_id="work", main_key="agent:work:main", dm_scope="main") == "agent:work:main"
    assert session_key(message, agent_id="work", main_key="m", dm_scope="per-peer",
                       identity_links=links) == "agent:work:dm:alice"
    assert session_key(message, agent_id="work", main_key="m", dm_scope="per-account-channel-peer") == (
        "agent:work:telegram:bot2:dm:42")
    group = InboundMessage(channel="telegram", account_id="default", sender_id="1", chat_id="-100", text="x",
                           chat_type="group")
    assert session_key(group, agent_id="home", main_key="m", dm_scope="per-peer") == "agent:home:telegram:group:-100"


def config_with(bindings_raw, agents=({"id": "main", "default": True}, {"id": "work"})):
    return parse_config({"agents": {"list": list(agents)}, "bindings": bindings_raw})


def test_bindings_are_typed_and_peer_ids_become_text():
    config = config_with([{"agentId": "work", "match": {"channel": "telegram", "accountId": "*",
                                                         "peer": {"kind": "group", "id": -100}}}])
    (binding,) = config.bindings
    assert binding.agent_id == "work" and binding.match.account_id == "*"
    assert binding.match.peer == BindingPeer(kind="group", id="-100")
    assert not any("bindings" in warning for warning in config.warnings)


def test_a_binding_to_an_unknown_agent_is_an_error_naming_it():
    with pytest.raises(ConfigError) as caught:
        config_with([{"agentId": "work", "match": {"channel": "telegram"}},
                     {"agentId": "helper", "match": {"channel": "telegram"}}])
    assert caught.value.problems == ['bindings[1].agentId: unknown agent "helper" (agents.list has: main, work)']
    with pytest.raises(ConfigError, match=r"bindings\[0\]\.agentId: unknown agent \"work\" \(agents.list has: main\)"):
        config_with([{"agentId": "work", "match": {"channel": "telegram"}}], agents=())


def test_malformed_bindings_name_the_bad_field():
    with pytest.raises(ConfigError) as caught:
        config_with([{"agentId": "main", "match": {"channel": "telegram", "peer": {"kind": "room", "id": 1}}},
                     {"agentId": "main", "match": {"channel": "telegram", "peer": {"kind": "dm", "id": True}}},
                     {"agentId": "main"}, {"agentId": "main", "match": {"channel": " "}}])
    problems = "\n".join(caught.value.problems)
    assert 'bindings[0].match.peer.kind: must be one of "dm", "group", "channel"' in problems
    assert "bindings[1].match.peer.id: must be a non-empty string or an integer (got boolean true)" in problems
    assert "bindings[2].match: is required" in problems
    assert "bindings[3].match.channel: must not be empty" in problems
