// MusicConnect web: the service worker (scope "/"), build {{BUILD}}.
// Caches: the shell of this build (precached on install, old builds dropped on activate), API
// answers (network first, the cache only when offline) and, later, downloaded audio: every cache
// name is "mc-<what>-<version>" so a future step adds "mc-audio-v1" without touching these.
const BUILD = "{{BUILD}}";
const SHELL_CACHE = `mc-shell-${BUILD}`;
const API_CACHE = "mc-api-v1";
const AUDIO_CACHE = "mc-audio-v1"; // reserved: offline downloads (the offline_downloads perk)
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

async function networkFirst(request) {
  const cache = await caches.open(API_CACHE);
  try {
    const response = await fetch(request);
    if (response.ok && !request.headers.has("authorization")) cache.put(request, response.clone());
    return response;
  } catch (err) {
    const hit = await cache.match(request);
    if (hit) return hit;
    return new Response(JSON.stringify({type: "/problems/offline", title: "Offline", status: 503,
                                        detail: "the server cannot be reached"}),
                        {status: 503, headers: {"content-type": "application/problem+json"}});
  }
}

async function navigation(request) {
  // network first; when the server cannot be reached, the offline page (precached)
  try {
    return await fetch(request);
  } catch (err) {
    return (await caches.match("/offline")) || Response.error();
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/api/v1/streaming/") || url.pathname.startsWith("/media/")) return; // audio: the network (offline audio comes later)
  if (url.pathname.startsWith("/api/")) { event.respondWith(networkFirst(request)); return; }
  if (request.mode === "navigate") {
    event.respondWith(navigation(request));
    return;
  }
  if (url.pathname.startsWith("/static/")) {
    event.respondWith(caches.match(request).then((hit) => hit || fetch(request)));
  }
});
