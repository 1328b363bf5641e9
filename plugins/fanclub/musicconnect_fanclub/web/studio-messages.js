// /studio/messages[?fan=<user id>] (artists): the fan club inbox. The conversations with fans
// (GET /api/v1/fanclub/artists/{id}/conversations: one row per fan with who wrote last and the
// fan's tier held now); the fans waiting for a reply come first, then the API's order (newest
// first). Opening one reads it (GET …/conversations/{fan_id}) and the artist replies (POST
// …/conversations/{fan_id}/messages: no quota for artists). The list is asked again every 30 s.
import { useEffect, useState } from "preact/hooks";
import { ErrorNote, Loading, html, navigate, title, useLoad } from "@musicconnect/web";
import { api } from "@musicconnect/api";
import { ArtistOnly, FieldError, refusal } from "./studio.js";

function when(iso) {
  try { return new Intl.DateTimeFormat(undefined, {dateStyle: "medium", timeStyle: "short"}).format(new Date(iso)); }
  catch { return iso; }
}

// waiting for a reply first; within each group the API's order (newest first)
export function ordered(rows) {
  return [...rows.filter((c) => c.last_sender === "fan"), ...rows.filter((c) => c.last_sender !== "fan")];
}

function fanName(c) { return c.display_name || "A fan"; }

function Conversation({artist, row, onReplied}) {
  const [n, setN] = useState(0);
  const msgs = useLoad(() => api(`fanclub/artists/${artist.id}/conversations/${row.fan_id}?limit=200`), [row.fan_id, n]);
  const [shown, setShown] = useState(null);
  if (msgs.data && msgs.data !== shown) setShown(msgs.data);
  const [body, setBody] = useState("");
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState({});
  const send = async (e) => {
    e.preventDefault();
    if (!body.trim()) { setErrors({body: "Write something first."}); return; }
    setBusy(true); setErrors({});
    try {
      await api(`fanclub/artists/${artist.id}/conversations/${row.fan_id}/messages`, {method: "POST", body: {body}});
      setBody(""); setN(n + 1); onReplied();
    } catch (err) { setErrors(refusal(err.status, err.problem, ["body"])); }
    setBusy(false);
  };
  const list = msgs.data || shown;
  const name = fanName(row);
  return html`<section class="thread" aria-labelledby="thread-title">
    <h2 id="thread-title">${name}${row.tier ? html` <span class="badge tier">${row.tier.name}</span>` : null}</h2>
    <p class="muted">${row.tier ? `${row.tier.name} member` : "Not a member now"} · ${row.messages} message${row.messages === 1 ? "" : "s"}</p>
    ${msgs.error ? html`<${ErrorNote} error=${msgs.error} />` : !list ? html`<${Loading} what="Loading the conversation" />`
      : html`<ol class="messages" aria-label=${`Messages with ${name}`}>${list.map((m) => html`<li key=${m.id} class=${m.sender}>
          <strong>${m.sender === "artist" ? "You" : (m.sender_name || name)}</strong> <span class="muted">${when(m.created_at)}</span>
          <p>${m.body}</p></li>`)}</ol>`}
    <form onSubmit=${send} novalidate>
      <label for="reply-body">Reply to ${name}</label>
      <textarea id="reply-body" maxlength="4000" value=${body} onInput=${(e) => setBody(e.currentTarget.value)}
                aria-invalid=${errors.body ? "true" : undefined} aria-describedby=${errors.body ? "reply-error" : undefined}></textarea>
      <${FieldError} id="reply-error" text=${errors.body || errors[""]} />
      <button type="submit" disabled=${busy}>Send reply</button>
    </form>
  </section>`;
}

function Inbox({artist}) {
  const [n, setN] = useState(0);
  const rows = useLoad(() => api(`fanclub/artists/${artist.id}/conversations?limit=200`), [artist.id, n]);
  const [shown, setShown] = useState(null);
  if (rows.data && rows.data !== shown) setShown(rows.data);
  useEffect(() => {
    const timer = setInterval(() => setN((k) => k + 1), 30_000);
    return () => clearInterval(timer);
  }, []);
  const list = rows.data || shown;
  if (rows.error && !list) return html`<${ErrorNote} error=${rows.error} />`;
  if (!list) return html`<${Loading} what="Loading your inbox" />`;
  if (!list.length) return html`<p id="inbox-empty">No messages yet. Fans whose tier includes direct messages can write to you;
    their messages appear here.</p>`;
  const wanted = new URLSearchParams(location.search).get("fan");
  const sorted = ordered(list);
  const open = sorted.find((c) => c.fan_id === wanted);
  const waiting = sorted.filter((c) => c.last_sender === "fan").length;
  const summary = `${list.length} conversation${list.length === 1 ? "" : "s"}, ${waiting ? `${waiting} waiting for your reply` : "all answered"}.`;
  return html`<p class="muted" id="inbox-summary">${summary}</p>
    <div class="inbox">
      <nav aria-label="Conversations"><ul>${sorted.map((c) => html`<li key=${c.fan_id}>
        <a href=${`/studio/messages?fan=${c.fan_id}`} aria-current=${open === c ? "page" : undefined}
           onClick=${(e) => { e.preventDefault(); navigate(`/studio/messages?fan=${c.fan_id}`); }}>
          <strong>${fanName(c)}</strong>${c.tier ? html` <span class="badge tier">${c.tier.name}</span>` : null}
          ${c.last_sender === "fan" ? html` <span class="badge waiting">Waiting for your reply</span>` : null}
          <span class="muted preview">${c.last_sender === "artist" ? "You: " : ""}${c.last_body || ""}</span>
          <span class="muted">${when(c.last_message_at)}</span></a></li>`)}</ul></nav>
      ${open ? html`<${Conversation} key=${open.fan_id} artist=${artist} row=${open} onReplied=${() => setN(n + 1)} />`
        : html`<p class="muted">Choose a conversation to read it and reply.</p>`}
    </div>`;
}

export default function StudioMessages() {
  title("Messages");
  return html`<${ArtistOnly} heading="Messages" what="read and answer their fans' messages"
      render=${(artist) => html`<${Inbox} artist=${artist} />`} />`;
}
