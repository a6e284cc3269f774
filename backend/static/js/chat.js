// The chat panel (streaming replies, tool calls) and the conversation sidebar.
//
// Replies come over the WebSocket channel when it connects (socket.js), else over the SSE route;
// either way the Stop button stops the reply (a `cancel` frame, or POST .../cancel for SSE).

import { el, icon, show, relativeTime } from "./dom.js";
import { ChatSocket } from "./socket.js";

// Tools that only read; any other tool may have changed the task list.
const READ_ONLY_TOOLS = new Set(["list_tasks"]);
const PAGE_SIZE = 30;
const NEW_CHAT_TITLE = "New chat";

function shorten(text, max = 60) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function formatValue(value) {
  if (typeof value === "string") return `"${shorten(value, 40)}"`;
  if (value === null || typeof value !== "object") return String(value);
  return shorten(JSON.stringify(value), 40);
}

/** `title: "Buy milk", description: ""` — the arguments on one line. */
export function formatArguments(parameters) {
  const entries = Object.entries(parameters || {});
  if (!entries.length) return "no arguments";
  return entries.map(([name, value]) => `${name}: ${formatValue(value)}`).join(", ");
}

function describeTask(task) {
  return `#${task.id} "${shorten(String(task.title), 40)}"${task.completed ? " (done)" : ""}`;
}

/**
 * A one-line summary of a tool result. The MCP tools answer a change as
 * {task_id, status, title}, a listing as {tasks, count}, and a failure as {error}.
 */
export function formatResult(result) {
  if (result === null || result === undefined) return "no result";
  if (typeof result === "string") return shorten(result, 80);
  if (Array.isArray(result)) return result.length === 1 ? "1 task" : `${result.length} tasks`;
  if (typeof result === "object") {
    if (result.error) return `error: ${shorten(String(result.error), 70)}`;
    const keys = Object.keys(result);
    if (keys.length === 1 && keys[0] === "result") return formatResult(result.result);
    if (Array.isArray(result.tasks)) return formatResult(result.tasks);
    if (result.task_id !== undefined && result.status) {
      const title = result.title === undefined ? "" : ` "${shorten(String(result.title), 40)}"`;
      return `${result.status} #${result.task_id}${title}`;
    }
    if (result.id !== undefined && result.title !== undefined) return describeTask(result);
  }
  return shorten(JSON.stringify(result), 80);
}

function isError(result) {
  return Boolean(result && typeof result === "object" && result.error);
}

function renderToolCall(call) {
  const summary = el(
    "summary",
    { className: "tool-summary" },
    icon("tool"),
    el("span", { className: "tool-name", text: call.tool }),
    el("span", { className: "tool-args", text: formatArguments(call.parameters) }),
    el("span", { className: "tool-arrow", text: "→", attrs: { "aria-hidden": "true" } }),
    el("span", { className: "tool-result", text: formatResult(call.result) }),
  );
  const details = el(
    "details",
    { className: isError(call.result) ? "tool-call is-error" : "tool-call" },
    summary,
    el("div", { className: "tool-detail" },
      el("span", { className: "tool-label", text: "Arguments" }),
      el("pre", { text: JSON.stringify(call.parameters ?? {}, null, 2) }),
      el("span", { className: "tool-label", text: "Result" }),
      el("pre", { text: JSON.stringify(call.result ?? null, null, 2) }),
    ),
  );
  return details;
}

/** One message bubble. Assistant messages hold their tool calls above the text. */
function renderMessage(role, text = "", toolCalls = []) {
  const tools = el("div", { className: "tool-calls" }, ...toolCalls.map(renderToolCall));
  const body = el("div", { className: "message-text", text });
  const label = role === "user" ? "You" : "Assistant";
  const node = el(
    "article",
    { className: `message message-${role === "user" ? "user" : "assistant"}`, attrs: { "aria-label": label } },
    el("div", { className: "bubble" }, tools, body),
  );
  show(tools, toolCalls.length > 0);
  return { node, tools, body };
}

export class Chat {
  /** onTasksChanged() is called when a tool call may have changed the task list. */
  constructor(api, userId, onTasksChanged, onOpen) {
    this.api = api;
    this.base = `/api/${encodeURIComponent(userId)}`;
    this.onTasksChanged = onTasksChanged;
    this.onOpen = onOpen;
    this.conversationId = null;
    this.conversations = [];
    this.total = 0;
    this.page = 1;
    this.controller = null;
    this.lastMessage = null;
    this.waitTimer = null;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    this.socket = new ChatSocket(
      `${scheme}//${location.host}${this.base}/chat/ws`, api.getToken, api.onUnauthorized);
    this.socketFailed = false; // after one failed connect, this page stays on SSE
    this.viaSocket = false; // the running turn's channel

    this.messages = document.getElementById("messages");
    this.emptyState = document.getElementById("chat-empty");
    this.title = document.getElementById("chat-title");
    this.form = document.getElementById("chat-form");
    this.input = document.getElementById("chat-input");
    this.count = document.getElementById("chat-input-count");
    this.maxLength = Number(this.input.dataset.maxLength);
    this.send = document.getElementById("chat-send");
    this.stop = document.getElementById("chat-stop");
    this.error = document.getElementById("chat-error");
    this.errorText = document.getElementById("chat-error-text");
    this.retry = document.getElementById("chat-retry");
    this.list = document.getElementById("conversation-list");
    this.listEmpty = document.getElementById("conversations-empty");
    this.listError = document.getElementById("conversations-error");
    this.more = document.getElementById("more-conversations");
    this.newChat = document.getElementById("new-chat");
    this.sidebar = document.getElementById("conversations");
    this.toggle = document.getElementById("toggle-conversations");

    this.listeners = [
      [this.form, "submit", (event) => {
        event.preventDefault();
        this.submit();
      }],
      [this.input, "keydown", (event) => {
        // Enter sends, Shift+Enter breaks the line (and IME composition is left alone).
        if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
          event.preventDefault();
          this.submit();
        }
      }],
      [this.input, "input", () => {
        this.autosize();
        this.updateCount();
      }],
      [this.retry, "click", () => this.retryLast()],
      [this.stop, "click", () => this.stopReply()],
      [this.newChat, "click", () => this.startNew()],
      [this.more, "click", () => this.loadConversations(this.page + 1)],
      [this.toggle, "click", () => this.setSidebar(!this.sidebar.classList.contains("is-open"))],
      [document.getElementById("close-conversations"), "click", () => {
        this.setSidebar(false);
        this.toggle.focus();
      }],
      [this.sidebar, "keydown", (event) => {
        if (event.key === "Escape" && this.sidebar.classList.contains("is-open")) {
          this.setSidebar(false);
          this.toggle.focus();
        }
      }],
      [document.getElementById("suggestions"), "click", (event) => {
        const chip = event.target.closest(".chip");
        if (!chip) return;
        this.input.value = chip.textContent;
        this.autosize();
        this.updateCount();
        this.input.focus();
      }],
    ];
    for (const [node, type, handler] of this.listeners) node.addEventListener(type, handler);
  }

  destroy() {
    for (const [node, type, handler] of this.listeners) node.removeEventListener(type, handler);
    if (this.controller) this.controller.abort();
    this.socket.close();
    clearInterval(this.waitTimer);
    this.clearMessages();
    this.list.replaceChildren();
    this.title.textContent = NEW_CHAT_TITLE;
    this.input.value = "";
    this.setBusy(false);
    this.hideError();
    show(this.listError, false);
  }

  // ---- layout helpers -------------------------------------------------------------------

  autosize() {
    this.input.style.height = "auto";
    this.input.style.height = `${Math.min(this.input.scrollHeight, 160)}px`;
  }

  tooLong() {
    return this.input.value.trim().length > this.maxLength;
  }

  // The limit shows once a message gets near it, and a message over it cannot be sent.
  updateCount() {
    const length = this.input.value.trim().length;
    const over = length > this.maxLength;
    const format = (n) => n.toLocaleString("en-US");
    this.count.textContent = over
      ? `${format(length)} / ${format(this.maxLength)} characters: shorten the message to send it`
      : `${format(length)} / ${format(this.maxLength)}`;
    show(this.count, length > this.maxLength * 0.8);
    this.count.classList.toggle("is-over", over);
    this.input.setAttribute("aria-invalid", String(over));
    this.setBusy(this.busy);
  }

  setSidebar(open) {
    this.sidebar.classList.toggle("is-open", open);
    this.toggle.setAttribute("aria-expanded", String(open));
    // As a drawer, move focus into it so keyboard users land on the list.
    if (open) this.newChat.focus();
  }

  nearBottom() {
    const m = this.messages;
    return m.scrollHeight - m.scrollTop - m.clientHeight < 80;
  }

  scrollToBottom() {
    this.messages.scrollTop = this.messages.scrollHeight;
  }

  clearMessages() {
    this.messages.replaceChildren(this.emptyState);
    show(this.emptyState, true);
  }

  append(node) {
    show(this.emptyState, false);
    this.messages.append(node);
  }

  setBusy(busy) {
    this.busy = busy;
    this.send.disabled = busy || Boolean(this.waitTimer) || this.tooLong();
    this.send.textContent = busy ? "Sending…" : "Send";
    show(this.stop, busy);
    this.stop.disabled = false;
    this.messages.setAttribute("aria-busy", String(busy));
  }

  showError(error, { retry = false } = {}) {
    this.errorText.textContent = error.message;
    show(this.retry, retry);
    show(this.error, true);
  }

  hideError() {
    show(this.error, false);
    show(this.retry, false);
  }

  /** 429: keep Send disabled and count down the Retry-After seconds. */
  waitBeforeSending(seconds) {
    clearInterval(this.waitTimer);
    let left = Math.max(1, seconds || 5);
    const tick = () => {
      this.errorText.textContent = `Too many messages. Wait ${left} s before sending again.`;
      show(this.error, true);
      if (left-- <= 0) {
        clearInterval(this.waitTimer);
        this.waitTimer = null;
        this.hideError();
        this.setBusy(false);
      }
    };
    this.waitTimer = setInterval(tick, 1000);
    tick();
    this.setBusy(false);
  }

  // ---- sending a message ----------------------------------------------------------------

  submit() {
    const text = this.input.value.trim();
    if (!text || this.busy || this.waitTimer || this.tooLong()) return;
    this.input.value = "";
    this.autosize();
    this.updateCount();
    this.sendMessage(text);
  }

  retryLast() {
    // The failed message is back in the box (unless the person edited it): send that.
    if (!this.input.value.trim() && this.lastMessage) this.input.value = this.lastMessage;
    this.submit();
  }

  async sendMessage(text) {
    this.hideError();
    const user = renderMessage("user", text);
    const reply = renderMessage("assistant");
    reply.node.classList.add("is-streaming");
    reply.body.append(el("span", { className: "typing", attrs: { "aria-label": "Assistant is typing" } },
      el("span"), el("span"), el("span")));
    this.append(user.node);
    this.append(reply.node);
    this.scrollToBottom();
    this.lastMessage = text;
    this.setBusy(true);

    const previousConversation = this.conversationId;
    const body = { message: text };
    if (this.conversationId) body.conversation_id = this.conversationId;
    this.controller = new AbortController();
    let streamed = "";
    let finished = false;
    let changedTasks = false;
    let toolsRan = false;
    const typing = () => reply.body.querySelector(".typing");
    try {
      for await (const event of await this.replyEvents(body)) {
        const follow = this.nearBottom();
        if (event.type === "start") {
          this.setConversation(event.conversation_id);
        } else if (event.type === "delta") {
          typing()?.remove();
          streamed += event.text || "";
          reply.body.textContent = streamed;
        } else if (event.type === "tool_call") {
          toolsRan = true;
          show(reply.tools, true);
          reply.tools.append(renderToolCall(event));
          if (!READ_ONLY_TOOLS.has(event.tool)) {
            changedTasks = true;
            this.onTasksChanged();
          }
        } else if (event.type === "done") {
          finished = true;
          typing()?.remove();
          this.setConversation(event.conversation_id);
          if (this.stopping) reply.node.classList.add("is-stopped");
          // The final text is authoritative (a model may not stream deltas at all).
          if (typeof event.response === "string" && event.response !== streamed) {
            reply.body.textContent = event.response;
          }
        } else if (event.type === "error") {
          const error = { status: event.status, message: event.detail || "The reply failed." };
          throw Object.assign(new Error(error.message), error);
        }
        if (follow) this.scrollToBottom();
      }
      if (!finished) throw Object.assign(new Error("The reply ended early. Try again."), { status: 0 });
      this.lastMessage = null;
    } catch (error) {
      if (error.name === "AbortError") return;
      typing()?.remove();
      if (error.status === 401) return; // the page is back at the sign-in form
      if (toolsRan) {
        // The server kept this turn (message and tool calls), so it stays on screen as is;
        // sending it again would run the tools twice.
        reply.node.classList.add("is-failed");
        if (!reply.body.textContent) reply.body.textContent = "The reply was cut short.";
        this.showError(error);
        return;
      }
      // Nothing of the turn was stored: take the bubbles away and put the words back in the box,
      // so Send (or Retry) sends exactly this again.
      user.node.remove();
      reply.node.remove();
      // A new conversation whose first turn failed may not exist on the server.
      this.conversationId = previousConversation;
      this.markActive();
      if (!this.messages.querySelector(".message")) show(this.emptyState, true);
      if (!this.input.value) {
        this.input.value = text;
        this.autosize();
      }
      if (error.status === 429) {
        this.waitBeforeSending(error.retryAfter);
      } else {
        const retry = error.status === 0 || error.status === 409 || error.status >= 500;
        this.showError(error, { retry });
      }
    } finally {
      reply.node.classList.remove("is-streaming");
      this.controller = null;
      this.stopping = false;
      this.setBusy(false);
      if (changedTasks) this.onTasksChanged();
      this.loadConversations(1);
    }
  }

  /** The turn's events: over the WebSocket when it connects, else over the SSE route. */
  async replyEvents(body) {
    if (!this.socketFailed) {
      try {
        await this.socket.connect();
        this.viaSocket = true;
        return this.socket.turn(body, this.controller.signal);
      } catch {
        this.socketFailed = true; // a proxy without WebSocket support, an old server: use SSE
      }
    }
    this.viaSocket = false;
    return this.api.stream(`${this.base}/chat/stream`, body, this.controller.signal);
  }

  /** Stop: the server stops the model, stores what was done, and answers with a `done`. */
  async stopReply() {
    if (!this.busy || this.stopping) return;
    this.stopping = true;
    this.stop.disabled = true;
    if (this.viaSocket) {
      this.socket.cancel();
      return;
    }
    if (!this.conversationId) return; // before `start`; the stream's own end follows
    try {
      await this.api.request("POST", `${this.base}/conversations/${this.conversationId}/cancel`);
    } catch (error) {
      if (error.status !== 409) this.showError(error); // 409: it had just finished
    }
  }

  setConversation(id) {
    if (!id || id === this.conversationId) return;
    this.conversationId = id;
    this.markActive();
  }

  // ---- conversations --------------------------------------------------------------------

  startNew() {
    if (this.controller) this.controller.abort();
    this.conversationId = null;
    this.lastMessage = null;
    this.title.textContent = NEW_CHAT_TITLE;
    this.clearMessages();
    this.hideError();
    this.markActive();
    this.setSidebar(false);
    this.onOpen();
    this.input.focus();
  }

  async loadConversations(page = 1) {
    try {
      const data = await this.api.request(
        "GET", `${this.base}/conversations?page=${page}&per_page=${PAGE_SIZE}`);
      this.conversations = page === 1 ? data.items : [...this.conversations, ...data.items];
      this.total = data.total;
      this.page = page;
      show(this.listError, false);
      this.renderConversations();
    } catch (error) {
      if (error.status === 401) return;
      this.listError.textContent = error.status === 404
        ? "Conversations are not available on this server."
        : error.message;
      show(this.listError, true);
    }
  }

  renderConversations() {
    this.list.replaceChildren(...this.conversations.map((c) => this.renderConversation(c)));
    show(this.listEmpty, this.conversations.length === 0);
    show(this.more, this.conversations.length < this.total);
    this.markActive();
  }

  renderConversation(conversation) {
    const count = conversation.message_count;
    const open = el(
      "button",
      {
        className: "conversation-open",
        attrs: { type: "button" },
        on: { click: () => this.open(conversation) },
      },
      el("span", { className: "conversation-title", text: conversation.title || "Untitled" }),
      el("span", {
        className: "conversation-meta",
        text: `${count} message${count === 1 ? "" : "s"} · ${relativeTime(conversation.updated_at)}`,
      }),
    );
    const remove = el(
      "button",
      {
        className: "icon-btn icon-btn-danger",
        attrs: {
          type: "button",
          "aria-label": `Delete conversation: ${conversation.title || "Untitled"}`,
          title: "Delete conversation",
        },
        on: { click: () => this.remove(conversation) },
      },
      icon("trash"),
    );
    return el("li", { className: "conversation", dataset: { id: String(conversation.id) } }, open, remove);
  }

  markActive() {
    for (const item of this.list.children) {
      const active = Number(item.dataset.id) === this.conversationId;
      item.classList.toggle("is-active", active);
      const button = item.querySelector(".conversation-open");
      if (active) button.setAttribute("aria-current", "true");
      else button.removeAttribute("aria-current");
      if (active) this.title.textContent = item.querySelector(".conversation-title").textContent;
    }
  }

  async open(conversation) {
    if (this.controller) this.controller.abort();
    this.hideError();
    this.setSidebar(false);
    this.onOpen();
    try {
      const messages = await this.api.request(
        "GET", `${this.base}/conversations/${conversation.id}/messages`);
      this.conversationId = conversation.id;
      this.lastMessage = null;
      this.title.textContent = conversation.title || "Untitled";
      this.clearMessages();
      for (const message of messages) {
        if (message.role !== "user" && message.role !== "assistant") continue;
        this.append(renderMessage(message.role, message.content, message.tool_calls || []).node);
      }
      this.markActive();
      this.scrollToBottom();
      this.input.focus();
    } catch (error) {
      if (error.status === 401) return;
      this.showError(error);
      if (error.status === 404) this.loadConversations(1);
    }
  }

  async remove(conversation) {
    try {
      await this.api.request("DELETE", `${this.base}/conversations/${conversation.id}`);
    } catch (error) {
      if (error.status === 401) return;
      if (error.status !== 404) {
        this.showError(error);
        return;
      }
    }
    if (conversation.id === this.conversationId) this.startNew();
    await this.loadConversations(1);
  }
}
