// /discover/feed: the discovery feed (docs/ai.md): a vertical list of cards from GET
// /api/v1/ai/feed, one playing its 30-second preview at a time, with Like, Skip, Follow and
// Subscribe. Every action is a POST /api/v1/ai/feed/events on the card the server served (the
// server caps the watch time itself); leaving a card reports how long its preview was heard.
// The next page comes with next_cursor. Keyboard: J/↓ next, K/↑ previous, Space play/pause,
// L like, S skip, F follow (when the feed has focus); every control is also a button.
import { useEffect, useRef, useState } from "preact/hooks";
import { ErrorNote, Link, Loading, html, navigate, title } from "@musicconnect/web";
import { api, authHeader, session } from "@musicconnect/api";

const event = (card, type, seconds) =>
  api("ai/feed/events", {method: "POST", body: {card_id: card.card_id, type, ...(seconds == null ? {} : {seconds})}});

export default function Feed() {
  const [cards, setCards] = useState([]);
  const [cursor, setCursor] = useState(null);
  const [current, setCurrent] = useState(0);
  const [state, setState] = useState({loading: true, error: null});
  const [marks, setMarks] = useState({});          // card_id -> {liked, followed, skipped, note}
  const [playing, setPlaying] = useState(false);
  const audio = useRef(null);
  const heard = useRef({card: null, seconds: 0});
  const list = useRef(null);
  title("Discovery feed");

  const more = async (from) => {
    setState({loading: true, error: null});
    try {
      const page = await api(`ai/feed${from ? `?cursor=${encodeURIComponent(from)}` : ""}`);
      setCards((old) => [...old, ...page.cards]);
      setCursor(page.next_cursor);
      setState({loading: false, error: null});
    } catch (error) { setState({loading: false, error}); }
  };
  useEffect(() => { if (session()) more(null); else setState({loading: false, error: null}); }, []);

  const mark = (card, patch) => setMarks((m) => ({...m, [card.card_id]: {...(m[card.card_id] || {}), ...patch}}));
  const say = (card, err) => mark(card, {note: err.message || String(err)});

  // report how long the preview of the card being left was heard
  const leave = () => {
    const h = heard.current;
    if (h.card && h.seconds > 0 && !(marks[h.card.card_id] || {}).skipped) event(h.card, "watch", h.seconds).catch(() => {});
    heard.current = {card: null, seconds: 0};
  };

  const card = cards[current];
  useEffect(() => {
    if (!card) return;
    let url = null, gone = false;
    const el = audio.current;
    heard.current = {card, seconds: 0};
    // the preview route may need the listener's sign-in: fetched with it, played from memory
    fetch(card.preview_url, {headers: authHeader()}).then((r) => {
      if (!r.ok) throw new Error(`The preview could not be loaded (HTTP ${r.status}).`);
      return r.blob();
    }).then((blob) => {
      if (gone) return;
      url = URL.createObjectURL(blob);
      el.src = url;
      el.play().catch(() => {});   // autoplay may be refused until the first key or click
    }, (err) => !gone && say(card, err));
    const node = list.current && list.current.querySelector(`[data-card="${card.card_id}"]`);
    if (node && node.scrollIntoView) node.scrollIntoView({block: "nearest"});
    if (current >= cards.length - 2 && cursor && !state.loading) more(cursor);
    return () => { gone = true; el.pause(); if (url) URL.revokeObjectURL(url); };
  }, [card && card.card_id]);

  const go = (i) => { if (i < 0 || i >= cards.length || i === current) return; leave(); setCurrent(i); };
  const like = async (c) => { try { await event(c, "like"); mark(c, {liked: true}); } catch (e) { say(c, e); } };
  const skip = async (c) => {
    const i = cards.indexOf(c);
    try {
      await event(c, "skip", c === card ? heard.current.seconds : 0);
      mark(c, {skipped: true});
      if (c === card) heard.current = {card: null, seconds: 0};
    } catch (e) { say(c, e); }
    if (i === current) go(current + 1);
  };
  const follow = async (c) => {
    try {
      await event(c, "follow");
      // the fan club's follow, when that plugin is enabled (the feed event alone teaches the ranking)
      try { await api(`fanclub/artists/${c.artist.id}/follow`, {method: "POST"}); } catch (e) { if (e.status !== 404) throw e; }
      mark(c, {followed: true});
    } catch (e) { say(c, e); }
  };
  const subscribe = async (c) => {
    try {
      await event(c, "subscribe_click");
      const artist = await api(`artists/${c.artist.id}`, {auth: false});
      leave();
      navigate(`/artists/${artist.slug}`);   // the artist's page has the tiers and Join
    } catch (e) { say(c, e); }
  };
  const toggle = () => { const el = audio.current; if (el.paused) el.play().catch(() => {}); else el.pause(); };
  const keys = (e) => {
    if (e.target.closest("input, textarea") || e.ctrlKey || e.metaKey || e.altKey) return;
    const onButton = e.target.closest("button, a");
    const k = e.key.toLowerCase();
    const c = cards[current];
    if (k === "j" || e.key === "ArrowDown") { e.preventDefault(); go(current + 1); }
    else if (k === "k" || e.key === "ArrowUp") { e.preventDefault(); go(current - 1); }
    else if (e.key === " " && !onButton) { e.preventDefault(); toggle(); }
    else if (c && k === "l") like(c);
    else if (c && k === "s") skip(c);
    else if (c && k === "f") follow(c);
  };

  if (!session()) {
    return html`<section><h1>Discovery feed</h1>
      <p><${Link} href="/signin?next=/discover/feed">Sign in</${Link}> for a feed of previews picked for you.</p></section>`;
  }
  return html`<section class="ai-feed" aria-label="Discovery feed" tabindex="0" onKeyDown=${keys}>
    <h1>Discovery feed</h1>
    <p class="muted">J / ↓ next, K / ↑ previous, Space play or pause, L like, S skip, F follow.</p>
    <audio ref=${audio} onPlay=${() => setPlaying(true)} onPause=${() => setPlaying(false)}
      onTimeUpdate=${(e) => { if (heard.current.card) heard.current.seconds = e.currentTarget.currentTime; }}
      onEnded=${() => { leave(); go(current + 1); }}></audio>
    <ol class="feed-cards" ref=${list}>
      ${cards.map((c, i) => {
        const m = marks[c.card_id] || {};
        const here = i === current;
        return html`<li key=${c.card_id} data-card=${c.card_id} class=${here ? "feed-card current" : "feed-card"}
                        aria-current=${here ? "true" : undefined} aria-label=${`${c.track.title} by ${c.artist.name}`}>
          <h2>${c.track.title}</h2>
          <p>${c.artist.name}${c.bucket === "explore" ? html` <span class="badge">New voice</span>` : null}</p>
          ${here ? html`<button type="button" onClick=${toggle}>${playing ? "Pause preview" : "Play preview"}</button>`
                 : html`<button type="button" onClick=${() => go(i)} aria-label=${`Listen to ${c.track.title}`}>Listen</button>`}
          <div class="actions">
            <button type="button" onClick=${() => like(c)} aria-pressed=${m.liked ? "true" : "false"} disabled=${m.liked}>${m.liked ? "Liked" : "Like"}</button>
            <button type="button" onClick=${() => skip(c)} disabled=${m.skipped}>${m.skipped ? "Skipped" : "Skip"}</button>
            <button type="button" onClick=${() => follow(c)} disabled=${m.followed}>${m.followed ? "Following" : "Follow"}</button>
            <button type="button" onClick=${() => subscribe(c)}>Subscribe</button>
          </div>
          ${m.note ? html`<p class="error" role="alert">${m.note}</p>` : null}
        </li>`;
      })}
    </ol>
    ${state.error ? html`<${ErrorNote} error=${state.error} />` : null}
    ${state.loading ? html`<${Loading} what="Loading the feed" />` : null}
    ${!state.loading && !cards.length && !state.error ? html`<p class="muted" id="feed-empty">Nothing to discover yet: no playable tracks.</p>` : null}
    ${cursor && cards.length && !state.loading ? html`<button type="button" onClick=${() => more(cursor)}>More</button>` : null}
  </section>`;
}
