"""JSON5 parsing at C speed: ``pyjson5`` (a maintained Cython JSON5 decoder) first, ``json5`` for errors.

The pure-Python ``json5`` parser needs ~50 ms per KB, paid on every reload, restart, ``config.get`` and
``config.set``. ``pyjson5`` parses the same documents in microseconds. When it refuses a text, the
``json5`` parser parses it again: it either agrees that the text is invalid and words the error (with the
line and column the config errors show), or it accepts an edge case ``pyjson5`` does not, and its value
is used. Either way the outcome is the ``json5`` package's, which the tests check on generated documents.
"""

from __future__ import annotations

from typing import Any

import json5
import pyjson5


def loads(text: str) -> Any:
    """Parse JSON5 text; a ``ValueError`` from the ``json5`` parser when it is not JSON5."""
    try:
        return pyjson5.decode(text)
    except (pyjson5.Json5Exception, RecursionError, ValueError):
        return json5.loads(text)
