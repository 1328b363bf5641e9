// In the track slot: "Download for offline" for a member whose tier has the offline_downloads
// perk for this track's artist (nobody else sees the button; the server decides either way).
import { useEffect, useState } from "preact/hooks";
import { Link, html } from "@musicconnect/web";
import { session } from "@musicconnect/api";
import { allowance, download, isDownloaded, perkFor, remove } from "./downloads.js";

function left(perk) {
  const a = allowance();
  if (a) return `${Math.max(0, a.limit - a.used)} of ${a.limit} downloads left this month`;
  return `Your tier includes ${perk} downloads a month`;
}

export default function DownloadButton({track}) {
  const [perk, setPerk] = useState(0);
  const [stored, setStored] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [, redraw] = useState(0);
  useEffect(() => {
    let live = true;
    if (!session() || !track) return;
    isDownloaded(track.id).then((d) => live && setStored(d), () => {});
    perkFor(track.artist_id).then((n) => live && setPerk(n), () => {});
    return () => { live = false; };
  }, [track && track.id]);
  if (!perk && !stored) return null;
  const take = async () => {
    setBusy(true); setError(null);
    try { await download(track); setStored(true); }
    catch (err) {
      const p = err.problem || {};
      setError(p.resets_at ? `${err.message} (again from ${new Date(p.resets_at).toLocaleDateString()})`
                           : err.message || String(err));
    } finally { setBusy(false); redraw((n) => n + 1); }
  };
  const drop = async () => { await remove(track.id); setStored(false); };
  return html`<section class="downloads-box" aria-label="Offline">
    ${stored
      ? html`<p id="downloaded">Downloaded: plays offline. <button type="button" onClick=${drop}>Remove download</button></p>`
      : html`<button type="button" id="download" onClick=${take} disabled=${busy}>${busy ? "Downloading…" : "Download for offline"}</button>`}
    ${perk ? html`<p class="muted" id="allowance">${left(perk)}</p>` : null}
    <p><${Link} href="/downloads">Your downloads</${Link}></p>
    ${error ? html`<p class="error" role="alert">${error}</p>` : null}
  </section>`;
}
