// The Chat view: chat.history, chat.send with the reply streamed in from `chat` events, chat.abort.
import { $, feature, h } from "./dom.js";

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

export const chat = {
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
