// Discover: the artists on this platform (GET /api/v1/artists), with a search box.
import { useState } from "preact/hooks";
import { ErrorNote, Link, Loading, html, title, useLoad } from "../ui.js";
import { api } from "../api.js";

export default function Discover() {
  const [q, setQ] = useState("");
  const [query, setQuery] = useState("");
  const artists = useLoad(() => api(`artists?limit=60${query ? `&q=${encodeURIComponent(query)}` : ""}`, {auth: false}), [query]);
  title("Discover");
  const submit = (e) => { e.preventDefault(); setQuery(q.trim()); };
  return html`<section>
    <h1>Discover artists</h1>
    <form class="search" role="search" onSubmit=${submit}>
      <label for="q">Search artists</label>
      <input id="q" type="search" value=${q} onInput=${(e) => setQ(e.currentTarget.value)} />
      <button type="submit">Search</button>
    </form>
    ${artists.loading ? html`<${Loading} what="Loading artists" />`
      : artists.error ? html`<${ErrorNote} error=${artists.error} />`
      : artists.data.length === 0 ? html`<p class="muted">No artists yet.</p>`
      : html`<ul class="cards">${artists.data.map((a) => html`<li key=${a.id} class="card">
          <${Link} href=${`/artists/${a.slug}`}><strong>${a.name}</strong></${Link}>
          ${a.bio ? html`<p class="muted">${a.bio.slice(0, 140)}</p>` : null}
        </li>`)}</ul>`}
  </section>`;
}
