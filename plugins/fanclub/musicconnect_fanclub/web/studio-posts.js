// /studio/posts (artists): write a fan club post (title, text, who can read it, when it is
// published, images sent with their upload progress: POST /api/v1/fanclub/artists/{id}/posts, a
// multipart form, so XMLHttpRequest reports the bytes sent), and the artist's own posts, drafts and
// scheduled ones included (GET /api/v1/artists/{id}/content?kind=post as their owner), each with
// its images from the image pipeline, Edit (PATCH /api/v1/content/{id}) and Delete (DELETE).
// Refusals are shown next to their field, in words.
import { useEffect, useRef, useState } from "preact/hooks";
import { ErrorNote, Link, Loading, html, title, useLoad } from "@musicconnect/web";
import { api } from "@musicconnect/api";
import { ArtistOnly, FieldError, postForm, refusal, size, toIso, toLocal } from "./studio.js";
import { PostImage, imagesOf } from "./images.js";

const MAX_IMAGES = 10;
const FIELDS = ["title", "body", "visibility", "required_tier_id", "publish_at", "images", "track_ids"];

function when(iso) {
  try { return new Intl.DateTimeFormat(undefined, {dateStyle: "medium", timeStyle: "short"}).format(new Date(iso)); }
  catch { return iso; }
}

function tierName(tiers, id) { return ((tiers || []).find((t) => t.id === id) || {}).name || "a tier"; }

function readers(item, tiers) {
  return item.visibility === "tier" ? `${tierName(tiers, item.required_tier_id)} members and above` : "Everyone";
}

function state(item) {
  if (item.status === "draft") return ["draft", "Draft"];
  if (item.status === "taken_down") return ["taken_down", "Taken down"];
  if (new Date(item.publish_at) > new Date()) return ["scheduled", `Scheduled for ${when(item.publish_at)}`];
  return ["published", `Published ${when(item.publish_at)}`];
}

// Who can read it and when: the same inputs for a new post and an edit
function Audience({prefix, tiers, visibility, setVisibility, tierId, setTierId, errors}) {
  return html`<fieldset>
    <legend>Who can read it</legend>
    <input type="radio" id=${`${prefix}-vis-public`} name=${`${prefix}-vis`} checked=${visibility === "public"}
           onChange=${() => setVisibility("public")} />
    <label for=${`${prefix}-vis-public`}>Everyone</label>
    <input type="radio" id=${`${prefix}-vis-tier`} name=${`${prefix}-vis`} checked=${visibility === "tier"}
           onChange=${() => setVisibility("tier")} disabled=${!tiers.length} />
    <label for=${`${prefix}-vis-tier`}>Members of a tier and above</label>
    ${visibility === "tier" ? html`<div><label for=${`${prefix}-tier`}>Tier (members of the tiers above it read it too)</label>
      <select id=${`${prefix}-tier`} value=${tierId} onChange=${(e) => setTierId(e.currentTarget.value)}
              aria-invalid=${errors.required_tier_id ? "true" : undefined}
              aria-describedby=${errors.required_tier_id ? `${prefix}-tier-error` : undefined}>
        <option value="">Choose a tier</option>
        ${tiers.map((t) => html`<option key=${t.id} value=${t.id}>${t.name}${t.rank === 0 ? " (free members)" : ""}</option>`)}
      </select></div>` : null}
    <${FieldError} id=${`${prefix}-tier-error`} text=${errors.required_tier_id || errors.visibility} />
  </fieldset>`;
}

function Schedule({prefix, tiers, release, setRelease, at, setAt, errors}) {
  const early = tiers.filter((t) => t.perks && t.perks.early_access);
  return html`<fieldset>
    <legend>Publish</legend>
    <input type="radio" id=${`${prefix}-rel-now`} name=${`${prefix}-rel`} checked=${release === "now"} onChange=${() => setRelease("now")} />
    <label for=${`${prefix}-rel-now`}>Now</label>
    <input type="radio" id=${`${prefix}-rel-later`} name=${`${prefix}-rel`} checked=${release === "scheduled"}
           onChange=${() => setRelease("scheduled")} />
    <label for=${`${prefix}-rel-later`}>At a set time</label>
    ${release === "scheduled" ? html`<div><label for=${`${prefix}-at`}>Publish at (your time zone)</label>
      <input id=${`${prefix}-at`} type="datetime-local" value=${at} onInput=${(e) => setAt(e.currentTarget.value)}
             aria-invalid=${errors.publish_at ? "true" : undefined}
             aria-describedby=${errors.publish_at ? `${prefix}-at-error` : undefined} />
      <p class="muted">${early.length
        ? `Early access: ${early.map((t) => `${t.name} members read it ${t.perks.early_access} hours before`).join("; ")}.`
        : "Until then only you see it. A tier with the early_access perk lets its members read it before."}</p></div>` : null}
    <${FieldError} id=${`${prefix}-at-error`} text=${errors.publish_at} />
  </fieldset>`;
}

function NewPost({artist, tiers, onPosted}) {
  const [name, setName] = useState("");
  const [body, setBody] = useState("");
  const [visibility, setVisibility] = useState("public");
  const [tierId, setTierId] = useState("");
  const [release, setRelease] = useState("now");
  const [at, setAt] = useState("");
  const [files, setFiles] = useState([]);
  const [sent, setSent] = useState(null);  // {loaded, total}
  const [errors, setErrors] = useState({});
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState(null);
  const xhr = useRef(null);
  const fileInput = useRef(null);
  useEffect(() => () => { if (xhr.current) xhr.current.abort(); }, []);

  const submit = async (e) => {
    e.preventDefault();
    const mine = {};
    if (visibility === "tier" && !tierId) mine.required_tier_id = "Choose the tier this post is for.";
    if (release === "scheduled" && !at) mine.publish_at = "Choose when the post is published.";
    if (files.length > MAX_IMAGES) mine.images = `A post has at most ${MAX_IMAGES} images.`;
    setErrors(mine);
    setDone(null);
    if (Object.keys(mine).length) return;
    const form = new FormData();
    form.append("title", name);
    form.append("body", body);
    form.append("visibility", visibility);
    if (visibility === "tier") form.append("required_tier_id", tierId);
    if (release === "scheduled") form.append("publish_at", toIso(at));
    for (const f of files) form.append("images", f);
    const total = files.reduce((n, f) => n + f.size, 0);
    setBusy(true);
    setSent({loaded: 0, total});
    const out = await postForm(`/api/v1/fanclub/artists/${artist.id}/posts`, form, {
      onProgress: (loaded, all) => setSent({loaded, total: Number.isFinite(all) ? all : total}),
      onXhr: (x) => { xhr.current = x; },
    });
    xhr.current = null;
    setBusy(false);
    if (out.status !== 201) {
      setErrors(out.aborted ? {"": "Cancelled: nothing was posted."} : refusal(out.status, out.body, FIELDS));
      return;
    }
    setSent((s) => ({loaded: s.total, total: s.total}));
    setDone(out.body);
    setName(""); setBody(""); setFiles([]);
    if (fileInput.current) fileInput.current.value = "";
    onPosted(out.body);
  };

  const pct = sent && sent.total ? Math.min(100, Math.round((sent.loaded / sent.total) * 100)) : 0;
  const progressText = !sent ? "" : sent.loaded >= sent.total && busy
    ? `${size(sent.total)} sent (100 %); resizing the images…` : `${size(sent.loaded)} of ${size(sent.total)} sent (${pct} %)`;
  return html`<form class="panel" id="new-post" onSubmit=${submit} aria-label="Write a post" novalidate>
    <h2>Write a post</h2>
    <label for="post-title">Title</label>
    <input id="post-title" value=${name} maxlength="300" onInput=${(e) => setName(e.currentTarget.value)}
           aria-invalid=${errors.title ? "true" : undefined} aria-describedby=${errors.title ? "post-title-error" : undefined} />
    <${FieldError} id="post-title-error" text=${errors.title} />
    <label for="post-body">Text</label>
    <textarea id="post-body" maxlength="20000" value=${body} onInput=${(e) => setBody(e.currentTarget.value)}
              aria-invalid=${errors.body ? "true" : undefined} aria-describedby=${errors.body ? "post-body-error" : undefined}></textarea>
    <${FieldError} id="post-body-error" text=${errors.body} />
    <${Audience} prefix="post" tiers=${tiers} visibility=${visibility} setVisibility=${setVisibility}
                 tierId=${tierId} setTierId=${setTierId} errors=${errors} />
    <${Schedule} prefix="post" tiers=${tiers} release=${release} setRelease=${setRelease} at=${at} setAt=${setAt} errors=${errors} />
    <label for="post-images">Images (up to ${MAX_IMAGES}; JPEG, PNG, WebP or GIF, 15 MB each)</label>
    <input id="post-images" type="file" multiple accept="image/jpeg,image/png,image/webp,image/gif" ref=${fileInput}
           onChange=${(e) => setFiles([...e.currentTarget.files])}
           aria-invalid=${errors.images ? "true" : undefined} aria-describedby=${errors.images ? "post-images-error" : undefined} />
    ${files.length ? html`<p class="muted" id="post-files">${`${files.length} image${files.length > 1 ? "s" : ""}, ${size(files.reduce((n, f) => n + f.size, 0))}`}</p>` : null}
    <${FieldError} id="post-images-error" text=${errors.images} />
    <p><button type="submit" disabled=${busy}>Post</button>
      ${busy ? html` <button type="button" class="ghost" onClick=${() => xhr.current && xhr.current.abort()}>Cancel</button>` : null}</p>
    ${sent ? html`<div><label for="post-progress">Upload</label>
      <progress id="post-progress" max=${sent.total || 1} value=${sent.loaded} aria-valuetext=${progressText}></progress>
      <p class="muted" id="post-progress-text" aria-live="polite">${progressText}</p></div>` : null}
    <${FieldError} id="post-error" text=${errors[""]} />
    ${done ? html`<p role="status" id="post-done">Posted “${done.title}”. <${Link} href=${`/post?id=${done.id}`}>Open it</${Link}></p>` : null}
  </form>`;
}

function EditPost({item, tiers, onSaved, onCancel}) {
  const [name, setName] = useState(item.title);
  const [body, setBody] = useState((item.data && item.data.body) || "");
  const [visibility, setVisibility] = useState(item.visibility);
  const [tierId, setTierId] = useState(item.required_tier_id || "");
  const [release, setRelease] = useState(new Date(item.publish_at) > new Date() ? "scheduled" : "now");
  const [at, setAt] = useState(toLocal(item.publish_at));
  const [errors, setErrors] = useState({});
  const [busy, setBusy] = useState(false);
  const prefix = `edit-${item.id.slice(0, 8)}`;
  const save = async (e) => {
    e.preventDefault();
    if (visibility === "tier" && !tierId) { setErrors({required_tier_id: "Choose the tier this post is for."}); return; }
    const change = {title: name, visibility, data: {...(item.data || {}), body}};  // data as read keeps the images
    change.required_tier_id = visibility === "tier" ? tierId : null;
    if (release === "scheduled") {
      if (!at) { setErrors({publish_at: "Choose when the post is published."}); return; }
      change.publish_at = toIso(at);
    } else if (new Date(item.publish_at) > new Date()) {
      change.publish_at = new Date().toISOString();  // publish a scheduled post now
    }
    setBusy(true); setErrors({});
    try {
      onSaved(await api(`content/${item.id}`, {method: "PATCH", body: change}));
    } catch (err) {
      setErrors(refusal(err.status, err.problem, FIELDS));
    }
    setBusy(false);
  };
  return html`<form class="panel" onSubmit=${save} aria-label=${`Edit ${item.title}`} novalidate>
    <label for=${`${prefix}-title`}>Title</label>
    <input id=${`${prefix}-title`} value=${name} maxlength="300" onInput=${(e) => setName(e.currentTarget.value)}
           aria-invalid=${errors.title ? "true" : undefined} aria-describedby=${errors.title ? `${prefix}-title-error` : undefined} />
    <${FieldError} id=${`${prefix}-title-error`} text=${errors.title} />
    <label for=${`${prefix}-body`}>Text</label>
    <textarea id=${`${prefix}-body`} value=${body} onInput=${(e) => setBody(e.currentTarget.value)}
              aria-invalid=${errors.body ? "true" : undefined} aria-describedby=${errors.body ? `${prefix}-body-error` : undefined}></textarea>
    <${FieldError} id=${`${prefix}-body-error`} text=${errors.body} />
    <${Audience} prefix=${prefix} tiers=${tiers} visibility=${visibility} setVisibility=${setVisibility}
                 tierId=${tierId} setTierId=${setTierId} errors=${errors} />
    <${Schedule} prefix=${prefix} tiers=${tiers} release=${release} setRelease=${setRelease} at=${at} setAt=${setAt} errors=${errors} />
    <${FieldError} id=${`${prefix}-error`} text=${errors[""]} />
    <p><button type="submit" disabled=${busy}>Save</button> <button type="button" class="ghost" onClick=${onCancel}>Cancel</button></p>
  </form>`;
}

function PostRow({item, tiers, onChange}) {
  const [editing, setEditing] = useState(false);
  const [confirm, setConfirm] = useState(false);
  const [error, setError] = useState(null);
  const [cls, label] = state(item);
  const images = imagesOf(item);
  const remove = async () => {
    setError(null);
    try { await api(`content/${item.id}`, {method: "DELETE"}); onChange(); }
    catch (err) { setError(err); setConfirm(false); }
  };
  return html`<li class="post-row" aria-label=${item.title}>
    <h3><${Link} href=${`/post?id=${item.id}`}>${item.title}</${Link}></h3>
    <p><span class=${`badge ${cls}`}>${label}</span> · <span class="readers">${readers(item, tiers)}</span>
      ${images.length ? html` · ${images.length} image${images.length > 1 ? "s" : ""}` : null}</p>
    ${item.data && item.data.body ? html`<p class="muted">${item.data.body.length > 200 ? `${item.data.body.slice(0, 200)}…` : item.data.body}</p>` : null}
    ${images.length ? html`<div class="thumbs">${images.map((img, i) => html`<${PostImage} key=${i} img=${img} sizes="6rem"
        alt=${`${item.title}: image ${i + 1}`} />`)}</div>` : null}
    ${editing ? html`<${EditPost} item=${item} tiers=${tiers} onCancel=${() => setEditing(false)}
                      onSaved=${() => { setEditing(false); onChange(); }} />`
      : html`<p><button type="button" class="secondary" aria-label=${`Edit ${item.title}`} onClick=${() => setEditing(true)}>Edit</button>
        ${confirm ? html` <span role="group" aria-label="Delete for good?">Delete for good?
              <button type="button" onClick=${remove}>Yes, delete</button>
              <button type="button" class="ghost" onClick=${() => setConfirm(false)}>Keep it</button></span>`
          : html` <button type="button" class="ghost" aria-label=${`Delete ${item.title}`} onClick=${() => setConfirm(true)}>Delete</button>`}</p>`}
    ${error ? html`<${ErrorNote} error=${error} />` : null}
  </li>`;
}

function Posts({artist}) {
  const [n, setN] = useState(0);
  const tiers = useLoad(() => api(`artists/${artist.id}/tiers`, {auth: false}), [artist.id]);
  const posts = useLoad(() => api(`artists/${artist.id}/content?kind=post&limit=200`), [artist.id, n]);
  const [shown, setShown] = useState(null);
  if (posts.data && posts.data !== shown) setShown(posts.data);  // keep the list while it reloads
  const active = ((tiers.data || []).filter((t) => t.is_active)).sort((a, b) => a.rank - b.rank);
  const list = posts.data || shown;
  return html`
    <${NewPost} artist=${artist} tiers=${active} onPosted=${() => setN(n + 1)} />
    <section aria-labelledby="your-posts"><h2 id="your-posts">Your posts</h2>
      ${posts.error ? html`<${ErrorNote} error=${posts.error} />`
        : !list ? html`<${Loading} what="Loading your posts" />`
        : list.length === 0 ? html`<p id="no-posts">No posts yet: the first one goes to your followers' feed.</p>`
        : html`<ul class="post-list" style="list-style: none; padding: 0">${list.map((p) => html`<${PostRow} key=${p.id} item=${p}
            tiers=${tiers.data || []} onChange=${() => setN(n + 1)} />`)}</ul>`}
    </section>`;
}

export default function StudioPosts() {
  title("Posts");
  return html`<${ArtistOnly} heading="Posts" what="write to their fan club" render=${(artist) => html`<${Posts} artist=${artist} />`} />`;
}
