// /backstage?artist=<id>: the members-only backstage of an artist, for members whose tier has it
// (403 no-backstage-perk is shown in words): posts with their replies, post and reply.
import { ErrorNote, Link, Loading, html, title, useLoad } from "@musicconnect/web";
import { api } from "@musicconnect/api";
import { useState } from "preact/hooks";
import { artist, signedIn, when } from "./common.js";

function Say({label, send}) {
  const [body, setBody] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true); setError(null);
    try { await send(body); setBody(""); } catch (err) { setError(err); }
    setBusy(false);
  };
  return html`<form onSubmit=${submit}>
    <label>${label}<textarea maxlength="10000" required value=${body} onInput=${(e) => setBody(e.target.value)}></textarea></label>
    <button type="submit" disabled=${busy || !body.trim()}>${label}</button>
    ${error ? html`<${ErrorNote} error=${error} />` : null}
  </form>`;
}

function Entry({p}) {
  return html`<p><strong>${p.author ? p.author.name : "A fan"}</strong> <span class="muted">${when(p.created_at)}</span></p>
    <p>${p.body}</p>`;
}

export default function Backstage() {
  const id = new URLSearchParams(location.search).get("artist") || "";
  const [n, setN] = useState(0);
  const state = useLoad(async () => {
    const a = await artist(id);
    return {a, posts: await api(`fanclub/artists/${a.id}/backstage`).catch((error) => ({error}))};
  }, [id, n]);
  title("Backstage");
  if (!signedIn()) return html`<section><h1>Backstage</h1><p><${Link} href=${`/signin?next=${encodeURIComponent(location.pathname + location.search)}`}>Sign in</${Link}> to go backstage.</p></section>`;
  if (state.loading) return html`<${Loading} what="Loading the backstage" />`;
  if (state.error) return html`<section><h1>Backstage</h1><${ErrorNote} error=${state.error} /></section>`;
  const {a, posts} = state.data;
  const reload = () => setN(n + 1);
  return html`<section class="backstage">
    <h1>Backstage: ${a.name}</h1>
    ${posts.error ? html`<${ErrorNote} error=${posts.error} />
        <p><${Link} href=${`/artists/${encodeURIComponent(a.slug)}`}>See the memberships of ${a.name}</${Link}></p>`
      : html`<${Say} label="Post backstage" send=${(body) => api(`fanclub/artists/${a.id}/backstage`, {method: "POST", body: {body}}).then(reload)} />
        ${posts.length === 0 ? html`<p class="muted">Nothing here yet: say hello.</p>` : html`<ul class="backstage-posts">
          ${posts.map((p) => html`<li key=${p.id} class="card"><${Entry} p=${p} />
            <ul class="replies">${(p.replies || []).map((r) => html`<li key=${r.id}><${Entry} p=${r} /></li>`)}</ul>
            <${Say} label="Reply" send=${(body) => api(`fanclub/artists/${a.id}/backstage/${p.id}/replies`, {method: "POST", body: {body}}).then(reload)} />
          </li>`)}</ul>`}`}
  </section>`;
}
