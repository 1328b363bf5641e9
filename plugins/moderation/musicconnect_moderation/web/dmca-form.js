// Shared by the copyright pages: a labelled form whose fields show the server's errors by field
// (the API's 422 names each missing element of the notice or counter-notice).
import { html } from "@musicconnect/web";

export function errorsByField(error) {
  const out = {};
  for (const e of (error && error.problem && error.problem.errors) || []) {
    if (e.field) out[e.field] = e.message === "required" ? `Required: ${e.element}` : `${e.element}: ${e.message}`;
  }
  return out;
}

export function Field({name, label, hint, errors, type = "text", multiline = false, ...rest}) {
  const err = errors[name];
  const described = [hint ? `${name}-hint` : null, err ? `${name}-error` : null].filter(Boolean).join(" ") || undefined;
  const attrs = {id: name, name, "aria-invalid": err ? "true" : undefined, "aria-describedby": described,
                 style: "display: block; width: 100%; max-width: 40rem", ...rest};
  return html`<p class="field">
    <label for=${name}>${label}</label>
    ${multiline ? html`<textarea rows="3" ...${attrs}></textarea>` : html`<input type=${type} ...${attrs} />`}
    ${hint ? html`<small id=${`${name}-hint`} class="muted" style="display: block">${hint}</small>` : null}
    ${err ? html`<small id=${`${name}-error`} class="error" style="display: block">${err}</small>` : null}
  </p>`;
}

export function Check({name, label, errors}) {
  const err = errors[name];
  return html`<p class="field check" style="display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: baseline">
    <input type="checkbox" id=${name} name=${name} aria-invalid=${err ? "true" : undefined}
      aria-describedby=${err ? `${name}-error` : undefined} />
    <label for=${name} style="flex: 1 1 20rem">${label}</label>
    ${err ? html`<small id=${`${name}-error`} class="error" style="flex-basis: 100%">${err}</small>` : null}
  </p>`;
}

// the form's values: text fields trimmed by the server, checkboxes as booleans
export function values(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name) continue;
    out[el.name] = el.type === "checkbox" ? el.checked : el.value;
  }
  return out;
}

// the note under the form: a count of the fields to fix when the server named them, else the error
export function FormError({error, ErrorNote}) {
  const n = Object.keys(errorsByField(error)).length;
  if (!n) return html`<${ErrorNote} error=${error} />`;
  return html`<p class="error" role="alert">${n === 1 ? "One field needs" : `${n} fields need`} your attention: see the notes above.</p>`;
}
