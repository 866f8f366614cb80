"""Method handlers by namespace: ``async def handler(runtime, connection, params) -> result``."""

from . import agent, channels, devices, nodes, sessions, system

HANDLERS = {
    "health": system.health,
    "status": system.status,
    "last-heartbeat": system.last_heartbeat,
    "system-presence": system.system_presence,
    "system-event": system.system_event,
    "node.pair.request": nodes.pair_request,
    "node.pair.list": nodes.pair_list,
    "node.pair.approve": nodes.pair_approve,
    "node.pair.reject": nodes.pair_reject,
    "node.pair.verify": nodes.pair_verify,
    "node.rename": nodes.rename,
    "node.list": nodes.node_list,
    "node.describe": nodes.describe,
    "node.invoke": nodes.invoke,
    "node.invoke.result": nodes.invoke_result,
    "node.event": nodes.node_event,
    "device.pair.list": devices.pair_list,
    "device.pair.approve": devices.pair_approve,
    "device.pair.reject": devices.pair_reject,
    "device.token.rotate": devices.token_rotate,
    "device.token.revoke": devices.token_revoke,
    "channels.status": channels.channels_status,
    "channels.logout": channels.channels_logout,
    "send": channels.send,
    "models.list": agent.models_list,
    "agents.list": agent.agents_list,
    "agent": agent.agent,
    "agent.wait": agent.agent_wait,
    "agent.identity.get": agent.agent_identity,
    "chat.send": agent.chat_send,
    "chat.history": agent.chat_history,
    "chat.abort": agent.chat_abort,
    "wake": agent.wake,
    "set-heartbeats": agent.set_heartbeats,
    "sessions.list": sessions.sessions_list,
    "sessions.preview": sessions.sessions_preview,
    "sessions.patch": sessions.sessions_patch,
    "sessions.reset": sessions.sessions_reset,
    "sessions.delete": sessions.sessions_delete,
}

# Handlers that only compute (no I/O, no waiting): run in the connection's reader, no task per request.
INLINE = frozenset({"health", "status", "last-heartbeat", "system-presence", "system-event", "agents.list",
                    "models.list", "agent.identity.get", "chat.abort", "chat.send", "wake", "set-heartbeats"})
