// /copyright: the public copyright notice form (17 U.S.C. §512(c)(3)(A)): anyone, signed in or
// not, names the work and the content here that infringes it; the six elements are checked by
// the server and a missing one is shown at its field. A valid notice takes the content down.
import { ErrorNote, html, title } from "@musicconnect/web";
import { api } from "@musicconnect/api";
import { useEffect, useState } from "preact/hooks";
import { Check, Field, FormError, errorsByField, values } from "./dmca-form.js";

export default function Copyright() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [sent, setSent] = useState(null);
  useEffect(() => { title("Copyright notice"); }, []);
  const errors = errorsByField(error);
  const submit = async (ev) => {
    ev.preventDefault();
    const body = values(ev.target);
    body.infringing_material = body.infringing_material.split(/\s+/).filter(Boolean);
    setBusy(true); setError(null);
    try { setSent(await api("moderation/dmca/notices", {method: "POST", body, auth: false})); }
    catch (e) {
      setError(e);
      const first = Object.keys(errorsByField(e))[0];
      if (first) setTimeout(() => { const el = document.getElementById(first); if (el) el.focus(); });
    }
    finally { setBusy(false); }
  };
  if (sent) {
    return html`<section class="copyright">
      <h1>Copyright notice received</h1>
      <p id="notice-received" role="status">Thank you. Your notice <code>${sent.id}</code> was received and the
        ${sent.content_ids.length === 1 ? "item was" : `${sent.content_ids.length} items were`} taken down.
        The uploader was told and may send a counter-notice; we will forward it to you.</p>
    </section>`;
  }
  return html`<section class="copyright">
    <h1>Report copyright infringement</h1>
    <p>Send a notice under the Digital Millennium Copyright Act (17 U.S.C. §512(c)(3)). Every field is required.
      The content is taken down as soon as the notice is complete, and the uploader receives your contact details.</p>
    <form onSubmit=${submit} noValidate>
      <${Field} name="copyrighted_work" label="The copyrighted work" multiline errors=${errors}
        hint="Title, author, and where the original can be found" />
      <${Field} name="infringing_material" label="The infringing material on this site" multiline errors=${errors}
        hint="Its web address(es) here, one per line" />
      <${Field} name="complainant_name" label="Your name" autocomplete="name" errors=${errors} />
      <${Field} name="complainant_address" label="Your postal address" autocomplete="street-address" multiline errors=${errors} />
      <${Field} name="complainant_phone" label="Your telephone number" type="tel" autocomplete="tel" errors=${errors} />
      <${Field} name="complainant_email" label="Your email address" type="email" autocomplete="email" errors=${errors} />
      <${Check} name="good_faith" errors=${errors}
        label="I have a good faith belief that this use is not authorized by the copyright owner, its agent, or the law." />
      <${Check} name="accurate_under_penalty" errors=${errors}
        label="The information in this notice is accurate, and under penalty of perjury, I am the owner or authorized to act on behalf of the owner." />
      <${Field} name="signature" label="Signature: type your full legal name" errors=${errors} />
      ${error ? html`<${FormError} error=${error} ErrorNote=${ErrorNote} />` : null}
      <button type="submit" disabled=${busy}>${busy ? "Sending…" : "Send notice"}</button>
    </form>
  </section>`;
}
