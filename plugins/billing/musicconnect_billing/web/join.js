// The artist page's "artist" slot: a Join button per paid tier (starts the checkout), or, for a
// member, Upgrade buttons for the higher tiers and a link to manage the membership.
import { ErrorNote, Link, html, money, navigate } from "@musicconnect/web";
import { useEffect, useState } from "preact/hooks";
import { liveSubscription, signedIn, startCheckout, tiersOf } from "./common.js";

export default function Join({artist}) {
  const [state, setState] = useState({tiers: null, sub: null, error: null});
  const [busy, setBusy] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    let live = true;
    Promise.all([tiersOf(artist.id), signedIn() ? liveSubscription(artist.id) : Promise.resolve(null)])
      .then(([tiers, sub]) => live && setState({tiers, sub, error: null}),
            (e) => live && setState({tiers: null, sub: null, error: e}));
    return () => { live = false; };
  }, [artist.id]);
  if (state.error) return html`<${ErrorNote} error=${state.error} />`;
  if (!state.tiers) return null;
  const paid = state.tiers.filter((t) => t.price_amount > 0 && t.is_active !== false);
  if (!paid.length) return null;
  const sub = state.sub;
  const current = sub && state.tiers.find((t) => t.id === (sub.entitled_tier_id || sub.tier_id));
  const join = async (tier) => {
    if (!signedIn()) { navigate(`/signin?next=${encodeURIComponent(location.pathname)}`); return; }
    setBusy(tier.id); setError(null);
    try { await startCheckout(artist, tier); } catch (e) { setError(e); setBusy(null); }
  };
  return html`<section class="membership-actions" aria-label="Join">
    <h2>${current ? "Your membership" : "Join"}</h2>
    ${current ? html`<p id="member-of">You are a ${current.name} member.
        <${Link} href=${`/membership?artist=${encodeURIComponent(artist.id)}`}>Manage membership</${Link}></p>` : null}
    <ul class="join">
      ${paid.filter((t) => !current || t.rank > current.rank).map((t) => html`<li key=${t.id}>
        ${current
          ? html`<${Link} class="button" href=${`/membership?artist=${encodeURIComponent(artist.id)}&tier=${t.id}`}>Upgrade to ${t.name}</${Link}>`
          : html`<button type="button" disabled=${busy !== null} onClick=${() => join(t)}>
              ${busy === t.id ? "Opening checkout…" : `Join ${t.name}`}</button>`}
        <span class="muted"> ${money(t.price_amount, t.currency)} a month</span>
      </li>`)}
    </ul>
    ${error ? html`<${ErrorNote} error=${error} />` : null}
  </section>`;
}
