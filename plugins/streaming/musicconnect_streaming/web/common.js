// What the streaming plugin's studio screens share: who is signed in (GET /api/v1/me says whether
// the account is an artist's), the polite refusal for everyone else, the studio's own links, an
// upload with real byte progress (XMLHttpRequest's upload events) and the transcode's progress
// (GET /api/v1/streaming/tracks/{id}, which shows the artist each version's job).
import { ErrorNote, Link, Loading, extensions, html, useLoad } from "@musicconnect/web";
import { api, authHeader, session } from "@musicconnect/api";

const STYLE = `
.studio-nav { display: flex; gap: 1rem; margin-bottom: .5rem; }
.studio-nav [aria-current] { font-weight: 700; text-decoration: none; color: var(--text); }
.studio form label { margin-top: .8rem; }
.studio select, .studio textarea { font: inherit; padding: .45rem .6rem; border-radius: .4rem; border: 1px solid #4a4566;
  background: #0f0d18; color: var(--text); }
.studio fieldset { border: 1px solid #4a4566; border-radius: .4rem; margin: .8rem 0 0; }
.studio fieldset label { display: inline; margin: 0 1rem 0 .3rem; }
.studio progress { width: 100%; height: 1.1rem; accent-color: var(--accent); }
.studio .panel { background: var(--panel); border-radius: .6rem; padding: 1rem; margin: 1rem 0; }
.studio table { width: 100%; border-collapse: collapse; }
.studio th, .studio td { text-align: left; padding: .5rem .4rem; border-bottom: 1px solid #2d2944; vertical-align: top; }
.studio td.num, .studio th.num { text-align: right; font-variant-numeric: tabular-nums; }
.badge { display: inline-block; padding: 0 .5rem; border-radius: 1rem; font-size: .85em; background: #2d2944; }
.badge.ready { background: #1f4d36; } .badge.failed { background: #5c1f2a; } .badge.processing { background: #4d421f; }
`;

export function useStyle() {
  if (!document.getElementById("mc-streaming-studio-style")) {
    const el = document.createElement("style");
    el.id = "mc-streaming-studio-style";
    el.textContent = STYLE;
    document.head.append(el);
  }
}

const PAGES = [["/studio/upload", "Upload"], ["/studio/tracks", "Tracks"], ["/studio/dashboard", "Dashboard"]];

// the studio's pages that the enabled plugins declare (not in the main navigation: fans never see them)
export function StudioNav() {
  const declared = new Set(extensions("page").map((e) => e.path));
  return html`<nav class="studio-nav" aria-label="Studio">
    ${PAGES.filter(([p]) => declared.has(p)).map(([p, label]) => html`<${Link} key=${p} href=${p}
        aria-current=${location.pathname === p ? "page" : undefined}>${label}</${Link}>`)}
  </nav>`;
}

// The screen for artists; anyone else is told, in words, why it is not for them.
export function ArtistScreen({heading, render}) {
  useStyle();
  const me = useLoad(() => (session() ? api("me") : Promise.resolve(null)), []);
  if (me.loading) return html`<${Loading} />`;
  if (me.error && me.error.status !== 401) return html`<${ErrorNote} error=${me.error} />`;
  const user = me.error ? null : me.data;
  if (!user) {
    return html`<section class="gated studio-refused" role="status"><h1>${heading}</h1>
      <p>The studio is where artists upload and follow their music.
         <${Link} href=${`/signin?next=${encodeURIComponent(location.pathname)}`}>Sign in</${Link}> with your artist account.</p>
    </section>`;
  }
  if (!user.artist) {
    return html`<section class="gated studio-refused" role="status"><h1>${heading}</h1>
      <p>The studio is for artists, and ${user.display_name || user.email} is a listener's account.
         <${Link} href="/discover">Discover artists</${Link}> instead.</p>
    </section>`;
  }
  return html`<section class="studio"><${StudioNav} /><h1>${heading}</h1>${render(user.artist, user)}</section>`;
}

// "3.4 MB"
export function bytes(n) {
  if (!Number.isFinite(n)) return "";
  const units = ["bytes", "KB", "MB", "GB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i += 1; }
  return `${i ? n.toFixed(n < 10 ? 1 : 0) : n} ${units[i]}`;
}

const WORDS = {
  "not-audio": "This file is not audio the platform can read (WAV, FLAC, MP3, AAC/M4A, OGG/Opus or AIFF).",
  "unsupported-format": "This audio format is not supported (WAV, FLAC, MP3, AAC/M4A, OGG/Opus or AIFF are).",
  "empty-file": "The file is empty.",
  "corrupt-audio": "The file is damaged or cut short: it could not be decoded to the end.",
  "too-long": "The track is longer than this platform accepts.",
  "upload-too-large": "The file is larger than this platform accepts.",
  "replace-in-progress": "Another replacement of this track is on its way; try again in a moment.",
  "insufficient-scope": "Your sign-in may not upload music.",
};

// a problem+json answer in words: the platform's own detail, with our explanation first
export function problemText(status, problem) {
  const p = problem || {};
  const slug = (p.type || "").replace("/problems/", "");
  const parts = [];
  if (WORDS[slug]) parts.push(WORDS[slug]);
  if (Array.isArray(p.errors) && p.errors.length) {
    parts.push(p.errors.map((e) => `${(e.loc || []).filter((l) => l !== "body").join(".")}: ${e.msg}`).join("; "));
  } else if (p.detail && p.detail !== WORDS[slug]) {
    parts.push(p.detail);
  }
  if (!parts.length) parts.push(status ? `The server answered ${status}.` : "The upload did not reach the server.");
  return parts.join(" ");
}

// POST a form with XMLHttpRequest so that the bytes sent are reported as they go;
// resolves {status, body}; an expired sign-in is refreshed once (api() does it) and the form re-sent
export function sendForm(url, form, {onProgress, onXhr} = {}) {
  const once = () => new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    const h = authHeader();
    if (h.authorization) xhr.setRequestHeader("Authorization", h.authorization);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = (e) => onProgress && onProgress(e.loaded, e.lengthComputable ? e.total : NaN);
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { body = {detail: xhr.responseText}; }
      resolve({status: xhr.status, body});
    };
    xhr.onerror = () => resolve({status: 0, body: {detail: "The connection failed before the upload finished."}});
    xhr.onabort = () => resolve({status: 0, aborted: true, body: {detail: "Upload cancelled."}});
    if (onXhr) onXhr(xhr);
    xhr.send(form);
  });
  return once().then(async (out) => {
    if (out.status !== 401) return out;
    try { await api("me"); } catch { return out; }  // refreshes the session on a 401
    return once();
  });
}

// The track's newest version and its job, as the artist sees them
export function latest(track) {
  const versions = track.versions || [];
  return versions.length ? versions[versions.length - 1] : null;
}

// Polls the track until its newest version is ready or failed; onUpdate(track) each time.
// Returns a function that stops it.
export function watchTrack(id, onUpdate, every = 1000) {
  let stopped = false;
  let timer = null;
  const tick = async () => {
    let track;
    try {
      track = await api(`streaming/tracks/${encodeURIComponent(id)}`);
    } catch (err) {
      if (!stopped) onUpdate(null, err);
      return;
    }
    if (stopped) return;
    onUpdate(track, null);
    const v = latest(track);
    if (!v || !["ready", "failed", "superseded"].includes(v.state)) {
      timer = setTimeout(tick, every);
    }
  };
  tick();
  return () => { stopped = true; clearTimeout(timer); };
}

// "encoding, 42 %" from a version's job
export function jobText(v) {
  if (!v) return "Transcoding: starting, 0 %";
  if (v.state === "ready") return "Ready";
  if (v.state === "failed") return `Failed: ${v.error || (v.job && v.job.message) || "the transcode did not finish"}`;
  const pct = v.job ? Math.round((v.job.progress || 0) * 100) : 0;
  const what = (v.job && v.job.message) || (v.job && v.job.state === "queued" ? "waiting for a worker" : "processing");
  return `Transcoding: ${what}, ${pct} %`;
}

// <input type=datetime-local> value (local time) -> ISO 8601 with the zone the API needs
export function localToIso(value) {
  return value ? new Date(value).toISOString() : null;
}

export function isoToLocal(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function when(iso) {
  try {
    return new Intl.DateTimeFormat(undefined, {dateStyle: "medium", timeStyle: "short"}).format(new Date(iso));
  } catch { return iso; }
}

export function tierLabel(tiers, id) {
  const t = tiers.find((x) => x.id === id);
  return t ? t.name : "a tier";
}
