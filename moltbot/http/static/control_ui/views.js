// The views. Each may define setup(getContext) once, hello(ctx, hello) on every (re)connect,
// enter(ctx) when shown, and event(ctx, frame, visible) for every gateway event.
import { chat } from "./chat.js";
import { config } from "./config.js";
import { cron, logs, pairing } from "./operations.js";
import { $, ago, duration, feature, fillTable, h, showError, when } from "./dom.js";


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
    this.loadUsage(ctx);
  },

  /** Tokens and cost of the last 30 days (usage.cost: prices from models.providers.*.models[].cost). */
  async loadUsage(ctx) {
    const tbody = document.querySelector("#usage-models tbody");
    if (!ctx.gateway.has("usage.cost")) return;
    try {
      const cost = await ctx.call("usage.cost", { days: 30 }, feature(tbody));
      const totals = cost.totals || {};
      const missing = totals.missingCostEntries ? ` (${totals.missingCostEntries} calls without a price)` : "";
      $("usage-summary").textContent = `Last ${cost.days} days: ${totals.totalTokens || 0} tokens, `
        + `${dollars(totals.totalCost)}${missing}.`;
      const rows = (cost.byModel || []).map((m) => h("tr", {},
        h("th", { scope: "row" }, `${m.provider || "?"}/${m.model || "?"}`), h("td", {}, m.totalTokens),
        h("td", {}, m.input), h("td", {}, m.output), h("td", {}, dollars(m.totalCost))));
      fillTable(tbody, rows, 5, "No model calls in these days.");
    } catch (error) {
      fillTable(tbody, [], 5, error.message);
    }
  },

  event(ctx, frame, visible) {
    if (visible && frame.event === "chat" && frame.payload?.state !== "delta") this.load(ctx);
  },
};

function dollars(value) {
  const amount = value || 0;
  return `$${amount >= 1 ? amount.toFixed(2) : amount.toFixed(4)}`;
}

export const views = { overview, channels, sessions, chat, logs, cron, pairing, config };
