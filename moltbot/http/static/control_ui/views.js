// The views. Each may define setup(getContext) once, hello(ctx, hello) on every (re)connect,
// enter(ctx) when shown, and event(ctx, frame, visible) for every gateway event.
import { config } from "./config.js";
import { ago, duration, h } from "./dom.js";

const $ = (id) => document.getElementById(id);

function when(ms) {
  if (!ms) return "–";
  const date = new Date(ms);
  // ISO text, not toLocaleString(): the first locale-aware call loads ICU data (tens of ms) on the
  // path to the first render.
  const iso = date.toISOString();
  return h("time", { datetime: iso, title: `${iso.slice(0, 19).replace("T", " ")} UTC` }, ago(ms));
}

function fillTable(tbody, rows, columns, empty) {
  tbody.replaceChildren(...(rows.length ? rows : [h("tr", {}, h("td", { class: "empty", colspan: columns }, empty))]));
}

function showError(container, error) {
  container.replaceChildren(h("p", { class: "error", role: "alert" }, error.message || String(error)));
}

function feature(el) {
  return el.closest(".feature");
}

// --- Overview --------------------------------------------------------------------------------------

const overview = {
  health: null, presence: [], versions: { presence: 0, health: 0 }, uptimeAt: 0, uptimeMs: 0, clock: null,

  hello(ctx, hello) {
    const snapshot = hello.snapshot || {};
    this.versions = { ...(snapshot.stateVersion || { presence: 0, health: 0 }) };
    this.presence = snapshot.presence || [];
    this.uptimeMs = snapshot.uptimeMs || 0;
    this.uptimeAt = performance.now();
    $("ov-version").textContent = hello.server?.version || "–";
    this.renderPresence();
    if (snapshot.health && Object.keys(snapshot.health).length) this.renderHealth(ctx, snapshot.health, "snapshot");
    this.countSessions(ctx);
    clearInterval(this.clock);
    this.clock = setInterval(() => this.renderUptime(), 1000);
    this.renderUptime();
  },

  /** The session count from sessions.list (the health summary's count is not kept by every gateway). */
  async countSessions(ctx) {
    if (!ctx.gateway.has("sessions.list")) return;
    try {
      const result = await ctx.gateway.request("sessions.list", { limit: 1 });
      this.sessionCount = result.count ?? (result.sessions || []).length;
      $("ov-sessions").textContent = String(this.sessionCount);
    } catch {
      // the health summary's count stays
    }
  },

  renderUptime() {
    $("ov-uptime").textContent = duration(this.uptimeMs + performance.now() - this.uptimeAt);
  },

  renderHealth(ctx, health, source) {
    this.health = health;
    const ok = health.ok !== false;
    const cell = $("ov-health");
    cell.textContent = ok ? "OK" : "Not OK";
    cell.className = ok ? "ok" : "bad";
    cell.dataset.source = source;
    const channels = health.channelOrder || Object.keys(health.channels || {});
    $("ov-channels").textContent = String(channels.length);
    $("ov-sessions").textContent = String(this.sessionCount ?? health.sessions?.count ?? "–");
    $("ov-health-detail").textContent = `Health checked ${ago(health.ts)} in ${health.durationMs ?? 0} ms.`;
    const metrics = ctx.metrics;
    if (metrics.firstHealthRenderMs === undefined) metrics.firstHealthRenderMs = performance.now();
    if (source === "event" && metrics.firstHealthEventMs === undefined) metrics.firstHealthEventMs = performance.now();
    document.body.dataset.health = source;
  },

  renderPresence() {
    const rows = this.presence.map((entry) => h("tr", {},
      h("td", {}, entry.host || entry.instanceId || "–"),
      h("td", {}, entry.mode || "–"),
      h("td", {}, entry.platform || "–"),
      h("td", {}, entry.version || "–"),
      h("td", {}, (entry.roles || []).join(", ") || "–"),
      h("td", {}, when(entry.ts))));
    fillTable(document.querySelector("#presence tbody"), rows, 6, "Nobody is connected.");
    $("ov-presence-count").textContent = String(this.presence.length);
  },

  event(ctx, frame) {
    const version = frame.stateVersion || {};
    if (frame.event === "chat" && frame.payload?.state === "final") this.countSessions(ctx);
    if (frame.event === "health") {
      if (version.health !== undefined && version.health < this.versions.health) return;
      this.versions.health = version.health ?? this.versions.health;
      this.renderHealth(ctx, frame.payload || {}, "event");
    } else if (frame.event === "presence") {
      if (version.presence !== undefined && version.presence < this.versions.presence) return;
      this.versions.presence = version.presence ?? this.versions.presence;
      const before = this.presence.length;
      this.presence = frame.payload?.presence || [];
      this.renderPresence();
      if (before !== this.presence.length) {
        $("presence-live").textContent = `${this.presence.length} connected.`;
      }
    }
  },
};

// --- Channels --------------------------------------------------------------------------------------

const channels = {
  loading: false,

  setup(ctx) {
    $("channels-probe").addEventListener("click", () => this.load(ctx(), true));
  },

  enter(ctx) { this.load(ctx, false); },

  async load(ctx, probe) {
    const list = $("channels-list");
    if (!ctx.gateway.has("channels.status") || this.loading) return;
    this.loading = true;
    try {
      const result = await ctx.call("channels.status", probe ? { probe: true } : {}, feature(list));
      this.render(result);
    } catch (error) {
      showError(list, error);
    } finally {
      this.loading = false;
    }
  },

  render(result) {
    const order = result.channelOrder || Object.keys(result.channels || {});
    if (!order.length) {
      $("channels-list").replaceChildren(h("p", { class: "muted" }, "No channels are configured."));
      return;
    }
    $("channels-list").replaceChildren(...order.map((id) => {
      const accounts = result.channelAccounts?.[id] || [];
      const label = result.channelLabels?.[id] || id;
      return h("article", { class: "channel", "aria-label": label }, h("h3", {}, label),
        accounts.length ? h("div", { class: "scroll" }, h("table", {},
          h("thead", {}, h("tr", {}, ...["Account", "State", "Last error", "Last inbound", "Last outbound"]
            .map((c) => h("th", { scope: "col" }, c)))),
          h("tbody", {}, ...accounts.map((account) => {
            const [state, cls] = linkState(account);
            return h("tr", {}, h("td", {}, account.name || account.accountId),
              h("td", {}, h("span", { class: `pill ${cls}` }, state)),
              h("td", { class: account.lastError ? "bad" : "muted" }, account.lastError || "none"),
              h("td", {}, when(account.lastInboundAt)), h("td", {}, when(account.lastOutboundAt)));
          }))))
          : h("p", { class: "muted" }, "No accounts."));
    }));
  },

  event(ctx, frame, visible) {
    if (visible && frame.event === "health") this.load(ctx, false);
  },
};

function linkState(account) {
  if (account.enabled === false) return ["disabled", "muted"];
  if (account.configured === false) return ["not configured", "warn"];
  if (account.lastError && !account.connected && !account.running) return ["error", "bad"];
  if (account.connected || account.linked) return ["linked", "ok"];
  if (account.running) return ["running", "ok"];
  return ["stopped", "warn"];
}

// --- Sessions --------------------------------------------------------------------------------------

const sessions = {
  enter(ctx) { this.load(ctx); },

  async load(ctx) {
    const tbody = document.querySelector("#sessions-table tbody");
    if (!ctx.gateway.has("sessions.list")) return;
    try {
      const result = await ctx.call("sessions.list", { limit: 200 }, feature(tbody));
      const rows = (result.sessions || []).map((row) => h("tr", {},
        h("th", { scope: "row" }, row.displayName || row.label || row.key,
          row.displayName || row.label ? h("div", { class: "muted" }, row.key) : null),
        h("td", {}, row.kind || "–"),
        h("td", {}, row.channel || row.lastChannel || "–"),
        h("td", {}, row.model || "–"),
        h("td", {}, row.totalTokens ?? "–"),
        h("td", {}, when(row.updatedAt)),
        h("td", {}, h("button", { type: "button", class: "quiet", "aria-label": `Open ${row.key} in chat`,
          onclick: () => ctx.open("chat", { sessionKey: row.key }) }, "Chat"))));
      fillTable(tbody, rows, 7, "No sessions yet.");
      const options = (result.sessions || []).map((row) => h("option", { value: row.key }));
      $("chat-sessions").replaceChildren(...options);
    } catch (error) {
      fillTable(tbody, [], 7, error.message);
    }
  },

  event(ctx, frame, visible) {
    if (visible && frame.event === "chat" && frame.payload?.state !== "delta") this.load(ctx);
  },
};

// --- Chat ------------------------------------------------------------------------------------------

function messageText(message) {
  if (!message) return "";
  const content = message.content;
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content.map((part) => (typeof part === "string" ? part : part?.text || "")).join("");
  }
  return message.text || "";
}

const chat = {
  sessionKey: null, runId: null, bubbles: new Map(),

  setup(getCtx) {
    const input = $("chat-input");
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        $("chat-form").requestSubmit();
      }
    });
    $("chat-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.send(getCtx());
    });
    $("chat-session-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.sessionKey = $("chat-session").value.trim() || this.sessionKey;
      this.history(getCtx());
    });
    $("chat-abort").addEventListener("click", () => this.abort(getCtx()));
  },

  hello(ctx, hello) {
    this.loaded = null;  // events may have been missed while disconnected: the transcript is read again
    if (!this.sessionKey) this.sessionKey = hello.snapshot?.sessionDefaults?.mainSessionKey || "main";
    $("chat-session").value = this.sessionKey;
  },

  prefill(ctx, state) {
    if (state.sessionKey) {
      this.sessionKey = state.sessionKey;
      $("chat-session").value = state.sessionKey;
      this.loaded = null;
    }
  },

  enter(ctx) {
    if (this.loaded !== this.sessionKey) this.history(ctx);
  },

  async history(ctx) {
    const log = $("chat-log");
    if (!ctx.gateway.has("chat.history")) return;
    this.loaded = this.sessionKey;
    this.bubbles.clear();
    try {
      const result = await ctx.call("chat.history", { sessionKey: this.sessionKey, limit: 100 }, feature(log));
      log.replaceChildren(...(result.messages || []).filter((m) => m.role === "user" || m.role === "assistant")
        .map((m) => this.bubble(m.role, messageText(m))));
      $("chat-status").textContent = result.messages?.length ? "" : "No messages in this session yet.";
      log.scrollTop = log.scrollHeight;
    } catch (error) {
      log.replaceChildren();
      $("chat-status").textContent = error.message;
    }
  },

  bubble(role, text) {
    const who = role === "user" ? "You" : role === "assistant" ? (window.__CLAWDBOT_ASSISTANT_NAME__ || "Assistant") : role;
    return h("li", { class: `msg ${role}` }, h("span", { class: "who" }, who), h("span", { class: "text" }, text));
  },

  async send(ctx) {
    const input = $("chat-input");
    const text = input.value.trim();
    if (!text) return;
    const runId = crypto.randomUUID();
    const log = $("chat-log");
    log.append(this.bubble("user", text));
    const reply = this.bubble("assistant", "");
    reply.setAttribute("aria-busy", "true");
    reply.dataset.runId = runId;
    log.append(reply);
    this.bubbles.set(runId, reply);
    log.scrollTop = log.scrollHeight;
    input.value = "";
    this.runId = runId;
    $("chat-abort").disabled = false;
    $("chat-status").textContent = "Sending…";
    try {
      await ctx.call("chat.send", { sessionKey: this.sessionKey, message: text, idempotencyKey: runId }, feature(log));
      if (this.runId === runId && reply.getAttribute("aria-busy") === "true") $("chat-status").textContent = "Thinking…";
    } catch (error) {
      this.finish(runId, "error", error.message);
    }
  },

  async abort(ctx) {
    if (!this.runId) return;
    try {
      await ctx.call("chat.abort", { sessionKey: this.sessionKey, runId: this.runId });
    } catch (error) {
      $("chat-status").textContent = error.message;
    }
  },

  finish(runId, state, message) {
    const reply = this.bubbles.get(runId);
    if (reply) {
      reply.setAttribute("aria-busy", "false");
      if (state === "error") {
        reply.classList.add("error");
        reply.querySelector(".text").textContent = message || "The run failed.";
      } else if (state === "aborted") {
        reply.querySelector(".text").append(" (stopped)");
      }
      reply.dataset.state = state;
    }
    if (this.runId === runId) {
      this.runId = null;
      $("chat-abort").disabled = true;
      $("chat-status").textContent = state === "final" ? "" : state === "aborted" ? "Stopped." : message || "";
    }
  },

  event(ctx, frame) {
    if (frame.event !== "chat") return;
    const payload = frame.payload || {};
    let reply = this.bubbles.get(payload.runId);
    if (!reply) {
      if (payload.sessionKey !== this.sessionKey || this.loaded !== this.sessionKey) return;
      reply = this.bubble("assistant", "");  // a run started elsewhere in this session
      reply.setAttribute("aria-busy", "true");
      this.bubbles.set(payload.runId, reply);
      $("chat-log").append(reply);
    }
    if (payload.state === "delta" || payload.state === "final") {
      const text = messageText(payload.message);
      if (text || payload.state === "delta") reply.querySelector(".text").textContent = text;
      if (payload.state === "delta" && this.runId === payload.runId) $("chat-status").textContent = "Replying…";
    }
    if (payload.state !== "delta") this.finish(payload.runId, payload.state, payload.errorMessage);
    const log = $("chat-log");
    log.scrollTop = log.scrollHeight;
  },
};

// --- Logs ------------------------------------------------------------------------------------------

const MAX_LOG_LINES = 2000;

/** One log line: the gateway's JSON lines as "time LEVEL logger message", anything else as it is. */
function logLine(line) {
  if (line.startsWith("{")) {
    try {
      const record = JSON.parse(line);
      if (record && typeof record.msg === "string") {
        const level = String(record.level || "").toUpperCase();
        const time = typeof record.ts === "string" ? record.ts.replace(/^.*T/, "").replace(/(\.\d{3})\d*/, "$1").replace(/([+-]\d\d:\d\d|Z)$/, "") : "";
        return h("li", { class: `level-${level.toLowerCase()}` }, h("span", { class: "muted" }, time), " ",
          h("strong", {}, level.padEnd(5)), " ", h("span", { class: "muted" }, record.logger || ""), " ",
          record.msg, record.exc ? `\n${record.exc}` : "");
      }
    } catch {
      // not JSON after all: shown as it is
    }
  }
  return h("li", {}, line);
}

const logs = {
  cursor: undefined, timer: null, busy: false,

  setup(getCtx) {
    $("logs-follow").addEventListener("change", () => this.schedule(getCtx()));
    $("logs-filter").addEventListener("input", () => this.applyFilter());
  },

  enter(ctx) {
    this.cursor = undefined;
    $("logs-lines").replaceChildren();
    this.tail(ctx);
  },

  applyFilter() {
    const needle = $("logs-filter").value.toLowerCase();
    for (const line of $("logs-lines").children) line.hidden = needle && !line.textContent.toLowerCase().includes(needle);
  },

  async tail(ctx) {
    const list = $("logs-lines");
    if (this.busy || !ctx.gateway.has("logs.tail")) return;
    this.busy = true;
    try {
      const params = this.cursor === undefined ? { limit: 500 } : { cursor: this.cursor, limit: 1000 };
      const result = await ctx.call("logs.tail", params, feature(list));
      const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
      if (result.reset) list.replaceChildren();
      this.cursor = result.cursor;
      $("logs-file").textContent = result.file ? `· ${result.file}` : "";
      const needle = $("logs-filter").value.toLowerCase();
      list.append(...(result.lines || []).map((line) => {
        const item = logLine(line);
        if (needle && !line.toLowerCase().includes(needle)) item.hidden = true;
        return item;
      }));
      while (list.children.length > MAX_LOG_LINES) list.firstChild.remove();
      if (atBottom) list.scrollTop = list.scrollHeight;
    } catch (error) {
      if (!(error.unsupported)) list.append(h("li", { class: "error" }, error.message));
    } finally {
      this.busy = false;
      this.schedule(ctx);
    }
  },

  // The log file is not an event source: following re-tails from the cursor, as the original does.
  schedule(ctx) {
    clearTimeout(this.timer);
    if ($("logs-follow").checked && ctx.isCurrent("logs") && ctx.gateway.state === "connected") {
      this.timer = setTimeout(() => this.tail(ctx), 1000);
    }
  },
};

// --- Cron ------------------------------------------------------------------------------------------

function schedule(job) {
  const s = job.schedule || {};
  if (s.kind === "cron") return `cron ${s.expr}${s.tz ? ` (${s.tz})` : ""}`;
  if (s.kind === "every") return `every ${duration(s.everyMs || 0)}`;
  if (s.kind === "at") return `at ${new Date(s.atMs).toLocaleString()}`;
  return JSON.stringify(s);
}

const cron = {
  enter(ctx) { this.load(ctx); },

  async load(ctx) {
    const tbody = document.querySelector("#cron-table tbody");
    if (!ctx.gateway.has("cron.list")) return;
    try {
      const [list, status] = await Promise.all([
        ctx.call("cron.list", { includeDisabled: true }, feature(tbody)),
        ctx.gateway.has("cron.status") ? ctx.call("cron.status", {}) : Promise.resolve(null)]);
      if (status) {
        $("cron-status").textContent = `${status.enabled ? "Scheduler on" : "Scheduler off"} · ${status.jobs} job(s)`
          + (status.nextWakeAtMs ? ` · next wake ${new Date(status.nextWakeAtMs).toLocaleString()}` : "");
      }
      const canRun = ctx.gateway.has("cron.run");
      const rows = (list.jobs || []).map((job) => h("tr", {},
        h("th", { scope: "row" }, job.name || job.id, job.description ? h("div", { class: "muted" }, job.description) : null),
        h("td", {}, schedule(job)),
        h("td", {}, job.enabled === false ? "no" : "yes"),
        h("td", {}, job.state?.nextRunAtMs ? new Date(job.state.nextRunAtMs).toLocaleString() : "–"),
        h("td", {}, job.state?.lastRunAtMs ? [when(job.state.lastRunAtMs), " ", job.state.lastStatus || ""] : "–"),
        h("td", {}, canRun ? h("button", { type: "button", "aria-label": `Run ${job.name || job.id} now`,
          onclick: (event) => this.run(ctx, job, event.currentTarget) }, "Run now") : null)));
      fillTable(tbody, rows, 6, "No cron jobs.");
    } catch (error) {
      fillTable(tbody, [], 6, error.message);
    }
  },

  async run(ctx, job, button) {
    button.disabled = true;
    try {
      const result = await ctx.call("cron.run", { id: job.id, mode: "force" });
      if (result && result.ran === false) this.note(`${job.name || job.id}: not run (${result.reason || "skipped"})`);
    } catch (error) {
      this.note(`${job.name || job.id}: ${error.message}`);
    } finally {
      button.disabled = false;
    }
  },

  note(text) {
    const list = $("cron-activity");
    list.prepend(h("li", {}, h("time", {}, new Date().toLocaleTimeString()), " ", text));
    while (list.children.length > 50) list.lastChild.remove();
  },

  event(ctx, frame, visible) {
    if (frame.event !== "cron") return;
    const p = frame.payload || {};
    const detail = [p.action, p.status, p.durationMs !== undefined ? `${p.durationMs} ms` : null, p.error, p.summary]
      .filter(Boolean).join(" · ");
    this.note(`${p.jobId}: ${detail}`);
    if (visible) this.load(ctx);
  },
};

// --- Pairing ---------------------------------------------------------------------------------------

function table(caption, headers, rows, empty) {
  return h("div", { class: "scroll" }, h("table", {}, h("caption", { class: "sr-only" }, caption),
    h("thead", {}, h("tr", {}, ...headers.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, ...(rows.length ? rows : [h("tr", {}, h("td", { class: "empty", colspan: headers.length }, empty))]))));
}

const pairing = {
  enter(ctx) { this.load(ctx); },

  async load(ctx) {
    if (ctx.gateway.has("device.pair.list")) this.loadDevices(ctx);
    if (ctx.gateway.has("node.pair.list")) this.loadNodes(ctx);
  },

  async decide(ctx, method, requestId, button) {
    button.disabled = true;
    try {
      await ctx.call(method, { requestId });
      $("pairing-live").textContent = `${method.endsWith("approve") ? "Approved" : "Rejected"} ${requestId}.`;
    } catch (error) {
      $("pairing-live").textContent = error.message;
      button.disabled = false;
    }
    this.load(ctx);
  },

  actions(ctx, prefix, request, who) {
    return h("td", {}, h("div", { class: "row" },
      h("button", { type: "button", "aria-label": `Approve ${who}`,
        onclick: (e) => this.decide(ctx, `${prefix}.approve`, request.requestId, e.currentTarget) }, "Approve"),
      h("button", { type: "button", class: "danger", "aria-label": `Reject ${who}`,
        onclick: (e) => this.decide(ctx, `${prefix}.reject`, request.requestId, e.currentTarget) }, "Reject")));
  },

  async loadDevices(ctx) {
    const pending = $("device-pending");
    try {
      const result = await ctx.call("device.pair.list", {}, feature(pending));
      pending.replaceChildren(h("h4", {}, "Pending"), table("Pending device requests",
        ["Device", "Client", "Role", "Address", "Requested", ""],
        (result.pending || []).map((r) => {
          const who = r.displayName || r.deviceId.slice(0, 12);
          return h("tr", {}, h("td", {}, who), h("td", {}, r.clientId || "–"), h("td", {}, r.role || (r.roles || []).join(", ") || "–"),
            h("td", {}, r.remoteIp || "local"), h("td", {}, when(r.ts)), this.actions(ctx, "device.pair", r, who));
        }), "No pending device requests."));
      $("device-paired").replaceChildren(h("h4", {}, "Paired"), table("Paired devices",
        ["Device", "Client", "Roles", "Scopes", "Approved"],
        (result.paired || []).map((d) => h("tr", {}, h("td", {}, d.displayName || d.deviceId.slice(0, 12)),
          h("td", {}, d.clientId || "–"), h("td", {}, (d.roles || [d.role]).filter(Boolean).join(", ") || "–"),
          h("td", {}, (d.scopes || []).join(", ") || "–"), h("td", {}, when(d.approvedAtMs)))), "No paired devices."));
    } catch (error) {
      showError(pending, error);
    }
  },

  async loadNodes(ctx) {
    const pending = $("node-pending");
    try {
      const result = await ctx.call("node.pair.list", {}, feature(pending));
      pending.replaceChildren(h("h4", {}, "Pending"), table("Pending node requests",
        ["Node", "Platform", "Version", "Address", "Requested", ""],
        (result.pending || []).map((r) => {
          const who = r.displayName || r.nodeId;
          return h("tr", {}, h("td", {}, who), h("td", {}, r.platform || "–"), h("td", {}, r.version || "–"),
            h("td", {}, r.remoteIp || "local"), h("td", {}, when(r.ts)), this.actions(ctx, "node.pair", r, who));
        }), "No pending node requests."));
      $("node-paired").replaceChildren(h("h4", {}, "Paired"), table("Paired nodes",
        ["Node", "Platform", "Version", "Approved", "Last connected"],
        (result.paired || []).map((n) => h("tr", {}, h("td", {}, n.displayName || n.nodeId), h("td", {}, n.platform || "–"),
          h("td", {}, n.version || "–"), h("td", {}, when(n.approvedAtMs)), h("td", {}, when(n.lastConnectedAtMs)))),
        "No paired nodes."));
    } catch (error) {
      showError(pending, error);
    }
  },

  event(ctx, frame, visible) {
    const name = frame.event;
    if (!/^(device|node)\.pair\.(requested|resolved)$/.test(name)) return;
    const p = frame.payload || {};
    const who = p.displayName || p.nodeId || (p.deviceId || "").slice(0, 12);
    $("pairing-live").textContent = name.endsWith("requested") ? `New pairing request from ${who}.`
      : `Pairing of ${who} ${p.decision}.`;
    if (visible) this.load(ctx);
  },
};

export const views = { overview, channels, sessions, chat, logs, cron, pairing, config };
