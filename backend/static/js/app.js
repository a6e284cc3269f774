// Entry point: sign-in state, the two views (tasks, chat) and the phone-width tabs.

import { Api } from "./api.js";
import { Chat } from "./chat.js";
import { show } from "./dom.js";
import {
  acceptsLinkToken,
  clearToken,
  isExpired,
  normalizePastedToken,
  readClaims,
  storeToken,
  storedToken,
  takeTokenFromUrl,
} from "./session.js";
import { TaskList } from "./tasks.js";

const $ = (id) => document.getElementById(id);

const state = { tasks: null, chat: null, refreshTimer: null };

const api = new Api(
  () => storedToken(),
  (error) => signOut(error.message),
);

function showSignIn(message) {
  show($("workspace"), false);
  show($("account"), false);
  show($("sign-in"), true);
  const error = $("sign-in-error");
  error.textContent = message || "";
  show(error, Boolean(message));
  $("token-input").focus();
}

function signOut(message) {
  clearToken();
  if (state.tasks) state.tasks.destroy();
  if (state.chat) state.chat.destroy();
  state.tasks = state.chat = null;
  showSignIn(message);
}

/** Several tool calls in one reply refresh the list once. */
function refreshTasksSoon() {
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(() => state.tasks && state.tasks.load(), 150);
}

function selectView(name) {
  const views = { tasks: [$("tab-tasks"), $("tasks-panel")], chat: [$("tab-chat"), $("chat-panel")] };
  for (const [view, [tab, panel]] of Object.entries(views)) {
    tab.setAttribute("aria-pressed", String(view === name));
    panel.classList.toggle("is-active", view === name);
  }
}

function startWorkspace(token) {
  const claims = readClaims(token);
  if (!claims) {
    signOut("That is not a valid token. Paste the whole token, or open the sign-in link again.");
    return;
  }
  if (isExpired(claims)) {
    signOut("Your session has expired. Sign in again with a new link or token.");
    return;
  }
  show($("sign-in"), false);
  show($("sign-in-error"), false);
  $("user-name").textContent = claims.sub;
  show($("account"), true);
  show($("workspace"), true);
  state.tasks = new TaskList(api, claims.sub);
  state.chat = new Chat(api, claims.sub, refreshTasksSoon, () => selectView("chat"));
  state.tasks.load();
  state.chat.loadConversations(1);
}

function confirmSwitch(currentUser, linkUser) {
  return window.confirm(
    `This link signs in as "${linkUser}", but you are signed in as "${currentUser}".\n\n` +
      `Switch to "${linkUser}"? Choose Cancel unless you opened this link yourself.`,
  );
}

/** A token from a sign-in link, stored if it may replace the session. True when stored. */
function takeLinkToken() {
  const token = takeTokenFromUrl();
  if (!token || !acceptsLinkToken(token, confirmSwitch)) return false;
  storeToken(token);
  return true;
}

function boot() {
  takeLinkToken();
  const token = storedToken();
  if (token) startWorkspace(token);
  else showSignIn();
}

$("sign-in-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const token = normalizePastedToken($("token-input").value);
  if (!token) {
    showSignIn("Paste a token first.");
    return;
  }
  $("token-input").value = "";
  storeToken(token);
  startWorkspace(token);
});

$("token-input").addEventListener("keydown", (event) => {
  // A token has no line breaks: Enter signs in, like a one-line field.
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    $("sign-in-form").requestSubmit();
  }
});

$("sign-out").addEventListener("click", () => signOut());
$("tab-tasks").addEventListener("click", () => selectView("tasks"));
$("tab-chat").addEventListener("click", () => selectView("chat"));

// Opening another sign-in link in this tab changes only the fragment: no reload happens.
window.addEventListener("hashchange", () => {
  if (takeLinkToken()) {
    if (state.tasks) state.tasks.destroy();
    if (state.chat) state.chat.destroy();
    state.tasks = state.chat = null;
    startWorkspace(storedToken());
  }
});

boot();
