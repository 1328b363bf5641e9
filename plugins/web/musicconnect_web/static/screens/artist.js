// An artist's page: who they are, their tiers with perks and prices, their tracks (locked teasers
// name the tier they need), and whatever other plugins put in the "artist" slot.
import { ErrorNote, Link, Loading, Slot, html, money, title, useLoad } from "../ui.js";
import { api } from "../api.js";
import { QueueButtons } from "./queue.js";

async function load(slug) {
  const artist = await api(`artists/${encodeURIComponent(slug)}`, {auth: false});
  const [tiers, tracks] = await Promise.all([
    api(`artists/${artist.id}/tiers`, {auth: false}),
    api(`artists/${artist.id}/content?kind=track&limit=100`).catch(() => []),
  ]);
  return {artist, tiers: tiers.filter((t) => t.is_active !== false).sort((a, b) => a.rank - b.rank), tracks};
}

function perkText(name, value) {
  const label = name.replace(/_/g, " ");
  if (value === true) return label;
  if (value === false || value === null || value === 0) return null;
  return `${label}: ${value}`;
}

function Tier({tier}) {
  const perks = Object.entries(tier.perks || {}).map(([k, v]) => perkText(k, v)).filter(Boolean);
  return html`<li class="card" aria-label=${`Tier ${tier.name}`}>
    <h3>${tier.name}</h3>
    <p>${tier.price_amount ? html`${money(tier.price_amount, tier.currency)} a month` : "Free"}</p>
    ${tier.description ? html`<p class="muted">${tier.description}</p>` : null}
    ${perks.length ? html`<ul>${perks.map((p) => html`<li key=${p}>${p}</li>`)}</ul>` : null}
  </li>`;
}

export default function Artist({slug}) {
  const state = useLoad(() => load(slug), [slug]);
  if (state.loading) return html`<${Loading} what="Loading the artist" />`;
  if (state.error) return html`<${ErrorNote} error=${state.error} />`;
  const {artist, tiers, tracks} = state.data;
  title(artist.name);
  const tierName = (id) => (tiers.find((t) => t.id === id) || {}).name || "a higher tier";
  return html`<article>
    <h1>${artist.name}</h1>
    ${artist.bio ? html`<p>${artist.bio}</p>` : null}
    <h2>Tracks</h2>
    ${tracks.length === 0 ? html`<p class="muted">No tracks yet.</p>` : html`<ul class="tracks">
      ${tracks.map((t) => html`<li key=${t.id}>
        <${Link} href=${`/tracks/${t.id}`}>${t.title}</${Link}>
        ${t.locked ? html`<span class="lock">Locked: ${tierName(t.required_tier_id)} and above</span>`
                   : t.visibility === "tier" ? html`<span class="muted">Members</span>` : null}
        ${t.locked ? null : html`<${QueueButtons} track=${{id: t.id, title: t.title, artist: artist.name}} />`}
      </li>`)}
    </ul>`}
    <h2>Memberships</h2>
    <ul class="tiers">${tiers.map((t) => html`<${Tier} key=${t.id} tier=${t} />`)}</ul>
    <${Slot} name="artist" artist=${artist} />
  </article>`;
}
