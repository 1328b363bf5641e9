// What the fan club's studio screens (/studio/posts, /studio/messages) share: the artist check
// (GET /api/v1/me says whether the account is an artist's; everyone else is told why not, in
// words), refusals by field from problem+json, a form sent with XMLHttpRequest so that the bytes
// sent can be shown, and dates for <input type=datetime-local>.
import { ErrorNote, Link, Loading, html, useLoad } from "@musicconnect/web";
import { api, authHeader, session } from "@musicconnect/api";

const STYLE = `
.club-studio form label { display: block; margin-top: .8rem; }
.club-studio fieldset label { display: inline; margin: 0 1rem 0 .3rem; }
.club-studio fieldset { border: 1px solid #4a4566; border-radius: .4rem; margin: .8rem 0 0; }
.club-studio select, .club-studio textarea { font: inherit; padding: .45rem .6rem; border-radius: .4rem;
  border: 1px solid #4a4566; background: #0f0d18; color: var(--text); }
.club-studio textarea { width: 100%; min-height: 6rem; box-sizing: border-box; }
.club-studio progress { width: 100%; height: 1.1rem; accent-color: var(--accent); }
.club-studio .panel { background: var(--panel); border-radius: .6rem; padding: 1rem; margin: 1rem 0; }
.club-studio .field-error { color: #ffb4b4; margin: .2rem 0 0; }
.club-studio .badge { display: inline-block; padding: 0 .5rem; border-radius: 1rem; font-size: .85em; background: #2d2944; }
.club-studio .badge.draft { background: #4d421f; } .club-studio .badge.scheduled { background: #1f3a5c; }
.club-studio .badge.published { background: #1f4d36; } .club-studio .badge.taken_down { background: #5c1f2a; }
.club-studio .badge.waiting { background: #5c3a1f; }
.club-studio .post-row { border-bottom: 1px solid #2d2944; padding: .8rem 0; }
.club-studio .thumbs { display: flex; gap: .4rem; flex-wrap: wrap; }
.club-studio .thumbs img { width: 6rem; height: auto; border-radius: .3rem; }
.club-studio .inbox { display: grid; grid-template-columns: minmax(12rem, 1fr) 2fr; gap: 1rem; }
@media (max-width: 700px) { .club-studio .inbox { grid-template-columns: 1fr; } }
.club-studio .inbox ul { list-style: none; padding: 0; margin: 0; }
.club-studio .inbox li a { display: block; padding: .6rem; border-radius: .4rem; color: var(--text); text-decoration: none; }
.club-studio .inbox li a[aria-current] { background: var(--panel); outline: 1px solid var(--accent); }
.club-studio .inbox .preview { display: block; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.club-studio .messages { list-style: none; padding: 0; }
.club-studio .messages li { display: block; background: var(--panel); border-radius: .5rem; padding: .5rem .8rem; margin: .5rem 0; max-width: 85%; }
.club-studio .messages li.artist { margin-left: auto; background: #2d2944; }
`;

export function useStudioStyle() {
  if (!document.getElementById("mc-fanclub-studio-style")) {
    const el = document.createElement("style");
    el.id = "mc-fanclub-studio-style";
    el.textContent = STYLE;
    document.head.append(el);
  }
}

// The screen for artists; a listener or a visitor is told, in words, why it is not for them.
export function ArtistOnly({heading, what, render}) {
  useStudioStyle();
  const me = useLoad(() => (session() ? api("me") : Promise.resolve(null)), []);
  if (me.loading) return html`<${Loading} />`;
  if (me.error && me.error.status !== 401) return html`<section><h1>${heading}</h1><${ErrorNote} error=${me.error} /></section>`;
  const user = me.error ? null : me.data;
  if (!user) {
    return html`<section class="gated studio-refused" role="status"><h1>${heading}</h1>
      <p>This is where artists ${what}. <${Link} href=${`/signin?next=${encodeURIComponent(location.pathname + location.search)}`}>Sign in</${Link}>
         with your artist account.</p></section>`;
  }
  if (!user.artist) {
    return html`<section class="gated studio-refused" role="status"><h1>${heading}</h1>
      <p>The studio is for artists, and ${user.display_name || user.email} is a listener's account.
         <${Link} href="/feed">Your feed</${Link}> · <${Link} href="/messages">Your messages</${Link}></p></section>`;
  }
  return html`<section class="club-studio"><h1>${heading}</h1>${render(user.artist, user)}</section>`;
}

const WORDS = {
  "image-too-large": "An image is too large (at most 15 MB and 40 megapixels each).",
  "unsupported-image": "Images must be JPEG, PNG, WebP or GIF.",
  "upload-too-large": "The post with its images is larger than the platform accepts.",
  "busy": "The server is resizing other images; try again in a moment.",
  "bad-multipart": "The form could not be read by the server.",
  "insufficient-scope": "Your sign-in may not do this.",
  "forbidden": "This is not yours to change.",
  "not-found": "It is not there any more (deleted elsewhere?).",
};
const IMAGE_SLUGS = new Set(["image-too-large", "unsupported-image", "upload-too-large", "busy"]);

export function slugOf(problem) { return ((problem && problem.type) || "").replace("/problems/", ""); }

// A refusal (status, problem+json) as {field: words}; the key "" is for the form as a whole.
// 422 validation is put next to its field: from the problem's errors[].loc, or from the field the
// detail names first ("title is required", "publish_at: ...", "data.body: ...").
export function refusal(status, problem, fields) {
  const p = problem || {};
  const slug = slugOf(p);
  const out = {};
  const put = (field, text) => {
    const key = fields.includes(field) ? field : "";
    out[key] = out[key] ? `${out[key]} ${text}` : text;
  };
  if (IMAGE_SLUGS.has(slug)) {
    put("images", `${WORDS[slug]}${p.detail && p.detail !== WORDS[slug] ? ` (${p.detail})` : ""}`);
    return out;
  }
  if (Array.isArray(p.errors) && p.errors.length) {
    for (const e of p.errors) {
      let loc = (e.loc || []).map(String);
      if (loc[0] === "body" && loc.length > 1) loc = loc.slice(1);
      const field = loc[0] === "data" ? loc[1] : loc[0];
      put(field, e.msg || p.detail || "not accepted");
    }
    return out;
  }
  const detail = p.detail || (status ? `The server answered ${status}.` : "The request did not reach the server.");
  const named = detail.match(/^(?:data\.)?([a-z_]+)\b/);
  put(named && fields.includes(named[1]) ? named[1] : "", WORDS[slug] && WORDS[slug] !== detail ? `${WORDS[slug]} ${detail}` : detail);
  return out;
}

export function FieldError({id, text}) {
  return text ? html`<p class="field-error" role="alert" id=${id}>${text}</p>` : null;
}

// POST a FormData with XMLHttpRequest, so that the bytes sent are reported as they go
// (fetch has no upload progress); resolves {status, body}. A 401 is retried once after the API
// client refreshed the session.
export function postForm(url, form, {onProgress, onXhr} = {}) {
  const once = () => new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    const auth = authHeader().authorization;
    if (auth) xhr.setRequestHeader("Authorization", auth);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", (e) => onProgress && onProgress(e.loaded, e.lengthComputable ? e.total : NaN));
    xhr.addEventListener("load", () => {
      let body;
      try { body = JSON.parse(xhr.responseText); } catch { body = {detail: xhr.responseText}; }
      resolve({status: xhr.status, body});
    });
    xhr.addEventListener("error", () => resolve({status: 0, body: {detail: "The connection failed before the post was sent."}}));
    xhr.addEventListener("abort", () => resolve({status: 0, aborted: true, body: {detail: "Cancelled."}}));
    if (onXhr) onXhr(xhr);
    xhr.send(form);
  });
  return once().then(async (out) => {
    if (out.status !== 401) return out;
    try { await api("me"); } catch { return out; }
    return once();
  });
}

// "1.2 MB"
export function size(n) {
  if (!Number.isFinite(n)) return "";
  const units = ["bytes", "KB", "MB", "GB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i += 1; }
  return `${i ? n.toFixed(n < 10 ? 1 : 0) : n} ${units[i]}`;
}

// <input type=datetime-local> (the browser's local time) <-> ISO 8601 with its zone
export function toIso(local) { return local ? new Date(local).toISOString() : null; }
export function toLocal(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const two = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}T${two(d.getHours())}:${two(d.getMinutes())}`;
}
