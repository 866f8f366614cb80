// A Node.js client refused at connect, as today's OpenClaw clients meet a gateway (tests/v4/test_close_node.py).
//
//   node node_close_client.mjs URL TOKEN COUNT [WS_PACKAGE_DIR]
//
// Connects COUNT times, one after the other, sends a protocol-4 `connect` with TOKEN after the challenge,
// and prints one JSON line per connection: the close code and reason the client reports, the `res` it was
// given (null if none), and `handledBeforeClose`: whether that `res`, handled a turn of the event loop
// later (setImmediate, as OpenClaw's client does), was handled before the `close` event fired.
// Without WS_PACKAGE_DIR it uses Node's built-in WebSocket (undici: Node >= 22, or 20 with
// --experimental-websocket), with it the `ws` package found there (what OpenClaw's CLI and node hosts use).
import { createRequire } from "node:module";

const [url, token, count, wsPackage] = process.argv.slice(2);

function connectFrame() {
  return JSON.stringify({ type: "req", id: "c1", method: "connect", params: {
    minProtocol: 3, maxProtocol: 4, role: "operator", scopes: ["operator.read"],
    client: { id: "cli", version: "1.0.0", platform: "linux", mode: "cli" }, auth: { token } } });
}

function open() {
  if (wsPackage) {
    const WebSocket = createRequire(import.meta.url)(wsPackage);
    const ws = new WebSocket(url);
    return { ws, on: (name, fn) => ws.on(name, name === "message" ? (data) => fn(data.toString())
      : name === "close" ? (code, reason) => fn(code, reason.toString()) : fn) };
  }
  const ws = new WebSocket(url);
  return { ws, on: (name, fn) => ws.addEventListener(name, name === "message" ? (e) => fn(e.data)
    : name === "close" ? (e) => fn(e.code, e.reason) : fn) };
}

function once() {
  return new Promise((resolve) => {
    const { ws, on } = open();
    const result = { code: null, reason: null, res: null, handledBeforeClose: false, error: null };
    let closed = false;
    on("message", (text) => {
      const frame = JSON.parse(text);
      if (frame.type === "event" && frame.event === "connect.challenge") ws.send(connectFrame());
      else if (frame.type === "res") {
        result.res = { ok: frame.ok, message: frame.error ? frame.error.message : null };
        setImmediate(() => { result.handledBeforeClose = !closed; });
      }
    });
    on("error", (err) => { result.error = String((err && (err.code || err.message)) || "error"); });
    on("close", (code, reason) => {
      closed = true;
      Object.assign(result, { code, reason });
      setImmediate(() => resolve(result));
    });
  });
}

for (let i = 0; i < Number(count); i++) console.log(JSON.stringify(await once()));
