"""Node pairing (``node.pair.*``): a store of its own in ``<stateDir>/nodes/{pending,paired}.json`` with a
per-node token (the original's ``node-pairing.ts``), separate from device pairing.

One pending request per node id (a second request returns the first, ``created: false``); approval mints
a fresh 32-hex token; ``node.pair.verify`` compares tokens in constant time.
"""

from __future__ import annotations

import hmac
import uuid
from pathlib import Path
from typing import Any

from ..devices.pairing import new_token
from ..devices.store import PairingFiles, now_ms
from ..protocol import NodePairRequest, NodePairRequestParams, PairedNode

_META = ("displayName", "platform", "version", "coreVersion", "uiVersion", "deviceFamily", "modelIdentifier",
         "caps", "commands", "permissions", "remoteIp")


def request_view(request: dict[str, Any]) -> NodePairRequest:
    return NodePairRequest(
        request_id=request["requestId"], node_id=request["nodeId"], is_repair=bool(request.get("isRepair")),
        ts=request.get("ts", 0), display_name=request.get("displayName"), platform=request.get("platform"),
        version=request.get("version"), core_version=request.get("coreVersion"),
        ui_version=request.get("uiVersion"), device_family=request.get("deviceFamily"),
        model_identifier=request.get("modelIdentifier"), caps=request.get("caps"),
        commands=request.get("commands"), permissions=request.get("permissions"),
        remote_ip=request.get("remoteIp"), silent=request.get("silent"))


def node_view(node: dict[str, Any]) -> PairedNode:
    return PairedNode(
        node_id=node["nodeId"], token=node["token"], created_at_ms=node.get("createdAtMs", 0),
        approved_at_ms=node.get("approvedAtMs", 0), display_name=node.get("displayName"),
        platform=node.get("platform"), version=node.get("version"), core_version=node.get("coreVersion"),
        ui_version=node.get("uiVersion"), device_family=node.get("deviceFamily"),
        model_identifier=node.get("modelIdentifier"), caps=node.get("caps"), commands=node.get("commands"),
        bins=node.get("bins"), permissions=node.get("permissions"), remote_ip=node.get("remoteIp"),
        last_connected_at_ms=node.get("lastConnectedAtMs"))


class NodePairing:
    def __init__(self, directory: Path | None) -> None:
        self.files = PairingFiles(directory)

    async def load(self) -> None:
        await self.files.load()

    async def save(self) -> None:
        await self.files.save()

    def pending(self) -> list[dict[str, Any]]:
        return sorted(self.files.pending.values(), key=lambda r: r.get("ts", 0))

    def paired(self) -> list[dict[str, Any]]:
        return sorted(self.files.paired.values(), key=lambda n: n.get("approvedAtMs", 0))

    def request(self, params: NodePairRequestParams) -> tuple[dict[str, Any], bool]:
        for request in self.files.pending.values():
            if request["nodeId"] == params.node_id:
                return request, False
        fields = {
            "displayName": params.display_name, "platform": params.platform, "version": params.version,
            "coreVersion": params.core_version, "uiVersion": params.ui_version,
            "deviceFamily": params.device_family, "modelIdentifier": params.model_identifier,
            "caps": params.caps, "commands": params.commands, "remoteIp": params.remote_ip,
            "silent": params.silent}
        request = {"requestId": str(uuid.uuid4()), "nodeId": params.node_id,
                   **{k: v for k, v in fields.items() if v is not None},
                   "isRepair": params.node_id in self.files.paired, "ts": now_ms()}
        self.files.pending[request["requestId"]] = request
        return request, True

    def approve(self, request_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        request = self.files.pending.pop(request_id, None)
        if request is None:
            return None
        now = now_ms()
        existing = self.files.paired.get(request["nodeId"]) or {}
        node = {**existing, "nodeId": request["nodeId"], "token": new_token(),
                **{key: request[key] for key in _META if key in request},
                "createdAtMs": existing.get("createdAtMs", now), "approvedAtMs": now}
        self.files.paired[node["nodeId"]] = node
        return request, node

    def reject(self, request_id: str) -> dict[str, Any] | None:
        return self.files.pending.pop(request_id, None)

    def verify(self, node_id: str, token: str) -> dict[str, Any] | None:
        node = self.files.paired.get(node_id)
        # surrogatepass: a lone surrogate in the caller's token (a valid JSON escape) is a wrong token, not a crash
        supplied = token.encode("utf-8", "surrogatepass")
        if node is None or not hmac.compare_digest(str(node.get("token", "")).encode(), supplied):
            return None
        return node

    def rename(self, node_id: str, display_name: str) -> dict[str, Any] | None:
        node = self.files.paired.get(node_id)
        if node is not None:
            node["displayName"] = display_name
        return node
