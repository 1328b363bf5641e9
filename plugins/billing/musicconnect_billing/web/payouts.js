// /studio/payouts (artists): the payout account as the billing API reports it (GET
// /api/v1/billing/connect): not connected, onboarding incomplete (what Stripe still needs), or
// payouts enabled. "Set up payouts" / "Continue setup" asks the API for Stripe's onboarding link
// (POST /api/v1/billing/connect, return and refresh addresses back here) and goes there; coming
// back, the page asks for the account's status now (POST /api/v1/billing/connect/refresh). Below,
// the earnings the revenue ledger holds (GET /api/v1/billing/artists/{id}/revenue).
import { ErrorNote, Link, Loading, html, money, title, useLoad } from "@musicconnect/web";
import { api, session } from "@musicconnect/api";
import { useState } from "preact/hooks";
import { day } from "./common.js";

// Stripe's requirement names (requirements.currently_due) in words; others are shown as they are
const NEEDS = {
  "external_account": "a bank account (or debit card) to pay you out to",
  "tos_acceptance.date": "accepting Stripe's terms of service",
  "tos_acceptance.ip": "accepting Stripe's terms of service",
  "business_type": "whether you are paid as a person or a company",
  "business_profile.url": "a website or social profile about your music",
  "business_profile.mcc": "what you sell",
  "business_profile.product_description": "a description of what you sell",
  "individual.first_name": "your first name", "individual.last_name": "your last name",
  "individual.dob.day": "your date of birth", "individual.dob.month": "your date of birth",
  "individual.dob.year": "your date of birth", "individual.email": "your email address",
  "individual.phone": "your phone number", "individual.address.line1": "your address",
  "individual.address.city": "your address", "individual.address.postal_code": "your address",
  "individual.address.state": "your address", "individual.ssn_last_4": "the last 4 digits of your SSN",
  "individual.id_number": "your ID number", "individual.verification.document": "a photo of your ID",
};

export function needsInWords(requirements) {
  return [...new Set((requirements || []).map((r) => NEEDS[r] || r.replaceAll("_", " ").replaceAll(".", ": ")))];
}

function statusOf(acct) {
  if (!acct.connected) return "none";
  if (acct.payouts_enabled && acct.charges_enabled) return "enabled";
  return "incomplete";
}

const STYLE = `
.payouts .badge { display: inline-block; padding: 0 .6rem; border-radius: 1rem; font-weight: 600; background: #2d2944; }
.payouts .badge.ready { background: #1f4d36; } .payouts .badge.processing { background: #4d421f; }
.payouts table { width: 100%; border-collapse: collapse; }
.payouts th, .payouts td { text-align: left; padding: .4rem; border-bottom: 1px solid #2d2944; }
.payouts .num { text-align: right; font-variant-numeric: tabular-nums; }
.payouts caption { text-align: left; }
`;

function useStyle() {
  if (!document.getElementById("mc-billing-payouts-style")) {
    const el = document.createElement("style");
    el.id = "mc-billing-payouts-style";
    el.textContent = STYLE;
    document.head.append(el);
  }
}

async function load(artistId) {
  // without Stripe (the demo's sandbox, or no provider at all) nobody is paid out: nothing to set up
  const providers = await api("payment-providers", {auth: false});
  const stripe = providers.some((p) => p.id === "stripe");
  let acct = await api("billing/connect");
  // back from onboarding (or still unfinished): ask Stripe now rather than wait for its webhook
  if (acct.connected && !(acct.payouts_enabled && acct.charges_enabled)) {
    try { acct = await api("billing/connect/refresh", {method: "POST"}); } catch { /* the stored status stands */ }
  }
  let revenue = null;
  let revenueError = null;
  try { revenue = await api(`billing/artists/${artistId}/revenue?limit=10`); } catch (e) { revenueError = e; }
  return {acct, revenue, revenueError, stripe, providers};
}

function NoStripe({providers}) {
  const sandbox = providers.find((p) => p.id !== "stripe");
  return html`<div class="payout-status" id="payout-status" data-status="no-stripe">
    <p><span class="badge">No payouts here</span></p>
    <p>${sandbox ? `This platform takes payments only through the ${sandbox.label}: fans can join your tiers to try them, and nobody is charged or paid out.`
      : "This platform takes no payments (no payment provider is configured), so there is nothing to pay out."}
      A payout account is set up once the operator connects Stripe.</p>
  </div>`;
}

function Status({acct}) {
  const kind = statusOf(acct);
  if (kind === "none") {
    return html`<div class="payout-status" id="payout-status" data-status="none">
      <p><span class="badge">Not connected</span></p>
      <p>You have no payout account yet, so you cannot be paid: fans cannot join your paid tiers
         until it can take payments. Setting it up takes a few minutes at Stripe, our payment provider.</p>
    </div>`;
  }
  if (kind === "incomplete") {
    const needs = needsInWords(acct.requirements);
    return html`<div class="payout-status" id="payout-status" data-status="incomplete">
      <p><span class="badge processing">Onboarding incomplete</span></p>
      <p>${acct.charges_enabled ? "Fans can pay you, but Stripe cannot pay you out yet."
        : "Your payout account cannot take payments yet: fans cannot join your paid tiers."}</p>
      ${needs.length ? html`<p id="payout-needs-intro">Stripe still needs:</p>
        <ul id="payout-needs" aria-labelledby="payout-needs-intro">${needs.map((n) => html`<li key=${n}>${n}</li>`)}</ul>`
        : html`<p>Stripe is checking what you sent; this can take a little while.</p>`}
    </div>`;
  }
  return html`<div class="payout-status" id="payout-status" data-status="enabled">
    <p><span class="badge ready">Payouts enabled</span></p>
    <p>Fans can join your paid tiers and Stripe pays your earnings out to your bank account.</p>
  </div>`;
}

function Earnings({revenue, error}) {
  if (error) {
    return html`<p class="muted">Your earnings could not be read: ${error.message}</p>`;
  }
  const totals = revenue.totals || [];
  return html`<section class="panel" aria-labelledby="earnings-h">
    <h2 id="earnings-h">Earnings</h2>
    ${totals.length === 0 ? html`<p class="muted" id="earnings-none">No payments yet.</p>` : html`<table id="earnings-totals">
      <caption class="muted">All payments so far, per currency</caption>
      <thead><tr><th scope="col">Currency</th><th scope="col" class="num">Paid by fans</th>
        <th scope="col" class="num">Platform fee</th><th scope="col" class="num">Yours</th></tr></thead>
      <tbody>${totals.map((t) => html`<tr key=${t.currency}><th scope="row">${t.currency}</th>
        <td class="num">${money(t.gross, t.currency)}</td><td class="num">${money(t.platform_fee, t.currency)}</td>
        <td class="num">${money(t.artist_net, t.currency)}</td></tr>`)}</tbody>
    </table>`}
    ${(revenue.entries || []).length ? html`<h3>Latest</h3><ul class="earnings-latest">
      ${revenue.entries.map((e, i) => html`<li key=${i}>${day(e.occurred_at)}: ${e.kind} ${money(e.gross, e.currency)}, yours ${money(e.artist_net, e.currency)}</li>`)}</ul>` : null}
    <p class="muted">The platform's API does not list Stripe's transfers to your bank: Stripe pays out what is
      yours on its own schedule, and its emails and dashboard show each payout.</p>
  </section>`;
}

function SetUp({acct}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const kind = statusOf(acct);
  const start = async () => {
    setBusy(true); setError(null);
    const here = `${location.origin}/studio/payouts`;
    try {
      // The server accepts only its own origins (422 invalid-return-url otherwise): then its defaults
      const out = await api("billing/connect", {method: "POST", body: {return_url: `${here}?onboarding=done`,
                                                                          refresh_url: `${here}?onboarding=expired`}})
        .catch((e) => { if (e.type !== "invalid-return-url") throw e; return api("billing/connect", {method: "POST", body: {}}); });
      location.assign(out.url);
    } catch (e) { setError(e); setBusy(false); }
  };
  if (kind === "enabled") return null;
  const label = kind === "none" ? "Set up payouts" : "Continue setup";
  return html`<div class="actions">
    <button type="button" id="payout-setup" disabled=${busy} onClick=${start}>${busy ? "Opening Stripe…" : label}</button>
    ${error ? html`<${ErrorNote} error=${error.type === "stripe-not-configured"
      ? `This platform takes no real payments (no Stripe account is configured; the demo's sandbox pays no one), so there is no payout account to set up. ${error.message}.`
      : error} />` : null}
  </div>`;
}

function Payouts({artist}) {
  const state = useLoad(() => load(artist.id), [artist.id]);
  if (state.loading) return html`<${Loading} what="Asking for your payout account" />`;
  if (state.error) return html`<${ErrorNote} error=${state.error} />`;
  const {acct, revenue, revenueError, stripe, providers} = state.data;
  const q = new URLSearchParams(location.search);
  return html`<div>
    ${q.get("onboarding") === "expired" ? html`<p role="status" class="muted">The setup link expired before you finished: continue below.</p>` : null}
    <section class="panel" aria-labelledby="payout-h">
      <h2 id="payout-h">Payout account</h2>
      ${stripe ? html`<${Status} acct=${acct} /><${SetUp} acct=${acct} />` : html`<${NoStripe} providers=${providers} />`}
      <p class="muted">The platform keeps ${acct.fee_percent} % of each payment${acct.fee_override ? " (your own rate)" : ""}.</p>
    </section>
    <${Earnings} revenue=${revenue} error=${revenueError} />
  </div>`;
}

// Artists only: anyone else is told why, in words
export default function PayoutsPage() {
  title("Payouts");
  useStyle();
  const me = useLoad(() => (session() ? api("me") : Promise.resolve(null)), []);
  if (me.loading) return html`<${Loading} />`;
  if (me.error && me.error.status !== 401) return html`<${ErrorNote} error=${me.error} />`;
  const user = me.error ? null : me.data;
  if (!user) {
    return html`<section class="gated" role="status"><h1>Payouts</h1>
      <p>Payouts are for artists. <${Link} href="/signin?next=/studio/payouts">Sign in</${Link}> with your artist account.</p>
    </section>`;
  }
  if (!user.artist) {
    return html`<section class="gated" role="status"><h1>Payouts</h1>
      <p>Payouts are for artists, and ${user.display_name || user.email} is a listener's account.
         <${Link} href="/membership">Your memberships</${Link}> are where you pay artists.</p>
    </section>`;
  }
  return html`<section class="studio payouts"><h1>Payouts</h1><${Payouts} artist=${user.artist} /></section>`;
}
