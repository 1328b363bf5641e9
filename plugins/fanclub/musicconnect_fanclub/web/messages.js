// /messages[?artist=<id>]: the fan's conversations with the artists they follow or support; the
// messages left this month are shown, and the quota-exceeded problem appears as a message.
import { ErrorNote, Link, Loading, html, navigate, title, useLoad } from "@musicconnect/web";
import { api } from "@musicconnect/api";
import { useState } from "preact/hooks";
import { artist, day, signedIn, when } from "./common.js";

async function threads(wanted) {
  const [ents, feed] = await Promise.all([api("me/entitlements"), api("fanclub/feed?limit=100")]);
  const ids = [...new Set([wanted, ...ents.filter((e) => e.effective).map((e) => e.artist_id),
                           ...feed.map((i) => i.artist_id)].filter(Boolean))];
  return Promise.all(ids.map(artist));
}

async function thread(id) {
  const [me, messages] = await Promise.all([api(`fanclub/artists/${id}/me`),
                                            api(`fanclub/artists/${id}/messages`).catch((e) => (e.status === 403 ? [] : Promise.reject(e)))]);
  return {me, messages};
}

function Thread({a}) {
  const [n, setN] = useState(0);
  const state = useLoad(() => thread(a.id), [a.id, n]);
  const [body, setBody] = useState("");
  const [busy, setBusy] = useState(false);
  const [refusal, setRefusal] = useState(null);
  if (state.loading && !n) return html`<${Loading} what="Loading the conversation" />`;
  if (state.error) return html`<${ErrorNote} error=${state.error} />`;
  if (!state.data) return html`<${Loading} what="Loading the conversation" />`;
  const {me, messages} = state.data;
  const dms = me.direct_messages;
  const send = async (e) => {
    e.preventDefault();
    setBusy(true); setRefusal(null);
    try {
      await api(`fanclub/artists/${a.id}/messages`, {method: "POST", body: {body}});
      setBody(""); setN(n + 1);
    } catch (err) {
      setRefusal(err.type === "dm-quota-exceeded"
        ? `${err.message}. You can write again on ${day(err.problem.resets_at)}.` : err.message);
    }
    setBusy(false);
  };
  return html`<section class="thread" aria-label=${`Conversation with ${a.name}`}>
    <h2>${a.name}</h2>
    <ol class="messages">${messages.map((m) => html`<li key=${m.id} class=${`message ${m.sender}`}>
        <strong>${m.sender === "fan" ? "You" : a.name}</strong> <span class="muted">${when(m.created_at)}</span>
        <p>${m.body}</p></li>`)}
      ${refusal ? html`<li class="message system" role="alert" id="dm-refused">${refusal}</li>` : null}
    </ol>
    ${dms.limit > 0
      ? html`<p id="dm-quota" class="muted">${dms.remaining} of ${dms.limit} messages left this month (resets on ${day(dms.resets_at)}).</p>
          <form onSubmit=${send}>
            <label for="dm-body">Message ${a.name}</label>
            <textarea id="dm-body" maxlength="4000" required value=${body} onInput=${(e) => setBody(e.target.value)}></textarea>
            <button type="submit" disabled=${busy || !body.trim()}>Send</button>
          </form>`
      : html`<p id="dm-quota">Your tier does not include messages to ${a.name}.
          <${Link} href=${`/artists/${encodeURIComponent(a.slug)}`}>See the memberships</${Link}></p>`}
  </section>`;
}

export default function Messages() {
  title("Messages");
  const wanted = new URLSearchParams(location.search).get("artist");
  const state = useLoad(() => (signedIn() ? threads(wanted) : Promise.resolve(null)), [wanted]);
  if (!signedIn()) return html`<section><h1>Messages</h1><p><${Link} href="/signin?next=/messages">Sign in</${Link}> to write to artists.</p></section>`;
  if (state.loading) return html`<${Loading} what="Loading your conversations" />`;
  if (state.error) return html`<section><h1>Messages</h1><${ErrorNote} error=${state.error} /></section>`;
  const list = state.data;
  const open = list.find((a) => a.id === wanted) || list[0];
  return html`<section class="messages-page">
    <h1>Messages</h1>
    ${list.length === 0 ? html`<p>Follow or join an artist to write to them.</p>` : html`
      <nav aria-label="Conversations"><ul>${list.map((a) => html`<li key=${a.id}>
        <a href=${`/messages?artist=${a.id}`} aria-current=${a === open ? "page" : null}
           onClick=${(e) => { e.preventDefault(); navigate(`/messages?artist=${a.id}`); }}>${a.name}</a></li>`)}</ul></nav>
      <${Thread} key=${open.id} a=${open} />`}
  </section>`;
}
