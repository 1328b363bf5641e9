// The fan club feed's "feed" slot: one co-op promotion on the feed (surface "feed"). The feed
// mixes the artists a fan follows; the host is the artist of the newest item whose owner opted
// their feed in: the hosts are asked in the feed's order, at most three, until one answers with
// a promotion (a host that did not opt in answers none and records nothing).
import { useEffect, useState } from "preact/hooks";
import { html } from "@musicconnect/web";
import { PromoCard, askPromotion } from "./common.js";

const TRIES = 3;

export default function FeedPromotion({hosts = []}) {
  const [promo, setPromo] = useState(null);
  const key = hosts.slice(0, TRIES).join(",");
  useEffect(() => {
    let live = true;
    setPromo(null);
    (async () => {
      for (const host of hosts.slice(0, TRIES)) {
        const found = await askPromotion("feed", host);
        if (!live) return;
        if (found) { setPromo(found); return; }
      }
    })();
    return () => { live = false; };
  }, [key]);
  return promo ? html`<${PromoCard} promo=${promo} />` : null;
}
