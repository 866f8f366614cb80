"""What the harness is pointed at: a URL, credentials, and the optional hooks some checks need."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import attrs

__all__ = ["CAPABILITIES", "Target"]

# Opt-in capabilities: checks a target may support but that the harness cannot detect without harm.
CAPABILITIES = {
    "rate-limit": "repeated auth failures are refused with retryAfterMs (locks the harness's address out; "
    "runs last)",
    "agent-runs": "the harness may start agent runs (chat.send, for the idempotency check); a run may call "
    "the gateway's model",
}


def _capabilities(value: object) -> frozenset[str]:
    return frozenset(value or ())  # type: ignore[call-overload,no-any-return]


@attrs.frozen
class Target:
    """A gateway to test over the wire: ours, an embedded one, or the original Node.js gateway.

    Args:
        url: the WebSocket URL (``ws://127.0.0.1:18789``).
        token: the shared gateway token; or
        password: the shared password (whichever the gateway is configured with).
        restart: a hook that makes the gateway restart (for ours, ``lambda: gateway.request_restart(…)``;
            for a process, a function sending it SIGUSR1). It may be sync or async. Without it the
            shutdown/1012 check is skipped.
        capabilities: opt-in checks (see ``CAPABILITIES``), e.g. ``{"rate-limit", "agent-runs"}``.
        handshake_timeout_ms: the target's handshake timeout: 15 s by default, ours and today's OpenClaw's
            (``gateway.handshakeTimeoutMs``; January's was 10 s). The timeout check waits for it only when
            it fits within the run's ``max_wait``, so a default run skips it rather than taking 15 s.
        disposable: the user declared that the target may be changed: the side-effect methods
            (``send``, ``sessions.patch|reset|delete``, ``node.pair.*``, ``device.pair.approve|reject``,
            ``cron.add|update|run|remove``, ``wake``, ``chat.abort``) are called too. It leaves a disabled
            cron job "moltbot conformance probe" and a session key ``agent:main:moltbot-conformance``
            behind, and may leave a pending node pairing request.
    """

    url: str
    token: str | None = attrs.field(default=None, repr=False)
    password: str | None = attrs.field(default=None, repr=False)
    restart: Callable[[], Awaitable[None] | None] | None = None
    capabilities: frozenset[str] = attrs.field(default=frozenset(), converter=_capabilities)
    handshake_timeout_ms: int = 15_000
    disposable: bool = False

    def auth(self) -> dict[str, str]:
        """The ``auth`` object of ``connect`` params for these credentials."""
        auth: dict[str, str] = {}
        if self.token:
            auth["token"] = self.token
        if self.password:
            auth["password"] = self.password
        return auth
