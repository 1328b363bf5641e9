// A listening party (/parties/<id>, also /party?id=<id>; /parties/<id>/recap after the end): a
// player synced to the party's clock over the live plugin's party socket, the host's controls
// (POST /api/v1/live/parties/{id}/control) and the chat.
//
// Sync (docs/live.md "The sync algorithm"): the socket's ping/pong gives the offset of the
// server's clock (the lowest round trip of the last 8 samples); the last `state` says where the
// party was at server time `at`, so the position now is position + (now + offset - at), carried
// over the playlist. The player follows it: a seek above 0.4 s of drift, a slightly faster or
// slower rate above 60 ms. Late joiners land on the current position the same way. The socket
// is dropped when it stops answering pings (7 s) and reconnects with backoff and resumes the chat
// after the last message seen (?last_seen_id=).
import { useEffect, useRef, useState } from "preact/hooks";
import { ErrorNote, Link, Loading, html, title } from "@musicconnect/web";
import { api, authHeader, session } from "@musicconnect/api";
import { EMOJI, EMOJI_NAMES, OffsetEstimator, clock, me, positionAt, problemText, useStyle, when } from "./common.js";

const FATAL = {4401: "Sign in to join this listening party.", 4403: "This listening party is not open to you.",
               4404: "There is no listening party here.", 4409: "This listening party has ended."};
const BACKOFF = [1000, 2000, 4000, 8000, 10000];
const TICK_MS = 250;
const STALE_MS = 7000;
const SEEK_ABOVE = 0.4;
const NUDGE_ABOVE = 0.06;

const clientNow = () => (performance.timeOrigin + performance.now()) / 1000;

function mergeMessages(old, incoming) {
  const byId = new Map(old.map((m) => [m.id, m]));
  for (const m of incoming) byId.set(m.id, {...byId.get(m.id), ...m});
  return [...byId.values()].sort((a, b) => a.id - b.id);
}

// The party socket: welcome, state, chat, reactions, deleted, banned, pong, error frames.
function usePartySocket(id, handlers) {
  const [status, setStatus] = useState("connecting");
  const [fatal, setFatal] = useState(null);
  const ref = useRef({ws: null, lastSeen: null, tries: 0, gone: false, timer: null, pinger: null});
  const h = useRef(handlers);
  h.current = handlers;
  useEffect(() => {
    const c = ref.current = {ws: null, lastSeen: null, tries: 0, gone: false, timer: null, pinger: null};
    const send = (frame) => { if (c.ws && c.ws.readyState === 1) c.ws.send(JSON.stringify(frame)); };
    const ping = () => send({type: "ping", t0: clientNow()});
    const retry = () => {
      if (c.gone) return;
      setStatus("reconnecting");
      clearTimeout(c.timer);
      c.timer = setTimeout(connect, BACKOFF[Math.min(c.tries++, BACKOFF.length - 1)]);
    };
    // a connection that stopped answering pings (the network went away without a close) is dropped
    const drop = () => {
      const ws = c.ws;
      c.ws = null;
      clearInterval(c.pinger);
      if (ws) { ws.onclose = null; ws.onmessage = null; try { ws.close(4000, "stale"); } catch {} }
      retry();
    };
    const connect = async () => {
      if (c.gone) return;
      setStatus(c.tries ? "reconnecting" : "connecting");
      const q = new URLSearchParams();
      if (session()) {
        try { q.set("ticket", (await api("realtime/tickets", {method: "POST"})).ticket); }
        catch (e) {
          if (!e.status) { retry(); return; }  // offline: try again later, still signed in
        }
      }
      if (c.lastSeen !== null) q.set("last_seen_id", String(c.lastSeen));
      if (c.gone) return;
      const proto = location.protocol === "https:" ? "wss" : "ws";
      const ws = c.ws = new WebSocket(`${proto}://${location.host}/api/v1/live/parties/${encodeURIComponent(id)}/socket?${q}`);
      c.lastFrame = performance.now();
      ws.onmessage = (e) => {
        c.lastFrame = performance.now();
        let f;
        try { f = JSON.parse(e.data); } catch { return; }
        if (f.type === "welcome") {
          c.tries = 0;
          setStatus("open");
          // a burst of pings for the clock offset, then one every few seconds
          for (let i = 0; i < 6; i++) setTimeout(ping, i * 120);
          clearInterval(c.pinger);
          c.pinger = setInterval(() => (performance.now() - c.lastFrame > STALE_MS ? drop() : ping()), 3000);
        } else if (f.type === "pong") {
          h.current.pong(f, clientNow());
          return;
        }
        if ((f.type === "chat" || f.type === "welcome") && (f.id || (f.messages || []).length)) {
          const ids = f.type === "chat" ? [f.id] : f.messages.map((m) => m.id);
          c.lastSeen = Math.max(c.lastSeen || 0, ...ids);
        }
        h.current.frame(f);
      };
      ws.onclose = (e) => {
        clearInterval(c.pinger);
        if (c.gone) return;
        if (FATAL[e.code]) { setFatal({code: e.code, text: FATAL[e.code]}); setStatus("closed"); return; }
        retry();
      };
    };
    connect();
    return () => {
      c.gone = true;
      clearTimeout(c.timer);
      clearInterval(c.pinger);
      if (c.ws) c.ws.close(1000, "left");
    };
  }, [id]);
  const send = (frame) => {
    const ws = ref.current.ws;
    if (ws && ws.readyState === 1) { ws.send(JSON.stringify(frame)); return true; }
    return false;
  };
  return {status, fatal, send, seen: (mid) => { ref.current.lastSeen = Math.max(ref.current.lastSeen || 0, mid); }};
}

// The audio element follows the party clock; hls.js plays each track's master playlist with the
// listener's Authorization (the variant and key links carry the playback token).
function usePlayer(audio) {
  const p = useRef({hls: null, track: null, Hls: null, loading: null, lastSeek: 0});
  useEffect(() => () => { if (p.current.hls) p.current.hls.destroy(); }, []);
  const load = (entry, start) => {
    const st = p.current;
    if (st.track === entry.track_id) return;
    st.track = entry.track_id;
    if (st.hls) { st.hls.destroy(); st.hls = null; }
    const el = audio.current;
    const attach = (Hls) => {
      if (st.track !== entry.track_id) return;
      if (Hls.isSupported()) {
        st.hls = new Hls({
          startPosition: start,
          xhrSetup: (xhr, url) => {
            if (new URL(url, location.href).origin === location.origin) {
              const a = authHeader();
              if (a.authorization) xhr.setRequestHeader("Authorization", a.authorization);
            }
          },
        });
        st.hls.on(Hls.Events.ERROR, (_, data) => {
          if (data.fatal) st.onError && st.onError(`Playback failed (${data.details}).`);
        });
        st.hls.loadSource(entry.master_url);
        st.hls.attachMedia(el);
      } else if (el.canPlayType("application/vnd.apple.mpegurl")) {
        el.src = entry.master_url;
      } else {
        st.onError && st.onError("This browser cannot play HLS audio.");
      }
    };
    if (st.Hls) attach(st.Hls);
    else {
      st.loading = st.loading || import("hls.js").then((m) => { st.Hls = m.default; return m.default; });
      st.loading.then(attach, () => st.onError && st.onError("The player could not be loaded."));
    }
  };
  const stop = () => {
    const st = p.current;
    if (st.hls) { st.hls.destroy(); st.hls = null; }
    st.track = null;
    if (audio.current) audio.current.pause();
  };
  // bring the element to `pb` (the party's position now)
  const follow = (entry, pb) => {
    const el = audio.current, st = p.current;
    if (!el) return;
    load(entry, pb.position);
    if (!pb.playing) {
      if (!el.paused) el.pause();
      el.playbackRate = 1;
      if (el.readyState >= 1 && !el.seeking && Math.abs(el.currentTime - pb.position) > 0.25) el.currentTime = pb.position;
      return;
    }
    if (el.paused) {
      if (el.readyState >= 1) el.currentTime = pb.position;
      el.play().catch(() => {});
      return;
    }
    if (el.seeking || el.readyState < 3) return;
    const drift = el.currentTime - pb.position;
    const now = performance.now();
    if (Math.abs(drift) > SEEK_ABOVE) {
      if (now - st.lastSeek > 1000) {
        st.lastSeek = now;
        el.playbackRate = 1;
        el.currentTime = pb.position + 0.05;
      }
    } else if (Math.abs(drift) > NUDGE_ABOVE) {
      el.playbackRate = drift > 0 ? 0.95 : 1.05;
    } else {
      el.playbackRate = 1;
    }
  };
  return {follow, stop, onError: (fn) => { p.current.onError = fn; }};
}

function HostControls({party, pb, entry, onError}) {
  const [busy, setBusy] = useState(false);
  const [confirmEnd, setConfirmEnd] = useState(false);
  const [seekTo, setSeekTo] = useState(null);
  const control = async (body) => {
    setBusy(true); onError(null);
    try { await api(`live/parties/${party.id}/control`, {method: "POST", body}); }
    catch (e) { onError(problemText(e.problem)); }
    setBusy(false);
  };
  const duration = entry ? entry.duration : 0;
  const shown = seekTo !== null ? seekTo : pb.position;
  const keys = (e) => {  // Enter on the slider seeks too (arrows change it, change events send it)
    if (e.key === "Enter") { e.preventDefault(); control({action: "seek", position: Number(e.currentTarget.value)}); }
  };
  return html`<div class="host" role="group" aria-labelledby="host-title">
    <h3 id="host-title">Host controls</h3>
    <div class="controls">
      ${pb.playing ? html`<button type="button" id="host-pause" disabled=${busy} onClick=${() => control({action: "pause"})}>Pause for everyone</button>`
                   : html`<button type="button" id="host-play" disabled=${busy} onClick=${() => control({action: "resume"})}>Play for everyone</button>`}
      <button type="button" class="ghost" disabled=${busy || pb.index >= party.playlist.length - 1}
        onClick=${() => control({action: "skip"})}>Next track</button>
      ${confirmEnd
        ? html`<button type="button" disabled=${busy} onClick=${() => { setConfirmEnd(false); control({action: "end"}); }}>Yes, end the party</button>
               <button type="button" class="ghost" onClick=${() => setConfirmEnd(false)}>Keep going</button>`
        : html`<button type="button" class="ghost" onClick=${() => setConfirmEnd(true)}>End the party</button>`}
    </div>
    <label for="host-seek">Move everyone to (${clock(shown)} of ${clock(duration)})</label>
    <input id="host-seek" type="range" min="0" max=${Math.max(1, Math.floor(duration - 1))} step="1"
      value=${Math.floor(shown)} aria-valuetext=${`${clock(shown)} of ${clock(duration)}`} disabled=${busy}
      onInput=${(e) => setSeekTo(Number(e.currentTarget.value))}
      onChange=${(e) => { const v = Number(e.currentTarget.value); setSeekTo(null); control({action: "seek", position: v}); }}
      onKeyDown=${keys} />
  </div>`;
}

function Message({m, mine, onReact, signedIn}) {
  const reactions = m.reactions || {};
  return html`<div class="msg" data-message=${m.id}>
    <span class="who">${m.name || "Someone"}</span><span class="text">${m.text}</span>
    <div class="reactions">
      ${EMOJI.map((e) => {
        const n = reactions[e] || 0;
        const pressed = mine.has(`${m.id}:${e}`);
        if (!signedIn && !n) return null;
        return html`<button type="button" key=${e} aria-pressed=${pressed} disabled=${!signedIn}
          aria-label=${`${EMOJI_NAMES[e]}${n ? `, ${n}` : ""}`} title=${EMOJI_NAMES[e]}
          onClick=${() => onReact(m, e, !pressed)}>${e}${n ? ` ${n}` : ""}</button>`;
      })}
    </div>
  </div>`;
}

function Chat({party, messages, setMessages, seen, open, olderLeft, onOlder}) {
  const [text, setText] = useState("");
  const [notice, setNotice] = useState(null);
  const [busy, setBusy] = useState(false);
  const [mine, setMine] = useState(new Set());
  const log = useRef(null);
  const user = me();
  useEffect(() => {
    const el = log.current;
    if (el && el.scrollHeight - el.scrollTop - el.clientHeight < 120) el.scrollTop = el.scrollHeight;
  }, [messages.length]);
  const send = async (e) => {
    e.preventDefault();
    if (!text.trim()) return;
    setBusy(true); setNotice(null);
    try {
      const msg = await api(`live/rooms/party-${party.id}/messages`, {method: "POST", body: {text}});
      setMessages((old) => mergeMessages(old, [msg]));
      seen(msg.id);
      setText("");
    } catch (err) { setNotice(problemText({...err.problem, detail: err.problem.detail || err.message})); }
    setBusy(false);
  };
  const react = async (m, emoji, on) => {
    setNotice(null);
    try {
      const out = await api(on ? `live/messages/${m.id}/reactions` : `live/messages/${m.id}/reactions/${encodeURIComponent(emoji)}`,
                            on ? {method: "PUT", body: {emoji}} : {method: "DELETE"});
      setMessages((old) => old.map((x) => (x.id === out.id ? {...x, reactions: out.reactions} : x)));
      setMine((old) => { const n = new Set(old); if (on) n.add(`${m.id}:${emoji}`); else n.delete(`${m.id}:${emoji}`); return n; });
    } catch (err) { setNotice(problemText(err.problem)); }
  };
  return html`<section class="chat panel" aria-labelledby="chat-title">
    <h2 id="chat-title">Chat</h2>
    ${olderLeft ? html`<p><button type="button" class="ghost" onClick=${onOlder}>Load older messages</button></p>` : null}
    <div class="log" id="chat-log" role="log" aria-live="polite" aria-label="Chat messages" tabindex="0" ref=${log}>
      ${messages.map((m) => html`<${Message} key=${m.id} m=${m} mine=${mine} onReact=${react} signedIn=${!!user} />`)}
    </div>
    ${!messages.length ? html`<p class="muted">No messages yet.</p>` : null}
    ${user ? open ? html`<form onSubmit=${send}>
        <label class="visually-hidden" for="chat-text">Message</label>
        <input id="chat-text" maxlength="500" autocomplete="off" placeholder="Say something" value=${text}
          onInput=${(e) => setText(e.currentTarget.value)} />
        <button type="submit" disabled=${busy}>Send</button>
      </form>` : null
      : html`<p><${Link} href=${`/signin?next=${encodeURIComponent(location.pathname)}`}>Sign in</${Link}> to chat.</p>`}
    ${notice ? html`<p class="error" role="alert" id="chat-refused">${notice}</p>` : null}
  </section>`;
}

function Recap({id}) {
  const [out, setOut] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    Promise.all([api(`live/parties/${id}`), api(`live/parties/${id}/recap`)])
      .then(([party, recap]) => setOut({party, recap}), (e) => setError(problemText(e.problem)));
  }, [id]);
  if (error) return html`<p class="error" role="alert">${error}</p>`;
  if (!out) return html`<${Loading} what="Loading the recap" />`;
  const {party, recap} = out;
  title(`${party.title}: recap`);
  return html`<article class="panel">
    <h1>${party.title}: recap</h1>
    <p class="muted">${when(recap.started_at, party.timezone)} to ${when(recap.ended_at, party.timezone)}</p>
    <ul>
      <li>Peak listeners: <strong>${recap.peak_listeners}</strong></li>
      <li>Listeners in all: <strong>${recap.unique_listeners}</strong></li>
      <li>Chat messages: <strong>${recap.messages}</strong></li>
      <li>New followers: <strong>${recap.new_followers}</strong>, new supporters: <strong>${recap.new_supporters}</strong></li>
    </ul>
  </article>`;
}

function Party({id}) {
  useStyle();
  const [party, setParty] = useState(null);
  const [loadError, setLoadError] = useState(null);
  const [state, setState] = useState(null);
  const [host, setHost] = useState(false);
  const [messages, setMessages] = useState([]);
  const [olderLeft, setOlderLeft] = useState(false);
  const [listening, setListening] = useState(false);
  const [notice, setNotice] = useState(null);
  const [playError, setPlayError] = useState(null);
  const [, setTick] = useState(0);
  const audio = useRef(null);
  const est = useRef(new OffsetEstimator());
  const live = useRef({});
  live.current = {party, state, listening};
  const player = usePlayer(audio);
  player.onError(setPlayError);

  useEffect(() => {
    api(`live/parties/${id}`).then((p) => { setParty(p); setState(p.state); title(p.title); },
                                   (e) => setLoadError(problemText(e.problem)));
    api(`live/rooms/party-${id}/messages`).then((out) => {
      setMessages((old) => mergeMessages(old, out.messages));
      setOlderLeft(out.messages.length >= 50);
    }, () => {});
  }, [id]);

  const sock = usePartySocket(id, {
    pong: (f, t3) => { if (typeof f.t0 === "number") est.current.add(f.t0, f.t1, f.t2, t3); },
    frame: (f) => {
      if (f.type === "welcome") {
        setParty(f.party); setState(f.state); setHost(!!f.host);
        setMessages((old) => mergeMessages(old, f.messages || []));
      } else if (f.type === "state") {
        setState((old) => (!old || f.version >= old.version || f.status !== old.status ? f : old));
      } else if (f.type === "chat") {
        setMessages((old) => mergeMessages(old, [f]));
      } else if (f.type === "reactions") {
        setMessages((old) => old.map((m) => (m.id === f.id ? {...m, reactions: f.reactions} : m)));
      } else if (f.type === "deleted") {
        setMessages((old) => old.filter((m) => m.id !== f.id));
      } else if (f.type === "banned") {
        setMessages((old) => old.filter((m) => m.user_id !== f.user_id));
      } else if (f.type === "error") {
        setNotice(problemText(f));
      }
    },
  });

  // the clock: every tick, where the party is now, and the player brought there
  const lastAsk = useRef(0);
  useEffect(() => {
    const timer = setInterval(() => {
      const {party: p, state: s, listening: on} = live.current;
      if (!p || !s) return;
      const serverNow = clientNow() + est.current.offset;
      const durations = p.playlist.map((e) => e.duration);
      const pb = positionAt(durations, s, serverNow);
      const due = (s.status === "scheduled" && serverNow >= new Date(p.starts_at).getTime() / 1000)
                  || (s.status === "live" && pb.ended);
      if (due && performance.now() - lastAsk.current > 2000) {  // the server makes the transition when asked
        lastAsk.current = performance.now();
        sock.send({type: "sync"});
      }
      setTick((n) => n + 1);
      if (!on) return;
      const entry = p.playlist[pb.index];
      if (s.status !== "live" || pb.ended || !entry || entry.locked) { player.stop(); return; }
      player.follow(entry, pb);
    }, TICK_MS);
    return () => clearInterval(timer);
  }, []);

  const older = async () => {
    const first = messages[0];
    if (!first) return;
    try {
      const out = await api(`live/rooms/party-${id}/messages?before=${first.id}`);
      setMessages((old) => mergeMessages(old, out.messages));
      setOlderLeft(out.messages.length >= 50);
    } catch (e) { setNotice(problemText(e.problem)); }
  };

  if (loadError) return html`<section class="gated" role="alert"><h1>Listening party</h1><p>${loadError}</p>
    ${session() ? null : html`<p><${Link} href=${`/signin?next=${encodeURIComponent(location.pathname)}`}>Sign in</${Link}></p>`}</section>`;
  if (!party || !state) return html`<${Loading} what="Joining the listening party" />`;
  const serverNow = clientNow() + est.current.offset;
  const pb = positionAt(party.playlist.map((e) => e.duration), state, serverNow);
  const entry = party.playlist[pb.index];
  const ended = state.status === "ended" || party.status === "ended" || sock.fatal && sock.fatal.code === 4409;
  const scheduled = state.status === "scheduled";
  const startsIn = Math.max(0, new Date(party.starts_at).getTime() / 1000 - serverNow);
  const connection = {connecting: "Connecting…", reconnecting: "Connection lost: reconnecting…", open: "", closed: ""}[sock.status];
  return html`<article>
    <h1>${party.title}</h1>
    <p class="muted">Listening party · ${scheduled ? "starts" : "started"} ${when(party.starts_at, party.timezone)} (${party.timezone})</p>
    ${party.description ? html`<p>${party.description}</p>` : null}
    <p role="status" id="party-connection" class="muted">${connection}</p>
    ${sock.fatal && !ended ? html`<p class="error" role="alert">${sock.fatal.text}</p>` : null}
    <div class="party">
      <section class="panel" aria-labelledby="now-title">
        <h2 id="now-title">Now playing</h2>
        <audio ref=${audio} preload="none"></audio>
        ${ended ? html`<p id="party-ended">This listening party has ended.
              <${Link} href=${`/parties/${party.id}/recap`}>See the recap</${Link}></p>`
          : scheduled ? html`<p id="party-starts">Starts in <strong>${clock(startsIn)}</strong>. Stay on this page: the music starts by itself.</p>`
          : html`<p class="now" id="now-playing"><strong>${entry ? entry.title : ""}</strong>
              <span class="muted"> ${pb.playing ? "" : "(paused) "}<span id="party-position">${clock(pb.position)}</span> / ${clock(entry ? entry.duration : 0)}</span></p>
            ${entry && entry.locked ? html`<p class="gated" id="party-locked">This track is for members: you stay in the party and the chat, the music comes back with the next track you may hear.</p>` : null}`}
        ${!ended ? html`<div class="listen">
          ${listening ? html`<p class="muted" id="listening">You are listening along${scheduled ? " (waiting for the start)" : ""}.</p>
                             <button type="button" class="ghost" onClick=${() => { setListening(false); player.stop(); }}>Stop listening</button>`
                      : html`<button type="button" id="listen" onClick=${() => setListening(true)}>Listen along</button>
                             <span class="muted">Your browser plays the party's music only after you ask.</span>`}
        </div>` : null}
        ${playError ? html`<p class="error" role="alert">${playError}</p>` : null}
        ${host && !ended && !scheduled ? html`<${HostControls} party=${party} pb=${pb} entry=${entry} onError=${setNotice} />` : null}
        ${host && scheduled ? html`<p class="muted">You host this party: the controls appear when it starts.</p>` : null}
        <h3>Playlist</h3>
        <ol class="queue">${party.playlist.map((e) => html`<li key=${e.index} aria-current=${!ended && !scheduled && e.index === pb.index ? "true" : undefined}>
          ${e.title} <span class="muted">${clock(e.duration)}${e.locked ? " · members only" : ""}</span></li>`)}</ol>
        ${notice ? html`<p class="error" role="alert" id="party-notice">${notice}</p>` : null}
      </section>
      <${Chat} party=${party} messages=${messages} setMessages=${setMessages} seen=${sock.seen} open=${!ended}
        olderLeft=${olderLeft} onOlder=${older} />
    </div>
  </article>`;
}

export default function PartyPage({rest}) {
  const [id, sub] = (rest || new URLSearchParams(location.search).get("id") || "").split("/");
  if (!id) return html`<${ErrorNote} error="Which listening party? Open one from an artist's page." />`;
  if (sub === "recap") return html`<${Recap} id=${id} />`;
  return html`<${Party} key=${id} id=${id} />`;
}
