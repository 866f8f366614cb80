"""Split outgoing text into pieces a channel accepts: on paragraph, then line, then space boundaries."""

from __future__ import annotations


def chunk_text(text: str, limit: int) -> list[str]:
    """Pieces of at most ``limit`` characters, cut at the last paragraph/line/space break that fits.

    A piece never starts or ends with the separator it was cut at; a word longer than ``limit`` is cut hard.
    """
    if limit <= 0:
        raise ValueError("limit must be positive")
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[:limit + 1]
        cut = -1
        for separator in ("\n\n", "\n", " "):
            cut = window.rfind(separator)
            if cut > 0:
                break
        if cut <= 0:
            pieces.append(rest[:limit])
            rest = rest[limit:].lstrip()
            continue
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces
