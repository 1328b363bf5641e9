// /studio/tracks: the artist's tracks (GET /api/v1/artists/{id}/content?kind=track: the owner sees
// drafts, processing and scheduled ones too) with status, release time and plays (the streaming
// metric top_tracks); edit the title, who can listen and the release time (PATCH
// /api/v1/content/{id}); replace the audio with a new version (POST
// /api/v1/streaming/tracks/{id}/audio; the current version plays until the new one is ready).
import { useEffect, useState } from "preact/hooks";
import { ErrorNote, Link, Loading, html, title, useLoad } from "@musicconnect/web";
import { api } from "@musicconnect/api";
import { ArtistScreen, bytes, isoToLocal, jobText, latest, localToIso, problemText, sendForm, tierLabel, watchTrack,
         when } from "./common.js";

async function load(artist) {
  const [tracks, tiers, metrics] = await Promise.all([
    api(`artists/${artist.id}/content?kind=track&limit=200`),
    api(`artists/${artist.id}/tiers`, {auth: false}),
    api(`artists/${artist.id}/metrics?metric=top_tracks&days=3650`).catch(() => null),
  ]);
  const top = metrics && metrics.metrics[0] && Array.isArray(metrics.metrics[0].value) ? metrics.metrics[0].value : null;
  return {tracks, tiers, plays: top ? Object.fromEntries(top.map((r) => [r.content_id, r.plays])) : null,
          topSize: top ? top.length : 0};
}

function Status({track, live}) {
  const v = live ? latest(live) : null;
  if (v && v.state !== "ready" && v.state !== "superseded") {
    return html`<span class="badge ${v.state}">${jobText(v)}</span>`;
  }
  const s = track.status;
  const label = {ready: "Ready", processing: "Transcoding", failed: "Failed", draft: "Draft", taken_down: "Taken down"}[s] || s;
  return html`<span class="badge ${s}">${label}</span>`;
}

function Edit({track, tiers, onDone}) {
  const [name, setName] = useState(track.title);
  const [visibility, setVisibility] = useState(track.visibility);
  const [tierId, setTierId] = useState(track.required_tier_id || "");
  const [at, setAt] = useState(isoToLocal(track.publish_at));
  const [error, setError] = useState(null);
  const save = async (e) => {
    e.preventDefault();
    setError(null);
    const body = {title: name.trim(), visibility, required_tier_id: visibility === "tier" ? tierId || null : null};
    if (at && at !== isoToLocal(track.publish_at)) body.publish_at = localToIso(at);
    try {
      onDone(await api(`content/${track.id}`, {method: "PATCH", body}));
    } catch (err) {
      setError(problemText(err.status, err.problem));
    }
  };
  const id = (f) => `edit-${f}-${track.id}`;
  return html`<form class="panel" onSubmit=${save} aria-label=${`Edit ${track.title}`}>
    <label for=${id("title")}>Title</label>
    <input id=${id("title")} value=${name} required maxlength="300" onInput=${(e) => setName(e.currentTarget.value)} />
    <label for=${id("vis")}>Who can listen</label>
    <select id=${id("vis")} value=${visibility} onChange=${(e) => setVisibility(e.currentTarget.value)}>
      <option value="public">Everyone</option><option value="tier">Members of a tier</option>
    </select>
    ${visibility === "tier" ? html`<select aria-label="Tier" value=${tierId} onChange=${(e) => setTierId(e.currentTarget.value)}>
        <option value="">Choose a tier</option>
        ${tiers.filter((t) => t.is_active).map((t) => html`<option key=${t.id} value=${t.id}>${t.name}</option>`)}
      </select>` : null}
    <label for=${id("at")}>Release time (your time zone)</label>
    <input id=${id("at")} type="datetime-local" value=${at} onInput=${(e) => setAt(e.currentTarget.value)} />
    <p><button type="submit">Save</button> <button type="button" class="ghost" onClick=${() => onDone(null)}>Cancel</button></p>
    ${error ? html`<p class="error" role="alert">${error}</p>` : null}
  </form>`;
}

function Replace({track, onStarted}) {
  const [sent, setSent] = useState(null);
  const [error, setError] = useState(null);
  const pick = async (e) => {
    const file = e.currentTarget.files[0];
    if (!file) return;
    setError(null);
    setSent({loaded: 0, total: file.size});
    const form = new FormData();
    form.append("file", file);
    const out = await sendForm(`/api/v1/streaming/tracks/${track.id}/audio`, form,
                               {onProgress: (loaded, total) => setSent({loaded, total: Number.isFinite(total) ? total : file.size})});
    if (out.status !== 202) { setError(problemText(out.status, out.body)); setSent(null); return; }
    setSent(null);
    onStarted();
  };
  const id = `replace-${track.id}`;
  return html`<span>
    <label class="button ghost" for=${id} style="display:inline-block;margin:0">Replace audio</label>
    <input id=${id} type="file" accept="audio/*,.flac,.wav,.mp3,.m4a,.aac,.ogg,.opus,.aif,.aiff" hidden onChange=${pick} />
    ${sent ? html`<progress max=${sent.total || 1} value=${sent.loaded} aria-label="Replacement upload"></progress>
        <span class="muted">${bytes(sent.loaded)} of ${bytes(sent.total)}</span>` : null}
    ${error ? html`<span class="error" role="alert">${error}</span>` : null}
  </span>`;
}

function Row({track: initial, tiers, plays, topSize}) {
  const [track, setTrack] = useState(initial);
  const [editing, setEditing] = useState(false);
  const [live, setLive] = useState(null);
  const [watch, setWatch] = useState(initial.status === "processing" ? 1 : 0);
  useEffect(() => {
    if (!watch) return undefined;
    return watchTrack(track.id, (t) => {
      if (!t) return;
      setLive(t);
      setTrack((old) => ({...old, status: t.status, title: t.title}));
    }, 1500);
  }, [watch]);
  const future = new Date(track.publish_at) > new Date();
  const n = plays ? plays[track.id] : undefined;
  return html`<tr>
    <td><${Link} href=${`/tracks/${track.id}`}>${track.title}</${Link}></td>
    <td><${Status} track=${track} live=${live} /></td>
    <td>${track.visibility === "tier" ? `${tierLabel(tiers, track.required_tier_id)} and above` : "Everyone"}</td>
    <td>${future ? html`<span title="scheduled">Releases ${when(track.publish_at)}</span>` : when(track.publish_at)}</td>
    <td class="num">${n !== undefined ? new Intl.NumberFormat().format(n) : (plays && topSize < 10 ? "0" : "–")}</td>
    <td>
      <button type="button" class="ghost" onClick=${() => setEditing(!editing)} aria-expanded=${editing}
              aria-label=${`Edit ${track.title}`}>Edit</button>
      ${" "}<${Replace} track=${track} onStarted=${() => setWatch((w) => w + 1)} />
      ${editing ? html`<${Edit} track=${track} tiers=${tiers}
          onDone=${(t) => { if (t) setTrack(t); setEditing(false); }} />` : null}
    </td>
  </tr>`;
}

function Tracks({artist}) {
  const state = useLoad(() => load(artist), [artist.id]);
  title("Your tracks");
  if (state.loading) return html`<${Loading} what="Loading your tracks" />`;
  if (state.error) return html`<${ErrorNote} error=${state.error} />`;
  const {tracks, tiers, plays, topSize} = state.data;
  if (!tracks.length) {
    return html`<p class="panel">No tracks yet. <${Link} href="/studio/upload">Upload your first one</${Link}>.</p>`;
  }
  return html`<div class="panel"><table>
      <caption class="muted" style="text-align:left">${tracks.length} track${tracks.length === 1 ? "" : "s"}; plays are counted plays
        (30 seconds or more), all time${plays ? (topSize >= 10 ? "; shown for your ten most played" : "") : " (not available)"}.</caption>
      <thead><tr><th>Title</th><th>Status</th><th>Who can listen</th><th>Release</th><th class="num">Plays</th><th></th></tr></thead>
      <tbody>${tracks.map((t) => html`<${Row} key=${t.id} track=${t} tiers=${tiers} plays=${plays} topSize=${topSize} />`)}</tbody>
    </table></div>
    <p><${Link} class="button" href="/studio/upload">Upload a track</${Link}></p>`;
}

export default function StudioTracks() {
  return html`<${ArtistScreen} heading="Your tracks" render=${(artist) => html`<${Tracks} artist=${artist} />`} />`;
}
