// The artist page's "artist" slot: one co-op promotion for this artist's page (GET
// /api/v1/coop/promotions/slot?surface=artist_page&host_artist_id=...); a click is recorded (POST
// .../promotions/{impression_id}/click) before the app opens the promoted item. Nothing is shown
// when there is no promotion or the request fails (the plugin disabled, offline).
import { useEffect, useState } from "preact/hooks";
import { html, navigate } from "@musicconnect/web";
import { api } from "@musicconnect/api";
import { itemHref, useStyle } from "./common.js";

export default function Promotion({artist, surface = "artist_page"}) {
  const [promo, setPromo] = useState(null);
  useEffect(() => {
    let live = true;
    setPromo(null);
    api(`coop/promotions/slot?surface=${surface}&host_artist_id=${encodeURIComponent(artist.id)}`)
      .then((out) => live && setPromo((out && out.promotion) || null), () => live && setPromo(null));
    return () => { live = false; };
  }, [artist.id, surface]);
  if (!promo || !promo.item) return null;
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
