// The artist page's "artist" slot: the artist's upcoming and live listening parties (GET
// /api/v1/live/artists/{id}/parties), RSVP (PUT / DELETE .../rsvp), "Join the party" for a live
// one; on their own page the artist schedules one (POST /api/v1/live/parties) from their ready tracks.
import { useEffect, useState } from "preact/hooks";
import { ErrorNote, Link, html } from "@musicconnect/web";
import { api } from "@musicconnect/api";
import { me, problemText, useStyle, when } from "./common.js";

function started(p) {
  return p.status === "live" || (p.status === "scheduled" && new Date(p.starts_at) <= new Date());
}

function Party({party, onChange}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const live = started(party);
  const rsvp = async () => {
    setBusy(true); setError(null);
    try {
      const out = await api(`live/parties/${party.id}/rsvp`, {method: party.rsvped ? "DELETE" : "PUT"});
      onChange({...party, rsvped: out.rsvped, rsvps: out.rsvps});
    } catch (e) { setError(problemText(e.problem)); }
    setBusy(false);
  };
  const tracks = party.playlist.length;
  return html`<li class="party-item" data-party=${party.id}>
    <h3>${party.title} ${live ? html`<span class="party-live">Live now</span>` : null}</h3>
    <p class="when">${`${live ? "Started" : "Starts"} ${when(party.starts_at, party.timezone)} (${party.timezone}) · `}
      ${`${tracks} track${tracks === 1 ? "" : "s"} · `}<span class="rsvps">${party.rsvps} going</span></p>
    ${party.description ? html`<p>${party.description}</p>` : null}
    <p>
      ${live ? html`<${Link} class="button" href=${`/parties/${party.id}`}>Join the party</${Link}>`
             : html`<${Link} href=${`/parties/${party.id}`}>Party page</${Link}>`}
      ${" "}
      ${me() && !live ? html`<button type="button" class="ghost" aria-pressed=${party.rsvped} disabled=${busy}
          onClick=${rsvp}>${party.rsvped ? "Going ✓ (cancel RSVP)" : "RSVP: I'll be there"}</button>` : null}
    </p>
    ${error ? html`<p class="error" role="alert">${error}</p>` : null}
  </li>`;
}

function localInput(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

function Schedule({artist, onCreated}) {
  const [open, setOpen] = useState(false);
  const [tracks, setTracks] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  useEffect(() => {
    if (!open || tracks) return;
    api(`artists/${artist.id}/content?kind=track&limit=200`)
      .then((list) => setTracks(list.filter((t) => t.status === "ready")), (e) => setError(e.message));
  }, [open]);
  if (!open) {
    return html`<p><button type="button" onClick=${() => setOpen(true)}>Schedule a listening party</button></p>`;
  }
  const submit = async (e) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const playlist = form.getAll("track");
    const at = new Date(form.get("starts"));
    if (Number.isNaN(at.getTime())) { setError("Choose when the party starts."); return; }
    if (!playlist.length) { setError("Choose at least one track to play."); return; }
    setBusy(true); setError(null);
    try {
      const party = await api("live/parties", {method: "POST", body: {
        title: form.get("title"), description: form.get("description") || "", starts_at: at.toISOString(),
        timezone: form.get("timezone") || zone, playlist, visibility: form.get("visibility")}});
      setOpen(false);
      onCreated(party);
    } catch (err) { setError(problemText(err.problem)); }
    setBusy(false);
  };
  return html`<form class="panel" onSubmit=${submit} aria-labelledby="schedule-title">
    <h3 id="schedule-title">Schedule a listening party</h3>
    <label for="party-title">Title</label>
    <input id="party-title" name="title" required maxlength="200" />
    <label for="party-description">Description (optional)</label>
    <textarea id="party-description" name="description" rows="2" maxlength="5000"></textarea>
    <label for="party-starts">Starts (your time, ${zone})</label>
    <input id="party-starts" name="starts" type="datetime-local" step="1" required
           value=${localInput(new Date(Date.now() + 3600e3))} />
    <label for="party-zone">Announced in the time zone</label>
    <input id="party-zone" name="timezone" value=${zone} />
    <label for="party-visibility">Who can join</label>
    <select id="party-visibility" name="visibility">
      <option value="public">Everyone</option>
      <option value="followers">Followers and members</option>
    </select>
    <fieldset>
      <legend>Tracks to play, in this order</legend>
      ${tracks === null ? html`<p class="muted" role="status">Loading your tracks…</p>`
        : tracks.length ? tracks.map((t) => html`<div key=${t.id}>
            <input type="checkbox" name="track" value=${t.id} id=${`party-track-${t.id}`} />
            <label class="inline" for=${`party-track-${t.id}`}>${t.title}</label></div>`)
        : html`<p class="muted">You have no ready tracks yet: upload one first.</p>`}
    </fieldset>
    <p><button type="submit" disabled=${busy}>Schedule</button>
       ${" "}<button type="button" class="ghost" onClick=${() => setOpen(false)}>Cancel</button></p>
    ${error ? html`<p class="error" role="alert">${error}</p>` : null}
  </form>`;
}

export default function Parties({artist}) {
  useStyle();
  const [list, setList] = useState(null);
  const [error, setError] = useState(null);
  const load = () => api(`live/artists/${artist.id}/parties`)
    .then((out) => setList(out.parties.filter((p) => p.status !== "ended")
      .sort((a, b) => a.starts_at.localeCompare(b.starts_at))), setError);
  useEffect(() => { load(); }, [artist.id]);
  const user = me();
  const mine = user && user.artist && user.artist.id === artist.id;
  if (!list && !error) return null;
  if (!mine && list && !list.length) return null;
  const change = (p) => setList((old) => old.map((x) => (x.id === p.id ? p : x)));
  return html`<section class="parties" aria-labelledby="parties-title">
    <h2 id="parties-title">Listening parties</h2>
    ${error ? html`<${ErrorNote} error=${error} />` : null}
    ${list && list.length ? html`<ul>${list.map((p) => html`<${Party} key=${p.id} party=${p} onChange=${change} />`)}</ul>`
      : html`<p class="muted">No listening party planned.</p>`}
    ${list && list.length && !user ? html`<p><${Link} href=${`/signin?next=${encodeURIComponent(location.pathname)}`}>Sign in</${Link}> to RSVP.</p>` : null}
    ${mine ? html`<${Schedule} artist=${artist} onCreated=${() => load()} />` : null}
  </section>`;
}
