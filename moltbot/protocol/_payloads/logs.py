"""``logs.tail``: read the gateway's own log file from a byte cursor."""

from __future__ import annotations

from typing import Annotated

import attrs
from annotated_types import Ge, Le

from .._frames import NonNegativeInt

DEFAULT_LIMIT = 500
MAX_LIMIT = 5000
DEFAULT_MAX_BYTES = 250_000
MAX_BYTES = 1_000_000


@attrs.frozen
class LogsTailParams:
    """``cursor`` is a byte offset from an earlier result; without it the call reads the end of the file."""

    cursor: NonNegativeInt | None = None
    limit: Annotated[int, Ge(1), Le(MAX_LIMIT)] | None = None
    max_bytes: Annotated[int, Ge(1), Le(MAX_BYTES)] | None = None


@attrs.frozen
class LogsTailResult:
    """Complete lines from ``cursor`` on; pass the returned ``cursor`` to read what comes next.

    ``reset``: the given cursor could not be continued (the file was rotated or truncated, or more than
    ``maxBytes`` were written since), so the lines are the end of the file instead. ``truncated``: lines
    before these were skipped (``maxBytes`` or ``limit``).
    """

    file: str
    cursor: NonNegativeInt
    size: NonNegativeInt
    lines: list[str]
    truncated: bool | None = None
    reset: bool | None = None
