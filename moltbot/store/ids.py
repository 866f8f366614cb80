"""The rules for ids that name files or directories under the state dir, and for keys stored beside them.

An agent id names ``agents/<agentId>/``, a session id ``<sessionId>.jsonl``, a cron job id
``cron/runs/<jobId>.jsonl``, a channel account id ``credentials/whatsapp/<accountId>/``. Each rule admits
no separator, no ``..``, no NUL and a bounded length (a file name is at most 255 bytes), and each is the
original's own rule, so every id an existing install holds keeps working:
- agent and account ids: OpenClaw's ``VALID_ID_RE`` (``src/routing/session-key.ts``, ``account-id.ts``);
  account ids may also start with ``_`` (its ``accounts._prod`` identities);
- session ids: its ``SAFE_SESSION_ID_RE`` (``src/config/sessions/paths.ts``); cron job ids the same shape;
- session keys are not file names (they are keys inside ``sessions.json``) but carry peer ids; they are
  bounded as OpenClaw's ``chat.send`` bounds them (512 characters), without control characters.
"""

from __future__ import annotations

import re

AGENT_ID_PATTERN = "^[a-z0-9][a-z0-9_-]{0,63}$"
ACCOUNT_ID_PATTERN = "^[a-z0-9_][a-z0-9_-]{0,63}$"
SESSION_ID_PATTERN = "^[a-z0-9][a-z0-9._-]{0,127}$"
JOB_ID_PATTERN = SESSION_ID_PATTERN
MAX_SESSION_KEY = 512
MAX_NAME = 256  # node, device and request ids: keys in JSON files, not file names

_AGENT_ID = re.compile(AGENT_ID_PATTERN[1:-1], re.IGNORECASE)
_ACCOUNT_ID = re.compile(ACCOUNT_ID_PATTERN[1:-1], re.IGNORECASE)
_SESSION_ID = re.compile(SESSION_ID_PATTERN[1:-1], re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def is_agent_id(value: str) -> bool:
    return _AGENT_ID.fullmatch(value) is not None


def is_account_id(value: str) -> bool:
    return _ACCOUNT_ID.fullmatch(value) is not None


def is_session_id(value: str) -> bool:
    return _SESSION_ID.fullmatch(value) is not None


def is_job_id(value: str) -> bool:
    return _SESSION_ID.fullmatch(value) is not None


def is_session_key(value: str) -> bool:
    return 0 < len(value) <= MAX_SESSION_KEY and _CONTROL.search(value) is None


def is_name(value: str) -> bool:
    return 0 < len(value) <= MAX_NAME and _CONTROL.search(value) is None


# (check, what the error says the value must be) per kind of id; the message names no value (it may be huge
# or hold a path) and no file.
RULES = {
    "agent": (lambda v: is_agent_id(v.strip()), f"match /{AGENT_ID_PATTERN}/i"),
    "account": (lambda v: is_account_id(v.strip()), f"match /{ACCOUNT_ID_PATTERN}/i"),
    "session": (lambda v: is_session_id(v.strip()), f"match /{SESSION_ID_PATTERN}/i"),
    "job": (is_job_id, f"match /{JOB_ID_PATTERN}/i"),
    "key": (is_session_key, f"be at most {MAX_SESSION_KEY} characters, without control characters"),
    "name": (is_name, f"be at most {MAX_NAME} characters, without control characters"),
}
