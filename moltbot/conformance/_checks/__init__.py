"""The checks, one module per area; importing this package registers them all (in run order)."""

from . import auth, events, framing, handshake, lifecycle, methods, robustness, scopes, session  # noqa: F401
