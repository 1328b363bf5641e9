// Live notifications: one socket per page to the core's personal channel (/api/v1/realtime), opened
// while someone is signed in and a listener (the nav link, the inbox) wants it. The socket is
// authenticated with a single-use ticket (POST /api/v1/realtime/tickets, valid for seconds) in the
// address: the access token itself never goes into a URL. The server sends each new inbox row as
// {"type": "notification", id, kind, title, body, url}. A dropped socket is opened again after
// 1, 2, 4 ... 60 s (with jitter); 4404 (notify or the socket route disabled) stops trying.
// Listeners get {type: "notification", ...} messages and {type: "open"} / {type: "down"} on each
// change of state: "open" means "re-read what you show" (something may have been missed while the
// socket was down); while it is down they poll as before.
import { api, session } from "@musicconnect/api";

const listeners = new Set();
let ws = null;
let timer = null;
let attempt = 0;
let closing = null;
let stopped = false;   // refused for good (4404) on this page
let open = false;

function emit(message) {
  for (const fn of [...listeners]) {
    try { fn(message); } catch (err) { console.warn("live notifications listener", err); }
  }
}

function setOpen(value) {
  if (open === value) return;
  open = value;
  emit({type: value ? "open" : "down"});
}

function retry() {
  if (timer || stopped || !listeners.size || !session()) return;
  const wait = Math.min(60000, 1000 * 2 ** attempt) * (0.75 + Math.random() / 2);
  attempt += 1;
  timer = setTimeout(() => { timer = null; connect(); }, wait);
}

async function connect() {
  if (ws || stopped || !listeners.size || !session() || typeof WebSocket === "undefined") return;
  const pending = ws = {close() { this.cancelled = true; }};
  let ticket;
  try {
    ticket = (await api("realtime/tickets", {method: "POST"})).ticket;
  } catch (err) {
    ws = null;
    if (err && err.status === 404) { stopped = true; return; }   // no realtime on this server
    retry();
    return;
  }
  if (pending.cancelled || ws !== pending) { if (ws === pending) ws = null; return; }
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const sock = ws = new WebSocket(`${proto}://${location.host}/api/v1/realtime?ticket=${encodeURIComponent(ticket)}`);
  sock.onmessage = (event) => {
    let msg;
    try { msg = JSON.parse(event.data); } catch { return; }
    if (msg.type === "hello") { attempt = 0; setOpen(true); }
    else if (msg.type === "notification") emit(msg);
  };
  sock.onclose = (event) => {
    if (ws === sock) ws = null;
    setOpen(false);
    if (event.code === 4404) { stopped = true; return; }
    retry();
  };
}

function disconnect() {
  clearTimeout(timer);
  timer = null;
  attempt = 0;
  const sock = ws;
  ws = null;
  if (sock) { sock.onclose = null; sock.close(1000); }
  setOpen(false);
}

// a new session (sign in, token refresh keeps the socket) or a sign out
addEventListener("mc-session", () => {
  if (!session()) disconnect();
  else if (!ws && !timer) connect();
});
// back online: try now instead of waiting for the backoff
addEventListener("online", () => { if (!ws && listeners.size) { clearTimeout(timer); timer = null; attempt = 0; connect(); } });

/** Calls ``fn`` with each live message; returns the function that stops listening. */
export function listen(fn) {
  listeners.add(fn);
  clearTimeout(closing);
  closing = null;
  if (!ws && !timer) connect();
  return () => {
    listeners.delete(fn);
    // the last listener gone (a screen unmounted): close a little later, so that a screen that
    // replaces another one keeps the same socket
    if (!listeners.size) closing = setTimeout(() => { closing = null; if (!listeners.size) disconnect(); }, 2000);
  };
}

/** Whether the socket is open (the hello arrived): listeners poll only while it is not. */
export function isLive() { return open; }
