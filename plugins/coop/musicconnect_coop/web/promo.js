// The artist page's "artist" slot: one co-op promotion for this artist's page (GET
// /api/v1/coop/promotions/slot?surface=artist_page&host_artist_id=...); a click is recorded (POST
// .../promotions/{impression_id}/click) before the app opens the promoted item. Nothing is shown
// when there is no promotion or the request fails (the plugin disabled, offline).
import { useEffect, useState } from "preact/hooks";
import { html } from "@musicconnect/web";
import { PromoCard, askPromotion } from "./common.js";

export default function Promotion({artist, surface = "artist_page"}) {
  const [promo, setPromo] = useState(null);
  useEffect(() => {
    let live = true;
    setPromo(null);
    askPromotion(surface, artist.id).then((p) => live && setPromo(p));
    return () => { live = false; };
  }, [artist.id, surface]);
  return promo ? html`<${PromoCard} promo=${promo} />` : null;
}
