// What the co-op's screens share: their style, problems in words, links to what a co-op promotes.
import { api, session } from "@musicconnect/api";
import { html, navigate } from "@musicconnect/web";

const STYLE = `
.coop .members, .coop .releases, .coop .parties, .coop .bundles { list-style: none; padding: 0; }
.coop .members li, .coop .releases li, .coop .parties li { padding: .3rem 0; }
.coop .bundles > li, .coop-studio .panel { background: var(--panel); border-radius: .6rem; padding: .8rem 1rem; margin: .6rem 0; }
.coop .role, .coop-studio .badge { display: inline-block; padding: 0 .5rem; border-radius: 1rem; font-size: .85em; background: #2d2944; }
.coop-promo { background: var(--panel); border-radius: .6rem; padding: .6rem 1rem; margin: 1rem 0; }
.coop-promo .label { color: var(--muted); font-size: .9em; margin: 0; }
.coop-studio dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
.coop-studio dd { margin: 0; }
.coop-studio fieldset { border: 1px solid #4a4566; border-radius: .4rem; }
.coop-studio select { font: inherit; padding: .3rem .5rem; border-radius: .4rem; }
.coop-studio .proposal { border-bottom: 1px solid #2d2944; padding: .5rem 0; }
.coop-studio .proposal button { margin-right: .5rem; }
`;

export function useStyle() {
  if (!document.getElementById("mc-coop-style")) {
    const el = document.createElement("style");
    el.id = "mc-coop-style";
    el.textContent = STYLE;
    document.head.append(el);
  }
}

export function signedIn() { const s = session(); return !!(s && s.access_token); }

const WORDS = {
  "coop-not-found": "There is no such co-op.",
  "coop-not-member": "You are not a member of this co-op.",
  "coop-already-voted": "You have already voted on this proposal.",
  "coop-proposal-closed": "This proposal has already been decided.",
  "coop-invalid-pick": "Choose one of your own active paid tiers.",
  "coop-bundle-retired": "This bundle is no longer on sale.",
  "coop-promotion-item-invalid": "Only your own published public releases or upcoming public parties can be promoted.",
  "coop-promotion-limit": "You can nominate at most 50 items.",
  "insufficient-scope": "Your sign-in may not do this.",
};

export function words(error) {
  if (!error) return "";
  return WORDS[error.type] || error.message || String(error);
}

// where a promoted or shared item lives in the app
export function itemHref(item, artistId) {
  if (!item) return `/artists/${artistId}`;
  if (item.kind === "party") return `/parties/${item.id}`;
  const kind = item.content_kind || item.kind;
  if (kind === "track") return `/tracks/${item.id}`;
  if (kind === "post") return `/post?id=${encodeURIComponent(item.id)}`;
  return `/artists/${artistId}`;
}

export function when(iso) {
  try { return new Intl.DateTimeFormat(undefined, {dateStyle: "medium", timeStyle: "short"}).format(new Date(iso)); }
  catch { return iso; }
}

// Start the normal billing checkout of a bundle tier (the co-op account's tier), coming back to
// this app's /checkout/return like billing's own Join button does.
export async function startCheckout(accountId, tierId) {
  const back = (extra) => `${location.origin}/checkout/return?artist=${encodeURIComponent(accountId)}` +
    `&tier=${encodeURIComponent(tierId)}${extra}`;
  let out;
  try {
    out = await api("billing/checkout", {method: "POST", body: {
      tier_id: tierId, interval: "month", success_url: back(""), cancel_url: back("&cancelled=1")}});
  } catch (e) {
    if (e.type !== "invalid-return-url") throw e;
    out = await api("billing/checkout", {method: "POST", body: {tier_id: tierId, interval: "month"}});
  }
  location.assign(out.url);
  return out;
}

// Ask for one promotion on a host's surface (null: none, or the request failed)
export function askPromotion(surface, hostId) {
  return api(`coop/promotions/slot?surface=${surface}&host_artist_id=${encodeURIComponent(hostId)}`)
    .then((out) => (out && out.promotion && out.promotion.item ? out.promotion : null), () => null);
}

// A promotion slot's card: a click is recorded (POST …/click) before the app navigates.
export function PromoCard({promo}) {
  useStyle();
  const href = itemHref(promo.item, promo.promoted_artist_id);
  const open = async (e) => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    if (promo.impression_id) {
      try { await api(`coop/promotions/${promo.impression_id}/click`, {method: "POST"}); } catch { /* still go */ }
    }
    navigate(href);
  };
  const what = promo.item.kind === "party" ? "Listening party" : "New release";
  return html`<aside class="coop-promo" aria-label="From the co-op" data-impression=${promo.impression_id || ""}>
    <p class="label">From the co-op · ${what} by ${promo.promoted_artist_name}</p>
    <p><a href=${href} onClick=${open}>${promo.item.title || what}</a></p>
  </aside>`;
}
