// The Logs, Cron and Pairing views.
import { $, duration, feature, fillTable, h, showError, when } from "./dom.js";

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

export const logs = {
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

export const cron = {
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

export const pairing = {
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

// --- Exec approvals ----------------------------------------------------------------------------------

/** Pending exec approvals as cards above every view, answered with exec.approval.resolve. The list comes
 * from exec.approval.list at every hello and is kept by the exec.approval.requested/resolved events; a
 * request nobody answers is dropped at its expiry (the gateway then applies askFallback, announcing nothing). */
export const approvals = {
  pending: new Map(),
  timer: null,

  async hello(ctx) {
    this.pending.clear();
    if (ctx.gateway.has("exec.approval.list")) {
      try {
        for (const row of await ctx.gateway.request("exec.approval.list", {})) this.pending.set(row.id, row);
      } catch {
        // a connection without operator.approvals is sent no requests either
      }
    }
    this.render(ctx);
  },

  event(ctx, frame) {
    const p = frame.payload || {};
    if (frame.event === "exec.approval.requested" && p.id) {
      this.pending.set(p.id, p);
      $("approvals-live").textContent = `Approval needed to run ${p.request?.command || "a command"}.`;
    } else if (frame.event === "exec.approval.resolved" && p.id) {
      if (!this.pending.delete(p.id)) return;
      $("approvals-live").textContent = `Request ${p.id}: ${p.decision}${p.resolvedBy ? ` by ${p.resolvedBy}` : ""}.`;
    } else {
      return;
    }
    this.render(ctx);
  },

  async decide(ctx, id, decision, card) {
    const buttons = card.querySelectorAll("button");
    for (const button of buttons) button.disabled = true;
    try {
      await ctx.gateway.request("exec.approval.resolve", { id, decision });
      this.pending.delete(id);
      $("approvals-live").textContent = `Request ${id}: ${decision}.`;
      this.render(ctx);
    } catch (error) {
      card.querySelector(".error").textContent = error.message;
      for (const button of buttons) button.disabled = false;
    }
  },

  render(ctx) {
    const now = Date.now();
    for (const [id, p] of this.pending) if (p.expiresAtMs && p.expiresAtMs <= now) this.pending.delete(id);
    const rows = [...this.pending.values()].sort((a, b) => (a.createdAtMs || 0) - (b.createdAtMs || 0));
    $("approvals-list").replaceChildren(...rows.map((p) => this.card(ctx, p, now)));
    $("approvals").hidden = rows.length === 0;
    clearTimeout(this.timer);
    const next = Math.min(...rows.map((p) => p.expiresAtMs || Infinity));
    if (Number.isFinite(next)) this.timer = setTimeout(() => this.render(ctx), Math.min(60_000, next - now + 50));
  },

  card(ctx, p, now) {
    const r = p.request || {};
    const facts = [["Agent", r.agentId], ["Session", r.sessionKey], ["Runs on", r.host], ["Directory", r.cwd],
      ["Policy", r.security && `${r.security}, ask ${r.ask || "–"}`]].filter(([, value]) => value);
    const left = Math.max(0, Math.round(((p.expiresAtMs || now) - now) / 1000));
    const card = h("article", { class: "approval", "data-id": p.id, "aria-labelledby": `approval-${p.id}` },
      h("h3", { id: `approval-${p.id}` }, `Run this command? (${p.id})`),
      h("pre", {}, h("code", {}, r.command || "")),
      h("dl", {}, ...facts.flatMap(([name, value]) => [h("dt", {}, name), h("dd", {}, value)])),
      h("p", { class: "muted" }, `Expires in ${left} s; unanswered, the policy's fallback decides.`),
      h("div", { class: "row" },
        h("button", { type: "button", "aria-label": `Allow once ${p.id}`,
          onclick: () => this.decide(ctx, p.id, "allow-once", card) }, "Allow once"),
        h("button", { type: "button", class: "quiet", "aria-label": `Always allow ${p.id}`,
          onclick: () => this.decide(ctx, p.id, "allow-always", card) }, "Always allow"),
        h("button", { type: "button", class: "danger", "aria-label": `Deny ${p.id}`,
          onclick: () => this.decide(ctx, p.id, "deny", card) }, "Deny")),
      h("p", { class: "error", role: "alert" }));
    return card;
  },
};
