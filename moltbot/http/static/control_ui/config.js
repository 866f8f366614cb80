// The Config view: the config file's text (secrets redacted by the gateway), saved with config.set and
// the hash it was read at; validation issues are marked on their line and listed with their path.
import { $, h } from "./dom.js";

/** The 1-based line of `path` (e.g. "gateway.auth.token", "agents.list[0].id") in JSON5 `text`, or null. */
export function lineOfPath(text, path) {
  if (!path || path === "<root>") return null;
  const segments = path.split(/[.[\]]/).filter((s) => s && !/^\d+$/.test(s));
  let position = 0;
  let found = false;
  for (const segment of segments) {
    const escaped = segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    const pattern = new RegExp(`(^|[\\s{,])(["']?)${escaped}\\2\\s*:`, "g");
    pattern.lastIndex = position;
    const match = pattern.exec(text);
    if (!match) break;
    position = match.index + match[1].length;
    found = true;
  }
  return found ? text.slice(0, position).split("\n").length : null;
}

export const config = {
  hash: null, issues: [], hints: {}, loadedOnce: false,

  setup(getCtx) {
    const raw = $("config-raw");
    raw.addEventListener("input", () => this.renderGutter());
    raw.addEventListener("scroll", () => { $("config-gutter").scrollTop = raw.scrollTop; });
    raw.addEventListener("keydown", (event) => {
      if ((event.ctrlKey || event.metaKey) && event.key === "s") {
        event.preventDefault();
        this.save(getCtx());
      }
    });
    $("config-save").addEventListener("click", () => this.save(getCtx()));
    $("config-reload").addEventListener("click", () => this.load(getCtx(), { force: true }));
  },

  enter(ctx) {
    if (!this.loadedOnce) this.load(ctx, {});
  },

  async load(ctx, { force }) {
    if (!ctx.gateway.has("config.get")) return;
    const feature = $("config-raw").closest(".feature");
    $("config-status").textContent = "Loading…";
    try {
      const snapshot = await ctx.call("config.get", {}, feature);
      this.loadedOnce = true;
      this.hash = snapshot.hash || null;
      $("config-path").textContent = `${snapshot.path}${snapshot.exists ? "" : " (not created yet)"}`;
      $("config-raw").value = snapshot.raw ?? "";
      this.setIssues(snapshot.valid === false ? snapshot.issues || [] : [], snapshot.valid === false
        ? "The file on disk is not valid:" : "");
      $("config-status").textContent = force ? "Reloaded." : "";
      if (ctx.gateway.has("config.schema") && !Object.keys(this.hints).length) {
        ctx.call("config.schema", {}).then((schema) => { this.hints = schema.uiHints || {}; }, () => {});
      }
    } catch (error) {
      $("config-status").textContent = "";
      if (!error.unsupported && error.message !== "disconnected") this.setIssues([], error.message);
    }
  },

  async save(ctx) {
    if (!ctx.gateway.has("config.set")) {
      this.setIssues([], "This gateway does not offer config.set: editing is absent.");
      return;
    }
    $("config-status").textContent = "Saving…";
    const params = { raw: $("config-raw").value };
    if (this.hash) params.baseHash = this.hash;
    try {
      await ctx.call("config.set", params);
    } catch (error) {
      $("config-status").textContent = "Not saved.";
      const details = error.details || {};
      let issues = Array.isArray(details.issues) ? details.issues : [];
      if (!issues.length && details.line) issues = [{ path: "<root>", message: error.message, line: details.line }];
      this.setIssues(issues, issues.length && error.message === "invalid config" ? "The config is not valid:" : error.message);
      return;
    }
    this.setIssues([], "");
    this.hash = null;
    this.loadedOnce = false;  // re-read (new hash) now, or on entering the view after a reconnect
    if (ctx.gateway.state === "connected") await this.load(ctx, {});
    $("config-status").textContent = "Saved.";
  },


  setIssues(issues, heading) {
    const text = $("config-raw").value;
    this.issues = issues.map((issue) => ({ ...issue, line: issue.line || lineOfPath(text, issue.path) }));
    const box = $("config-issues");
    const raw = $("config-raw");
    raw.setAttribute("aria-invalid", this.issues.length || heading ? "true" : "false");
    if (!this.issues.length && !heading) {
      raw.setAttribute("aria-invalid", "false");
      box.replaceChildren();
    } else {
      box.replaceChildren(h("p", { class: "error" }, heading || ""),
        h("ul", {}, ...this.issues.map((issue) => {
          const label = this.hints[issue.path]?.label;
          return h("li", { class: "issue", "data-path": issue.path || "", "data-line": issue.line || "" },
            issue.line ? `Line ${issue.line} · ` : "",
            h("code", {}, issue.path || "<root>"), label ? ` (${label})` : "", `: ${issue.message}`,
            issue.line ? h("button", { type: "button", class: "quiet", onclick: () => this.goTo(issue.line) },
              "Go to line") : null);
        })));
    }
    this.renderGutter();
  },

  renderGutter() {
    const raw = $("config-raw");
    const count = raw.value.split("\n").length;
    const marks = new Map();
    for (const issue of this.issues) if (issue.line) marks.set(issue.line, issue.message);
    const items = [];
    for (let line = 1; line <= count; line += 1) {
      const message = marks.get(line);
      items.push(h("li", message ? { class: "bad", title: message, "data-line": line } : { "data-line": line },
        message ? `! ${line}` : String(line)));
    }
    $("config-gutter").replaceChildren(...items);
    $("config-gutter").scrollTop = raw.scrollTop;
  },

  goTo(line) {
    const raw = $("config-raw");
    const lines = raw.value.split("\n");
    const start = lines.slice(0, line - 1).reduce((sum, l) => sum + l.length + 1, 0);
    raw.focus();
    raw.setSelectionRange(start, start + (lines[line - 1] || "").length);
    const lineHeight = parseFloat(getComputedStyle(raw).lineHeight) || 18;
    raw.scrollTop = Math.max(0, (line - 3) * lineHeight);
  },
};
