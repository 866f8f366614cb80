"""The health probes on the gateway port: ``/healthz``, ``/readyz``, ``/startupz`` (and their short names).

Theory of operation, on the pattern of OpenClaw 2026.9.6's ``server-http-probes.ts`` (same paths, status
codes and body shapes):

Rule 1. ``/health`` and ``/healthz`` (live): 200 ``{"ok":true,"status":"live"}`` whenever HTTP is served,
        also while the gateway restarts in-process.
Rule 2. ``/startup`` and ``/startupz``: 200 ``{"ok":true,"status":"started"}`` once the Runtime serves;
        503 ``{"ok":false,"status":"starting"}`` before, 503 ``{"ok":false,"status":"draining"}`` while it
        is being replaced or stopped.
Rule 3. ``/ready`` and ``/readyz``: 200 ``{"ready":true}`` when the Runtime serves and every enabled
        channel account in the config is connected (Telegram polling or its webhook set, WhatsApp
        linked and online); else 503 ``{"ready":false}``. A channel that is configured but cannot run (no
        token, not linked) keeps the gateway not ready: the config asks for it.
Rule 4. Details (``failing`` names such as ``"telegram"`` or ``"gateway-draining"``, ``uptimeMs``,
        ``version``) only for a direct-local caller (loopback peer, a loopback ``Host`` name, no proxy
        headers) or one sending the gateway token as ``Authorization: Bearer``; anyone else gets the
        bare verdict. A wrong token counts toward the auth limit, as on every endpoint, and only loses
        the details: a probe never answers 401.
Rule 5. Only ``GET`` and ``HEAD`` (405 ``Allow: GET, HEAD`` otherwise); ``Cache-Control: no-store``.
        Exact paths only: ``/healthz/x`` is no probe.

Why probes skip the Host/Origin guard (``gateway.origin``): container and load-balancer probes send the
Host they were configured with (a service name, a pod IP, none at all), which rule 1 of the guard would
refuse with 421, and a probe that fails on a Host header restarts a healthy gateway. What a rebound or
cross-site page could read here is the bare verdict (its browser never sends a loopback Host for a
foreign name, so rule 4 gives it no details), and no probe changes anything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from quart import Response, request

from ..gateway.origin import facts_of
from ..protocol import ProtocolError
from .common import bearer, json_response, request_scope

if TYPE_CHECKING:
    from .host import HttpHost

_NO_STORE = {"Cache-Control": "no-store"}


def startup_status(gateway: HttpHost) -> str:
    """``starting`` (no Runtime yet), ``draining`` (being replaced or stopped) or ``started``."""
    if gateway.runtime is None:
        return "starting"
    return "started" if gateway.accepting else "draining"


def failing_parts(gateway: HttpHost) -> list[str]:
    """What keeps the gateway from being ready (empty: ready): its state, then each channel whose enabled
    accounts are not all connected."""
    status = startup_status(gateway)
    if status != "started":
        return ["gateway-starting" if status == "starting" else "gateway-draining"]
    runtime = gateway.runtime
    assert runtime is not None
    failing = []
    for channel, accounts in runtime.channels.statuses.items():
        if any(account.enabled and not account.connected for account in accounts.values()):
            failing.append(channel)
    return failing


def wants_details(gateway: HttpHost) -> bool:
    """Rule 4: a direct-local caller, or one with the gateway's token (a wrong one counts as a failure)."""
    if facts_of(request_scope(), gateway.config.gateway).direct:
        return True
    runtime, token = gateway.runtime, bearer()
    if runtime is None or token is None:
        return False
    facts = facts_of(request_scope(), runtime.config.gateway)
    try:
        runtime.authenticator.verify(token, facts.client, origin=facts.origin, direct=facts.direct)
    except ProtocolError:
        return False
    return True


def answer_probe(gateway: HttpHost, kind: str) -> Response:
    """The answer to one probe request (rules 1–5)."""
    if request.method not in ("GET", "HEAD"):
        return Response("Method Not Allowed", status=405, content_type="text/plain; charset=utf-8",
                        headers={"Allow": "GET, HEAD"})
    if kind == "live":
        return json_response({"ok": True, "status": "live"}, headers=dict(_NO_STORE))
    if kind == "startup":
        status = startup_status(gateway)
        body: dict[str, object] = {"ok": status == "started", "status": status}
        if wants_details(gateway):
            body.update(version=gateway.version, uptimeMs=gateway.uptime_ms())
            if status == "starting":
                body["pendingReason"] = "runtime"
        return json_response(body, 200 if body["ok"] else 503, headers=dict(_NO_STORE))
    failing = failing_parts(gateway)
    body = {"ready": not failing}
    if wants_details(gateway):
        body.update(failing=failing, uptimeMs=gateway.uptime_ms(), version=gateway.version)
    return json_response(body, 503 if failing else 200, headers=dict(_NO_STORE))
