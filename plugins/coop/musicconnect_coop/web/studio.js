// The members' studio page, /studio/coop ("Co-ops" in the studio menu): my co-ops with their open
// proposals (vote yes or no), the bundle pick (which of my tiers each bundle includes), my ledger
// balance and the co-op's totals, the shared audience counts, and my promotion settings
// (surfaces opted in, nominated releases). Every decision is the API's; the page only asks.
import { useState } from "preact/hooks";
import { ErrorNote, Link, Loading, html, money, title, useLoad } from "@musicconnect/web";
import { api, session } from "@musicconnect/api";
import { useStyle, words } from "./common.js";

function describe(p, names) {
  const who = (id) => names[id] || "an artist";
  const d = p.payload || {};
  switch (p.kind) {
    case "add_member": return `Invite ${who(d.artist_id)}`;
    case "remove_member": return `Remove ${who(d.artist_id)}`;
    case "change_rules": return `Change the rules (${Object.entries(d.rules || {}).map(([k, v]) => `${k.replace("_", " ")} ${v}`).join(", ")})`;
    case "change_split": return `Change the split (${(d.split || d.rule || {}).kind || "new rule"})`;
    case "dissolve": return "Dissolve the co-op";
    case "create_bundle": return `New bundle ${d.name} at ${money(d.price_amount, d.currency || "USD")} a month`;
    case "change_bundle": return `Change a bundle${d.price_amount ? ` to ${money(d.price_amount, d.currency || "USD")} a month` : ""}${d.on_sale === false ? " (off sale)" : ""}`;
    default: return p.kind;
  }
}

function Proposals({coop, names}) {
  const [n, setN] = useState(0);
  const [error, setError] = useState(null);
  const list = useLoad(() => api(`coop/coops/${coop.id}/proposals?status=open`), [coop.id, n]);
  const vote = async (p, choice) => {
    setError(null);
    try { await api(`coop/coops/${coop.id}/proposals/${p.id}/votes`, {method: "POST", body: {choice}}); setN(n + 1); }
    catch (e) { setError(words(e)); }
  };
  if (list.loading) return html`<${Loading} what="Loading the proposals" />`;
  if (list.error) return html`<${ErrorNote} error=${list.error} />`;
  const open = list.data.proposals;
  return html`<div><h3>Proposals</h3>
    ${open.length === 0 ? html`<p class="muted">Nothing to vote on.</p>` : open.map((p) => html`<div class="proposal" key=${p.id} data-proposal=${p.id}>
      <p><strong>${describe(p, names)}</strong><br />
        <span class="muted">${p.yes} yes, ${p.no} no of ${p.electorate}; ${p.needed} yes needed; closes ${new Date(p.closes_at).toLocaleDateString()}</span></p>
      ${p.my_vote ? html`<p>You voted ${p.my_vote}.</p>` : html`<p>
        <button type="button" onClick=${() => vote(p, "yes")} aria-label=${`Vote yes: ${describe(p, names)}`}>Yes</button>
        <button type="button" class="ghost" onClick=${() => vote(p, "no")} aria-label=${`Vote no: ${describe(p, names)}`}>No</button></p>`}
    </div>`)}
    ${error ? html`<p class="error" role="alert">${error}</p>` : null}</div>`;
}

function Bundles({coop, me}) {
  const [saved, setSaved] = useState(null);
  const [error, setError] = useState(null);
  const data = useLoad(() => Promise.all([api(`coop/coops/${coop.id}/bundles`), api(`artists/${me}/tiers`, {auth: false})]),
                       [coop.id, me]);
  if (data.loading) return null;
  if (data.error) return html`<${ErrorNote} error=${data.error} />`;
  const [{bundles}, tiers] = data.data;
  const mine = tiers.filter((t) => t.price_amount > 0 && t.is_active !== false).sort((a, b) => a.rank - b.rank);
  if (!bundles.length) return html`<div><h3>Bundles</h3><p class="muted">No bundle yet.</p></div>`;
  const save = async (e, b) => {
    e.preventDefault();
    const value = new FormData(e.currentTarget).get("tier") || null;
    setError(null); setSaved(null);
    try { await api(`coop/coops/${coop.id}/bundles/${b.tier_id}/pick`, {method: "PUT", body: {tier_id: value}}); setSaved(b.tier_id); }
    catch (err) { setError(words(err)); }
  };
  return html`<div><h3>Bundles</h3>${bundles.map((b) => {
    const pick = (b.members.find((m) => m.artist_id === me) || {}).tier;
    const id = `pick-${b.tier_id}`;
    return html`<form key=${b.tier_id} onSubmit=${(e) => save(e, b)}>
      <p><strong>${b.name}</strong> · ${money(b.price_amount, b.currency)} a month · ${b.on_sale ? "on sale" : b.status}
        ${b.missing.length ? html`<span class="muted"> · ${b.missing.length} member(s) still to choose</span>` : null}</p>
      <label for=${id}>My tier in ${b.name}</label>
      <select id=${id} name="tier" value=${pick ? pick.id : ""}>
        <option value="">None</option>
        ${mine.map((t) => html`<option key=${t.id} value=${t.id}>${t.name} (${money(t.price_amount, t.currency)})</option>`)}
      </select>
      <button type="submit">Save my pick</button>
      ${saved === b.tier_id ? html`<span role="status"> Saved.</span>` : null}
    </form>`;
  })}${error ? html`<p class="error" role="alert">${error}</p>` : null}</div>`;
}

function amounts(obj) {
  const parts = Object.entries(obj || {}).map(([cur, v]) => money(v, cur));
  return parts.length ? parts.join(", ") : money(0, "USD");
}

function Ledger({coop}) {
  const data = useLoad(() => api(`coop/coops/${coop.id}/ledger`), [coop.id]);
  if (data.loading || data.error) return null;
  const l = data.data;
  const total = (kind) => Object.fromEntries(Object.entries(l.totals).map(([cur, t]) => [cur, t[kind] || 0]));
  return html`<div><h3>Money</h3><dl class="ledger">
    <dt>My balance</dt><dd class="balance">${amounts(l.my_balance)}</dd>
    <dt>Payments</dt><dd>${l.payments}</dd>
    <dt>Paid by fans</dt><dd>${amounts(total("paid"))}</dd>
    <dt>Platform fees</dt><dd>${amounts(total("fee"))}</dd>
    <dt>Shared out</dt><dd>${amounts(total("share"))}</dd>
    <dt>Ledger</dt><dd>${l.balanced ? "balances" : "does not balance: tell the platform"}</dd>
  </dl></div>`;
}

function Audience({coop}) {
  const data = useLoad(() => api(`coop/coops/${coop.id}/audience`), [coop.id]);
  if (data.loading || data.error) return null;
  const pairs = data.data.pairs;
  return html`<div><h3>Shared fans</h3>
    ${pairs.length === 0 ? html`<p class="muted">Shared fans show once the co-op has two members.</p>` : html`<ul>
      ${pairs.map((p) => html`<li key=${p.artists.map((a) => a.artist_id).join()}>
        ${p.artists.map((a) => a.name).join(" and ")}: ${p.fans_in_common} fans in common
        ${p.shared_fans && p.shared_fans.length ? html`<span class="muted"> (${p.shared_fans.map((f) => f.display_name).join(", ")})</span>` : null}
      </li>`)}</ul>`}</div>`;
}

function Invitation({coop, onDone}) {
  const [error, setError] = useState(null);
  const answer = async (a) => {
    try { await api(`coop/coops/${coop.id}/invitation/${a}`, {method: "POST"}); onDone(); } catch (e) { setError(words(e)); }
  };
  return html`<p>You are invited to join. <button type="button" onClick=${() => answer("accept")}>Accept</button>
    <button type="button" class="ghost" onClick=${() => answer("decline")}>Decline</button>
    ${error ? html`<span class="error" role="alert">${error}</span>` : null}</p>`;
}

function Coop({coop, me, onChange}) {
  const status = coop.membership.status;
  const members = useLoad(() => (status === "declined" ? Promise.resolve({members: []}) : api(`coop/coops/${coop.id}/members`)),
                          [coop.id, status]);
  const names = Object.fromEntries(((members.data && members.data.members) || []).map((m) => [m.artist_id, m.name]));
  return html`<section class="panel" aria-labelledby=${`coop-${coop.id}`} data-coop=${coop.id}>
    <h2 id=${`coop-${coop.id}`}><${Link} href=${`/coop/${coop.slug}`}>${coop.name}</${Link}></h2>
    <p class="muted">You are ${status === "active" ? `an ${coop.membership.role}` : status}${coop.status !== "active" ? ` · the co-op is ${coop.status}` : ""}.</p>
    ${status === "invited" ? html`<${Invitation} coop=${coop} onDone=${onChange} />` : null}
    ${["active", "leaving"].includes(status) ? html`<${Proposals} coop=${coop} names=${names} />
      <${Bundles} coop=${coop} me=${me} /><${Audience} coop=${coop} />` : null}
    ${["active", "leaving", "left"].includes(status) ? html`<${Ledger} coop=${coop} />` : null}
  </section>`;
}

function Promotions({me}) {
  const [n, setN] = useState(0);
  const [error, setError] = useState(null);
  const data = useLoad(() => Promise.all([api("coop/me/promotions"),
    api(`artists/${me}/content?limit=100`).then((l) => l.filter((c) => c.status === "ready" && c.visibility === "public"),
                                                () => [])]), [me, n]);
  if (data.loading) return null;
  if (data.error) return html`<${ErrorNote} error=${data.error} />`;
  const [settings, items] = data.data;
  const run = async (call) => { setError(null); try { await call(); setN(n + 1); } catch (e) { setError(words(e)); } };
  const toggle = (surface, on) => run(() => api("coop/me/promotions/surfaces", {method: "PUT", body: {
    surfaces: on ? [...settings.surfaces, surface] : settings.surfaces.filter((s) => s !== surface)}}));
  const nominated = new Set(settings.nominations.map((x) => x.ref));
  const titles = Object.fromEntries(items.map((c) => [c.id, c.title]));
  const nominate = (e) => {
    e.preventDefault();
    const ref = new FormData(e.currentTarget).get("item");
    if (ref) run(() => api("coop/me/promotions/nominations", {method: "POST", body: {kind: "release", ref}}));
  };
  return html`<section class="panel" aria-labelledby="coop-promo-title"><h2 id="coop-promo-title">Cross-promotion</h2>
    <fieldset><legend>Show co-op members' work on</legend>
      ${[["artist_page", "my artist page"], ["feed", "my fan club feed"]].map(([s, label]) => html`<label key=${s}>
        <input type="checkbox" checked=${settings.surfaces.includes(s)} onChange=${(e) => toggle(s, e.currentTarget.checked)} /> ${label}</label> `)}
    </fieldset>
    <h3>Promoted in other members' slots</h3>
    ${settings.nominations.length === 0 ? html`<p class="muted">Nothing nominated.</p>` : html`<ul>
      ${settings.nominations.map((x) => html`<li key=${x.id}>${titles[x.ref] || `${x.kind} ${x.ref}`}
        <button type="button" class="ghost" onClick=${() => run(() => api(`coop/me/promotions/nominations/${x.id}`, {method: "DELETE"}))}
          aria-label=${`Withdraw ${titles[x.ref] || x.ref}`}>Withdraw</button></li>`)}</ul>`}
    ${items.some((c) => !nominated.has(c.id)) ? html`<form onSubmit=${nominate}><label for="coop-nominate">Nominate a release</label>
      <select id="coop-nominate" name="item">${items.filter((c) => !nominated.has(c.id)).map((c) => html`<option key=${c.id} value=${c.id}>${c.title}</option>`)}</select>
      <button type="submit">Nominate</button></form>` : html`<p class="muted">No published public release left to nominate.</p>`}
    ${error ? html`<p class="error" role="alert">${error}</p>` : null}
  </section>`;
}

export default function CoopStudio() {
  useStyle();
  title("Co-ops");
  const [n, setN] = useState(0);
  const user = useLoad(() => (session() ? api("me") : Promise.resolve(null)), []);
  const artist = user.data && user.data.artist;
  const coops = useLoad(() => (artist ? api("coop/coops") : Promise.resolve(null)), [artist && artist.id, n]);
  if (user.loading) return html`<${Loading} />`;
  if (!user.data || user.error) {
    return html`<section class="studio-refused" role="status"><h1>Co-ops</h1><p>This is where artists run their co-ops.
      <${Link} href=${`/signin?next=${encodeURIComponent(location.pathname)}`}>Sign in</${Link}> with your artist account.</p></section>`;
  }
  if (!artist) {
    return html`<section class="studio-refused" role="status"><h1>Co-ops</h1>
      <p>The studio is for artists, and ${user.data.display_name || user.data.email} is a listener's account.</p></section>`;
  }
  return html`<section class="coop-studio"><h1>Co-ops</h1>
    ${coops.error ? html`<${ErrorNote} error=${coops.error} />` : coops.loading || !coops.data ? html`<${Loading} what="Loading your co-ops" />`
      : coops.data.coops.length === 0 ? html`<p class="muted">You are in no co-op yet.</p>`
      : coops.data.coops.map((c) => html`<${Coop} key=${c.id} coop=${c} me=${artist.id} onChange=${() => setN(n + 1)} />`)}
    <${Promotions} me=${artist.id} />
  </section>`;
}
