// The Control UI page: token handling, the views, and live updates from gateway events.
import { Gateway, GatewayError, loadIdentity } from "./gateway.js";
import { approvals } from "./operations.js";
import { views } from "./views.js";

const TOKEN_KEY = "moltbot.controlUi.token";
const BASE = (window.__CLAWDBOT_CONTROL_UI_BASE_PATH__ || "").replace(/\/$/, "");
const metrics = (window.__moltbotMetrics = { navigationStart: 0 });

const $ = (id) => document.getElementById(id);

/** The token from `#token=…` (stored, then removed from the address bar), else the stored one. */
function takeToken() {
  const hash = new URLSearchParams(location.hash.replace(/^#/, ""));
  const fromUrl = hash.get("token");
  if (fromUrl) {
    localStorage.setItem(TOKEN_KEY, fromUrl);
    hash.delete("token");
    const rest = hash.toString();
    history.replaceState(history.state, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
  }
  return localStorage.getItem(TOKEN_KEY);
}

function wsUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${BASE}/`;
}

function viewFromPath() {
  const rest = location.pathname.slice(BASE.length).replace(/^\/+|\/+$/g, "").split("/")[0];
  return views[rest] ? rest : "overview";
}

const app = {
  gateway: null,
  current: null,
  identityError: null,

  showView(name, { focus = false } = {}) {
    this.current = name;
    for (const section of document.querySelectorAll("section[data-view]")) {
      section.hidden = !this.connectedOnce || section.dataset.view !== name;
    }
    for (const link of document.querySelectorAll("nav a[data-view]")) {
      if (link.dataset.view === name) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    document.title = `${name[0].toUpperCase()}${name.slice(1)} · Moltbot Control`;
    if (this.connectedOnce) this.enter(name);
    if (focus) document.querySelector(`section[data-view="${name}"] h2`)?.focus();
  },

  /** Show the panel's features as present or absent, then let the view load. */
  enter(name) {
    const section = document.querySelector(`section[data-view="${name}"]`);
    for (const feature of section.querySelectorAll(".feature")) {
      const missing = feature.dataset.methods.split(" ").filter((m) => !this.gateway.has(m));
      markAbsent(feature, missing.length ? `This gateway does not offer ${missing.join(", ")}: the feature is absent.` : null);
    }
    views[name].enter?.(this.context);
  },

  showLogin(message) {
    $("login").hidden = false;
    for (const section of document.querySelectorAll("section[data-view]")) section.hidden = true;
    $("approvals").hidden = true;
    $("login-error").textContent = message || "";
    $("login-title").focus();
  },

  connect(token) {
    this.gateway?.stop();
    const gateway = (this.gateway = new Gateway({ url: wsUrl(), token, identity: this.identity }));
    this.context = makeContext(gateway);
    gateway.addEventListener("state", (event) => setConnState(event.detail));
    gateway.addEventListener("refused", (event) => {
      const error = event.detail;
      if (/unauthorized/i.test(error.message)) {
        localStorage.removeItem(TOKEN_KEY);
        $("forget").hidden = true;
      }
      this.showLogin(error.message);
    });
    gateway.addEventListener("hello", (event) => {
      $("login").hidden = true;
      $("forget").hidden = false;
      localStorage.setItem(TOKEN_KEY, token);
      const first = !this.connectedOnce;
      this.connectedOnce = true;
      for (const view of Object.values(views)) view.hello?.(this.context, event.detail);
      approvals.hello(this.context);
      this.showView(this.current || viewFromPath(), { focus: false });
      if (first) {
        metrics.helloMs = performance.now();
        metrics.connect = { ...gateway.timings };
      }
    });
    gateway.addEventListener("event", (event) => {
      const frame = event.detail;
      if (frame.event === "shutdown") {
        const restarting = frame.payload?.restartExpectedMs !== null && frame.payload?.restartExpectedMs !== undefined;
        setConnState({ state: "reconnecting", text: restarting ? "Gateway restarting…" : "Gateway stopping…" });
      }
      for (const view of Object.values(views)) view.event?.(this.context, frame, view === views[this.current]);
      approvals.event(this.context, frame);
    });
    gateway.start();
  },
};

function makeContext(gateway) {
  return {
    gateway,
    metrics,
    base: BASE,
    isCurrent: (name) => app.current === name,
    open: (name, state) => navigate(name, state),
    /** Call a method; an "unknown method" answer marks `feature` absent instead of failing the panel. */
    async call(method, params, feature) {
      try {
        return await gateway.request(method, params);
      } catch (error) {
        if (error instanceof GatewayError && error.unsupported && feature) {
          markAbsent(feature, `This gateway does not support ${method}: the feature is absent.`);
        }
        throw error;
      }
    },
  };
}

function markAbsent(feature, message) {
  let note = feature.previousElementSibling?.classList?.contains("absent") ? feature.previousElementSibling : null;
  if (message) {
    if (!note) {
      note = document.createElement("p");
      note.className = "absent";
      feature.before(note);
    }
    note.textContent = message;
    feature.hidden = true;
  } else {
    note?.remove();
    feature.hidden = false;
  }
}

function setConnState({ state, text }) {
  const conn = $("conn");
  conn.dataset.state = state;
  $("conn-text").textContent = text;
}

function navigate(name, state) {
  const url = `${BASE}/${name === "overview" ? "" : name}`;
  if (location.pathname !== url) history.pushState(state || null, "", url);
  if (state) views[name].prefill?.(app.context, state);
  app.showView(name, { focus: true });
}

function setupChrome() {
  const name = window.__CLAWDBOT_ASSISTANT_NAME__ || "Assistant";
  const avatar = window.__CLAWDBOT_ASSISTANT_AVATAR__ || "A";
  $("assistant-name").textContent = name;
  const slot = $("assistant-avatar");
  if (/^(data:image\/|\/)/.test(avatar)) {  // never a remote image: nothing leaves the machine
    const img = document.createElement("img");
    img.src = avatar;
    img.alt = "";
    slot.replaceChildren(img);
  } else {
    slot.textContent = avatar.slice(0, 2);
  }
  for (const link of document.querySelectorAll("nav a[data-view]")) {
    link.addEventListener("click", (event) => {
      if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
      event.preventDefault();
      navigate(link.dataset.view);
    });
  }
  window.addEventListener("popstate", () => app.showView(viewFromPath()));
  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("login-token").value.trim();
    if (!token) return;
    $("login-error").textContent = "";
    $("login-token").value = "";
    app.connect(token);
  });
  $("forget").addEventListener("click", () => {
    localStorage.removeItem(TOKEN_KEY);
    app.gateway?.stop();
    app.connectedOnce = false;
    $("forget").hidden = true;
    app.showLogin("The token was forgotten by this browser.");
  });
  for (const view of Object.values(views)) view.setup?.(() => app.context);
}

async function main() {
  setupChrome();
  app.current = viewFromPath();
  for (const link of document.querySelectorAll("nav a[data-view]")) {
    if (link.dataset.view === app.current) link.setAttribute("aria-current", "page");
  }
  const token = takeToken();
  metrics.scriptStartMs = performance.now();
  app.identity = loadIdentity().then((identity) => {
    metrics.identityMs = performance.now();
    if (!identity.persisted) {
      warn("This browser does not let the page keep its device key (IndexedDB unavailable): "
        + "it is paired again on every visit.");
    }
    return identity;
  }, (error) => {
    warn(`Device identity unavailable: ${error.message}.`);
    return null;
  });
  if (token) app.connect(token);
  else app.showLogin("");
}

function warn(text) {
  const warning = $("crypto-warning");
  warning.textContent = text;
  warning.hidden = false;
}

main();
