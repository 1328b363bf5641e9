// The notifications inbox (/inbox): newest first with "Load older", mark one or all read (the
// navigation's unread count follows). New notifications arrive live over the realtime socket
// (./live.js) and are put on top; the first page is read again when the socket (re)opens, and
// every 20 seconds only while it is down. Then the preferences (channels per kind, quiet hours,
// digest, email) and push notifications on this device (./push.js).
import { useEffect, useRef, useState } from "preact/hooks";
import { ErrorNote, Link, Loading, html, title, useLoad } from "@musicconnect/web";
import { api, session } from "@musicconnect/api";
import { isLive, listen } from "./live.js";
import { pushSupported, turnOffPush, turnOnPush } from "./push.js";

const CHANNELS = [["inbox", "In the app"], ["push", "Push"], ["email", "Email"]];

function when(iso) {
  try { return new Date(iso).toLocaleString(undefined, {dateStyle: "medium", timeStyle: "short"}); } catch { return iso; }
}

function changed() { dispatchEvent(new Event("mc-notify")); }

function Inbox() {
  const [items, setItems] = useState(null);
  const [unread, setUnread] = useState(0);
  const [older, setOlder] = useState(null);
  const [error, setError] = useState(null);
  const shown = useRef(null);   // the items on screen, for the socket's listener
  shown.current = items;
  const load = async () => {
    try {
      const out = await api("notify/inbox?limit=20");
      // keep the older pages already loaded; the first page is replaced by the fresh one
      setItems((prev) => {
        const fresh = new Set(out.items.map((i) => i.id));
        const tail = (prev || []).filter((i) => !fresh.has(i.id) && out.items.length
          && i.created_at < out.items[out.items.length - 1].created_at);
        return [...out.items, ...tail];
      });
      setUnread(out.unread);
      setOlder((prev) => prev ?? out.next_before);
      setError(null);
    } catch (err) { setError(err); }
  };
  useEffect(() => {
    load();
    const t = setInterval(() => { if (!isLive()) load(); }, 20000);
    const stop = listen((msg) => {
      if (msg.type === "open") { load(); return; }
      if (msg.type !== "notification") return;
      const item = {id: msg.id, kind: msg.kind, title: msg.title, body: msg.body, url: msg.url,
                    read: false, created_at: msg.created_at || new Date().toISOString()};
      if (!shown.current || shown.current.some((i) => i.id === item.id)) return;
      shown.current = [item, ...shown.current];
      setItems((prev) => [item, ...(prev || []).filter((i) => i.id !== item.id)]);
      setUnread((n) => n + 1);
    });
    return () => { clearInterval(t); stop(); };
  }, []);
  const more = async () => {
    const out = await api(`notify/inbox?limit=20&before=${encodeURIComponent(older)}`);
    setItems([...items, ...out.items]);
    setOlder(out.next_before);
  };
  const read = async (item) => {
    try {
      await api(`notify/inbox/${item.id}/read`, {method: "POST"});
      setItems(items.map((i) => (i.id === item.id ? {...i, read: true} : i)));
      setUnread((n) => Math.max(0, n - (item.read ? 0 : 1)));
      changed();
    } catch (err) { setError(err); }
  };
  const readAll = async () => {
    try {
      await api("notify/inbox/read-all", {method: "POST"});
      setItems(items.map((i) => ({...i, read: true})));
      setUnread(0);
      changed();
    } catch (err) { setError(err); }
  };
  if (error && !items) return html`<${ErrorNote} error=${error} />`;
  if (!items) return html`<${Loading} />`;
  return html`<section aria-labelledby="inbox-title">
    <h1 id="inbox-title">Inbox</h1>
    <p id="inbox-unread" role="status">${unread ? `${unread} unread` : "Nothing unread"}</p>
    ${unread ? html`<button type="button" class="ghost" onClick=${readAll}>Mark all read</button>` : null}
    ${error ? html`<${ErrorNote} error=${error} />` : null}
    ${items.length === 0 ? html`<p class="muted">No notifications yet. Follow artists to hear about their releases and posts.</p>` : null}
    <ul class="inbox">
      ${items.map((i) => html`<li key=${i.id} class=${i.read ? "is-read" : "is-unread"} data-id=${i.id}>
        <div><strong>${i.url ? html`<${Link} href=${i.url} onClick=${() => !i.read && read(i)}>${i.title}</${Link}>` : i.title}</strong>
          ${i.read ? null : html`<span class="visually-hidden"> (unread)</span>`}
          <div>${i.body}</div><small class="muted">${when(i.created_at)}</small></div>
        ${i.read ? null : html`<button type="button" class="ghost" onClick=${() => read(i)}
            aria-label=${`Mark read: ${i.title}`}>Mark read</button>`}
      </li>`)}
    </ul>
    ${older ? html`<button type="button" class="ghost" onClick=${more}>Load older</button>` : null}
  </section>`;
}

function Preferences() {
  const prefs = useLoad(() => api("notify/preferences"), []);
  const [form, setForm] = useState(null);
  const [state, setState] = useState({busy: false, saved: false, error: null});
  useEffect(() => { if (prefs.data) setForm(prefs.data); }, [prefs.data]);
  if (prefs.loading || (!form && !prefs.error)) return html`<${Loading} what="Loading your preferences" />`;
  if (prefs.error) return html`<${ErrorNote} error=${prefs.error} />`;
  const on = (kind, ch) => {
    const v = (form.channels[kind.id] || {})[ch];
    return v === undefined ? kind.default_channels.includes(ch) : v;
  };
  const toggle = (kind, ch, value) => setForm({...form, channels: {...form.channels, [kind.id]: {...(form.channels[kind.id] || {}), [ch]: value}}});
  const save = async (e) => {
    e.preventDefault();
    setState({busy: true, saved: false, error: null});
    const {kinds, ...body} = form;
    body.quiet_start = body.quiet_start || null;
    body.quiet_end = body.quiet_end || null;
    try {
      setForm(await api("notify/preferences", {method: "PUT", body}));
      setState({busy: false, saved: true, error: null});
    } catch (err) { setState({busy: false, saved: false, error: err}); }
  };
  return html`<form class="panel" onSubmit=${save} aria-labelledby="prefs-title">
    <h2 id="prefs-title">What reaches you, and how</h2>
    <table class="prefs"><caption class="visually-hidden">Channels per kind of notification</caption>
      <thead><tr><th scope="col">Notification</th>${CHANNELS.map(([, label]) => html`<th scope="col" key=${label}>${label}</th>`)}</tr></thead>
      <tbody>${form.kinds.map((k) => html`<tr key=${k.id}><th scope="row">${k.title}</th>
        ${CHANNELS.map(([ch, label]) => html`<td key=${ch}><input type="checkbox" checked=${on(k, ch)}
            aria-label=${`${k.title}: ${label}`} onChange=${(e) => toggle(k, ch, e.currentTarget.checked)} /></td>`)}</tr>`)}
      </tbody></table>
    <fieldset><legend>Quiet hours (push and email wait until they end)</legend>
      <label for="quiet-start">From</label>
      <input id="quiet-start" type="time" value=${form.quiet_start || ""} onInput=${(e) => setForm({...form, quiet_start: e.currentTarget.value})} />
      <label for="quiet-end">Until</label>
      <input id="quiet-end" type="time" value=${form.quiet_end || ""} onInput=${(e) => setForm({...form, quiet_end: e.currentTarget.value})} />
      <label for="quiet-zone">Time zone</label>
      <input id="quiet-zone" value=${form.timezone} onInput=${(e) => setForm({...form, timezone: e.currentTarget.value})} />
    </fieldset>
    <label for="digest">Email digest</label>
    <select id="digest" value=${form.digest} onChange=${(e) => setForm({...form, digest: e.currentTarget.value})}>
      <option value="daily">Daily</option><option value="weekly">Weekly (Mondays)</option><option value="off">Off</option>
    </select>
    <p><input id="email-opt-out" type="checkbox" checked=${form.email_opt_out}
        onChange=${(e) => setForm({...form, email_opt_out: e.currentTarget.checked})} />
      <label for="email-opt-out" class="inline">No email at all</label></p>
    ${state.error ? html`<${ErrorNote} error=${state.error} />` : null}
    <p><button type="submit" disabled=${state.busy}>Save preferences</button>
      ${state.saved ? html` <span role="status">Saved.</span>` : null}</p>
  </form>`;
}

function Push() {
  const [devices, setDevices] = useState(null);
  const [state, setState] = useState({busy: false, note: null, error: null});
  const list = () => api("notify/push/subscriptions").then(setDevices, (error) => setState({...state, error}));
  useEffect(() => { list(); }, []);
  if (!pushSupported()) {
    return html`<section class="panel"><h2>Push notifications</h2><p class="muted">This browser cannot receive push notifications.</p></section>`;
  }
  const on = async () => {
    setState({busy: true, note: null, error: null});
    try {
      await turnOnPush();
      setState({busy: false, note: "Push notifications are on for this device.", error: null});
      list();
    } catch (error) { setState({busy: false, note: null, error}); }
  };
  const off = async () => {
    setState({busy: true, note: null, error: null});
    try {
      await turnOffPush(devices || []);
      setState({busy: false, note: "Push notifications are off for this device.", error: null});
      list();
    } catch (error) { setState({busy: false, note: null, error}); }
  };
  return html`<section class="panel" aria-labelledby="push-title">
    <h2 id="push-title">Push notifications</h2>
    <p>Get notifications on this device even when ${document.getElementById("app").dataset.name} is closed.
      ${devices ? ` You have push on ${devices.length} device${devices.length === 1 ? "" : "s"}.` : ""}</p>
    <p><button type="button" onClick=${on} disabled=${state.busy}>Turn on push notifications</button>
      ${devices && devices.length ? html` <button type="button" class="ghost" onClick=${off} disabled=${state.busy}>Turn off on this device</button>` : null}</p>
    ${state.note ? html`<p id="push-status" role="status">${state.note}</p>` : null}
    ${state.error ? html`<${ErrorNote} error=${state.error} />` : null}
  </section>`;
}

export default function InboxPage() {
  title("Inbox");
  if (!session()) {
    return html`<section class="gated" role="status"><h1>Inbox</h1>
      <p><${Link} href=${`/signin?next=${encodeURIComponent(location.pathname)}`}>Sign in</${Link}> to read your notifications.</p></section>`;
  }
  return html`<div class="notify"><${Inbox} /><${Preferences} /><${Push} /></div>`;
}
