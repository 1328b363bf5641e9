// The tiers and perks editor (/studio/tiers): the signed-in artist's tiers (retired ones too), each
// with its name, monthly price, active flag and perks. The perk list and each perk's value type and
// limits come from GET /api/v1/perks (the perks the enabled plugins honour); a tier is saved with
// PATCH /api/v1/artists/{id}/tiers/{tier_id}, and a refusal (problem+json) is shown by the field.
import { useState } from "preact/hooks";
import { ErrorNote, Link, Loading, html, money, title, useLoad } from "../ui.js";
import { api, session } from "../api.js";

// a problem+json -> {field: message}; "form" for what names no field
export function fieldErrors(err) {
  const p = (err && err.problem) || {};
  const out = {};
  const add = (field, msg) => { out[field] = out[field] ? `${out[field]}; ${msg}` : msg; };
  if (Array.isArray(p.errors) && p.errors.length) {
    for (const e of p.errors) {
      if (e.perk) add(`perks.${e.perk}`, e.message || p.detail);
      else if (Array.isArray(e.loc)) {
        const loc = e.loc[0] === "body" ? e.loc.slice(1) : e.loc;
        add(loc[0] === "perks" && loc[1] !== undefined ? `perks.${loc[1]}` : String(loc[0] || "form"), e.msg);
      } else add("form", e.message || e.msg || p.detail);
    }
  } else if (Array.isArray(p.unknown)) {
    p.unknown.forEach((k) => add(`perks.${k}`, "no enabled plugin honours this perk"));
  } else {
    const detail = (err && err.message) || "the tier could not be saved";
    add(/price|free tier|paid tier/i.test(detail) ? "price_amount" : /perk/i.test(detail) ? "perks" : "form", detail);
  }
  return out;
}

function minorUnits(text) {
  const n = Number(String(text).replace(",", "."));
  return Number.isFinite(n) ? Math.round(n * 100) : NaN;
}

function PerkInput({name, spec, value, onChange, error, idBase}) {
  const id = `${idBase}-perk-${name}`;
  const err = error ? html`<span id=${`${id}-error`} class="error field-error" role="alert">${error}</span>` : null;
  const described = error ? `${id}-error ${id}-help` : `${id}-help`;
  const help = html`<span id=${`${id}-help`} class="muted perk-help">${spec.description}${spec.plugin ? ` (${spec.plugin})` : ""}</span>`;
  if (spec.type === "boolean") {
    return html`<div class="perk"><input id=${id} type="checkbox" checked=${value === true} aria-describedby=${described}
        aria-invalid=${error ? "true" : undefined}
        onChange=${(e) => onChange(e.currentTarget.checked ? true : undefined)} />
      <label for=${id} class="inline">${name}</label> ${help} ${err}</div>`;
  }
  if (spec.choices && spec.choices.length) {
    return html`<div class="perk"><label for=${id}>${name}</label>
      <select id=${id} value=${value ?? ""} aria-describedby=${described} aria-invalid=${error ? "true" : undefined}
              onChange=${(e) => onChange(e.currentTarget.value || undefined)}>
        <option value="">(not included)</option>
        ${spec.choices.map((c) => html`<option key=${c} value=${c}>${c}</option>`)}
      </select> ${help} ${err}</div>`;
  }
  const numeric = spec.type === "integer" || spec.type === "number";
  return html`<div class="perk"><label for=${id}>${name}</label>
    <input id=${id} type=${numeric ? "number" : "text"} value=${value ?? ""}
           step=${spec.type === "integer" ? 1 : numeric ? "any" : undefined}
           min=${spec.minimum ?? undefined} max=${numeric ? (spec.maximum ?? undefined) : undefined}
           maxLength=${!numeric && spec.maximum ? spec.maximum : undefined}
           aria-describedby=${described} aria-invalid=${error ? "true" : undefined}
           onInput=${(e) => {
             const raw = e.currentTarget.value;
             if (raw === "") onChange(undefined);
             else onChange(numeric ? Number(raw) : raw);
           }} />
    ${help} ${err}</div>`;
}

function TierForm({artistId, tier, perks, onSaved, onRetired}) {
  const idBase = `tier-${tier.key}`;
  const [name, setName] = useState(tier.name);
  const [price, setPrice] = useState((tier.price_amount / 100).toFixed(2));
  const [values, setValues] = useState({...(tier.perks || {})});
  const [errors, setErrors] = useState({});
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState(false);
  const free = tier.rank === 0;
  const save = async (e) => {
    e.preventDefault();
    setErrors({});
    setSaved(false);
    const amount = minorUnits(price);
    if (!Number.isInteger(amount) || amount < 0) { setErrors({price_amount: "Enter a price such as 5.00"}); return; }
    const body = {name: name.trim(), perks: Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined))};
    if (amount !== tier.price_amount) body.price_amount = amount;
    setBusy(true);
    try {
      const out = await api(`artists/${artistId}/tiers/${tier.id}`, {method: "PATCH", body});
      setSaved(true);
      onSaved(out);
    } catch (err) {
      setErrors(fieldErrors(err));
    } finally { setBusy(false); }
  };
  const retire = async () => {
    if (!confirm(`Retire ${tier.name}? Nobody can join it any more; its members keep it until their period ends.`)) return;
    setErrors({});
    try { await api(`artists/${artistId}/tiers/${tier.id}`, {method: "DELETE"}); onRetired(tier); }
    catch (err) { setErrors({form: err.message}); }
  };
  const fieldErr = (f) => errors[f] ? html`<span id=${`${idBase}-${f}-error`} class="error field-error" role="alert">${errors[f]}</span>` : null;
  const names = Object.keys(perks);
  const extra = Object.keys(values).filter((k) => !(k in perks));  // a perk no enabled plugin honours any more
  return html`<form class="panel tier-form" data-tier=${tier.key} noValidate onSubmit=${save} aria-labelledby=${`${idBase}-title`}>
    <h2 id=${`${idBase}-title`}>${tier.name} <span class=${`badge ${tier.is_active ? "ready" : "failed"}`}>${tier.is_active ? "Active" : "Retired"}</span></h2>
    <p class="muted">Rank ${tier.rank}${free ? " · the free tier" : ""} · key ${tier.key}</p>
    <label for=${`${idBase}-name`}>Name</label>
    <input id=${`${idBase}-name`} value=${name} required maxLength="120" aria-invalid=${errors.name ? "true" : undefined}
           aria-describedby=${errors.name ? `${idBase}-name-error` : undefined}
           onInput=${(e) => setName(e.currentTarget.value)} /> ${fieldErr("name")}
    <label for=${`${idBase}-price`}>Price per month (${tier.currency})</label>
    <input id=${`${idBase}-price`} inputmode="decimal" value=${price} disabled=${free}
           aria-invalid=${errors.price_amount ? "true" : undefined}
           aria-describedby=${errors.price_amount ? `${idBase}-price_amount-error` : `${idBase}-price-help`}
           onInput=${(e) => setPrice(e.currentTarget.value)} />
    <span id=${`${idBase}-price-help`} class="muted"> now ${money(tier.price_amount, tier.currency)}${free ? " (the free tier stays free)" : "; members keep their price until they change tier"}</span>
    ${fieldErr("price_amount")}
    <fieldset><legend>Perks</legend>
      ${names.length ? null : html`<p class="muted">The enabled plugins honour no perks.</p>`}
      ${names.map((n) => html`<${PerkInput} key=${n} name=${n} spec=${perks[n]} value=${values[n]} idBase=${idBase}
          error=${errors[`perks.${n}`]} onChange=${(v) => setValues({...values, [n]: v})} />`)}
      ${extra.map((n) => html`<p key=${n} class="perk">${n}: ${String(values[n])}
          <button type="button" class="ghost" onClick=${() => setValues({...values, [n]: undefined})}>Remove ${n}</button>
          ${errors[`perks.${n}`] ? html`<span class="error field-error" role="alert">${errors[`perks.${n}`]}</span>` : null}</p>`)}
      ${fieldErr("perks")}
    </fieldset>
    ${fieldErr("form")}
    <p><button type="submit" disabled=${busy}>Save ${tier.name}</button>
      ${tier.is_active && !free ? html` <button type="button" class="ghost" onClick=${retire}>Retire ${tier.name}</button>` : null}
      ${saved ? html` <span class="saved" role="status">Saved.</span>` : null}</p>
  </form>`;
}

export default function Tiers() {
  title("Your tiers");
  const data = useLoad(async () => {
    if (!session()) return {user: null};
    let user;
    try { user = await api("me"); } catch (err) { if (err.status === 401) return {user: null}; throw err; }
    if (!user.artist) return {user};
    const [tiers, perks] = await Promise.all([api(`artists/${user.artist.id}/tiers?include_retired=true`), api("perks", {auth: false})]);
    return {user, tiers, perks};
  }, []);
  const [changed, setChanged] = useState({});
  if (data.loading) return html`<${Loading} />`;
  if (data.error) return html`<${ErrorNote} error=${data.error} />`;
  const {user, tiers, perks} = data.data;
  if (!user || !user.artist) {
    return html`<section class="gated studio-refused" role="status"><h1>Your tiers</h1>
      ${user ? html`<p>The studio is for artists, and ${user.display_name || user.email} is a listener's account.
                    <${Link} href="/discover">Discover artists</${Link}> instead.</p>`
             : html`<p>Tiers are edited by their artist.
                    <${Link} href=${`/signin?next=${encodeURIComponent(location.pathname)}`}>Sign in</${Link}> with your artist account.</p>`}
    </section>`;
  }
  const shown = tiers.map((t) => changed[t.id] || t);
  return html`<section class="studio tiers-editor">
    <h1>Your tiers</h1>
    <p class="muted">What fans get at each tier of ${user.artist.name}. The perks listed are the ones the enabled plugins honour.
      <${Link} href=${`/artists/${user.artist.slug}`}>Your page</${Link}></p>
    ${shown.map((t) => html`<${TierForm} key=${`${t.id}-${t.is_active}`} artistId=${user.artist.id} tier=${t} perks=${perks}
        onSaved=${(out) => setChanged({...changed, [t.id]: out})}
        onRetired=${() => setChanged({...changed, [t.id]: {...t, is_active: false}})} />`)}
  </section>`;
}
