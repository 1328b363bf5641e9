// /membership: the fan's memberships. Per subscription: the tier held, when it renews (or until
// when it runs after a cancellation), a tier change with the proration the API previews, cancel at
// period end, resume, and the provider's customer portal. Errors are shown in words.
import { ErrorNote, Link, Loading, html, money, title, useLoad } from "@musicconnect/web";
import { api } from "@musicconnect/api";
import { useEffect, useRef, useState } from "preact/hooks";
import { LIVE, day, mySubscriptions, signedIn, tiersOf } from "./common.js";

async function load() {
  const subs = (await mySubscriptions()).filter((s) => LIVE.includes(s.status) && !s.duplicate_of);
  const artists = {};
  const tiers = {};
  await Promise.all([...new Set(subs.map((s) => s.artist_id))].map(async (id) => {
    [artists[id], tiers[id]] = await Promise.all([api(`artists/${id}`, {auth: false}), tiersOf(id)]);
  }));
  return {subs, artists, tiers};
}

function Preview({sub, tier, onDone}) {
  const state = useLoad(() => api(`billing/subscriptions/${sub.id}/preview?tier_id=${tier.id}`), [sub.id, tier.id]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const change = async () => {
    setBusy(true); setError(null);
    try { await api(`billing/subscriptions/${sub.id}/change`, {method: "POST", body: {tier_id: tier.id}}); onDone(); }
    catch (e) { setError(e); setBusy(false); }
  };
  if (state.loading) return html`<${Loading} what="Working out the price" />`;
  if (state.error) return html`<${ErrorNote} error=${state.error} />`;
  const p = state.data;
  const prorations = p.lines.filter((l) => l.proration);
  return html`<div class="preview" aria-label=${`Change to ${tier.name}`}>
    ${prorations.length ? html`<ul class="lines">${prorations.map((l, i) => html`<li key=${i}>${`${l.description}: ${money(l.amount, p.currency)}`}</li>`)}</ul>`
      : html`<p class="muted">No proration: the change takes effect when the paid period ends.</p>`}
    <p id="amount-due">Next invoice: <strong>${money(p.amount_due, p.currency)}</strong>${p.next_payment_at
      ? html` on ${day(p.next_payment_at)}` : null}.</p>
    <button type="button" disabled=${busy} onClick=${change}>${busy ? "Changing…" : `Change to ${tier.name}`}</button>
    ${error ? html`<${ErrorNote} error=${error} />` : null}
  </div>`;
}

function Subscription({sub, artist, tiers, want, reload, refocus}) {
  const held = tiers.find((t) => t.id === (sub.entitled_tier_id || sub.tier_id));
  const paying = tiers.find((t) => t.id === sub.tier_id);
  const others = tiers.filter((t) => t.price_amount > 0 && t.is_active !== false && t.id !== sub.tier_id);
  const [target, setTarget] = useState(want ? others.find((t) => t.id === want) || null : null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  // after cancel or resume the card is drawn anew: a keyboard user's focus goes to the button that
  // undoes it (not back to the top of the page)
  const flip = useRef(null);
  useEffect(() => { if (refocus && flip.current) flip.current.focus(); }, []);
  const act = async (what) => {
    setBusy(true); setError(null);
    try { await api(`billing/subscriptions/${sub.id}/${what}`, {method: "POST"}); reload(sub.id); }
    catch (e) { setError(e); setBusy(false); }
  };
  const portal = async () => {
    setBusy(true); setError(null);
    try {
      const out = await api("billing/portal", {method: "POST", body: {provider: sub.provider, return_url: location.href}})
        .catch((e) => { if (e.type !== "invalid-return-url") throw e; return api("billing/portal", {method: "POST", body: {provider: sub.provider}}); });
      location.assign(out.url);
    } catch (e) { setError(e); setBusy(false); }
  };
  const until = sub.entitled_until || sub.current_period_end;
  return html`<li class="card subscription" aria-label=${`Membership of ${artist.name}`}>
    <h2><${Link} href=${`/artists/${encodeURIComponent(artist.slug)}`}>${artist.name}</${Link}></h2>
    <p class="tier">${held ? held.name : "A tier"} · ${money(sub.amount, sub.currency)} a ${sub.interval}
      ${sub.status === "past_due" ? html` · <span class="error">payment failed: update your card in the portal</span>` : null}</p>
    ${paying && held && paying.id !== held.id ? html`<p class="muted">Moves to ${paying.name} on ${day(until)}.</p>` : null}
    <p class="renewal">${sub.cancel_at_period_end
      ? html`Cancelled: your membership runs until <strong>${day(sub.current_period_end)}</strong> and does not renew.`
      : html`Renews on <strong>${day(sub.current_period_end)}</strong>.`}</p>
    <div class="actions">
      ${sub.cancel_at_period_end
        ? html`<button type="button" ref=${flip} disabled=${busy} onClick=${() => act("resume")}>Resume membership</button>`
        : html`<button type="button" ref=${flip} disabled=${busy} onClick=${() => act("cancel")}>Cancel at period end</button>`}
      <button type="button" class="secondary" disabled=${busy} onClick=${portal}>Payment details and invoices</button>
    </div>
    ${others.length && !sub.cancel_at_period_end ? html`<fieldset><legend>Change tier</legend>
      ${others.map((t) => html`<label key=${t.id}><input type="radio" name=${`tier-${sub.id}`} checked=${target && target.id === t.id}
          onChange=${() => setTarget(t)} /> ${t.rank > (held ? held.rank : 0) ? "Upgrade" : "Downgrade"} to ${`${t.name} (${money(t.price_amount, t.currency)} a month)`}</label>`)}
      ${target ? html`<${Preview} key=${target.id} sub=${sub} tier=${target} onDone=${reload} />` : null}
    </fieldset>` : null}
    ${error ? html`<${ErrorNote} error=${error} />` : null}
  </li>`;
}

export default function Membership() {
  title("Membership");
  const [n, setN] = useState(0);
  const [acted, setActed] = useState(null);  // the subscription whose cancel/resume was pressed
  const q = new URLSearchParams(location.search);
  const state = useLoad(() => (signedIn() ? load() : Promise.resolve(null)), [n]);
  if (!signedIn()) {
    return html`<section><h1>Membership</h1><p><${Link} href="/signin?next=/membership">Sign in</${Link}> to see your memberships.</p></section>`;
  }
  if (state.loading) return html`<${Loading} what="Loading your memberships" />`;
  if (state.error) return html`<section><h1>Membership</h1><${ErrorNote} error=${state.error} /></section>`;
  const {subs, artists, tiers} = state.data;
  const focus = q.get("artist");
  const shown = focus && subs.some((s) => s.artist_id === focus) ? [...subs].sort((a) => (a.artist_id === focus ? -1 : 1)) : subs;
  return html`<section>
    <h1>Membership</h1>
    ${shown.length === 0 ? html`<p>You have no paid memberships. <${Link} href="/discover">Find an artist to support</${Link}>.</p>`
      : html`<ul class="subscriptions">${shown.map((s) => html`<${Subscription} key=${`${s.id}-${n}`} sub=${s}
          artist=${artists[s.artist_id]} tiers=${tiers[s.artist_id]} want=${n === 0 && s.artist_id === focus ? q.get("tier") : null}
          refocus=${acted === s.id} reload=${(id) => { setActed(id || null); setN(n + 1); }} />`)}</ul>`}
  </section>`;
}
