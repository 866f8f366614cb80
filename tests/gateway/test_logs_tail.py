"""``logs.tail``: complete lines after a byte cursor; reset on rotation or a too-large gap; strict params."""

from __future__ import annotations

import trio

from moltbot.gateway.methods.logs import read_log_slice
from tests.conftest import TOKEN


def test_reads_the_end_then_continues_from_the_cursor(tmp_path):
    log = tmp_path / "gateway.log"
    log.write_text("one\ntwo\n")
    first = read_log_slice(log, None, 500, 250_000)
    assert (first.lines, first.cursor, first.size, first.reset, first.truncated) == (["one", "two"], 8, 8, False, False)
    with log.open("a") as handle:
        handle.write("three\nfour")  # "four" is still being written
    second = read_log_slice(log, first.cursor, 500, 250_000)
    assert second.lines == ["three"] and second.cursor == 14 and second.size == 18
    with log.open("a") as handle:
        handle.write(" done\n")
    assert read_log_slice(log, second.cursor, 500, 250_000).lines == ["four done"]


def test_a_cursor_past_the_end_means_rotation_and_resets(tmp_path):
    log = tmp_path / "gateway.log"
    log.write_text("fresh\n")
    result = read_log_slice(log, 10_000, 500, 250_000)
    assert result.reset is True and result.lines == ["fresh"] and result.cursor == 6


def test_a_gap_larger_than_max_bytes_resets_to_whole_lines_at_the_end(tmp_path):
    log = tmp_path / "gateway.log"
    log.write_text("".join(f"line {i:03}\n" for i in range(100)))  # 9 bytes per line
    result = read_log_slice(log, 0, 500, 50)
    assert result.reset is True and result.truncated is True
    assert result.lines == ["line 095", "line 096", "line 097", "line 098", "line 099"]  # no partial first line


def test_limit_keeps_the_last_lines(tmp_path):
    log = tmp_path / "gateway.log"
    log.write_text("a\nb\nc\n")
    result = read_log_slice(log, None, 2, 250_000)
    assert result.lines == ["b", "c"] and result.truncated is True and result.cursor == 6


def test_missing_file_is_empty(tmp_path):
    result = read_log_slice(tmp_path / "nope.log", None, 500, 250_000)
    assert (result.lines, result.cursor, result.size) == ([], 0, 0)


async def test_logs_tail_over_the_wire_reads_the_gateways_log_file(gateway, client, tmp_path):
    log = tmp_path / "logs" / "gateway.log"
    log.parent.mkdir()
    log.write_text('{"msg": "hello"}\n')
    with trio.fail_after(5):
        async with client() as c:
            result = await c.call("logs.tail", {"limit": 10})
            assert result == {"file": str(log), "cursor": 17, "size": 17, "lines": ['{"msg": "hello"}'],
                              "truncated": False, "reset": False}
            assert (await c.call("logs.tail", {"cursor": 17}))["lines"] == []


async def test_logs_tail_params_are_strict(gateway, raw):
    with trio.fail_after(5):
        async with raw(handshake=True, auth={"token": TOKEN}) as ws:
            for bad in ({"limit": 0}, {"limit": 5001}, {"maxBytes": 1_000_001}, {"cursor": -1}, {"lines": 3}):
                response = await ws.call("logs.tail", bad)
                assert response["ok"] is False and response["error"]["code"] == "INVALID_REQUEST", bad
