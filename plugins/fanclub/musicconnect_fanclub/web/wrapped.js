// Wrapped (/wrapped, /wrapped/<YYYY-MM> from the "Your Wrapped is ready" notification): the fan's
// month from GET /api/v1/fanclub/me/wrapped/<YYYY-MM> (minutes, top tracks and artists, milestones,
// support) and its share card (the PNG of the same month, fetched with the fan's sign-in).
import { useEffect, useState } from "preact/hooks";
import { ErrorNote, Link, Loading, html, navigate, title, useLoad } from "@musicconnect/web";
import { api, authHeader, session } from "@musicconnect/api";

const MONTH = /^\d{4}-(0[1-9]|1[0-2])$/;

function lastMonth() {
  const d = new Date();
  d.setUTCDate(1);
  d.setUTCMonth(d.getUTCMonth() - 1);
  return d.toISOString().slice(0, 7);
}

function monthName(m) {
  try { return new Date(`${m}-01T00:00:00Z`).toLocaleDateString(undefined, {month: "long", year: "numeric", timeZone: "UTC"}); }
  catch { return m; }
}

function Card({month}) {
  const [src, setSrc] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    let url = null;
    let live = true;
    fetch(`/api/v1/fanclub/me/wrapped/${month}.png`, {headers: authHeader()})
      .then((r) => { if (!r.ok) throw new Error(`The card could not be drawn (HTTP ${r.status}).`); return r.blob(); })
      .then((b) => { if (live) { url = URL.createObjectURL(b); setSrc(url); } }, (e) => live && setError(e));
    return () => { live = false; if (url) URL.revokeObjectURL(url); };
  }, [month]);
  if (error) return html`<${ErrorNote} error=${error} />`;
  if (!src) return html`<${Loading} what="Drawing your card" />`;
  return html`<figure class="wrapped-card"><img src=${src} alt=${`Your Wrapped card for ${monthName(month)}`} width="360" height="450" />
    <figcaption><a href=${src} download=${`wrapped-${month}.png`}>Download the card</a></figcaption></figure>`;
}

export default function Wrapped({rest}) {
  const month = rest && MONTH.test(rest) ? rest : (new URLSearchParams(location.search).get("month") || lastMonth());
  title(`Wrapped ${month}`);
  const report = useLoad(() => (session() ? api(`fanclub/me/wrapped/${month}`) : Promise.resolve(null)), [month]);
  if (!session()) {
    return html`<section class="gated" role="status"><h1>Your Wrapped</h1>
      <p><${Link} href=${`/signin?next=${encodeURIComponent(location.pathname)}`}>Sign in</${Link}> to see your month in music.</p></section>`;
  }
  if (report.loading) return html`<${Loading} />`;
  const pick = html`<form class="search" onSubmit=${(e) => { e.preventDefault(); navigate(`/wrapped/${e.currentTarget.elements.month.value}`); }}>
      <label for="wrapped-month">Month</label>
      <input id="wrapped-month" name="month" type="month" value=${month} required />
      <button type="submit">Show</button></form>`;
  if (report.error) return html`<section><h1>Your Wrapped</h1>${pick}<${ErrorNote} error=${report.error} /></section>`;
  const r = report.data;
  return html`<section class="wrapped" aria-labelledby="wrapped-title">
    <h1 id="wrapped-title">Your ${monthName(month)}</h1>
    ${pick}
    <p class="wrapped-minutes"><strong>${r.minutes.toLocaleString()}</strong> minutes listened, ${r.plays} plays</p>
    <h2>Top tracks</h2>
    ${r.top_tracks.length ? html`<ol class="wrapped-tracks">${r.top_tracks.map((t) => html`<li key=${t.content_id}>
        <${Link} href=${`/tracks/${t.content_id}`}>${t.title}</${Link}> · ${t.artist} (${t.plays} plays)</li>`)}</ol>`
      : html`<p class="muted">No plays this month yet.</p>`}
    ${r.top_artists.length ? html`<h2>Top artists</h2><ol>${r.top_artists.map((a) => html`<li key=${a.artist_id}>${a.name} (${a.plays} plays)</li>`)}</ol>` : null}
    <h2>Milestones</h2>
    ${r.milestones.length ? html`<ul class="wrapped-milestones">${r.milestones.map((m, i) => html`<li key=${i}>
        ${String(m.milestone).replace(/_/g, " ")}${m.artist ? ` with ${m.artist}` : ""}${m.rank ? ` (#${m.rank})` : ""}</li>`)}</ul>`
      : html`<p class="muted">No milestone this month.</p>`}
    ${r.support.tiers.length ? html`<h2>Support</h2><ul>${r.support.tiers.map((t, i) => html`<li key=${i}>${t.tier} of ${t.artist}</li>`)}</ul>` : null}
    <h2>Your card</h2>
    <${Card} month=${month} />
  </section>`;
}
