// Shared by the billing screens: the fan's subscriptions, the artists' tiers, checkout, dates.
import { api, session } from "@musicconnect/api";

export const LIVE = ["active", "trialing", "past_due"];

export function signedIn() { return !!(session() && session().access_token); }

export async function mySubscriptions() {
  return api("billing/subscriptions?limit=500");
}

// the fan's live subscription to one artist (one at most: docs/billing.md)
export async function liveSubscription(artistId) {
  const subs = await mySubscriptions();
  return subs.find((s) => s.artist_id === artistId && LIVE.includes(s.status) && !s.duplicate_of) || null;
}

export async function tiersOf(artistId) {
  const tiers = await api(`artists/${artistId}/tiers`, {auth: false});
  return tiers.sort((a, b) => a.rank - b.rank);
}

// Start a checkout and send the fan to the provider's page (the sandbox's when serving --demo).
// The return addresses are this app's /checkout/return; a platform whose MC_BASE_URL is another
// origin refuses them (422 invalid-return-url): then the provider's default pages are used.
export async function startCheckout(artist, tier) {
  const back = (extra) => `${location.origin}/checkout/return?artist=${encodeURIComponent(artist.slug)}` +
    `&tier=${encodeURIComponent(tier.id)}${extra}`;
  let out;
  try {
    out = await api("billing/checkout", {method: "POST", body: {
      tier_id: tier.id, interval: "month", success_url: back(""), cancel_url: back("&cancelled=1")}});
  } catch (e) {
    if (e.type !== "invalid-return-url") throw e;
    out = await api("billing/checkout", {method: "POST", body: {tier_id: tier.id, interval: "month"}});
  }
  location.assign(out.url);
  return out;
}

export function day(value) {
  if (!value) return "";
  const d = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  return d.toLocaleDateString(undefined, {year: "numeric", month: "long", day: "numeric"});
}
