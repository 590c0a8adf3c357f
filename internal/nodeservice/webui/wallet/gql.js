// The wallet's two links to the node service: GraphQL queries and mutations
// by POST, and subscriptions over the graphql-transport-ws protocol
// (connection_init, connection_ack, subscribe, next, error, complete,
// ping/pong), written by hand so the page has no dependency.

const TOKEN_KEY = "mica.token";

// The bearer token: taken once from ?token= (then removed from the address
// bar and history), kept in sessionStorage for this tab only.
export function initToken() {
  try {
    const params = new URLSearchParams(window.location.search);
    if (params.has("token")) {
      setToken(params.get("token"));
      params.delete("token");
      const q = params.toString();
      history.replaceState(null, "", window.location.pathname + (q ? "?" + q : "") + window.location.hash);
    }
  } catch (e) {
    // No sessionStorage (a sandboxed frame): work without a token.
  }
}

export function getToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  } catch (e) {
    return "";
  }
}

export function setToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch (e) {
    // Ignore: the token then lasts as long as the page.
  }
}

function authHeaders() {
  const token = getToken();
  return token ? { Authorization: "Bearer " + token } : {};
}

// GraphQLError carries the messages of a response's "errors" (or the HTTP
// status when there is no GraphQL answer).
export class GraphQLError extends Error {
  constructor(message, status) {
    super(message);
    this.name = "GraphQLError";
    this.status = status;
  }
}

// query POSTs one operation to the system endpoint and returns its data, or
// throws a GraphQLError with every error message.
export async function query(text, variables) {
  const { data, errors } = await queryPartial(text, variables);
  if (errors) throw errors;
  return data;
}

// queryPartial is query for reads that can use part of an answer: it returns
// { data, errors } where errors (a GraphQLError, or null) came with data that
// is not null. It throws when there is no data at all.
export async function queryPartial(text, variables) {
  let resp;
  try {
    resp = await fetch("/", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json", ...authHeaders() },
      body: JSON.stringify({ query: text, variables: variables || {} }),
    });
  } catch (e) {
    throw new GraphQLError("The node service cannot be reached (" + e.message + ").", 0);
  }
  let body = null;
  const raw = await resp.text();
  try {
    body = JSON.parse(raw);
  } catch (e) {
    body = null;
  }
  let errors = null;
  if (body && Array.isArray(body.errors) && body.errors.length > 0) {
    errors = new GraphQLError(body.errors.map((e) => (e && e.message) || String(e)).join("; "), resp.status);
    if (!body.data) throw errors;
  }
  if (!resp.ok) {
    let msg = "HTTP " + resp.status;
    if (resp.status === 401 || resp.status === 403) {
      msg += ": the node service wants a bearer token for this (open the page with ?token=…, or set it under Access token)";
    } else if (raw) {
      msg += ": " + raw.slice(0, 300).trim();
    }
    throw new GraphQLError(msg, resp.status);
  }
  if (!body || typeof body !== "object" || !("data" in body)) {
    throw new GraphQLError("The node service sent an answer that is not GraphQL.", resp.status);
  }
  return { data: body.data, errors };
}

// Subscriptions keeps one graphql-transport-ws connection to path on this
// host, reconnecting with backoff. Subscriptions are re-sent after every
// reconnect; onStatus(state) reports "connecting", "live" or "offline", and
// onReconnect() runs after a connection other than the first is acknowledged
// (the page then refreshes what it may have missed).
export class Subscriptions {
  constructor(path, { onStatus, onReconnect } = {}) {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    this.url = scheme + "//" + window.location.host + path;
    this.onStatus = onStatus || (() => {});
    this.onReconnect = onReconnect || (() => {});
    this.subs = new Map();
    this.nextId = 1;
    this.ws = null;
    this.acked = false;
    this.everAcked = false;
    this.backoff = 500;
    this.closed = false;
    this.timer = null;
  }

  // subscribe starts an operation; handlers.next(data) gets each result,
  // handlers.error(message) a failure. Returns a function that stops it.
  subscribe(text, variables, handlers) {
    const id = String(this.nextId++);
    this.subs.set(id, { payload: { query: text, variables: variables || {} }, handlers });
    if (this.acked) this.send({ id, type: "subscribe", payload: this.subs.get(id).payload });
    else if (!this.ws) this.connect();
    return () => {
      if (this.subs.delete(id) && this.acked) this.send({ id, type: "complete" });
    };
  }

  close() {
    this.closed = true;
    if (this.ws) this.ws.close(1000, "closed");
  }

  send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  connect() {
    if (this.closed) return;
    this.onStatus("connecting");
    let ws;
    try {
      ws = new WebSocket(this.url, "graphql-transport-ws");
    } catch (e) {
      this.retry("offline", 0);
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      const token = getToken();
      this.send({ type: "connection_init", payload: token ? { Authorization: "Bearer " + token } : {} });
    };
    ws.onmessage = (ev) => {
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch (e) {
        return;
      }
      if (!msg || typeof msg !== "object") return;
      switch (msg.type) {
        case "connection_ack": {
          const again = this.everAcked;
          this.acked = true;
          this.everAcked = true;
          this.backoff = 500;
          this.onStatus("live");
          for (const [id, s] of this.subs) this.send({ id, type: "subscribe", payload: s.payload });
          if (again) this.onReconnect();
          break;
        }
        case "ping":
          this.send({ type: "pong" });
          break;
        case "next": {
          const s = this.subs.get(msg.id);
          if (!s) break;
          const p = msg.payload || {};
          if (Array.isArray(p.errors) && p.errors.length > 0 && s.handlers.error) {
            s.handlers.error(p.errors.map((e) => e.message).join("; "));
          }
          if (p.data && s.handlers.next) s.handlers.next(p.data);
          break;
        }
        case "error": {
          const s = this.subs.get(msg.id);
          this.subs.delete(msg.id);
          if (s && s.handlers.error) {
            const errs = Array.isArray(msg.payload) ? msg.payload : [msg.payload];
            s.handlers.error(errs.map((e) => (e && e.message) || String(e)).join("; "));
          }
          break;
        }
        case "complete": {
          const s = this.subs.get(msg.id);
          this.subs.delete(msg.id);
          if (s && s.handlers.complete) s.handlers.complete();
          break;
        }
        default:
          break;
      }
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      const wasAcked = this.acked;
      this.ws = null;
      this.acked = false;
      // 4401 Unauthorized, 4403 Forbidden, or a clean close before the
      // server acknowledged connection_init (what gqlgen does when its init
      // check fails): the token is missing or wrong. Retrying soon would not
      // help; a new token reconnects at once.
      const refused = ev.code === 4401 || ev.code === 4403 || (!wasAcked && ev.code === 1000);
      this.retry(refused ? "refused" : "offline", refused ? 30000 : 0);
    };
  }

  // reconnect drops the connection and opens a new one now (after the token
  // changed).
  reconnect() {
    this.backoff = 500;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const ws = this.ws;
    this.ws = null;
    this.acked = false;
    if (ws) ws.close(1000, "reconnect");
    this.connect();
  }

  retry(status, atLeast) {
    if (this.closed) return;
    this.onStatus(status || "offline");
    const wait = Math.max(this.backoff, atLeast || 0);
    this.backoff = Math.min(this.backoff * 2, 10000);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect();
    }, wait);
  }
}
