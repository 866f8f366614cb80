"""The built-in offline ``echo`` model: the default when no provider is configured.

It answers at once, streaming word by word, and says plainly that it is the echo model, so a fresh
install works end to end without any API key and nobody mistakes it for a real model.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import trio

from ..prompt import unwrap_untrusted
from .base import Chunk, Finish, ModelInfo, ModelRequest, TextDelta, Usage

PREFIX = "[echo model: no model provider is configured] You said: "


class EchoProvider:
    id = "echo"

    def __init__(self, *, delay: float = 0.0) -> None:
        self._delay = delay

    async def stream(self, request: ModelRequest) -> AsyncGenerator[Chunk, None]:
        last_user = unwrap_untrusted(next((m.content for m in reversed(request.messages) if m.role == "user"), ""))
        reply = PREFIX + last_user
        words = reply.split(" ")
        for index, word in enumerate(words):
            await trio.sleep(self._delay)
            yield TextDelta(word if index == len(words) - 1 else word + " ")
        yield Usage(input_tokens=sum(len(m.content.split()) for m in request.messages), output_tokens=len(words))
        yield Finish("stop")

    def models(self) -> list[ModelInfo]:
        return [ModelInfo(id="echo", name="Echo (offline test model)", provider="echo")]
