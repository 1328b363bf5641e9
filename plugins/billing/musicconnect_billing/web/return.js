// /checkout/return (the "checkout-return" slot of the web app's page): the provider sent the fan
// back. The membership follows from the provider's webhook, so the fan's entitlements are polled
// until it is held; a cancelled checkout says so.
import { ErrorNote, Link, html, title } from "@musicconnect/web";
import { api } from "@musicconnect/api";
import { useEffect, useState } from "preact/hooks";
import { day } from "./common.js";

const EVERY_MS = 1000;
const GIVE_UP_MS = 60000;

export default function CheckoutReturn() {
  const q = new URLSearchParams(location.search);
  const slug = q.get("artist");
  const tierId = q.get("tier");
  const cancelled = q.get("cancelled") === "1";
  const [state, setState] = useState({artist: null, held: null, waiting: !cancelled, error: null});
  useEffect(() => {
    let live = true;
    let timer = null;
    const started = Date.now();
    (async () => {
      try {
        const artist = slug ? await api(`artists/${encodeURIComponent(slug)}`, {auth: false}) : null;
        if (!live) return;
        setState((s) => ({...s, artist}));
        if (cancelled) return;
        const poll = async () => {
          const ents = await api("me/entitlements");
          const held = ents.find((e) => e.effective && (!artist || e.artist_id === artist.id) &&
                                        (!tierId || (e.tier && e.tier.id === tierId)));
          if (!live) return;
          if (held) { setState((s) => ({...s, held, waiting: false})); return; }
          if (Date.now() - started > GIVE_UP_MS) { setState((s) => ({...s, waiting: false})); return; }
          timer = setTimeout(() => poll().catch((error) => live && setState((s) => ({...s, error, waiting: false}))),
                             EVERY_MS);
        };
        await poll();
      } catch (error) {
        if (live) setState((s) => ({...s, error, waiting: false}));
      }
    })();
    return () => { live = false; clearTimeout(timer); };
  }, [slug, tierId, cancelled]);
  const back = state.artist
    ? html`<${Link} href=${`/artists/${encodeURIComponent(state.artist.slug)}`}>Back to ${state.artist.name}</${Link}>`
    : html`<${Link} href="/">Back to discover</${Link}>`;
  if (cancelled) {
    title("Checkout cancelled");
    return html`<div id="checkout-result"><h1>Checkout cancelled</h1>
      <p>The checkout was cancelled: nothing was charged and your membership has not changed.</p><p>${back}</p></div>`;
  }
  title("Thank you");
  const held = state.held;
  return html`<div id="checkout-result">
    <h1>${held ? "Welcome in" : "Thank you"}</h1>
    ${state.error ? html`<${ErrorNote} error=${state.error} />` : null}
    ${held ? html`<p id="membership-held">You are now a <strong>${held.tier.name}</strong> member
          of ${state.artist ? state.artist.name : "the artist"}${held.expires_at ? html`, renewing around ${day(held.expires_at)}` : null}.</p>
        <p><${Link} href="/membership">Manage membership</${Link}></p>`
      : state.waiting ? html`<p role="status">Confirming your payment… your membership starts as soon as the payment provider confirms it.</p>`
      : state.error ? null
      : html`<p role="status">The payment is not confirmed yet. It can take a few minutes; your membership page will show it once it is.
          <${Link} href="/membership">Your memberships</${Link}></p>`}
    <p>${back}</p>
  </div>`;
}
