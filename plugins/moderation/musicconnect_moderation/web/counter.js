// /copyright/counter?notice=<id>: the uploader's side of a copyright notice (the take-down
// notification links here): who sent it and what it names, the strike, and the counter-notice
// form (17 U.S.C. §512(g)(3)); once sent, the date the content comes back unless a suit is filed.
import { ErrorNote, Link, Loading, html, title, useLoad } from "@musicconnect/web";
import { api } from "@musicconnect/api";
import { useEffect, useState } from "preact/hooks";
import { Check, Field, FormError, errorsByField, values } from "./dmca-form.js";

const day = (iso) => new Date(iso).toLocaleDateString(undefined, {weekday: "long", year: "numeric", month: "long", day: "numeric"});

export default function Counter() {
  const id = new URLSearchParams(location.search).get("notice") || "";
  const state = useLoad(() => api(`moderation/dmca/notices/${encodeURIComponent(id)}`), [id]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [counter, setCounter] = useState(null);
  useEffect(() => { title("Counter-notice"); }, []);
  if (state.loading) return html`<${Loading} what="Loading the notice" />`;
  if (state.error && state.error.status === 401) {
    return html`<section><h1>Counter-notice</h1><p>Sign in to read the notice about your content.
      <${Link} href=${`/signin?next=${encodeURIComponent(location.pathname + location.search)}`}>Sign in</${Link}></p></section>`;
  }
  if (state.error) return html`<section><h1>Counter-notice</h1><${ErrorNote} error=${state.error} /></section>`;
  const n = state.data;
  const sent = counter || n.counter;
  const errors = errorsByField(error);
  const submit = async (ev) => {
    ev.preventDefault();
    setBusy(true); setError(null);
    try { setCounter(await api(`moderation/dmca/notices/${encodeURIComponent(id)}/counter`, {method: "POST", body: values(ev.target)})); }
    catch (e) {
      setError(e);
      const first = Object.keys(errorsByField(e))[0];
      if (first) setTimeout(() => { const el = document.getElementById(first); if (el) el.focus(); });
    }
    finally { setBusy(false); }
  };
  return html`<section class="copyright">
    <h1>Copyright notice about your content</h1>
    <p>${n.complainant_name} (${n.complainant_email}, ${n.complainant_phone}, ${n.complainant_address}) says this infringes:
      ${n.copyrighted_work}</p>
    <p>The notice names:</p>
    <ul>${n.items.map((i) => html`<li key=${i.id}>${i.title} (${i.status === "taken_down" ? "taken down" : i.status})</li>`)}</ul>
    <p id="strike">${n.strike === "active" ? "This notice counts as a strike against your account (three within a year close it)."
      : "The strike of this notice was withdrawn."}</p>
    ${sent ? html`<p id="counter-status" role="status">${sent.status === "pending"
        ? `Counter-notice received. Your content comes back on ${day(sent.restore_at)} unless the complainant files suit.`
        : `Counter-notice: ${sent.status.replace("-", " ")}.`}</p>`
      : html`<h2>Send a counter-notice</h2>
    <p>If the content was removed by mistake or misidentified, you may send a counter-notice (17 U.S.C. §512(g)(3)).
      We forward it to the complainant; the content comes back 10 business days later unless they file suit.</p>
    <form onSubmit=${submit} noValidate>
      <${Field} name="material" label="The material removed and where it appeared" multiline errors=${errors}
        value=${n.items.map((i) => `${i.title}: ${location.origin}/content/${i.id}`).join("\n")} />
      <${Check} name="good_faith_mistake" errors=${errors}
        label="Under penalty of perjury, I have a good faith belief that the material was removed or disabled as a result of mistake or misidentification." />
      <${Field} name="name" label="Your name" autocomplete="name" errors=${errors} />
      <${Field} name="address" label="Your address" autocomplete="street-address" multiline errors=${errors} />
      <${Field} name="phone" label="Your telephone number" type="tel" autocomplete="tel" errors=${errors} />
      <${Check} name="consent_jurisdiction" errors=${errors}
        label="I consent to the jurisdiction of the Federal District Court for the judicial district of my address (or, outside the United States, any judicial district in which the service provider may be found)." />
      <${Check} name="accept_service" errors=${errors}
        label="I will accept service of process from the person who sent the notice, or their agent." />
      <${Field} name="signature" label="Signature: type your full legal name" errors=${errors} />
      ${error ? html`<${FormError} error=${error} ErrorNote=${ErrorNote} />` : null}
      <button type="submit" disabled=${busy}>${busy ? "Sending…" : "Send counter-notice"}</button>
    </form>`}
  </section>`;
}
