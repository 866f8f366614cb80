"""What a Runtime holds for devices and nodes: the two pairing stores, the node registry, the connect-time
admission, pairing-scoped events, and the mDNS advertisement; built afresh with every Runtime.

``serve`` loads the stores (in a thread) before the Runtime reports ready, so no connect is ever decided
against stores that are still loading, then advertises the gateway over mDNS while the Runtime lives
(when discovery is enabled and the bind is reachable from the LAN).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import trio

from ..devices import admission
from ..devices.pairing import DevicePairing
from ..protocol import SCOPE_PAIRING, Accept, NodeInfo
from . import discovery, policy
from .pairing import NodePairing
from .registry import NodeRegistry, NodeSession

if TYPE_CHECKING:
    from ..gateway.transport import Peer
    from .runtime_host import NodeConnection, NodesHost

log = logging.getLogger("moltbot.nodes")

# Methods that only read or update memory: run in the connection's reader (no task per request); the
# invoke result only wakes the invoke waiting for it.
INLINE_METHODS = frozenset({"node.invoke.result", "node.list", "node.describe", "node.pair.list",
                            "node.pair.verify", "device.pair.list"})


def remote_ip_of(peer: Peer) -> str | None:
    """The client's address for pairing and ``node.list``: the forwarded client's behind a trusted proxy
    (the original reports ``remoteIp`` only for those); None for local and loopback clients."""
    from ..gateway.auth import is_loopback

    return None if peer.local or is_loopback(peer.client) else peer.client or None


class NodesService:
    def __init__(self, runtime: NodesHost) -> None:
        self.runtime = runtime
        state_dir = runtime.config.state_dir
        self.devices = DevicePairing(state_dir / "devices" if state_dir else None)
        self.pairing = NodePairing(state_dir / "nodes" if state_dir else None)
        self.registry = NodeRegistry()
        # node.event handlers by event name, registered by other subsystems (the agent runtime for
        # voice.transcript / agent.request); unknown events are accepted and ignored, as in the reference.
        self.event_handlers: dict[str, Any] = {}

    async def serve(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        await self.devices.load()
        await self.pairing.load()
        self.runtime.add_inline_methods(INLINE_METHODS)
        task_status.started()
        host, config = self.runtime, self.runtime.config
        if not discovery.advertising_enabled(config, host.env):
            return
        port = await host.listening_port()
        try:
            await discovery.serve_advertiser(discovery.advertisement(config, host.env, host.version, port))
        except discovery.DiscoveryUnavailable as exc:
            log.warning("bonjour: advertise failed: %s", exc)

    def emit_pairing(self, event: str, payload: Any) -> None:
        """Broadcast a ``*.pair.*`` event to operators holding ``operator.pairing`` (or admin)."""
        self.runtime.broadcast(event, payload, droppable=True, scope=SCOPE_PAIRING)

    async def admit(self, accept: Accept, challenge_nonce: str, peer: Peer) -> tuple[Accept, Any]:
        """Admit ``accept`` from the connection ``peer`` describes; also the verified Tailscale identity
        (None unless it is what authenticated the client: presence and the log show it)."""
        # A claim through Tailscale Serve is checked with tailscaled first (it may stand in for the secret).
        identity = await self.runtime.authenticator.tailscale_identity(peer.tailscale)
        accept = await admission.admit(
            accept, challenge_nonce=challenge_nonce, local=peer.local, peer=peer.client,
            remote_ip=remote_ip_of(peer), gateway=self.runtime.config.gateway, secrets=self.runtime.authenticator,
            pairing=self.devices, emit=self.emit_pairing, origin=peer.origin, own_origin=peer.own_origin,
            direct=peer.direct, identity=identity)
        return accept, identity if accept.auth_method == "tailscale" else None

    # --- connected nodes ------------------------------------------------------------------------------

    def allowlist_for(self, connection: NodeConnection) -> frozenset[str]:
        client = connection.params.client
        nodes_config = self.runtime.config.gateway.nodes
        return policy.allowlist(client.platform, client.device_family, allow=nodes_config.allow_commands,
                                deny=nodes_config.deny_commands)

    def attach(self, connection: NodeConnection) -> NodeSession | None:
        if connection.session.role != "node":
            return None
        allowed = self.allowlist_for(connection)
        commands = [c for c in connection.params.commands or [] if c in allowed]
        return self.registry.attach(connection, commands)

    def detach(self, connection: NodeConnection) -> None:
        if connection.session.role == "node":
            self.registry.detach(connection)

    def node_infos(self) -> list[NodeInfo]:
        """``node.list``: paired devices with role ``node`` and connected nodes, connected first, by name."""
        infos: dict[str, NodeInfo] = {}
        for device in self.devices.devices():
            roles = set(device.get("roles") or []) | {device.get("role")}
            if "node" in roles:
                infos[device["deviceId"]] = NodeInfo(
                    node_id=device["deviceId"], caps=[], commands=[], paired=True, connected=False,
                    display_name=device.get("displayName"), platform=device.get("platform"),
                    remote_ip=device.get("remoteIp"))
        for session in self.registry.sessions.values():
            paired = session.node_id in infos
            infos[session.node_id] = self._connected_info(session, paired=paired)
        return sorted(infos.values(), key=lambda n: (not n.connected, (n.display_name or n.node_id).lower()))

    def _connected_info(self, session: NodeSession, *, paired: bool) -> NodeInfo:
        params = session.connection.params
        client = params.client
        return NodeInfo(
            node_id=session.node_id, caps=list(params.caps or []), commands=list(session.commands), paired=paired,
            connected=True, display_name=client.display_name, platform=client.platform, version=client.version,
            device_family=client.device_family, model_identifier=client.model_identifier,
            remote_ip=remote_ip_of(session.connection.transport.facts), path_env=params.path_env,
            permissions=params.permissions, connected_at_ms=session.connected_at_ms)
