// Offline downloads (docs/streaming.md, "Plays and downloads"): the server grants each download
// (POST /api/v1/streaming/tracks/{id}/download) and counts it against the tier's offline_downloads
// perk; the app only stores the granted file. Audio goes into the Cache API ("mc-audio-v1", key
// /offline-audio/<track id>, which the service worker answers offline and the player plays), with
// the track's JSON (key /api/v1/streaming/tracks/<id>) so that the track screen opens offline.
// A small index in localStorage keeps titles and the allowance the server last reported.
import { api } from "@musicconnect/api";

export const AUDIO_CACHE = "mc-audio-v1";
export const audioKey = (id) => `/offline-audio/${id}`;
const trackKey = (id) => `/api/v1/streaming/tracks/${id}`;
const INDEX = "mc.downloads";
const ALLOWANCE = "mc.downloads.allowance";

function read(key, fallback) {
  try { return JSON.parse(localStorage.getItem(key)) || fallback; } catch { return fallback; }
}

export function index() { return read(INDEX, {}); }

// the allowance as the server reported it on the last download, while still this month (UTC)
export function allowance() {
  const a = read(ALLOWANCE, null);
  const month = new Date().toISOString().slice(0, 7);
  return a && a.month === month ? a : null;
}

// the offline_downloads perk the signed-in fan holds for this artist (0 without one)
export async function perkFor(artistId) {
  const held = await api("me/entitlements");
  let best = 0;
  for (const e of held) {
    if (e.artist_id !== artistId || !e.effective) continue;
    best = Math.max(best, Number(((e.tier || {}).perks || {}).offline_downloads) || 0);
  }
  return best;
}

export async function isDownloaded(id) {
  if (!("caches" in self)) return false;
  const cache = await caches.open(AUDIO_CACHE);
  return Boolean(await cache.match(audioKey(id)));
}

export async function download(track) {
  const grant = await api(`streaming/tracks/${encodeURIComponent(track.id)}/download`, {method: "POST"});
  const r = await fetch(grant.url);
  if (!r.ok) throw new Error(`The download failed (HTTP ${r.status}).`);
  const body = await r.blob();
  const cache = await caches.open(AUDIO_CACHE);
  await cache.put(audioKey(track.id), new Response(body, {headers: {
    "content-type": r.headers.get("content-type") || "audio/mp4", "content-length": String(body.size)}}));
  await cache.put(trackKey(track.id), new Response(JSON.stringify(track), {headers: {"content-type": "application/json"}}));
  const all = index();
  all[track.id] = {title: track.title, artist_id: track.artist_id, filename: grant.filename,
                   size: body.size, downloaded_at: new Date().toISOString()};
  localStorage.setItem(INDEX, JSON.stringify(all));
  localStorage.setItem(ALLOWANCE, JSON.stringify({used: grant.used_this_month, limit: grant.monthly_limit,
                                                   month: new Date().toISOString().slice(0, 7)}));
  dispatchEvent(new Event("mc-downloads"));
  return grant;
}

export async function remove(id) {
  const cache = await caches.open(AUDIO_CACHE);
  await cache.delete(audioKey(id));
  await cache.delete(trackKey(id));
  const all = index();
  delete all[id];
  localStorage.setItem(INDEX, JSON.stringify(all));
  dispatchEvent(new Event("mc-downloads"));
}

// The check: every stored download is asked of the server again; a track the fan may no longer
// play, or whose artist no longer gives them the offline_downloads perk (the membership ended),
// is deleted from the cache. Offline (the network fails) nothing is deleted.
export async function check() {
  if (!("caches" in self) || !navigator.onLine) return [];
  const cache = await caches.open(AUDIO_CACHE);
  const stored = (await cache.keys()).map((req) => new URL(req.url).pathname)
    .filter((p) => p.startsWith("/offline-audio/")).map((p) => p.slice("/offline-audio/".length));
  const known = index();
  let held;
  try { held = await api("me/entitlements"); } catch (err) {
    if (err.status === 401) held = []; else return [];   // signed out: nothing is held
  }
  const perks = {};
  for (const e of held) {
    if (!e.effective) continue;
    perks[e.artist_id] = Math.max(perks[e.artist_id] || 0, Number(((e.tier || {}).perks || {}).offline_downloads) || 0);
  }
  const removed = [];
  for (const id of stored) {
    let artistId = (known[id] || {}).artist_id;
    let refused = false;
    try {
      const track = await api(`streaming/tracks/${encodeURIComponent(id)}`);
      artistId = track.artist_id;
    } catch (err) {
      if (err.status === 401 || err.status === 403 || err.status === 404) refused = true;
      else continue;   // the server could not be asked: keep it until the next check
    }
    if (refused || !perks[artistId]) {
      await remove(id);
      removed.push((known[id] || {}).title || id);
    }
  }
  return removed;
}
