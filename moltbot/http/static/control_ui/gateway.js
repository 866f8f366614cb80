// The gateway connection: device identity (Ed25519 in WebCrypto, kept in IndexedDB), the
// connect.challenge → connect → hello-ok handshake, request/response by id, events, and reconnects with
// backoff. Nothing here touches the page; app.js listens to `state`, `hello` and `event`.

export const CLIENT_ID = "moltbot-control-ui";
export const CLIENT_MODE = "ui";
export const UI_VERSION = "0.1.0";
export const SCOPES = ["operator.admin", "operator.approvals", "operator.pairing"];
const PROTOCOL = 3;
const CHALLENGE_WAIT_MS = 750;

export class GatewayError extends Error {
  constructor(error) {
    super(error?.message || "request failed");
    this.code = error?.code || "UNAVAILABLE";
    this.details = error?.details;
  }
  get unsupported() {
    return /^unknown method/i.test(this.message);
  }
}

// --- device identity -------------------------------------------------------------------------------

function b64url(bytes) {
  let text = "";
  for (const byte of new Uint8Array(bytes)) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function hex(bytes) {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

function idb(mode, fn) {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open("moltbot-control-ui", 1);
    open.onupgradeneeded = () => open.result.createObjectStore("keys");
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const tx = open.result.transaction("keys", mode);
      const request = fn(tx.objectStore("keys"));
      tx.oncomplete = () => { open.result.close(); resolve(request.result); };
      tx.onerror = () => { open.result.close(); reject(tx.error); };
    };
  });
}

/** The page's device identity: {id, publicKey (base64url raw), privateKey (non-extractable CryptoKey)}. */
export async function loadIdentity() {
  if (!globalThis.crypto?.subtle) {
    throw new Error("WebCrypto is unavailable: open the Control UI over https or on localhost");
  }
  let stored = null;
  try { stored = await idb("readonly", (store) => store.get("device")); } catch { stored = null; }
  if (stored?.privateKey && stored.id && stored.publicKey) return { ...stored, persisted: true };
  let keys;
  try {
    keys = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
  } catch (error) {
    throw new Error(`this browser's WebCrypto has no Ed25519 (${error.name || error}); the gateway needs `
      + "a signed device identity from the Control UI (or gateway.controlUi.allowInsecureAuth)");
  }
  const raw = await crypto.subtle.exportKey("raw", keys.publicKey);
  const identity = { id: hex(await crypto.subtle.digest("SHA-256", raw)), publicKey: b64url(raw),
    privateKey: keys.privateKey, createdAtMs: Date.now() };
  let persisted = true;
  try { await idb("readwrite", (store) => store.put(identity, "device")); } catch { persisted = false; }
  return { ...identity, persisted };
}

async function signDevice(identity, { token, nonce, role, scopes }) {
  const signedAt = Date.now();
  const fields = [nonce ? "v2" : "v1", identity.id, CLIENT_ID, CLIENT_MODE, role, scopes.join(","),
    String(signedAt), token || ""];
  if (nonce) fields.push(nonce);
  const signature = await crypto.subtle.sign({ name: "Ed25519" }, identity.privateKey,
    new TextEncoder().encode(fields.join("|")));
  const device = { id: identity.id, publicKey: identity.publicKey, signature: b64url(signature), signedAt };
  if (nonce) device.nonce = nonce;
  return device;
}

// --- the connection --------------------------------------------------------------------------------

export class Gateway extends EventTarget {
  /** `identity` may be a promise of the device identity (or of null: connect without one). */
  constructor({ url, token, identity }) {
    super();
    this.url = url;
    this.token = token;
    this.identity = identity;
    this.hello = null;
    this.state = "idle";
    this.attempt = 0;
    this.pending = new Map();
    this.nextId = 1;
    this.ws = null;
    this.timer = null;
    this.stopped = true;
  }

  start() {
    this.stopped = false;
    this.open();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000, "closed by the page");
    this.setState("idle", "Not connected");
  }

  has(method) {
    return !!this.hello?.features?.methods?.includes(method);
  }

  setState(state, text) {
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: { state, text } }));
  }

  open() {
    clearTimeout(this.timer);
    this.setState(this.attempt ? "reconnecting" : "connecting", this.attempt ? "Reconnecting…" : "Connecting…");
    const ws = new WebSocket(this.url);
    this.ws = ws;
    const timings = (this.timings = { openStart: performance.now() });
    ws.onopen = () => { timings.open = performance.now(); };
    let connectSent = false;
    let refused = null;
    this.refusal = null;
    const sendConnect = async (nonce) => {
      if (connectSent) return;
      connectSent = true;
      try {
        await this.sendConnect(ws, nonce);
      } catch (error) {
        refused = error.message;
        ws.close(1000);
      }
    };
    const fallback = setTimeout(() => sendConnect(null), CHALLENGE_WAIT_MS);
    ws.onmessage = (message) => {
      let frame;
      try { frame = JSON.parse(message.data); } catch { return; }
      if (frame.type === "event" && frame.event === "connect.challenge") {
        timings.challenge = performance.now();
        clearTimeout(fallback);
        sendConnect(frame.payload?.nonce || null);
      } else if (frame.type === "res" && frame.id === "connect") {
        if (frame.ok) {
          this.attempt = 0;
          this.hello = frame.payload;
          this.helloAt = this.timings.hello = performance.now();
          this.setState("connected", "Connected");
          this.dispatchEvent(new CustomEvent("hello", { detail: frame.payload }));
        } else {
          refused = frame.error?.message || "connect refused";
          this.refusal = new GatewayError(frame.error);
        }
      } else if (frame.type === "res") {
        const waiter = this.pending.get(frame.id);
        if (!waiter) return;
        this.pending.delete(frame.id);
        if (frame.ok) waiter.resolve(frame.payload);
        else waiter.reject(new GatewayError(frame.error));
      } else if (frame.type === "event") {
        this.dispatchEvent(new CustomEvent("event", { detail: frame }));
      }
    };
    ws.onclose = (event) => {
      clearTimeout(fallback);
      if (this.ws !== ws) return;
      this.ws = null;
      const wasConnected = this.hello !== null && this.state === "connected";
      for (const waiter of this.pending.values()) waiter.reject(new GatewayError({ code: "UNAVAILABLE", message: "disconnected" }));
      this.pending.clear();
      if (this.stopped) return;
      if (this.refusal?.code === "NOT_PAIRED" && this.refusal.details?.requestId) {
        // Not local, so not paired silently: wait for an operator to approve, then get in by ourselves.
        const requestId = this.refusal.details.requestId;
        this.refusal = null;
        this.attempt += 1;
        this.setState("pairing", `Waiting for approval of this browser (request ${requestId}: `
          + `moltbot devices approve ${requestId}); retrying every 5 s`);
        this.timer = setTimeout(() => this.open(), 5000);
        return;
      }
      if (refused && this.refusal && /unauthorized|token|password|device identity|secure context/i.test(refused)) {
        this.stopped = true;
        this.setState("failed", refused);
        this.dispatchEvent(new CustomEvent("refused", { detail: this.refusal }));
        return;
      }
      this.attempt += 1;
      const delay = Math.min(15000, 500 * 1.8 ** (this.attempt - 1)) * (0.85 + Math.random() * 0.3);
      const why = refused || event.reason || (wasConnected ? "connection lost" : "gateway unreachable");
      this.setState("reconnecting", `Disconnected (${why}); retrying in ${Math.ceil(delay / 1000)} s`);
      this.timer = setTimeout(() => this.open(), delay);
    };
  }

  async sendConnect(ws, nonce) {
    const role = "operator";
    const params = {
      minProtocol: PROTOCOL, maxProtocol: PROTOCOL,
      client: { id: CLIENT_ID, version: UI_VERSION, platform: navigator.platform || "web", mode: CLIENT_MODE,
        displayName: "Control UI" },
      role, scopes: SCOPES,
      auth: { token: this.token },
      userAgent: navigator.userAgent, locale: navigator.language,
    };
    const identity = await this.identity;  // a promise: the socket opens while IndexedDB is read
    if (identity) {
      params.device = await signDevice(identity, { token: this.token, nonce, role, scopes: SCOPES });
    }
    if (ws.readyState === WebSocket.OPEN) {
      if (this.timings) this.timings.connectSent = performance.now();
      ws.send(JSON.stringify({ type: "req", id: "connect", method: "connect", params }));
    }
  }

  /** Call `method`; resolves with the payload, rejects with a GatewayError. */
  request(method, params = {}) {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN || this.state !== "connected") {
      return Promise.reject(new GatewayError({ code: "UNAVAILABLE", message: "not connected" }));
    }
    const id = `r${this.nextId++}`;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ type: "req", id, method, params }));
    });
  }
}
