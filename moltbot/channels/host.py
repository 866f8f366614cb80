"""What the channel manager needs from the gateway around it (``ChannelHost``).

The manager is built by the gateway's Runtime (``gateway/runtime.py``), which provides this interface;
the channels package never imports the gateway's Runtime, so a test (or another host) can run the manager
against anything with these members. ``config`` is read afresh each time: a hot reload replaces it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..agents.runtime import AgentRuntime
    from ..agents.tracking import RunTracker
    from ..config.model import Config

__all__ = ["ChannelHost", "StatusWatcher"]


class StatusWatcher(Protocol):
    def mark_stale(self) -> None:
        """A channel's status changed: the next health snapshot is recomputed."""


class ChannelHost(Protocol):
    @property
    def config(self) -> Config:
        """The config now in force."""

    @property
    def env(self) -> Mapping[str, str]:
        """The gateway's environment (bot tokens named by variable)."""

    @property
    def agents(self) -> AgentRuntime:
        """Where inbound messages become agent runs."""

    @property
    def runs(self) -> RunTracker:
        """``accepting`` is false while the gateway stops or restarts."""

    @property
    def health(self) -> StatusWatcher: ...

    def client_count(self) -> int:
        """How many WebSocket clients are connected (WebChat's status row)."""
