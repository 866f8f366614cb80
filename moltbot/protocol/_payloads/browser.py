"""``browser.request``: one call of the browser control API over the WebSocket."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import attrs
from annotated_types import Ge, Le

from .._frames import UNSET, NonEmptyStr

MAX_TIMEOUT_MS = 120_000


@attrs.frozen
class BrowserRequestParams:
    """``path`` is a control API route (``/snapshot``, ``/act`` …), ``query`` its query string as an object,
    ``body`` its JSON body; the answer is the route's JSON."""

    method: Literal["GET", "POST", "DELETE"]
    path: NonEmptyStr
    query: dict[str, Any] | None = None
    body: Any = UNSET
    timeout_ms: Annotated[int, Ge(1), Le(MAX_TIMEOUT_MS)] | None = None
