"""One TLS client context per process, shared by the httpx clients the gateway makes.

Why: building an ``ssl.SSLContext`` loads the CA bundle (certifi's PEM file), 20–200 ms on a loaded
2-core machine, on the Trio thread. The Runtime makes an httpx client for the model providers at every
start, and the browser control service and each Telegram account one more, so every in-process restart
(SIGUSR1, a restart-kind config change) paid it again: it was most of a same-port restart's time. A
context is not changed once built and may be shared by clients (and threads); it is built on first use
with httpx's own defaults (certifi, ``SSL_CERT_FILE``/``SSL_CERT_DIR`` honoured).
"""

from __future__ import annotations

import functools
import ssl


@functools.cache
def client_ssl_context() -> ssl.SSLContext:
    import httpx

    return httpx.create_ssl_context()
