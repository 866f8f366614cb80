"""The control service driving a real headless Chromium: the canvas host's page, snapshot, click by ref,
changed text, screenshot, console; a crashed browser restarted; auth refused without the token."""

from __future__ import annotations

import base64
import os
import signal
from contextlib import asynccontextmanager
from functools import partial

import pytest
import trio

from moltbot.config.model import BrowserSsrfPolicy

from .helpers import api, browser_config, browser_gateway, canvas_url, needs_chromium

pytestmark = needs_chromium


def ref_of(snapshot: str, text: str) -> str:
    line = next(line for line in snapshot.splitlines() if text in line)
    return line.split("[ref=", 1)[1].split("]", 1)[0]


async def test_snapshot_click_by_ref_reads_changed_text_and_screenshots(make_config, tmp_path):
    with trio.fail_after(60):
        async with browser_gateway(make_config, tmp_path) as gw, api(gw) as http:
            opened = await http.post("/tabs/open", json={"url": canvas_url(gw)})
            assert opened.status_code == 200, opened.text
            assert opened.json()["title"] == "Counter demo"
            first = (await http.get("/snapshot")).json()
            assert 'button "Increment"' in first["snapshot"] and 'text "Count: 0"' in first["snapshot"]
            ref = ref_of(first["snapshot"], 'button "Increment"')
            clicked = await http.post("/act", json={"kind": "click", "ref": ref})
            assert clicked.status_code == 200 and clicked.json()["ok"] is True, clicked.text
            second = (await http.get("/snapshot")).json()
            assert 'text "Count: 1"' in second["snapshot"]
            assert ref_of(second["snapshot"], 'button "Increment"') == ref  # stable refs
            shot = (await http.post("/screenshot", json={"inline": True})).json()
            path = shot["path"]
            with open(path, "rb") as handle:  # noqa: ASYNC230 (a small file in a test)
                assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
            assert os.stat(path).st_mode & 0o777 == 0o600
            element = (await http.post("/screenshot", json={"ref": ref, "inline": True})).json()
            full = (await http.post("/screenshot", json={"fullPage": True, "inline": True})).json()
            assert 0 < element["bytes"] < full["bytes"]
            pdf = (await http.post("/pdf", json={"inline": True})).json()
            assert base64.b64decode(pdf["data"]).startswith(b"%PDF") and pdf["path"].endswith(".pdf")
            console = (await http.get("/console")).json()
            assert any(m["text"] == "page ready" for m in console["messages"])


async def test_type_fill_select_and_wait(make_config, tmp_path):
    with trio.fail_after(60):
        async with browser_gateway(make_config, tmp_path) as gw, api(gw) as http:
            await http.post("/tabs/open", json={"url": canvas_url(gw)})
            snap = (await http.get("/snapshot")).json()["snapshot"]
            typed = await http.post(
                "/act", json={"kind": "type", "ref": ref_of(snap, 'textbox "Name"'), "text": "Ada"}
            )
            assert typed.status_code == 200, typed.text
            chosen = await http.post(
                "/act", json={"kind": "select", "ref": ref_of(snap, 'combobox "Colour"'), "values": ["Green"]}
            )
            assert chosen.json()["selected"] == ["g"]
            after = (await http.get("/snapshot")).json()["snapshot"]
            assert 'textbox "Name"' in after and 'value="Ada"' in after and 'value="Green"' in after
            await http.post("/act", json={"kind": "click", "ref": ref_of(snap, 'button "Increment"')})
            waited = await http.post("/wait", json={"text": "Count: 1", "timeoutMs": 5000})
            assert waited.status_code == 200, waited.text
            missing = await http.post("/wait", json={"text": "never there", "timeoutMs": 300})
            assert missing.status_code == 504 and "not reached" in missing.json()["error"]


INPUT_PAGE = """<!doctype html><html><head><title>Input events</title></head><body style="height: 4000px">
<button id="source">Source</button>
<div id="target" role="button" aria-label="Target" style="width: 120px; height: 60px">Target</div>
<button id="far" style="margin-top: 3000px">Far</button>
<script>
let down = null, far = false;
document.addEventListener("keydown", (e) => console.log("key:" + e.key));
document.getElementById("target").addEventListener("mouseover", () => console.log("hover:target"));
document.addEventListener("mousedown", (e) => { down = e.target.id; });
document.addEventListener("mouseup", (e) => console.log("drag:" + down + "->" + e.target.id));
window.addEventListener("wheel", (e) => console.log("wheel:" + e.deltaY));
window.addEventListener("scroll", () => { if (!far && window.scrollY > 2000) { far = true; console.log("far"); } });
</script></body></html>"""


async def test_press_hover_scroll_and_drag_reach_the_page_as_input_events(make_config, tmp_path):
    (tmp_path / "canvas").mkdir()
    (tmp_path / "canvas" / "input.html").write_text(INPUT_PAGE)  # beside the index.html the fixture writes
    with trio.fail_after(60):
        async with browser_gateway(make_config, tmp_path) as gw, api(gw) as http:
            opened = await http.post(
                "/tabs/open", json={"url": canvas_url(gw) + "__moltbot__/canvas/input.html"}
            )
            assert opened.status_code == 200, opened.text
            snap = (await http.get("/snapshot")).json()["snapshot"]
            actions = [
                {"kind": "press", "key": "Enter"},
                {"kind": "hover", "ref": ref_of(snap, 'button "Target"')},
                {
                    "kind": "drag",
                    "startRef": ref_of(snap, 'button "Source"'),
                    "endRef": ref_of(snap, 'button "Target"'),
                },
                {"kind": "scroll", "ref": ref_of(snap, 'button "Far"')},
                {"kind": "scroll", "deltaY": 300},  # last: a wheel's smooth scroll would race the one above
            ]
            for action in actions:
                done = await http.post("/act", json=action)
                assert done.status_code == 200 and done.json()["ok"] is True, (action, done.text)
            expected = {"key:Enter", "hover:target", "wheel:300", "drag:source->target", "far"}
            seen: set[str] = set()
            with trio.move_on_after(10):  # the page's listeners may run after the act answered
                while not expected <= seen:
                    seen = {m["text"] for m in (await http.get("/console")).json()["messages"]}
                    await trio.sleep(0.05)
            assert expected <= seen, seen


async def test_unknown_ref_and_private_target_are_refused_with_reason(make_config, tmp_path):
    with trio.fail_after(60):
        async with browser_gateway(make_config, tmp_path) as gw, api(gw) as http:
            await http.post("/tabs/open", json={"url": canvas_url(gw)})
            unknown = await http.post("/act", json={"kind": "click", "ref": "e999"})
            assert unknown.status_code == 404 and "take a snapshot" in unknown.json()["error"]
            refused = await http.post("/navigate", json={"url": "http://127.0.0.1:9/"})
            assert refused.status_code == 403 and "private or local" in refused.json()["error"]
            bad = await http.post("/act", json={"kind": "evaluate", "fn": "1"})
            assert bad.status_code == 400 and "not supported" in bad.json()["error"]


@asynccontextmanager
async def open_site():
    """A loopback web site: ``/hop`` redirects to ``http://127.0.0.1:<port>/secret``, ``/page`` links there,
    anything else is the "internal" page. Yields its port and the paths asked, in order."""
    asked: list[str] = []
    port = 0

    async def handle(stream: trio.SocketStream) -> None:
        request = b""
        with trio.move_on_after(5):
            while b"\r\n\r\n" not in request and (chunk := await stream.receive_some(4096)):
                request += chunk
        path = request.split(b" ", 2)[1].decode() if request.count(b" ") >= 2 else "?"
        asked.append(path)
        secret = f"http://127.0.0.1:{port}/secret"
        if path == "/hop":
            head, body = f"302 Found\r\nLocation: {secret}", b""
        elif path == "/page":
            head, body = (
                "200 OK",
                f'<!doctype html><title>Links</title><a href="{secret}">Secret</a>'.encode(),
            )
        else:
            head, body = "200 OK", b"<!doctype html><title>Internal</title>internal"
        reply = f"HTTP/1.1 {head}\r\nContent-Type: text/html\r\nContent-Length: {len(body)}\r\n"
        await stream.send_all(reply.encode() + b"Connection: close\r\n\r\n" + body)
        await stream.aclose()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, handle, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        yield port, asked
        nursery.cancel_scope.cancel()


async def test_a_redirect_or_a_link_to_a_private_address_is_refused_too(make_config, tmp_path):
    """The guard vets every document the tab loads, not only the URL it was pointed at."""
    policy = BrowserSsrfPolicy(allowed_hosts=["localhost"])  # the site's name is allowed, 127.0.0.1 is not
    with trio.fail_after(60):
        async with (
            open_site() as (port, asked),
            browser_gateway(make_config, tmp_path, browser=browser_config(ssrf_policy=policy)) as gw,
            api(gw) as http,
        ):
            hopped = await http.post("/navigate", json={"url": f"http://localhost:{port}/hop"})
            assert hopped.status_code == 403 and "private or local" in hopped.json()["error"], hopped.text
            assert "/hop" in asked and "/secret" not in asked
            page = await http.post("/navigate", json={"url": f"http://localhost:{port}/page"})
            assert page.status_code == 200, page.text
            snap = (await http.get("/snapshot")).json()["snapshot"]
            clicked = await http.post("/act", json={"kind": "click", "ref": ref_of(snap, 'link "Secret"')})
            assert clicked.status_code == 200, clicked.text
            messages: list[dict] = []
            while not any("navigation refused" in m["text"] for m in messages):  # noqa: ASYNC110 (polled)
                await trio.sleep(0.05)  # the click's navigation is vetted after the act answered
                messages = (await http.get("/console")).json()["messages"]
            assert "/secret" not in asked, asked


async def test_crashed_browser_is_restarted(make_config, tmp_path):
    with trio.fail_after(90):
        async with browser_gateway(make_config, tmp_path) as gw, api(gw) as http:
            assert (await http.post("/start")).json() == {"ok": True, "profile": "moltbot"}
            status = (await http.get("/")).json()
            assert status["running"] is True
            os.kill(status["pid"], signal.SIGKILL)
            state = gw.runtime.browser.control.manager.profile(None)
            while not (state.status == "running" and state.pid not in (None, status["pid"])):
                await state.changed.wait()
            again = (await http.get("/")).json()
            assert again["restarts"] == 1 and again["pid"] != status["pid"]
            opened = await http.post("/tabs/open", json={"url": canvas_url(gw)})
            assert opened.status_code == 200, opened.text
            stopped = (await http.post("/stop")).json()
            assert stopped["stopped"] is True and (await http.get("/")).json()["running"] is False


@pytest.mark.parametrize("token", [None, "wrong-token"])
async def test_requests_without_the_gateway_token_are_refused(make_config, tmp_path, token):
    with trio.fail_after(30):
        async with browser_gateway(make_config, tmp_path, canvas=False) as gw, api(gw, token=token) as http:
            answer = await http.get("/")
            assert answer.status_code == 401 and "Unauthorized" in answer.json()["error"]
            assert gw.runtime.browser.control.manager.profile(None).pid is None  # nothing was started


async def test_a_foreign_host_header_is_refused(make_config, tmp_path):
    with trio.fail_after(30):
        async with browser_gateway(make_config, tmp_path, canvas=False) as gw, api(gw) as http:
            answer = await http.get("/", headers={"Host": "evil.example:80"})
            assert answer.status_code == 403


async def test_an_idle_profile_is_stopped_and_started_again_on_use(make_config, tmp_path):
    with trio.fail_after(60):
        async with (
            browser_gateway(
                make_config, tmp_path, canvas=False, browser=browser_config(idle_timeout_ms=1500)
            ) as gw,
            api(gw) as http,
        ):
            assert (await http.post("/start")).status_code == 200
            state = gw.runtime.browser.control.manager.profile(None)
            pid = state.pid
            while state.status != "stopped":
                await state.changed.wait()
            assert state.pid is None and not alive(pid)
            assert (await http.post("/start")).status_code == 200 and state.pid not in (None, pid)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_a_cdp_url_profile_attaches_to_a_browser_someone_else_runs(make_config, tmp_path):
    import subprocess
    from functools import partial

    from moltbot.browser.profiles import ProfileSpec, chromium_argv

    from .helpers import CHROMIUM, BrowserProfileConfig, browser_config, free_port_block

    port = free_port_block(1)[0]
    spec = ProfileSpec(
        name="outside",
        driver="managed",
        cdp_url=None,
        cdp_port=port,
        color="",
        headless=True,
        executable_path=None,
        user_data_dir=tmp_path / "outside",
    )
    argv = chromium_argv(spec, port, executable=CHROMIUM, no_sandbox=os.geteuid() == 0, extra=[])
    browser = browser_config(profiles={"outside": BrowserProfileConfig(cdp_url=f"http://127.0.0.1:{port}")})
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            outside = await nursery.start(
                partial(
                    trio.run_process, argv, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
            )
            async with browser_gateway(make_config, tmp_path, browser=browser) as gw, api(gw) as http:
                while (await http.post("/start", json={"profile": "outside"})).status_code != 200:  # noqa: ASYNC110
                    await trio.sleep(
                        0.1
                    )  # the outside browser is still opening its port: polled under the deadline
                opened = await http.post("/tabs/open", json={"url": canvas_url(gw), "profile": "outside"})
                assert opened.status_code == 200, opened.text
                status = (await http.get("/", params={"profile": "outside"})).json()
                assert status["driver"] == "remote" and status["pid"] is None and status["running"] is True
                assert (await http.post("/stop", json={"profile": "outside"})).json()["stopped"] is True
                assert outside.returncode is None  # detaching never kills a browser we did not start
            nursery.cancel_scope.cancel()


async def test_a_chromium_left_on_the_profile_by_a_dead_gateway_is_replaced(make_config, tmp_path):
    import subprocess
    from functools import partial

    from moltbot.browser.profiles import resolve_profiles

    from .helpers import CHROMIUM, browser_config, free_port_block

    browser = browser_config()
    spec = resolve_profiles(browser, state_dir=tmp_path, relay_port=1, env={})["moltbot"]
    spec.user_data_dir.mkdir(parents=True)
    port = free_port_block(1)[0]
    from moltbot.browser.profiles import chromium_argv

    argv = chromium_argv(spec, port, executable=CHROMIUM, no_sandbox=os.geteuid() == 0, extra=[])
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            orphan = await nursery.start(
                partial(
                    trio.run_process,
                    argv,
                    check=False,
                    start_new_session=True,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            lock = spec.user_data_dir / "SingletonLock"
            while not lock.is_symlink():  # noqa: ASYNC110 (the orphan takes its lock when it takes it)
                await trio.sleep(0.05)
            async with browser_gateway(make_config, tmp_path, browser=browser) as gw, api(gw) as http:
                started = await http.post("/start")
                assert started.status_code == 200, started.text
                await orphan.wait()
                assert (await http.get("/")).json()["pid"] != orphan.pid
