// /post?id=<content id>: a post (or any item) with its comments and reactions. Members of the
// artist (a free membership is enough) comment and react; errors are shown in words.
import { ErrorNote, Link, Loading, html, title, useLoad } from "@musicconnect/web";
import { api, session } from "@musicconnect/api";
import { useState } from "preact/hooks";
import { artist, signedIn, tierName, when } from "./common.js";
import { PostImages, useImageStyle } from "./images.js";

const REACTIONS = [["heart", "❤️", "Heart"], ["fire", "🔥", "Fire"], ["clap", "👏", "Clap"],
                   ["laugh", "😂", "Laugh"], ["wow", "😮", "Wow"], ["sad", "😢", "Sad"]];

async function load(id) {
  const item = await api(`content/${encodeURIComponent(id)}`, {auth: signedIn()});
  const [a, talk] = await Promise.all([artist(item.artist_id), api(`fanclub/content/${item.id}/comments?limit=100`)]);
  return {item, a, talk};
}

function Reactions({item, counts, onChange}) {
  const [mine, setMine] = useState({});
  const [error, setError] = useState(null);
  const react = async (kind) => {
    setError(null);
    const on = !mine[kind];
    try {
      await api(`fanclub/content/${item.id}/reactions/${kind}`, {method: on ? "PUT" : "DELETE"});
      setMine({...mine, [kind]: on});
      onChange();
    } catch (e) { setError(e); }
  };
  return html`<div class="reactions" role="group" aria-label="Reactions">
    ${REACTIONS.map(([kind, emoji, label]) => html`<button key=${kind} type="button" aria-pressed=${!!mine[kind]}
        aria-label=${`${label} (${counts[kind] || 0})`} onClick=${() => react(kind)}>${emoji} ${counts[kind] || 0}</button>`)}
    ${error ? html`<${ErrorNote} error=${error} />` : null}
  </div>`;
}

function Comments({item, talk, onChange}) {
  const [body, setBody] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const send = async (e) => {
    e.preventDefault();
    setBusy(true); setError(null);
    try { await api(`fanclub/content/${item.id}/comments`, {method: "POST", body: {body}}); setBody(""); onChange(); }
    catch (err) { setError(err); }
    setBusy(false);
  };
  const me = (session() && session().user && session().user.id) || null;
  const remove = async (c) => {
    setError(null);
    try { await api(`fanclub/content/${item.id}/comments/${c.id}`, {method: "DELETE"}); onChange(); }
    catch (err) { setError(err); }
  };
  return html`<section aria-label="Comments">
    <h2>Comments (${talk.comments.length})</h2>
    <ul class="comments">${talk.comments.map((c) => html`<li key=${c.id}>
      <strong>${c.author ? c.author.name : "A fan"}</strong> <span class="muted">${when(c.created_at)}</span>
      <p>${c.body}</p>
      ${me && c.user_id === me ? html`<button type="button" class="secondary" onClick=${() => remove(c)}>Delete my comment</button>` : null}
    </li>`)}</ul>
    ${signedIn() ? html`<form onSubmit=${send}>
        <label for="comment-body">Add a comment</label>
        <textarea id="comment-body" maxlength="2000" required value=${body} onInput=${(e) => setBody(e.target.value)}></textarea>
        <button type="submit" disabled=${busy || !body.trim()}>Post comment</button>
      </form>` : html`<p><${Link} href=${`/signin?next=${encodeURIComponent(location.pathname + location.search)}`}>Sign in</${Link}> to comment.</p>`}
    ${error ? html`<${ErrorNote} error=${error} />` : null}
  </section>`;
}

export default function Post() {
  const id = new URLSearchParams(location.search).get("id") || "";
  const [n, setN] = useState(0);
  useImageStyle();
  const state = useLoad(() => load(id), [id, n]);
  const [shown, setShown] = useState(null);
  const data = state.data || shown;  // keep the page while it reloads after a comment or reaction
  if (state.data && state.data !== shown) setShown(state.data);
  if (!data && state.loading) return html`<${Loading} what="Loading the post" />`;
  if (state.error) return html`<section><h1>Post</h1><${ErrorNote} error=${state.error} /></section>`;
  const {item, a, talk} = data;
  title(item.title);
  return html`<article class="post">
    <p class="muted"><${Link} href=${`/artists/${encodeURIComponent(a.slug)}`}>${a.name}</${Link}> · ${when(item.publish_at)}</p>
    <h1>${item.title}</h1>
    ${item.locked ? html`<p class="lock">Locked: for ${tierName(a, item.required_tier_id)} members and above.
        <${Link} class="button" href=${`/artists/${encodeURIComponent(a.slug)}`}>Join</${Link}></p>`
      : html`${item.kind === "track" ? html`<p><${Link} href=${`/tracks/${item.id}`}>Play the track</${Link}></p>` : null}
        ${item.data && item.data.body ? html`<div class="body">${item.data.body.split("\n").map((line, i) => html`<p key=${i}>${line}</p>`)}</div>` : null}
        <${PostImages} item=${item} />`}
    <${Reactions} item=${item} counts=${talk.reactions || {}} onChange=${() => setN(n + 1)} />
    <${Comments} item=${item} talk=${talk} onChange=${() => setN(n + 1)} />
  </article>`;
}
