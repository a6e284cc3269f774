// The WebSocket chat channel (docs/websocket.md): one connection for every turn, and Stop.
//
// The token travels as the `bearer, <token>` subprotocol, never in the URL. A turn yields the
// same events as the SSE stream (start / delta / tool_call / done / error), so the chat panel
// reads both the same way; `typing` and `pong` frames are the channel's own.

import { ApiError, messageFor } from "./api.js";

const CONNECT_TIMEOUT_MS = 5000;

export class ChatSocket {
  /**
   * url: ws(s)://host/api/{user}/chat/ws; getToken() returns the current bearer token;
   * onUnauthorized(error) runs when the server closes with 4401 (the token expired), as on HTTP.
   */
  constructor(url, getToken, onUnauthorized) {
    this.url = url;
    this.getToken = getToken;
    this.onUnauthorized = onUnauthorized;
    this.ws = null;
    this.limits = null;
    this.pinger = null;
    this.listener = null; // the running turn's frame handler
  }

  get open() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN && this.limits !== null;
  }

  /** Resolves once the server has sent its `connection` frame; rejects if it does not. */
  connect() {
    if (this.open) return Promise.resolve();
    if (typeof WebSocket === "undefined") return Promise.reject(new Error("no WebSocket"));
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url, ["bearer", this.getToken()]);
      const timer = setTimeout(() => {
        ws.close();
        reject(new Error("the chat channel did not answer"));
      }, CONNECT_TIMEOUT_MS);
      ws.onmessage = (message) => {
        const frame = JSON.parse(message.data);
        if (frame.type === "connection") {
          clearTimeout(timer);
          this.ws = ws;
          this.limits = frame.limits;
          this.keepAlive();
          resolve();
        } else if (frame.type !== "pong" && this.listener) {
          this.listener(frame);
        }
      };
      ws.onclose = (event) => {
        clearTimeout(timer);
        const wasOpen = this.ws === ws;
        this.drop();
        if (!wasOpen) reject(new Error(event.reason || "the chat channel closed"));
        else if (this.listener) this.listener({ type: "closed", code: event.code, reason: event.reason });
      };
    });
  }

  keepAlive() {
    // The server closes a silent channel after `idle_timeout_seconds`: ping well within it.
    const every = Math.max(1000, (this.limits.idle_timeout_seconds * 1000) / 2);
    clearInterval(this.pinger);
    this.pinger = setInterval(() => this.sendFrame({ type: "ping" }), every);
  }

  sendFrame(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  /**
   * Send a message and yield its events until `done` or `error`. Aborting `signal` stops
   * listening (like leaving an SSE stream: the turn itself runs on and is stored).
   */
  async *turn(body, signal) {
    await this.connect();
    const queue = [];
    let wake = null;
    this.listener = (frame) => {
      queue.push(frame);
      if (wake) wake();
    };
    const onAbort = () => this.listener && this.listener({ type: "aborted" });
    signal?.addEventListener("abort", onAbort);
    try {
      this.sendFrame({ type: "message", ...body });
      while (true) {
        if (!queue.length) await new Promise((resolve) => { wake = resolve; });
        wake = null;
        const frame = queue.shift();
        if (frame.type === "aborted") throw new DOMException("left the reply", "AbortError");
        if (frame.type === "closed" && frame.code === 4401) {
          const error = new ApiError(401, messageFor(401));
          this.onUnauthorized(error);
          throw error;
        }
        if (frame.type === "closed") {
          throw new ApiError(0, "The connection was lost before the reply finished. Try again.");
        }
        if (frame.type === "typing") continue;
        yield frame;
        if (frame.type === "done" || frame.type === "error") return;
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
      this.listener = null;
    }
  }

  /** Stop the running turn; its `done` event (what was done before stopping) follows. */
  cancel() {
    this.sendFrame({ type: "cancel" });
  }

  drop() {
    clearInterval(this.pinger);
    this.pinger = null;
    this.ws = null;
    this.limits = null;
  }

  close() {
    const ws = this.ws;
    this.drop();
    if (ws) ws.close(1000, "signed out");
  }
}
