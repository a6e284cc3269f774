// The sign-in token: read once from the "#token=…" link, kept in this tab's sessionStorage.
// The fragment is never sent to the server; it is removed from the address bar at once so it
// does not linger in history or get copied along with the URL.

const STORAGE_KEY = "todo-agent.token";

/**
 * Take a token out of the URL fragment (and the address bar). Returns it, or null when there is
 * none. It is not stored yet: the page first checks whose it is (see `acceptsLinkToken`).
 */
export function takeTokenFromUrl() {
  const fragment = new URLSearchParams(window.location.hash.replace(/^#/, ""));
  const token = fragment.get("token");
  if (!token) return null;
  history.replaceState(null, "", window.location.pathname + window.location.search);
  return token.trim();
}

/**
 * Whether a sign-in link's token may replace the current session. A link is easy to plant (a
 * page or a mail can open /#token=<the attacker's token>); switching silently would let the user
 * type their todos into someone else's account. So a link for another user than the one signed
 * in asks first; a link for the same user (a fresh token) or with nobody signed in is taken.
 */
export function acceptsLinkToken(token, confirmSwitch) {
  const current = readClaims(storedToken());
  const next = readClaims(token);
  if (!current || isExpired(current) || !next || next.sub === current.sub) return true;
  return confirmSwitch(current.sub, next.sub);
}

export function storedToken() {
  return sessionStorage.getItem(STORAGE_KEY);
}

export function storeToken(token) {
  sessionStorage.setItem(STORAGE_KEY, token);
}

export function clearToken() {
  sessionStorage.removeItem(STORAGE_KEY);
}

/**
 * The claims of a JWT, read without verifying it: the page only needs `sub` (the user id in the
 * API paths) and `exp`. The server verifies the signature on every request.
 */
export function readClaims(token) {
  const parts = (token || "").split(".");
  if (parts.length !== 3) return null;
  try {
    const base64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
    const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    if (typeof claims.sub !== "string" || !claims.sub) return null;
    return claims;
  } catch {
    return null;
  }
}

export function isExpired(claims) {
  return typeof claims.exp === "number" && claims.exp * 1000 <= Date.now();
}

/** Accept "Bearer eyJ…", a whole sign-in link, or the bare token. */
export function normalizePastedToken(text) {
  let value = (text || "").trim();
  const inLink = value.match(/#token=([^&\s]+)/);
  if (inLink) value = inLink[1];
  return value.replace(/^Bearer\s+/i, "").trim();
}
