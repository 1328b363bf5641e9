// The artist page's "artist" slot: follow / unfollow, and the fan's ways in: messages (with the
// quota left this month) and the backstage, when the fan's tier has them.
import { ErrorNote, Link, html } from "@musicconnect/web";
import { api } from "@musicconnect/api";
import { useEffect, useState } from "preact/hooks";
import { signedIn } from "./common.js";

export default function Club({artist}) {
  const [me, setMe] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const load = () => api(`fanclub/artists/${artist.id}/me`).then(setMe, setError);
  useEffect(() => { if (signedIn()) load(); }, [artist.id]);
  if (!signedIn()) {
    return html`<section class="club" aria-label="Fan club"><p>
      <${Link} href=${`/signin?next=${encodeURIComponent(location.pathname)}`}>Sign in</${Link}> to follow ${artist.name}.</p></section>`;
  }
  const toggle = async () => {
    setBusy(true); setError(null);
    try { await api(`fanclub/artists/${artist.id}/follow`, {method: me.following ? "DELETE" : "POST"}); await load(); }
    catch (e) { setError(e); }
    setBusy(false);
  };
  const dms = me && me.direct_messages;
  return html`<section class="club" aria-label="Fan club">
    <h2>Fan club</h2>
    ${me ? html`<p>
        <button type="button" aria-pressed=${me.following} disabled=${busy} onClick=${toggle}>
          ${me.following ? "Unfollow" : "Follow"}</button>
        ${me.following ? html` <span class="muted" id="following">You follow ${artist.name}: their posts are in your <${Link} href="/feed">feed</${Link}>.</span>` : null}
      </p>
      <p>
        ${dms && dms.limit > 0 ? html`<${Link} href=${`/messages?artist=${artist.id}`}>Message ${artist.name}</${Link}>
            <span class="muted"> (${dms.remaining} of ${dms.limit} left this month)</span> ` : null}
        ${me.perks && me.perks.virtual_backstage ? html`<${Link} href=${`/backstage?artist=${artist.id}`}>Backstage</${Link}>` : null}
      </p>` : null}
    ${error ? html`<${ErrorNote} error=${error} />` : null}
  </section>`;
}
