"""The canvas server on its own, over real sockets: files and types, index.html, 405/404, traversal
refused one way at a time, live reload over its WebSocket."""

from __future__ import annotations

import pytest
import trio
from trio_websocket import ConnectionClosed, ConnectionRejected, HandshakeError, open_websocket_url

from moltbot.canvas.files import DEFAULT_INDEX_HTML
from moltbot.canvas.server import CanvasSettings, CanvasStartError, serve_canvas
from tests.canvas.helpers import raw_request

MOUNT = "/__moltbot__/canvas"
SECRET = b"top secret, outside the root"


async def start_canvas(nursery, root, *, live_reload=True, port=0):
    stop = trio.Event()
    url = await nursery.start(serve_canvas, CanvasSettings("127.0.0.1", port, root, live_reload), stop)
    return url, stop


@pytest.fixture
def site(tmp_path):
    """A root with a few files, and a secret next to it (outside)."""
    (tmp_path / "secret.txt").write_bytes(SECRET)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_bytes(SECRET)
    root = tmp_path / "root"
    (root / "sub" / "empty").mkdir(parents=True)
    (root / "index.html").write_text("<html><body><h1>mine</h1></body></html>")
    (root / "app.js").write_text("console.log(1)")
    (root / "style.css").write_text("body{}")
    (root / "data.json").write_text('{"a": 1}')
    (root / "pixel.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 600)  # > one 64 KiB chunk
    (root / "blob").write_bytes(b"\x00\x01")
    (root / "frag.html").write_text("<p>no body tag</p>")
    (root / "sub" / "index.html").write_text("<html><body>sub</body></html>")
    (root / "inner-link.css").symlink_to(root / "style.css")
    (root / "link-out.txt").symlink_to(tmp_path / "secret.txt")
    (root / "dir-out").symlink_to(tmp_path / "outside")
    return root


@pytest.fixture
async def canvas(site, nursery):
    url, stop = await start_canvas(nursery, site)
    yield url
    stop.set()


async def test_default_index_html_is_created_when_the_root_is_missing(tmp_path, nursery):
    root = tmp_path / "clawd" / "canvas"
    url, stop = await start_canvas(nursery, root)
    assert (root / "index.html").read_text() == DEFAULT_INDEX_HTML
    response = await raw_request(url, f"{MOUNT}/")
    assert response.status == 200 and response.headers["content-type"] == "text/html; charset=utf-8"
    assert "Moltbot Canvas" in response.text and "/__moltbot/ws" in response.text
    stop.set()


async def test_an_existing_index_html_is_kept(canvas, site):
    assert (site / "index.html").read_text() == "<html><body><h1>mine</h1></body></html>"


@pytest.mark.parametrize(("path", "content_type"), [
    ("app.js", "text/javascript; charset=utf-8"),
    ("style.css", "text/css; charset=utf-8"),
    ("data.json", "application/json"),
    ("pixel.png", "image/png"),
    ("blob", "application/octet-stream"),
    ("inner-link.css", "text/css; charset=utf-8"),  # a symlink that stays inside the root is fine
])
async def test_files_are_served_with_their_content_type(canvas, site, path, content_type):
    response = await raw_request(canvas, f"{MOUNT}/{path}")
    assert response.status == 200
    assert response.headers["content-type"] == content_type
    assert response.body == (site / path).read_bytes()
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_html_gets_the_live_reload_script_before_body_end(canvas):
    page = (await raw_request(canvas, f"{MOUNT}/")).text
    assert page.startswith("<html><body><h1>mine</h1>") and page.endswith("</script>\n</body></html>")
    fragment = (await raw_request(canvas, f"{MOUNT}/frag.html")).text
    assert fragment.startswith("<p>no body tag</p>") and "/__moltbot/ws" in fragment


async def test_head_sends_the_headers_without_a_body(canvas, site):
    response = await raw_request(canvas, f"{MOUNT}/pixel.png", method="HEAD")
    assert response.status == 200 and response.body == b""
    assert int(response.headers["content-length"]) == (site / "pixel.png").stat().st_size


async def test_directories_serve_their_index_html_and_are_never_listed(canvas):
    assert (await raw_request(canvas, f"{MOUNT}/sub/")).text.startswith("<html><body>sub")
    assert (await raw_request(canvas, f"{MOUNT}/sub")).text.startswith("<html><body>sub")
    empty = await raw_request(canvas, f"{MOUNT}/sub/empty/")
    assert (empty.status, empty.headers["content-type"], empty.body) == (404, "text/plain; charset=utf-8",
                                                                         b"Not Found")


async def test_mount_point_and_root_redirect_to_the_canvas(canvas):
    for target in (MOUNT, "/"):
        response = await raw_request(canvas, target)
        assert (response.status, response.headers["location"]) == (302, f"{MOUNT}/")


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
async def test_only_get_and_head_are_allowed(canvas, method):
    response = await raw_request(canvas, f"{MOUNT}/index.html", method=method)
    assert (response.status, response.headers["allow"], response.body) == (405, "GET, HEAD", b"Method Not Allowed")


async def test_missing_files_and_other_paths_are_plain_404(canvas):
    for target in (f"{MOUNT}/nope.html", "/elsewhere", "/__moltbot__/canvasx/index.html"):
        response = await raw_request(canvas, target)
        assert (response.status, response.headers["content-type"], response.body) == (
            404, "text/plain; charset=utf-8", b"Not Found"), target


TRAVERSALS = {
    "dot-dot": f"{MOUNT}/../secret.txt",
    "dot-dot-after-a-dir": f"{MOUNT}/sub/../../secret.txt",
    "dot-dot-inside-the-root": f"{MOUNT}/sub/../index.html",
    "single-dot": f"{MOUNT}/./index.html",
    "encoded-dot-dot": f"{MOUNT}/%2e%2e/secret.txt",
    "encoded-dot-dot-uppercase": f"{MOUNT}/%2E%2E/secret.txt",
    "encoded-slash": f"{MOUNT}/..%2fsecret.txt",
    "encoded-dot-dot-and-slash": f"{MOUNT}/%2e%2e%2fsecret.txt",
    "double-encoded": f"{MOUNT}/%252e%252e/secret.txt",
    "backslash": f"{MOUNT}/..\\secret.txt",
    "encoded-backslash": f"{MOUNT}/..%5csecret.txt",
    "encoded-nul": f"{MOUNT}/index.html%00.png",
    "absolute-after-mount": f"{MOUNT}//etc/passwd",
    "encoded-absolute": f"{MOUNT}/%2fetc%2fpasswd",
    "invalid-utf8": f"{MOUNT}/%ff%fe.html",
    "symlink-to-a-file-outside": f"{MOUNT}/link-out.txt",
    "symlink-to-a-dir-outside": f"{MOUNT}/dir-out/secret.txt",
}


@pytest.mark.parametrize("target", TRAVERSALS.values(), ids=TRAVERSALS.keys())
async def test_path_traversal_is_impossible(canvas, target):
    response = await raw_request(canvas, target)
    assert response.status == 404 and response.body == b"Not Found"
    assert SECRET not in response.body


async def test_an_absolute_path_of_a_real_file_is_only_looked_up_under_the_root(canvas, tmp_path):
    response = await raw_request(canvas, f"{MOUNT}/{tmp_path}/secret.txt")
    assert response.status == 404


async def test_a_literal_nul_never_reaches_the_disk(canvas):
    response = await raw_request(canvas, f"{MOUNT}/index.html\x00.png")
    assert response.status in (400, 404) and SECRET not in response.body  # h11 refuses it first


async def test_live_reload_sends_reload_when_a_file_changes(canvas, site):
    ws_url = canvas.replace("http://", "ws://") + "/__moltbot/ws"
    async with open_websocket_url(ws_url) as ws:
        (site / "app.js").write_text("console.log(2)")
        with trio.fail_after(5):
            assert await ws.get_message() == "reload"
        (site / "sub" / "new.html").write_text("<p>new</p>")  # subdirectories too, and again
        with trio.fail_after(5):
            assert await ws.get_message() == "reload"


async def test_live_reload_socket_closes_when_the_server_stops(site, nursery):
    url, stop = await start_canvas(nursery, site)
    async with open_websocket_url(url.replace("http://", "ws://") + "/__moltbot/ws") as ws:
        stop.set()
        with trio.fail_after(5), pytest.raises(ConnectionClosed) as closed:
            await ws.get_message()
    assert closed.value.reason.code == 1001


async def test_live_reload_off_serves_plain_html_and_refuses_the_socket(site, nursery):
    url, stop = await start_canvas(nursery, site, live_reload=False)
    assert (await raw_request(url, f"{MOUNT}/")).text == "<html><body><h1>mine</h1></body></html>"
    with pytest.raises((ConnectionRejected, HandshakeError)):
        async with open_websocket_url(url.replace("http://", "ws://") + "/__moltbot/ws"):
            pass
    stop.set()


async def test_other_websocket_paths_are_refused(canvas):
    with pytest.raises((ConnectionRejected, HandshakeError)):
        async with open_websocket_url(canvas.replace("http://", "ws://") + "/other"):
            pass


async def test_a_busy_port_is_a_clear_start_error(site, nursery):
    with trio.socket.socket() as squatter:
        await squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(CanvasStartError, match=f"cannot listen on 127.0.0.1:{port}"):
            await start_canvas(nursery, site, port=port)


async def test_an_unusable_root_is_a_clear_start_error(tmp_path, nursery):
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(CanvasStartError, match="cannot use canvasHost.root"):
        await start_canvas(nursery, tmp_path / "file" / "canvas")
