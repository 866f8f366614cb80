"""OpenClaw's method → scope table (protocol 4). GENERATED: do not edit by hand; regenerate with
``python -m moltbot.protocol._scope_table_gen <path to protocol.schema.json>``.

Source: the ``methods`` object of ``protocol.schema.json`` in the npm package
``@openclaw/gateway-protocol@2026.9.1`` (MIT, (c) 2026 OpenClaw Foundation),
sha256 ``971f2c0d2f0e267a062213b21a398518849c019d2cff1c1d54ff6ee1af7cddf1``.
"""

from __future__ import annotations

SOURCE = "@openclaw/gateway-protocol@2026.9.1"
SCHEMA_SHA256 = "971f2c0d2f0e267a062213b21a398518849c019d2cff1c1d54ff6ee1af7cddf1"

# scope → the methods that need it ("node": node role only; "dynamic": decided from the params).
_BY_SCOPE: dict[str, str] = {
    "dynamic": (
        "agent channels.pairing.approve fs.listDir node.invoke plugins.sessionAction sessions.create "
        "sessions.delete sessions.dispatch sessions.move sessions.patch sessions.patchMany talk.config "
    ),
    "node": (
        "node.event node.invoke.progress node.invoke.result node.pending.ack node.pending.drain "
        "node.pending.pull node.pluginSurface.refresh node.pluginTools.update node.runnerInventory.update "
        "node.skills.update skills.bins "
    ),
    "operator.admin": (
        "agents.create agents.delete agents.files.set agents.update attach.grant attach.revoke "
        "channels.logout channels.start channels.stop chat.inject config.apply config.openFile "
        "config.patch config.set connect conversations.list conversations.send conversations.turn "
        "conversations.turn.cancel cron.add cron.remove cron.run cron.scratch.get cron.scratch.set "
        "cron.update desktop.launch desktop.observe device.pair.setupCode device.pair.setupStatus "
        "environments.create environments.destroy exec.approvals.get exec.approvals.node.get "
        "exec.approvals.node.set exec.approvals.set gateway.restart.request gateway.suspend.prepare "
        "gateway.suspend.resume migrations.memory.apply migrations.memory.plan models.authLogout "
        "models.probe nativeHook.invoke openclaw.changes.list openclaw.chat openclaw.chat.history "
        "openclaw.setup.activate openclaw.setup.activate.start openclaw.setup.auth.start "
        "openclaw.setup.detect openclaw.setup.prepare.start openclaw.setup.verify plugins.install "
        "plugins.refresh plugins.setEnabled plugins.uninstall projects.register projects.remove "
        "secrets.reload secrets.resolve secrets.store.delete secrets.store.list secrets.store.set "
        "sessions.branches.switch sessions.catalog.startTerminal sessions.cleanup sessions.compact "
        "sessions.compaction.restore sessions.files.reveal sessions.files.set sessions.pluginPatch "
        "sessions.reset sessions.rewind set-heartbeats skills.curator.pin skills.curator.restore "
        "skills.curator.unpin skills.install skills.proposals.apply skills.proposals.create "
        "skills.proposals.evaluate skills.proposals.historyScan skills.proposals.quarantine "
        "skills.proposals.reject skills.proposals.requestRevision skills.proposals.revise "
        "skills.proposals.update skills.update skills.upload.begin skills.upload.chunk "
        "skills.upload.commit system-event taskSuggestions.accept terminal.attach terminal.close "
        "terminal.input terminal.list terminal.open terminal.resize terminal.upload "
        "tools.github.authorize.cancel tools.github.authorize.poll tools.github.authorize.start "
        "tools.github.configure update.hold update.run update.status users.linkEmail users.setRole "
        "web.login.start web.login.wait wizard.cancel wizard.next wizard.start wizard.status "
        "worker.desktop.launch worker.desktop.observe worktrees.gc worktrees.remove worktrees.restore "
    ),
    "operator.approvals": (
        "approval.get approval.history approval.resolve board.widget.grant exec.approval.get "
        "exec.approval.grants.list exec.approval.grants.revoke exec.approval.list exec.approval.request "
        "exec.approval.resolve exec.approval.waitDecision openclaw.approval.list plugin.approval.list "
        "plugin.approval.request plugin.approval.resolve plugin.approval.waitDecision "
    ),
    "operator.pairing": (
        "channels.pairing.dismiss channels.pairing.list device.pair.approve device.pair.list "
        "device.pair.reject device.pair.remove device.pair.rename device.token.revoke device.token.rotate "
        "node.pair.approve node.pair.list node.pair.reject node.pair.remove node.rename "
    ),
    "operator.questions": (
        "question.get question.list question.request question.resolve question.waitAnswer "
    ),
    "operator.read": (
        "agent.identity.get agents.files.get agents.files.list agents.list agents.workspace.get "
        "agents.workspace.list artifacts.download artifacts.get artifacts.list assistant.media.get "
        "audit.activity.list audit.list audit.run.inspect board.data.read board.get "
        "board.prompt.authorize board.widget.appView channels.status chat.history chat.message.get "
        "chat.metadata chat.startup commands.list config.get config.schema config.schema.lookup "
        "controlUi.githubPreview controlUi.sessionPreview controlUi.sessionPullRequests.subscribe "
        "cron.get cron.list cron.runs cron.status device.scopes.requestUpgrade device.scopes.waitUpgrade "
        "diagnostics.lanes diagnostics.stability doctor.memory.dreamDiary doctor.memory.status "
        "environments.list environments.status gateway.identity.get gateway.restart.preflight "
        "gateway.suspend.status health hooks.status last-heartbeat logs.tail "
        "mcp.app.listResourceTemplates mcp.app.listResources mcp.app.listTools mcp.app.readResource "
        "mcp.app.view memory.search models.authStatus models.list node.describe node.list "
        "plugin.surface.refresh plugins.inspect plugins.list plugins.search plugins.uiDescriptors "
        "portal.list progressCard.get projects.list projects.searchRemote push.web.preferences.get "
        "session.discussion.info session.members.list session.members.listEvidence "
        "session.suggestions.list sessions.branches.list sessions.catalog.list sessions.catalog.read "
        "sessions.compaction.list sessions.companion.ask sessions.companion.state sessions.describe "
        "sessions.diff sessions.files.get sessions.files.list sessions.get sessions.github.options "
        "sessions.github.status sessions.groups.list sessions.list sessions.messages.subscribe "
        "sessions.messages.unsubscribe sessions.observer.visibility sessions.preview sessions.resolve "
        "sessions.search sessions.subscribe sessions.usage sessions.usage.logs sessions.usage.timeseries "
        "sessions.viewers.set skills.curator.status skills.detail skills.library.list skills.library.read "
        "skills.proposals.events.list skills.proposals.historyStatus skills.proposals.inspect "
        "skills.proposals.list skills.search skills.securityVerdicts skills.skillCard skills.status "
        "status system-presence system.info talk.catalog taskSuggestions.list tasks.get tasks.list "
        "tools.catalog tools.effective tools.github.status tts.personas tts.providers tts.status "
        "usage.cost usage.status users.github.authorize.cancel users.github.authorize.poll "
        "users.github.authorize.start users.github.disconnect users.github.status users.list "
        "users.prefs.get voicewake.get voicewake.routing.get worktrees.list "
    ),
    "operator.talk": (
        "talk.client.close talk.client.create talk.client.steer talk.client.toolCall "
        "talk.client.transcript talk.mode talk.session.acknowledgeMark talk.session.appendAudio "
        "talk.session.cancelOutput talk.session.close talk.session.create talk.session.steer "
        "talk.session.submitToolResult talk.speak "
    ),
    "operator.write": (
        "agent.wait board.action board.event board.update board.widget.put chat.abort chat.send "
        "chat.toolTitles doctor.memory.backfillDreamDiary doctor.memory.dedupeDreamDiary "
        "doctor.memory.repairDreamingArtifacts doctor.memory.resetDreamDiary "
        "doctor.memory.resetGroundedShortTerm mcp.app.callTool mcp.app.updateModelContext message.action "
        "node.pending.enqueue poll portal.close portal.open progressCard.put projects.add push.test "
        "push.web.preferences.set push.web.subscribe push.web.test push.web.unsubscribe "
        "push.web.vapidPublicKey send session.discussion.open session.members.add session.members.remove "
        "session.suggestions.add session.suggestions.resolve session.typing session.visibility.set "
        "sessions.abort sessions.assignOwner sessions.catalog.archive sessions.catalog.continue "
        "sessions.compaction.branch sessions.companion.reset sessions.fork sessions.github.confirm "
        "sessions.github.publish sessions.goal.clear sessions.goal.update sessions.groups.defaults "
        "sessions.groups.delete sessions.groups.put sessions.groups.rename sessions.groups.update "
        "sessions.reclaim sessions.recover sessions.send sessions.steer sessions.title.prepare "
        "skills.library.activate skills.library.import skills.library.mutate skills.library.save "
        "skills.library.upload taskSuggestions.create taskSuggestions.dismiss tasks.cancel tasks.dismiss "
        "tasks.retry tools.invoke tts.convert tts.disable tts.enable tts.setPersona tts.setProvider "
        "tts.speak ui.command users.prefs.set users.self users.setAvatar users.setDisplayName "
        "voicewake.set wake worktrees.branches worktrees.create "
    ),
}

# method name → scope string, exactly as the schema has it.
METHOD_SCOPES: dict[str, str] = {
    name: scope for scope, names in _BY_SCOPE.items() for name in names.split()
}
