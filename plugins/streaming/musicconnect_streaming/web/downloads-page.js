// /downloads: the tracks stored for offline listening and the allowance the server last reported.
// Opening it online re-checks every download with the server (downloads.js check()).
import { useEffect, useState } from "preact/hooks";
import { Link, html } from "@musicconnect/web";
import { allowance, check, index, remove } from "./downloads.js";

function size(bytes) {
  return bytes ? `${(bytes / 1048576).toFixed(1)} MB` : "";
}

export default function Downloads() {
  const [list, setList] = useState(index());
  const [removed, setRemoved] = useState([]);
  useEffect(() => {
    const on = () => setList(index());
    addEventListener("mc-downloads", on);
    check().then((gone) => { setRemoved(gone); setList(index()); }, () => {});
    return () => removeEventListener("mc-downloads", on);
  }, []);
  const a = allowance();
  const rows = Object.entries(list);
  return html`<section class="downloads">
    <h1>Downloads</h1>
    <p id="allowance">${a ? `${Math.max(0, a.limit - a.used)} of ${a.limit} downloads left this month` : "No downloads this month yet."}</p>
    ${removed.length ? html`<p role="status" id="removed">Removed ${removed.join(", ")}: your membership no longer includes offline listening.</p>` : null}
    ${rows.length ? html`<ul class="download-list">
      ${rows.map(([id, d]) => html`<li key=${id}>
        <${Link} href=${`/tracks/${id}`}>${d.title}</${Link}> <span class="muted">${size(d.size)}</span>
        ${" "}<button type="button" onClick=${() => remove(id)} aria-label=${`Remove ${d.title}`}>Remove</button>
      </li>`)}
    </ul>` : html`<p class="muted" id="no-downloads">Nothing downloaded. A track you may download has "Download for offline" on its page.</p>`}
  </section>`;
}
