// MusicConnect web: the service worker (scope "/"), build {{BUILD}}.
// Caches: the shell of this build (precached on install, old builds dropped on activate), API
// answers (network first, the cache only when offline) and downloaded audio ("mc-audio-v1": the
// streaming plugin's downloads store a track's audio at /offline-audio/<track id> and its JSON at
// /api/v1/streaming/tracks/<id>; this worker answers both from there, the JSON only offline).
// Every cache name is "mc-<what>-<version>".
const BUILD = "{{BUILD}}";
const SHELL_CACHE = `mc-shell-${BUILD}`;
const API_CACHE = "mc-api-v1";
const AUDIO_CACHE = "mc-audio-v1"; // offline downloads (the offline_downloads perk)
const TRACK_JSON = /^\/api\/v1\/streaming\/tracks\/[0-9a-f-]{36}$/;
const KEEP = new Set([SHELL_CACHE, API_CACHE, AUDIO_CACHE]);
const PRECACHE = {{PRECACHE}};

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL_CACHE).then((c) => c.addAll(PRECACHE)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((names) => Promise.all(names.filter((n) => n.startsWith("mc-") && !KEEP.has(n)).map((n) => caches.delete(n))))
    .then(() => self.clients.claim()));
});

// An answer the worker gives because the network failed carries "mc-offline: 1", so the app can
// tell (navigator.onLine is true on a network without the server)
function offlineCopy(hit) {
  const headers = new Headers(hit.headers);
  headers.set("mc-offline", "1");
  return new Response(hit.body, {status: hit.status, statusText: hit.statusText, headers});
}

async function networkFirst(request) {
  const cache = await caches.open(API_CACHE);
  try {
    const response = await fetch(request);
    if (response.ok && !request.headers.has("authorization")) cache.put(request, response.clone());
    return response;
  } catch (err) {
    const hit = await cache.match(request);
    if (hit) return offlineCopy(hit);
    return new Response(JSON.stringify({type: "/problems/offline", title: "Offline", status: 503,
                                        detail: "the server cannot be reached"}),
                        {status: 503, headers: {"content-type": "application/problem+json", "mc-offline": "1"}});
  }
}

async function navigation(request) {
  // network first; when the server cannot be reached, the app shell (precached: the app opens
  // offline, says so, and downloaded tracks still play), or the offline page without it
  try {
    return await fetch(request);
  } catch (err) {
    return (await caches.match("/", {cacheName: SHELL_CACHE})) || (await caches.match("/offline")) || Response.error();
  }
}

async function staticFile(request, url) {
  // immutable addresses: the cache first; other plugins' modules (not precached: they come and go
  // with their plugin) are kept when first loaded, so the screens opened online open offline too
  const hit = await caches.match(request);
  if (hit) return hit;
  const response = await fetch(request);
  if (response.ok && url.pathname.startsWith("/static/ext/")) {
    const copy = response.clone();
    caches.open(SHELL_CACHE).then((c) => c.put(request, copy));
  }
  return response;
}

async function offlineAudio(request, path) {
  // a downloaded track's audio, with byte ranges (the audio element asks for them)
  const hit = await (await caches.open(AUDIO_CACHE)).match(path);
  if (!hit) return new Response("not downloaded", {status: 404});
  const range = /^bytes=(\d*)-(\d*)$/.exec(request.headers.get("range") || "");
  if (!range) return hit;
  const body = await hit.blob();
  const start = range[1] ? Number(range[1]) : Math.max(0, body.size - Number(range[2]));
  const end = range[1] && range[2] ? Math.min(Number(range[2]), body.size - 1) : body.size - 1;
  if (start >= body.size || start > end) {
    return new Response(null, {status: 416, headers: {"content-range": `bytes */${body.size}`}});
  }
  return new Response(body.slice(start, end + 1), {status: 206, headers: {
    "content-type": hit.headers.get("content-type") || "audio/mp4", "content-length": String(end - start + 1),
    "content-range": `bytes ${start}-${end}/${body.size}`, "accept-ranges": "bytes"}});
}

async function trackJson(request, path) {
  // the track's JSON: the network; offline, the copy a download stored
  try {
    return await fetch(request);
  } catch (err) {
    const hit = await (await caches.open(AUDIO_CACHE)).match(path);
    if (hit) return offlineCopy(hit);
    throw err;
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/offline-audio/")) { event.respondWith(offlineAudio(request, url.pathname)); return; }
  if (TRACK_JSON.test(url.pathname)) { event.respondWith(trackJson(request, url.pathname)); return; }
  if (url.pathname.startsWith("/api/v1/streaming/") || url.pathname.startsWith("/media/")) return; // audio: the network
  if (url.pathname.startsWith("/api/")) { event.respondWith(networkFirst(request)); return; }
  if (request.mode === "navigate") {
    event.respondWith(navigation(request));
    return;
  }
  if (url.pathname.startsWith("/static/")) {
    event.respondWith(staticFile(request, url));
  }
});

// Web push (the notify plugin's channel): the message is JSON {id, kind, title, body, url}; the
// notification opens its page on a click (an open window of the app is focused and sent there).
self.addEventListener("push", (event) => {
  let data = {};
  try { data = event.data ? event.data.json() : {}; } catch (err) { data = {body: event.data ? event.data.text() : ""}; }
  const title = data.title || "MusicConnect";
  event.waitUntil(self.registration.showNotification(title, {
    body: data.body || "", tag: data.id || undefined, icon: PRECACHE.find((u) => u.endsWith("icon-192.png")),
    data: {url: data.url || "/", id: data.id, kind: data.kind},
  }));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = new URL((event.notification.data && event.notification.data.url) || "/", self.location.origin);
  if (target.origin !== self.location.origin) return; // only this site's pages
  event.waitUntil(self.clients.matchAll({type: "window", includeUncontrolled: true}).then((windows) => {
    const open = windows.find((w) => new URL(w.url).origin === target.origin);
    if (open) return open.focus().then((w) => (w || open).navigate(target.href));
    return self.clients.openWindow(target.href);
  }));
});
