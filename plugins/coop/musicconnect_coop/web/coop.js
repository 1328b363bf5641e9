// The co-op page, /coop/<slug> (GET /api/v1/coop/coops/{slug}, public): who is in it, their shared
// releases and upcoming parties, and the bundle tiers with what each includes; "Join the bundle"
// starts the normal billing checkout of the co-op account's tier.
import { useState } from "preact/hooks";
import { ErrorNote, Link, Loading, html, money, navigate, title, useLoad } from "@musicconnect/web";
import { api } from "@musicconnect/api";
import { itemHref, signedIn, startCheckout, useStyle, when, words } from "./common.js";

function Bundle({coop, tier}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const join = async () => {
    if (!signedIn()) { navigate(`/signin?next=${encodeURIComponent(location.pathname)}`); return; }
    setBusy(true); setError(null);
    try { await startCheckout(coop.artist_id, tier.id); } catch (e) { setError(words(e)); setBusy(false); }
  };
  const inside = tier.includes || [];
  return html`<li class="bundle" data-tier=${tier.id} aria-labelledby=${`bundle-${tier.id}`}>
    <h3 id=${`bundle-${tier.id}`}>${tier.name}</h3>
    <p>${money(tier.price_amount, tier.currency)} a month</p>
    ${tier.description ? html`<p class="muted">${tier.description}</p>` : null}
    ${inside.length ? html`<p>Includes:</p><ul class="includes">${inside.map((i) => html`<li key=${i.artist_id}>
        <${Link} href=${`/artists/${i.artist_id}`}>${i.artist_name}</${Link}>: ${i.tier_name}</li>`)}</ul>` : null}
    <p><button type="button" disabled=${busy} onClick=${join} aria-describedby=${`bundle-${tier.id}`}>
      ${busy ? "Opening checkout…" : "Join the bundle"}</button></p>
    ${error ? html`<p class="error" role="alert">${error}</p>` : null}
  </li>`;
}

export default function CoopPage({rest}) {
  useStyle();
  const slug = (rest || "").split("/")[0];
  const state = useLoad(() => (slug ? api(`coop/coops/${encodeURIComponent(slug)}`, {auth: false})
                                    : Promise.resolve(null)), [slug]);
  if (!slug) return html`<section><h1>Co-ops</h1><p>Open a co-op from a link to its page.</p></section>`;
  if (state.loading) return html`<${Loading} what="Loading the co-op" />`;
  if (state.error) {
    title("Co-op");
    return html`<section><h1>Co-op</h1><p class="error" role="alert">${words(state.error)}</p></section>`;
  }
  const coop = state.data;
  title(coop.name);
  return html`<article class="coop" data-coop=${coop.id}>
    <h1>${coop.name}</h1>
    ${coop.status !== "active" ? html`<p class="muted" role="status">This co-op is ${coop.status}.</p>` : null}
    ${coop.description ? html`<p>${coop.description}</p>` : null}
    <h2>Members</h2>
    <ul class="members">${coop.members.map((m) => html`<li key=${m.artist_id}>
      <${Link} href=${`/artists/${m.artist_id}`}>${m.name}</${Link}>
      ${m.role === "admin" ? html` <span class="role">admin</span>` : null}</li>`)}</ul>
    <h2>Bundles</h2>
    ${coop.bundle_tiers.length
      ? html`<ul class="bundles">${coop.bundle_tiers.map((t) => html`<${Bundle} key=${t.id} coop=${coop} tier=${t} />`)}</ul>`
      : html`<p class="muted">No bundle on sale yet.</p>`}
    <h2>Shared releases</h2>
    ${coop.releases.length
      ? html`<ul class="releases">${coop.releases.map((r) => html`<li key=${r.id}>
          <${Link} href=${itemHref({kind: "release", content_kind: r.kind, id: r.id}, r.artist_id)}>${r.title || "Untitled"}</${Link}>
          <span class="muted"> · ${r.artist_name}</span></li>`)}</ul>`
      : html`<p class="muted">Nothing released yet.</p>`}
    <h2>Upcoming parties</h2>
    ${coop.parties.length
      ? html`<ul class="parties">${coop.parties.map((p) => html`<li key=${p.id}>
          <${Link} href=${`/parties/${p.id}`}>${p.title || "Listening party"}</${Link}>
          <span class="muted"> · ${p.artist_name} · ${when(p.starts_at)}</span></li>`)}</ul>`
      : html`<p class="muted">No party planned.</p>`}
  </article>`;
}
