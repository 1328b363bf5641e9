// The play queue: the tracks to play next (in order) and the ones played before (for "Previous"),
// kept in localStorage ("mc.queue") so it survives a reload and is shared by the app's tabs. Only
// what the listener chose is kept here (track id, title, artist name for the list); whether a
// track may be played is the server's answer when its page opens. The track page plays the head
// of the queue when a track ends ("auto-advance") and wires Previous/Next to the Media Session.
import { useEffect, useState } from "preact/hooks";
import { Link, html, navigate } from "../ui.js";

const KEY = "mc.queue";
const HISTORY = 50;          // tracks remembered for "Previous"
let autoplay = null;         // the track id the next track page should start by itself

function read() {
  try {
    const q = JSON.parse(localStorage.getItem(KEY));
    if (q && Array.isArray(q.next) && Array.isArray(q.history)) return q;
  } catch {}
  return {next: [], history: []};
}

function write(q) {
  localStorage.setItem(KEY, JSON.stringify({next: q.next, history: q.history.slice(-HISTORY)}));
  dispatchEvent(new Event("mc-queue"));
}

const entry = (t) => ({id: String(t.id), title: t.title || "Untitled", artist: t.artist || ""});

export function queue() { return read(); }

export function playNext(track) {
  const q = read();
  write({...q, next: [entry(track), ...q.next.filter((t) => t.id !== String(track.id))]});
}

export function addToQueue(track) {
  const q = read();
  write({...q, next: [...q.next.filter((t) => t.id !== String(track.id)), entry(track)]});
}

export function removeAt(i) {
  const q = read();
  write({...q, next: q.next.filter((_, j) => j !== i)});
}

export function move(i, delta) {
  const q = read();
  const j = i + delta;
  if (j < 0 || j >= q.next.length) return false;
  const next = q.next.slice();
  [next[i], next[j]] = [next[j], next[i]];
  write({...q, next});
  return true;
}

export function clearQueue() { write({...read(), next: []}); }

// Leave `current` for the head of the queue and open it (playing by itself). False when empty.
export function advance(current) {
  const q = read();
  if (!q.next.length) return false;
  const [head, ...rest] = q.next;
  write({next: rest, history: current ? [...q.history, entry(current)] : q.history});
  autoplay = head.id;
  navigate(`/tracks/${encodeURIComponent(head.id)}`);
  return true;
}

// Back to the track played before `current` (which goes to the front of the queue). False when none.
export function back(current) {
  const q = read();
  if (!q.history.length) return false;
  const prev = q.history[q.history.length - 1];
  write({next: current ? [entry(current), ...q.next] : q.next, history: q.history.slice(0, -1)});
  autoplay = prev.id;
  navigate(`/tracks/${encodeURIComponent(prev.id)}`);
  return true;
}

// Whether the track page of `id` was opened by the queue (and should start playing by itself).
export function takeAutoplay(id) {
  const yes = autoplay === String(id);
  autoplay = null;
  return yes;
}

export function useQueue() {
  const [q, set] = useState(read());
  useEffect(() => {
    const on = () => set(read());
    addEventListener("mc-queue", on);
    addEventListener("storage", on);   // another tab changed it
    return () => { removeEventListener("mc-queue", on); removeEventListener("storage", on); };
  }, []);
  return q;
}

// "Play next" and "Add to queue" for one track (the artist page's list, the player).
export function QueueButtons({track}) {
  const [said, setSaid] = useState("");
  const name = track.title || "this track";
  return html`<span class="queue-buttons">
    <button type="button" class="ghost small" aria-label=${`Play ${name} next`}
      onClick=${() => { playNext(track); setSaid(`${name} plays next.`); }}>Play next</button>
    <button type="button" class="ghost small" aria-label=${`Add ${name} to the queue`}
      onClick=${() => { addToQueue(track); setSaid(`${name} added to the queue.`); }}>Add to queue</button>
    <span class="visually-hidden" role="status">${said}</span>
  </span>`;
}

// The queue, reorderable and removable with buttons (keyboard: Tab to one, Enter/Space; focus
// stays on the moved track's button). Alt+↑/↓ on an item moves it too.
export function QueueList() {
  const q = useQueue();
  const [focus, setFocus] = useState(null);
  useEffect(() => {
    if (!focus) return;
    const el = document.getElementById(focus);
    // a disabled button (the top item's "up") cannot take focus: its item's next one does
    const target = el && el.disabled ? el.parentElement.querySelector("button:not([disabled])") : el;
    if (target) target.focus();
    setFocus(null);
  }, [focus, q]);
  const shift = (i, delta, what) => {
    if (move(i, delta)) setFocus(`queue-${what}-${i + delta}`);
  };
  const keys = (i) => (e) => {
    if (!e.altKey) return;
    if (e.key === "ArrowUp") { e.preventDefault(); shift(i, -1, "up"); }
    else if (e.key === "ArrowDown") { e.preventDefault(); shift(i, 1, "down"); }
  };
  return html`<section class="queue" aria-labelledby="queue-title">
    <h2 id="queue-title">Up next</h2>
    ${q.next.length === 0 ? html`<p class="muted" id="queue-empty">Nothing queued. Use “Play next” or “Add to queue” on a track.</p>`
      : html`<ol class="queue-list" aria-label="Queue">
        ${q.next.map((t, i) => html`<li key=${t.id} onKeyDown=${keys(i)}>
          <span class="queue-title"><${Link} href=${`/tracks/${encodeURIComponent(t.id)}`}>${t.title}</${Link}>
            ${t.artist ? html`<span class="muted"> · ${t.artist}</span>` : null}</span>
          <span class="queue-actions">
            <button type="button" class="ghost small" id=${`queue-up-${i}`} aria-label=${`Move ${t.title} up`}
              disabled=${i === 0} onClick=${() => shift(i, -1, "up")}>↑</button>
            <button type="button" class="ghost small" id=${`queue-down-${i}`} aria-label=${`Move ${t.title} down`}
              disabled=${i === q.next.length - 1} onClick=${() => shift(i, 1, "down")}>↓</button>
            <button type="button" class="ghost small" id=${`queue-remove-${i}`} aria-label=${`Remove ${t.title} from the queue`}
              onClick=${() => { removeAt(i); setFocus(q.next.length > 1 ? `queue-remove-${Math.min(i, q.next.length - 2)}` : null); }}>Remove</button>
          </span>
        </li>`)}
      </ol>
      <button type="button" class="ghost small" onClick=${clearQueue}>Clear the queue</button>`}
  </section>`;
}
