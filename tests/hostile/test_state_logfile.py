"""The gateway's log file handler (``store/reopen.py``) on the Trio thread: no ``stat`` of its path per
record, yet a removed file comes back, at once for the lines that say what went wrong.

Plain files under ``tmp_path`` and a fake clock (issue 15, requirement 8; the review's per-record stat).
"""

from __future__ import annotations

import logging
import os

import pytest

from moltbot.store.reopen import ReopeningFileHandler


def record(message: str, level: int = logging.INFO) -> logging.LogRecord:
    return logging.LogRecord("moltbot.test", level, __file__, 1, message, None, None)


@pytest.fixture
def now():
    return [100.0]


@pytest.fixture
def handler(tmp_path, now):
    handler = ReopeningFileHandler(tmp_path / "logs" / "gateway.log", maxBytes=10_000, backupCount=1,
                                   encoding="utf-8", delay=True)
    handler.clock = lambda: now[0]
    yield handler
    handler.close()


def test_info_records_do_not_stat_the_path_each_time(handler, monkeypatch):
    handler.emit(record("first"))  # opens the file
    calls = []
    real_stat = os.stat
    monkeypatch.setattr(os, "stat", lambda *args, **kwargs: calls.append(args) or real_stat(*args, **kwargs))
    for index in range(100):
        handler.emit(record(f"line {index}"))
    monkeypatch.undo()
    assert calls == []


def test_a_removed_file_is_made_again_within_a_second(handler, tmp_path, now):
    path = tmp_path / "logs" / "gateway.log"
    handler.emit(record("before"))
    path.unlink()
    now[0] += 1.0
    handler.emit(record("after"))
    assert path.read_text() == "after\n"


def test_a_warning_after_the_state_dir_is_removed_reaches_a_new_file_at_once(handler, tmp_path):
    path = tmp_path / "logs" / "gateway.log"
    handler.emit(record("before"))
    path.unlink()
    path.parent.rmdir()
    handler.emit(record("the state dir was removed", logging.WARNING))
    assert path.read_text() == "the state dir was removed\n"
    assert (path.stat().st_mode & 0o777, path.parent.stat().st_mode & 0o777) == (0o600, 0o700)


def test_the_file_still_rotates_at_max_bytes(handler, tmp_path):
    for index in range(300):
        handler.emit(record(f"line {index:04} " + "x" * 40))
    assert (tmp_path / "logs" / "gateway.log.1").exists()
    assert (tmp_path / "logs" / "gateway.log").stat().st_size < 10_000
