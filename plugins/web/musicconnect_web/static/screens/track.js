// A track and its player: hls.js plays the streaming plugin's encrypted HLS (the master playlist
// hands out the playback token the variant and key links carry), with play/pause, seek, the
// waveform, keyboard control and Media Session metadata. A track the fan may not play shows the
// tier it needs (the 403 problem's required_tier), never a broken player.
// Listening is reported to the streaming plugin's plays API (a session started on the first play,
// progress every few seconds, on pause and when leaving, "complete" at the end) so that plays made
// in the app count; the server decides whether a play counts. A track downloaded for offline
// listening (Cache "mc-audio-v1", key OFFLINE_AUDIO + track id) plays from that cache instead of HLS.
// The play queue (./queue.js): "Up next" under the player, Previous/Next (also the Media Session's
// previoustrack/nexttrack), the next track opens and plays when one ends. Quality: "Auto" (hls.js
// adapts across the 128k/256k/320k variants) or one chosen variant, kept in localStorage.
// Start-up: the master playlist, the chosen variant and its key and first segments load while the
// page opens (hls.js starts loading on attach), so pressing Play only starts the decoder.
import { useEffect, useRef, useState } from "preact/hooks";
import { ErrorNote, Link, Loading, Slot, html, title, useLoad } from "../ui.js";
import { api, authHeader, session } from "../api.js";
import { QueueList, advance, back, takeAutoplay, useQueue } from "./queue.js";

// hls.js starts loading as soon as this module does (the route opened), not after the track's JSON
const HLS = import("hls.js");

async function load(id) {
  try {
    const track = await api(`streaming/tracks/${encodeURIComponent(id)}`);
    const artist = await api(`artists/${track.artist_id}`, {auth: false}).catch(() => null);
    return {track, artist};
  } catch (err) {
    if (err.status === 401 || err.status === 403) return {refused: err};
    throw err;
  }
}

const OFFLINE_AUDIO = "/offline-audio/";
const REPORT_EVERY_MS = 5000;

function clientId() {
  // anonymous listeners name this browser (docs/streaming.md: client_id); ignored when signed in
  let id = localStorage.getItem("mc.client-id");
  if (!id) { id = crypto.randomUUID(); localStorage.setItem("mc.client-id", id); }
  return id;
}

// One listening session per playback of a track: started on the first "play", reported while
// playing; a failed report is dropped (the next one carries the newer position).
function usePlayReports(trackId, audio) {
  const state = useRef({session: null, starting: null, timer: null, done: false});
  useEffect(() => {
    const st = state.current = {session: null, starting: null, timer: null, done: false};
    const el = audio.current;
    const start = () => {
      if (st.session || st.starting) return st.starting;
      const body = {track_id: trackId, ...(session() ? {} : {client_id: clientId()})};
      st.starting = api("streaming/plays", {method: "POST", body})
        .then((r) => { st.session = r.session_id; return r.session_id; }, () => null)
        .finally(() => { st.starting = null; });
      return st.starting;
    };
    const report = async (event, keepalive = false) => {
      const id = st.session || await start();
      if (!id) return;
      const body = {event, position: Math.max(0, el.currentTime || 0)};
      if (keepalive) {
        fetch(`/api/v1/streaming/plays/${id}`, {method: "POST", keepalive: true,
          headers: {"content-type": "application/json", ...authHeader()}, body: JSON.stringify(body)}).catch(() => {});
        return;
      }
      try { await api(`streaming/plays/${id}`, {method: "POST", body}); } catch {}
    };
    const tick = () => { clearInterval(st.timer); st.timer = setInterval(() => report("progress"), REPORT_EVERY_MS); };
    const onPlay = () => {
      if (st.done) { st.session = null; st.done = false; }   // played again after the end: a new session
      start(); tick();
    };
    const onPause = () => { clearInterval(st.timer); if (!el.ended && st.session) report("progress"); };
    const onEnded = () => { clearInterval(st.timer); report("complete"); st.done = true; };
    const onHide = () => { if (st.session && !st.done && !el.paused) report("progress", true); };
    el.addEventListener("play", onPlay);
    el.addEventListener("pause", onPause);
    el.addEventListener("ended", onEnded);
    addEventListener("pagehide", onHide);
    return () => {
      clearInterval(st.timer);
      if (st.session && !st.done && el.currentTime > 0) report("progress", true);
      el.removeEventListener("play", onPlay);
      el.removeEventListener("pause", onPause);
      el.removeEventListener("ended", onEnded);
      removeEventListener("pagehide", onHide);
    };
  }, [trackId]);
}

async function offlineAudio(trackId) {
  // the address of this track's downloaded audio, when the streaming plugin's downloads stored it
  if (!("caches" in self)) return null;
  try {
    const cache = await caches.open("mc-audio-v1");
    const key = OFFLINE_AUDIO + trackId;
    return (await cache.match(key)) ? key : null;
  } catch { return null; }
}

const QUALITY = "mc.quality";   // "auto" or a variant's name ("256k")

// a variant's name from its playlist address ("…/256k/index.m3u8?pt=…")
const variantName = (url) => ((url || "").match(/\/(\d+k)\/index\.m3u8/) || [])[1] || null;
const kbits = (name) => `${parseInt(name, 10)} kbit/s`;

function clock(seconds) {
  if (!Number.isFinite(seconds)) return "0:00";
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function Refused({error, id}) {
  const p = error.problem || {};
  const tier = p.required_tier;
  if (error.status === 401) {
    return html`<section class="gated" role="status">
      <h1>Sign in to listen</h1>
      <p>This track is for members. ${p.detail || ""}</p>
      <p><${Link} class="button" href=${`/signin?next=/tracks/${id}`}>Sign in</${Link}>
         ${" "}<${Link} href=${`/signup?next=/tracks/${id}`}>Sign up</${Link}></p>
    </section>`;
  }
  return html`<section class="gated" role="status">
    <h1>Members only</h1>
    ${tier ? html`<p id="tier-needed">This track needs the <strong>${tier.name}</strong> tier or above.</p>`
           : html`<p id="tier-needed">${p.reason || p.detail || "You cannot play this track."}</p>`}
    ${session() ? null : html`<p><${Link} href=${`/signin?next=/tracks/${id}`}>Sign in</${Link}> if you are a member.</p>`}
  </section>`;
}

function Waveform({peaks, position, duration, onSeek}) {
  const canvas = useRef(null);
  useEffect(() => {
    const c = canvas.current;
    if (!c || !peaks || !peaks.length) return;
    const w = c.clientWidth * devicePixelRatio, h = c.clientHeight * devicePixelRatio;
    c.width = w; c.height = h;
    const g = c.getContext("2d");
    g.clearRect(0, 0, w, h);
    const played = duration ? position / duration : 0;
    const bar = w / peaks.length;
    peaks.forEach((p, i) => {
      g.fillStyle = i / peaks.length < played ? "#8f7bff" : "#4a4566";
      const ph = Math.max(1, p * h * 0.95);
      g.fillRect(i * bar, (h - ph) / 2, Math.max(1, bar - 0.5), ph);
    });
  }, [peaks, position, duration]);
  const click = (e) => {
    const r = e.currentTarget.getBoundingClientRect();
    if (duration) onSeek(((e.clientX - r.left) / r.width) * duration);
  };
  return html`<canvas ref=${canvas} role="img" aria-label="Waveform; the played part is highlighted" onClick=${click}></canvas>`;
}

function Player({track, artist}) {
  const audio = useRef(null);
  const hlsRef = useRef(null);
  const [playing, setPlaying] = useState(false);
  const [position, setPosition] = useState(0);
  const [duration, setDuration] = useState((track.extra.streaming || {}).duration || 0);
  const [error, setError] = useState(null);
  const [peaks, setPeaks] = useState(null);
  const [offline, setOffline] = useState(false);
  const [levels, setLevels] = useState([]);          // [{index, name, bitrate}] from hls.js
  const [level, setLevel] = useState(-1);            // the variant playing (-1: not known yet)
  const [choice, setChoice] = useState(localStorage.getItem(QUALITY) || "auto");
  const q = useQueue();
  const streaming = track.extra.streaming || {};
  const current = {id: track.id, title: track.title, artist: artist ? artist.name : ""};
  usePlayReports(track.id, audio);

  useEffect(() => {
    const el = audio.current;
    let hls = null;
    let gone = false;
    const autoplay = takeAutoplay(track.id);
    const start = () => { if (autoplay && !gone) el.play().catch(() => {}); };
    offlineAudio(track.id).then((cached) => {
      if (gone) return;
      if (cached) { el.src = cached; setOffline(true); start(); return; }  // the service worker answers from the cache
      return HLS.then(({default: Hls}) => {
      if (gone) return;
      if (Hls.isSupported()) {
        const wanted = localStorage.getItem(QUALITY) || "auto";
        hls = hlsRef.current = new Hls({
          // the master playlist of a gated track needs the listener's sign-in; every later link
          // carries the playback token instead
          xhrSetup: (xhr, url) => {
            if (new URL(url, location.href).origin === location.origin) {
              const h = authHeader();
              if (h.authorization) xhr.setRequestHeader("Authorization", h.authorization);
            }
          },
          maxBufferLength: 30,
        });
        hls.on(Hls.Events.MANIFEST_PARSED, (_, data) => {
          const found = data.levels.map((l, index) => ({index, name: variantName(l.uri || (l.url && l.url[0])) || `${Math.round(l.bitrate / 1000)}k`,
                                                        bitrate: l.bitrate}));
          setLevels(found);
          const pick = found.find((l) => l.name === wanted);
          if (pick) hls.currentLevel = pick.index;
          start();
        });
        hls.on(Hls.Events.LEVEL_SWITCHED, (_, data) => setLevel(data.level));
        hls.on(Hls.Events.ERROR, (_, data) => {
          if (!data.fatal) return;
          const code = data.response && data.response.code;
          setError(data.details === "keyLoadError" && (code === 401 || code === 403)
            ? "Your membership no longer includes this track." : `Playback failed (${data.details}).`);
          setPlaying(false);
        });
        hls.loadSource(streaming.master_playlist);
        hls.attachMedia(el);
      } else if (el.canPlayType("application/vnd.apple.mpegurl")) {
        el.src = streaming.master_playlist;  // Safari plays HLS itself
        start();
      } else {
        setError("This browser cannot play HLS audio.");
      }
    }, () => setError("The player could not be loaded."));
    });
    return () => { gone = true; hlsRef.current = null; if (hls) hls.destroy(); };
  }, [track.id]);

  useEffect(() => {
    if (!streaming.waveform) return;
    api(streaming.waveform).then((w) => setPeaks(w.peaks || []), () => setPeaks(null));
  }, [track.id]);

  const next = () => advance(current);
  const previous = () => {
    const el = audio.current;
    if (el.currentTime > 3 || !back(current)) { el.currentTime = 0; setPosition(0); }
  };

  useEffect(() => {
    if (!("mediaSession" in navigator)) return;
    const covers = streaming.covers || {};
    navigator.mediaSession.metadata = new MediaMetadata({
      title: track.title, artist: artist ? artist.name : "", album: "",
      artwork: Object.entries(covers).map(([size, src]) => ({src, sizes: `${size}x${size}`, type: "image/jpeg"})),
    });
    const el = audio.current;
    const handlers = {
      play: () => el.play(), pause: () => el.pause(),
      seekbackward: (d) => { el.currentTime = Math.max(0, el.currentTime - (d.seekOffset || 10)); },
      seekforward: (d) => { el.currentTime = Math.min(el.duration || 0, el.currentTime + (d.seekOffset || 10)); },
      seekto: (d) => { el.currentTime = d.seekTime; },
      previoustrack: previous,
      nexttrack: q.next.length ? next : null,   // no "next" on the lock screen when nothing is queued
    };
    for (const [k, fn] of Object.entries(handlers)) { try { navigator.mediaSession.setActionHandler(k, fn); } catch {} }
    return () => { for (const k of Object.keys(handlers)) { try { navigator.mediaSession.setActionHandler(k, null); } catch {} } };
  }, [track.id, q.next.length]);

  const toggle = () => {
    const el = audio.current;
    if (el.paused) el.play().catch((e) => setError(`Playback failed (${e.message}).`));
    else el.pause();
  };
  const seek = (t) => { audio.current.currentTime = Math.max(0, Math.min(t, duration || t)); setPosition(t); };
  const choose = (value) => {
    setChoice(value);
    localStorage.setItem(QUALITY, value);
    const hls = hlsRef.current;
    if (!hls) return;
    const pick = levels.find((l) => l.name === value);
    hls.currentLevel = pick ? pick.index : -1;   // -1: automatic (adaptive) again
  };
  const keys = (e) => {
    if (e.target.closest("button, input, a, select")) return;
    if (e.key === " " || e.key === "k") { e.preventDefault(); toggle(); }
    else if (e.key === "ArrowRight") { e.preventDefault(); seek(position + 5); }
    else if (e.key === "ArrowLeft") { e.preventDefault(); seek(position - 5); }
  };
  const now = levels.find((l) => l.index === level);
  const quality = choice === "auto" ? `Auto${now ? ` (${kbits(now.name)})` : ""}` : kbits(choice);
  return html`<section class="player" aria-label="Player" tabindex="0" onKeyDown=${keys}>
    <audio ref=${audio} preload="auto"
      onPlay=${() => { setPlaying(true); if ("mediaSession" in navigator) navigator.mediaSession.playbackState = "playing"; }}
      onPause=${() => { setPlaying(false); if ("mediaSession" in navigator) navigator.mediaSession.playbackState = "paused"; }}
      onEnded=${() => { advance(current); }}
      onTimeUpdate=${(e) => setPosition(e.currentTarget.currentTime)}
      onDurationChange=${(e) => Number.isFinite(e.currentTarget.duration) && setDuration(e.currentTarget.duration)}></audio>
    <div class="controls">
      <button type="button" id="previous" class="ghost" onClick=${previous}>Previous</button>
      <button type="button" id="play" onClick=${toggle} aria-label=${playing ? "Pause" : "Play"}>${playing ? "Pause" : "Play"}</button>
      <button type="button" id="next" class="ghost" onClick=${next} disabled=${!q.next.length}>Next</button>
      <input type="range" min="0" max=${Math.max(1, Math.round(duration))} step="1" value=${Math.round(position)}
             aria-label="Seek" aria-valuetext=${`${clock(position)} of ${clock(duration)}`}
             onInput=${(e) => seek(Number(e.currentTarget.value))} />
      <span class="muted" aria-live="off"><span id="position">${clock(position)}</span> / ${clock(duration)}</span>
    </div>
    ${peaks ? html`<${Waveform} peaks=${peaks} position=${position} duration=${duration} onSeek=${seek} />` : null}
    <div class="controls quality">
      ${levels.length ? html`<label class="inline" for="quality">Quality</label>
        <select id="quality" value=${choice} onChange=${(e) => choose(e.currentTarget.value)}>
          <option value="auto">Auto</option>
          ${levels.map((l) => html`<option key=${l.name} value=${l.name} data-bandwidth=${l.bitrate}>${kbits(l.name)}</option>`)}
        </select>
        <span class="muted" id="quality-now" aria-live="polite">${quality}</span>` : null}
    </div>
    ${offline ? html`<p class="muted" id="playing-offline">Playing your download (works offline).</p>` : null}
    ${error ? html`<p class="error" role="alert">${error}</p>` : null}
    <${QueueList} />
  </section>`;
}

export default function Track({id}) {
  const state = useLoad(() => load(id), [id]);
  if (state.loading) return html`<${Loading} what="Loading the track" />`;
  if (state.error) return html`<${ErrorNote} error=${state.error} />`;
  if (state.data.refused) return html`<${Refused} error=${state.data.refused} id=${id} />`;
  const {track, artist} = state.data;
  title(track.title);
  return html`<article>
    <h1>${track.title}</h1>
    ${artist ? html`<p>by <${Link} href=${`/artists/${artist.slug}`}>${artist.name}</${Link}></p>` : null}
    ${Object.keys((track.extra.streaming || {}).covers || {}).length ? html`<img class="cover" width="300" height="300" decoding="async" fetchpriority="high" alt=""
        onError=${(e) => { e.currentTarget.hidden = true; }}
        src=${track.extra.streaming.covers["300"] || Object.values(track.extra.streaming.covers)[0]} />` : null}
    <${Player} track=${track} artist=${artist} />
    <${Slot} name="track" track=${track} />
  </article>`;
}
