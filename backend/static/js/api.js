// The HTTP client: JSON requests, the chat event stream, and error messages a person can act on.

export class ApiError extends Error {
  /**
   * status 0 means the server could not be reached. retryAfter is in seconds (429 / 503).
   */
  constructor(status, message, { retryAfter = null } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.retryAfter = retryAfter;
  }

  get retryable() {
    return this.status === 0 || this.status === 503 || this.status >= 500;
  }
}

/** FastAPI details are a string, or a list of {loc, msg} for 422. */
function detailText(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail) && detail.length) {
    return detail
      .map((item) => {
        const field = Array.isArray(item.loc) ? item.loc.filter((p) => p !== "body").join(".") : "";
        return field ? `${field}: ${item.msg}` : item.msg;
      })
      .join("; ");
  }
  return "";
}

/** What to tell the person for each status: what happened and what to do next. */
export function messageFor(status, detail, retryAfter) {
  switch (status) {
    case 0:
      return "Can't reach the server. Check that todo-agent is running, then try again.";
    case 401:
      return "Your session has expired or the token is not valid. Sign in again.";
    case 403:
      return "This token belongs to a different user. Sign in again.";
    case 404:
      return detail || "Not found. It may have been deleted.";
    case 409:
      return "The assistant is still answering in this conversation. Wait for it to finish.";
    case 413:
      return "That is too long to send.";
    case 422:
      return detail ? `Invalid input: ${detail}` : "Invalid input.";
    case 429:
      return `Too many requests. Wait ${retryAfter ?? "a few"} s and try again.`;
    case 503:
      return `${detail || "The service is unavailable right now"}. Try again in a moment.`;
    default:
      return status >= 500 ? "Something went wrong on the server. Try again." : detail || `Error ${status}`;
  }
}

async function errorFrom(response) {
  let detail = "";
  try {
    detail = detailText((await response.json()).detail);
  } catch {
    // Not JSON (a proxy's error page): the status alone decides the message.
  }
  const header = response.headers.get("Retry-After");
  const retryAfter = header && /^\d+$/.test(header) ? Number(header) : null;
  return new ApiError(response.status, messageFor(response.status, detail, retryAfter), {
    retryAfter,
  });
}

export class Api {
  /**
   * getToken() returns the current bearer token; onUnauthorized(error) runs on any 401 so the
   * page can send the person back to the sign-in form.
   */
  constructor(getToken, onUnauthorized) {
    this.getToken = getToken;
    this.onUnauthorized = onUnauthorized;
  }

  async _fetch(method, path, { body, signal, accept = "application/json" } = {}) {
    const headers = { Accept: accept, Authorization: `Bearer ${this.getToken()}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
        cache: "no-store",
      });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ApiError(0, messageFor(0));
    }
    if (!response.ok) {
      const error = await errorFrom(response);
      if (error.status === 401) this.onUnauthorized(error);
      throw error;
    }
    return response;
  }

  async request(method, path, body) {
    const response = await this._fetch(method, path, { body });
    if (response.status === 204) return null;
    return response.json();
  }

  /**
   * POST to a text/event-stream route and yield each event's parsed JSON until `data: [DONE]`.
   * fetch + ReadableStream because EventSource can neither POST nor send headers.
   */
  async *stream(path, body, signal) {
    const response = await this._fetch("POST", path, { body, signal, accept: "text/event-stream" });
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    try {
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let boundary;
        while ((boundary = buffer.search(/\r?\n\r?\n/)) !== -1) {
          const block = buffer.slice(0, boundary);
          buffer = buffer.slice(boundary).replace(/^\r?\n\r?\n/, "");
          const data = block
            .split(/\r?\n/)
            .filter((line) => line.startsWith("data:"))
            .map((line) => line.slice(5).replace(/^ /, ""))
            .join("\n");
          if (!data) continue; // comments / keep-alives
          if (data === "[DONE]") return;
          try {
            yield JSON.parse(data);
          } catch {
            // A malformed event is skipped rather than ending the whole reply.
          }
        }
      }
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ApiError(0, "The connection was lost before the reply finished. Try again.");
    } finally {
      reader.releaseLock();
    }
  }
}
