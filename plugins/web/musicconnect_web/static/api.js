// The API client: the signed-in session (tokens in localStorage), JSON calls with one refresh on a
// 401, and errors that keep the RFC 9457 problem (type, detail, required_tier...).
const KEY = "mc.session";

export function session() {
  try { return JSON.parse(localStorage.getItem(KEY)); } catch { return null; }
}

export function setSession(value) {
  if (value) localStorage.setItem(KEY, JSON.stringify(value));
  else localStorage.removeItem(KEY);
  dispatchEvent(new Event("mc-session"));
}

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
    this.type = (this.problem.type || "").replace("/problems/", "");
  }
}

let refreshing = null;

async function refresh() {
  const s = session();
  if (!s || !s.refresh_token) return false;
  refreshing = refreshing || fetch("/api/v1/auth/refresh", {
    method: "POST", headers: {"content-type": "application/json"},
    body: JSON.stringify({refresh_token: s.refresh_token}),
  }).then(async (r) => {
    if (!r.ok) { setSession(null); return false; }
    setSession({...s, ...(await r.json())});
    return true;
  }).finally(() => { refreshing = null; });
  return refreshing;
}

// Whether the server answered the last request: "mc-offline" / "mc-online" events on a change
let reachable = true;
export function online() { return reachable; }
function reach(yes) {
  if (yes !== reachable) { reachable = yes; dispatchEvent(new Event(yes ? "mc-online" : "mc-offline")); }
}

export function authHeader() {
  const s = session();
  return s && s.access_token ? {authorization: `Bearer ${s.access_token}`} : {};
}

export async function api(path, {method = "GET", body, auth = true} = {}) {
  const url = path.startsWith("/") ? path : `/api/v1/${path}`;
  const send = () => fetch(url, {
    method,
    headers: {accept: "application/json", ...(auth ? authHeader() : {}),
              ...(body === undefined ? {} : {"content-type": "application/json"})},
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let r;
  try {
    r = await send();
  } catch (err) {
    reach(false);
    throw err;
  }
  reach(!r.headers.get("mc-offline"));  // the service worker marks what it answered without the server
  if (r.status === 401 && auth && session() && await refresh()) r = await send();
  if (r.status === 204) return null;
  const json = (r.headers.get("content-type") || "").includes("json");
  const data = json ? await r.json() : await r.text();
  if (!r.ok) throw new ApiError(r.status, json ? data : {detail: data});
  return data;
}

export async function signIn(email, password) {
  const tokens = await api("auth/login", {method: "POST", body: {email, password}, auth: false});
  setSession(tokens);
  const user = await api("me");
  setSession({...tokens, user});
  return user;
}

export async function signUp(email, password, display_name) {
  const out = await api("auth/register", {method: "POST", auth: false,
                                          body: {email, password, role: "fan", ...(display_name ? {display_name} : {})}});
  setSession({...out.tokens, user: out.user});
  return out.user;
}

export async function signOut() {
  const s = session();
  if (s && s.refresh_token) {
    try { await api("auth/logout", {method: "POST", body: {refresh_token: s.refresh_token}, auth: false}); } catch {}
  }
  setSession(null);
}
