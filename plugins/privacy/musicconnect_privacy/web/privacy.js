// /privacy: your consents (a switch each), "Download my data" (request, progress, the link when
// ready) and "Delete my account" (the password, what is kept and why, then signed out).
import { ErrorNote, Link, Loading, html, navigate, title, useLoad } from "@musicconnect/web";
import { api, session, setSession } from "@musicconnect/api";
import { useEffect, useState } from "preact/hooks";

const when = (v) => (v ? new Date(v).toLocaleString(undefined, {dateStyle: "medium", timeStyle: "short"}) : "");
const size = (n) => (n == null ? "" : n < 1e6 ? `${Math.max(1, Math.round(n / 1e3))} kB` : `${(n / 1e6).toFixed(1)} MB`);

function Consents() {
  const [error, setError] = useState(null);
  const [data, setData] = useState(null);
  const state = useLoad(() => api("privacy/consents"), []);
  const shown = data || state.data;
  if (!shown && state.loading) return html`<${Loading} what="Loading your consents" />`;
  if (!shown) return html`<${ErrorNote} error=${state.error} />`;
  const change = async (purpose, granted) => {
    setError(null);
    // the switch moves at once; the server's answer (the whole state) replaces it
    setData({...shown, current: shown.current.map((c) => (c.purpose === purpose ? {...c, granted} : c))});
    try { setData(await api(`privacy/consents/${purpose}`, {method: "PUT", body: {granted}})); }
    catch (err) { setError(err); setData(shown); }
  };
  return html`<ul class="consents">
    ${shown.current.map((c) => html`<li key=${c.purpose}>
      <label><input type="checkbox" checked=${c.granted} disabled=${c.purpose === "terms"}
               onChange=${(e) => change(c.purpose, e.target.checked)} /> ${c.about}</label>
      <span class="muted"> ${c.at ? `${c.granted ? "given" : "withdrawn"} ${when(c.at)}, version ${c.version}` : "never given"}</span>
    </li>`)}
  </ul>
  ${error ? html`<${ErrorNote} error=${error} />` : null}
  <details><summary>History (${shown.history.length})</summary><ul>
    ${shown.history.map((h, i) => html`<li key=${i}>${when(h.at)}: ${h.purpose} ${h.granted ? "given" : "withdrawn"} (version ${h.version}, ${h.source})</li>`)}
  </ul></details>`;
}

function Exports() {
  const [n, setN] = useState(0);
  const [error, setError] = useState(null);
  const state = useLoad(() => api("privacy/exports"), [n]);
  const [last, setLast] = useState(null);  // kept while the next poll loads (no flicker)
  useEffect(() => { if (state.data) setLast(state.data); }, [state.data]);
  const rows = state.data || last;
  const busy = !!rows && rows.some((e) => e.status === "queued" || e.status === "running");
  useEffect(() => {
    if (!busy) return undefined;
    const t = setTimeout(() => setN((k) => k + 1), 1000);
    return () => clearTimeout(t);
  }, [busy, n]);
  const request = async () => {
    setError(null);
    try { await api("privacy/exports", {method: "POST"}); setN(n + 1); } catch (err) { setError(err); }
  };
  const download = async (id) => {
    setError(null);
    try { location.assign((await api(`privacy/exports/${id}/download`)).url); } catch (err) { setError(err); }
  };
  if (!rows && state.loading) return html`<${Loading} what="Loading your exports" />`;
  if (!rows) return html`<${ErrorNote} error=${state.error} />`;
  return html`<p>A ZIP of everything this service holds about you: records as JSON, your files, and a README saying what each part is.</p>
    <button type="button" onClick=${request} disabled=${busy}>Download my data</button>
    ${error ? html`<${ErrorNote} error=${error} />` : null}
    <ul class="exports">${rows.map((e) => html`<li key=${e.id}>
      Requested ${when(e.created_at)}:
      ${e.status === "ready" ? html` ready (${size(e.size)}, until ${when(e.expires_at)})
          <button type="button" onClick=${() => download(e.id)}>Download the ZIP</button>`
        : e.status === "queued" || e.status === "running" ? html` being made <progress max="1" value=${e.progress} aria-label="Export progress">${Math.round(e.progress * 100)} %</progress>`
        : html` ${e.status}`}
    </li>`)}</ul>`;
}

function Delete() {
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true); setError(null);
    try {
      const receipt = await api("privacy/erasure", {method: "POST", body: {password}});
      setSession(null);
      sessionStorage.setItem("mc.erasure-receipt", receipt.receipt);
      navigate("/");
    } catch (err) { setError(err); setBusy(false); }
  };
  return html`<form onSubmit=${submit} class="danger">
    <p><strong>This deletes your account and your data now; it cannot be undone.</strong> Your plays stay in
      artists' counts without your name. What the law makes us keep is kept without your name or email, and the
      receipt you get lists it: payment records (tax law, up to 10 years), and if you asked never to be emailed,
      a keyed hash of your address so that we keep not emailing it. If you are an artist, your tracks, posts and
      memberships go too, and your members' subscriptions end.</p>
    <label>Your password<input type="password" autocomplete="current-password" required value=${password}
      onInput=${(e) => setPassword(e.target.value)} /></label>
    <button type="submit" disabled=${busy || !password}>Delete my account</button>
    ${error ? html`<${ErrorNote} error=${error} />` : null}
  </form>`;
}

export default function Privacy() {
  title("Privacy");
  if (!(session() && session().access_token)) {
    return html`<section><h1>Privacy</h1><p><${Link} href="/signin?next=%2Fprivacy">Sign in</${Link}> to see your consents, download your data or delete your account.</p></section>`;
  }
  return html`<section class="privacy">
    <h1>Privacy</h1>
    <h2>Your consents</h2><${Consents} />
    <h2>Your data</h2><${Exports} />
    <h2>Delete my account</h2><${Delete} />
  </section>`;
}
