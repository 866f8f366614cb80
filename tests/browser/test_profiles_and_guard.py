"""Without a browser: CDP port allocation, profile resolution, the navigation guard, the snapshot text,
and when the control service runs at all."""

from __future__ import annotations

import socket

import pytest

from moltbot.browser.actions import act
from moltbot.browser.pages import PageError
from moltbot.browser.profiles import PortBook, ProfileError, resolve_profiles
from moltbot.browser.server import service_settings
from moltbot.browser.snapshot import RefTable, render
from moltbot.browser.ssrf import Guard, NavigationRefused, check_url
from moltbot.config.model import BrowserConfig, BrowserProfileConfig, BrowserSsrfPolicy, Config
from moltbot.config.ports import browser_ports

from .helpers import free_port_block


def specs(tmp_path, **profiles):
    config = BrowserConfig(profiles={k: BrowserProfileConfig(**v) for k, v in profiles.items()})
    return resolve_profiles(config, state_dir=tmp_path, relay_port=18792, env={})


def test_default_and_extension_profiles_exist_and_data_dirs_live_under_the_state_dir(tmp_path):
    resolved = specs(tmp_path, work={}, remote={"cdp_url": "http://10.0.0.5:9222"})
    assert set(resolved) == {"moltbot", "chrome", "work", "remote"}
    assert resolved["moltbot"].user_data_dir == tmp_path / "browser" / "moltbot" / "user-data"
    assert resolved["chrome"].driver == "extension" and resolved["chrome"].cdp_url == "http://127.0.0.1:18792"
    assert resolved["remote"].driver == "remote" and resolved["remote"].user_data_dir is None


def test_invalid_profile_names_are_skipped(tmp_path):
    assert "../x" not in specs(tmp_path, **{"../x": {}})


def test_ports_are_stable_per_profile_across_restarts(tmp_path):
    start, end = free_port_block()
    resolved = specs(tmp_path, work={})
    book = PortBook(tmp_path / "ports.json", (start, end))
    first = {name: book.port_for(resolved[name], resolved, in_use=set()) for name in ("moltbot", "work")}
    assert len(set(first.values())) == 2 and all(start <= p <= end for p in first.values())
    again = PortBook(tmp_path / "ports.json", (start, end))  # a new process reads the book
    assert {
        name: again.port_for(resolved[name], resolved, in_use=set()) for name in ("work", "moltbot")
    } == first


def test_a_port_taken_by_another_process_is_skipped(tmp_path):
    start, end = free_port_block()
    resolved = specs(tmp_path)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", start))
        squatter.listen()
        port = PortBook(None, (start, end)).port_for(resolved["moltbot"], resolved, in_use=set())
    assert port != start and start < port <= end


def test_a_busy_configured_port_and_a_full_range_are_clear_errors(tmp_path):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        busy = squatter.getsockname()[1]
        resolved = specs(tmp_path, moltbot={"cdp_port": busy})
        with pytest.raises(ProfileError, match="in use by another process"):
            PortBook(None, (busy, busy)).port_for(resolved["moltbot"], resolved, in_use=set())
        plain = specs(tmp_path)
        with pytest.raises(ProfileError, match="no free CDP port"):
            PortBook(None, (busy, busy)).port_for(plain["moltbot"], plain, in_use=set())


def test_derived_browser_ports():
    ports = browser_ports(18789)
    assert (ports.control, ports.relay, ports.cdp_range) == (18791, 18792, (18800, 18899))
    assert browser_ports(18789, control_port=0).relay == 0
    assert browser_ports(20000, cdp_range=[30000, 30010]).cdp_range == (30000, 30010)


def test_the_service_is_off_unless_configured_on_a_port_0_gateway():
    assert service_settings(Config(), {}, 0) is None  # embedded and test gateways
    assert service_settings(Config(), {}, 18789).control_port == 18791
    assert service_settings(Config(), {"CLAWDBOT_SKIP_BROWSER_CONTROL_SERVER": "1"}, 18789) is None
    assert service_settings(Config(browser=BrowserConfig(enabled=False)), {}, 18789) is None
    assert service_settings(Config(browser=BrowserConfig(control_port=0)), {}, 0).control_port == 0


async def test_the_gateway_fixture_starts_no_browser_service(gateway):
    assert gateway.runtime.browser.settings is None and gateway.runtime.browser.url is None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://10.1.2.3/",
        "http://169.254.169.254/latest",
        "http://[::1]:80/",
        "http://[::ffff:192.168.0.1]/",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "http://localhost:8080/",
    ],
)
async def test_the_guard_refuses_private_and_non_http_targets(url):
    with pytest.raises(NavigationRefused):
        await check_url(url, Guard(BrowserSsrfPolicy()))


async def test_the_guard_allows_public_addresses_the_canvas_host_and_configured_exceptions():
    assert await check_url("http://93.184.216.34/", Guard(BrowserSsrfPolicy())) == "http://93.184.216.34/"
    canvas = Guard(BrowserSsrfPolicy(), lambda: frozenset({("127.0.0.1", 4242)}))
    assert await check_url("http://127.0.0.1:4242/page", canvas)
    with pytest.raises(NavigationRefused):
        await check_url("http://127.0.0.1:4243/", canvas)
    assert await check_url("http://10.0.0.1/", Guard(BrowserSsrfPolicy(allow_private_network=True)))
    assert await check_url("http://intranet.corp/", Guard(BrowserSsrfPolicy(allowed_hosts=[".corp"])))


def _node(node_id, role, name="", children=(), backend=None, parent=None, **extra):
    return {
        "nodeId": node_id,
        "role": {"value": role},
        "name": {"value": name},
        "childIds": list(children),
        "backendDOMNodeId": backend,
        "parentId": parent,
        **extra,
    }


def test_snapshot_refs_stay_with_their_element_when_the_page_changes():
    refs = RefTable()
    before = [
        _node("1", "RootWebArea", "Demo", ["2", "3"]),
        _node("2", "button", "Save", backend=20, parent="1"),
        _node("3", "generic", "", ["4"], backend=30, parent="1"),
        _node("4", "StaticText", "hello", parent="3"),
    ]
    text = render(before, refs).text
    assert text.splitlines() == ['- document "Demo"', '  - button "Save" [ref=e1]', '  - text "hello"']
    after = [
        _node("1", "RootWebArea", "Demo", ["5", "2"]),
        _node("5", "link", "New", backend=50, parent="1"),
        _node("2", "button", "Save", backend=20, parent="1"),
    ]
    lines = render(after, refs).text.splitlines()
    assert '  - link "New" [ref=e2]' in lines and '  - button "Save" [ref=e1]' in lines
    assert refs.node_for("e1") == 20 and refs.node_for("e9") is None


def test_snapshot_is_bounded_and_says_so():
    nodes = [_node("0", "RootWebArea", "Big", [str(i) for i in range(1, 500)])]
    nodes += [_node(str(i), "button", f"Button {i}", backend=i, parent="0") for i in range(1, 500)]
    snap = render(nodes, RefTable(), max_chars=1000)
    assert (
        snap.truncated
        and len(snap.text) < 1100
        and snap.text.endswith("[snapshot truncated at 1000 characters]")
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({}, "kind is required: one of click,"),
        ({"kind": "explode"}, "unknown act kind 'explode': one of click,"),
    ],
)
async def test_an_act_without_a_known_kind_says_which(body, reason):
    with pytest.raises(PageError) as refused:
        await act(None, None, body)  # refused before the page is touched
    assert str(refused.value).startswith(reason)
