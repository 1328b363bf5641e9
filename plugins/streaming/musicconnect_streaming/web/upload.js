// /studio/upload: an artist uploads a track. The bytes sent are shown as they go (XMLHttpRequest
// upload progress), then the transcode's progress (the track's job, polled) until it is ready to
// play; refusals (problem+json) are said in words. POST /api/v1/streaming/artists/{id}/tracks.
import { useEffect, useRef, useState } from "preact/hooks";
import { Link, html, title, useLoad } from "@musicconnect/web";
import { api } from "@musicconnect/api";
import { ArtistScreen, bytes, jobText, latest, localToIso, problemText, sendForm, watchTrack } from "./common.js";

function Progress({id, label, value, max, text}) {
  return html`<div>
    <label for=${id}>${label}</label>
    <progress id=${id} max=${max} value=${value} aria-valuetext=${text}></progress>
    <p class="muted" id=${`${id}-text`} aria-live="polite">${text}</p>
  </div>`;
}

function UploadForm({artist}) {
  const tiers = useLoad(() => api(`artists/${artist.id}/tiers`, {auth: false}), [artist.id]);
  const [file, setFile] = useState(null);
  const [name, setName] = useState("");
  const [visibility, setVisibility] = useState("public");
  const [tierId, setTierId] = useState("");
  const [release, setRelease] = useState("now");
  const [at, setAt] = useState("");
  const [sent, setSent] = useState(null);  // {loaded, total}
  const [track, setTrack] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const xhr = useRef(null);
  const stop = useRef(null);
  useEffect(() => () => { if (stop.current) stop.current(); if (xhr.current) xhr.current.abort(); }, []);
  title("Upload a track");

  const active = (tiers.data || []).filter((t) => t.is_active);
  const early = active.filter((t) => t.perks && t.perks.early_access);

  const submit = async (e) => {
    e.preventDefault();
    setError(null);
    if (!file) { setError("Choose an audio file first."); return; }
    if (visibility === "tier" && !tierId) { setError("Choose the tier this track is for."); return; }
    if (release === "scheduled" && !at) { setError("Choose the release time."); return; }
    const form = new FormData();
    form.append("title", name.trim() || file.name.replace(/\.[^.]+$/, ""));
    form.append("visibility", visibility);
    if (visibility === "tier") form.append("required_tier_id", tierId);
    if (release === "scheduled") form.append("publish_at", localToIso(at));
    form.append("file", file);
    setBusy(true);
    setTrack(null);
    setSent({loaded: 0, total: file.size});
    const out = await sendForm(`/api/v1/streaming/artists/${artist.id}/tracks`, form, {
      onProgress: (loaded, total) => setSent({loaded, total: Number.isFinite(total) ? total : file.size}),
      onXhr: (x) => { xhr.current = x; },
    });
    xhr.current = null;
    if (out.status !== 202) {
      setError(out.aborted ? "Upload cancelled." : problemText(out.status, out.body));
      setBusy(false);
      return;
    }
    setSent((s) => ({loaded: s.total, total: s.total}));
    setTrack(out.body);
    stop.current = watchTrack(out.body.id, (t, err) => {
      if (err) { setError(problemText(err.status, err.problem)); setBusy(false); return; }
      setTrack(t);
      const v = latest(t);
      if (v && (v.state === "ready" || v.state === "failed")) setBusy(false);
    });
  };

  const pct = sent && sent.total ? Math.min(100, Math.round((sent.loaded / sent.total) * 100)) : 0;
  const v = track ? latest(track) : null;
  const jobPct = v ? (v.state === "ready" ? 100 : Math.round(((v.job && v.job.progress) || 0) * 100)) : 0;
  return html`<form class="panel" onSubmit=${submit}>
    <label for="up-file">Audio file</label>
    <input id="up-file" type="file" accept="audio/*,.flac,.wav,.mp3,.m4a,.aac,.ogg,.opus,.aif,.aiff" required
           onChange=${(e) => { const f = e.currentTarget.files[0] || null; setFile(f); if (f && !name) setName(f.name.replace(/\.[^.]+$/, "")); }} />
    ${file ? html`<span class="muted"> ${bytes(file.size)}</span>` : null}
    <label for="up-title">Title</label>
    <input id="up-title" value=${name} maxlength="300" onInput=${(e) => setName(e.currentTarget.value)} />
    <fieldset>
      <legend>Who can listen</legend>
      <input type="radio" id="vis-public" name="vis" checked=${visibility === "public"} onChange=${() => setVisibility("public")} />
      <label for="vis-public">Everyone</label>
      <input type="radio" id="vis-tier" name="vis" checked=${visibility === "tier"} onChange=${() => setVisibility("tier")}
             disabled=${!active.length} />
      <label for="vis-tier">Members of a tier</label>
      ${visibility === "tier" ? html`<div><label for="up-tier">Tier (and the tiers above it)</label>
        <select id="up-tier" value=${tierId} onChange=${(e) => setTierId(e.currentTarget.value)}>
          <option value="">Choose a tier</option>
          ${active.map((t) => html`<option key=${t.id} value=${t.id}>${t.name}</option>`)}
        </select></div>` : null}
    </fieldset>
    <fieldset>
      <legend>Release</legend>
      <input type="radio" id="rel-now" name="rel" checked=${release === "now"} onChange=${() => setRelease("now")} />
      <label for="rel-now">As soon as it is ready</label>
      <input type="radio" id="rel-later" name="rel" checked=${release === "scheduled"} onChange=${() => setRelease("scheduled")} />
      <label for="rel-later">At a set time</label>
      ${release === "scheduled" ? html`<div><label for="up-at">Release time (your time zone)</label>
        <input id="up-at" type="datetime-local" value=${at} onInput=${(e) => setAt(e.currentTarget.value)} />
        <p class="muted">${early.length
          ? `Early access: ${early.map((t) => `${t.name} members hear it ${t.perks.early_access} hours before`).join("; ")}.`
          : "Until then only you can see it. A tier with the early_access perk lets its members hear it before."}</p></div>` : null}
    </fieldset>
    <p><button type="submit" disabled=${busy}>Upload</button>
       ${busy && xhr.current ? html` <button type="button" class="ghost" onClick=${() => xhr.current && xhr.current.abort()}>Cancel</button>` : null}</p>
    ${sent ? html`<${Progress} id="upload-progress" label="Upload" value=${sent.loaded} max=${sent.total || 1}
        text=${`${bytes(sent.loaded)} of ${bytes(sent.total)} sent (${pct} %)`} />` : null}
    ${track ? html`<${Progress} id="transcode-progress" label="Transcode" value=${jobPct} max="100" text=${jobText(v)} />` : null}
    ${v && v.state === "ready" ? html`<p id="upload-done" role="status">“${track.title}” is ready.${" "}
        <${Link} href=${`/tracks/${track.id}`}>Listen</${Link}> · <${Link} href="/studio/tracks">Your tracks</${Link}></p>` : null}
    ${error ? html`<p class="error" role="alert" id="upload-error">${error}</p>` : null}
  </form>`;
}

export default function Upload() {
  return html`<${ArtistScreen} heading="Upload a track" render=${(artist) => html`<${UploadForm} artist=${artist} />`} />`;
}
