// What the live plugin's screens share: their style, dates, problems in words, and the party
// clock's maths (the same as musicconnect_live/sync.py: docs/live.md "The sync algorithm").
import { session } from "@musicconnect/api";

const STYLE = `
.parties { margin: 1rem 0; }
.parties ul { list-style: none; padding: 0; }
.parties li { background: var(--panel); border-radius: .6rem; padding: .8rem 1rem; margin: .6rem 0; }
.parties .when { color: var(--muted); }
.parties form label { margin-top: .6rem; }
.parties textarea { font: inherit; padding: .45rem .6rem; border-radius: .4rem; border: 1px solid #4a4566;
  background: #0f0d18; color: var(--text); width: 100%; }
.party-live { display: inline-block; padding: 0 .5rem; border-radius: 1rem; font-size: .85em; background: #7a1f3d; color: #fff; }
.party { display: grid; gap: 1rem; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); }
@media (max-width: 48rem) { .party { grid-template-columns: 1fr; } }
.party .now { font-size: 1.2em; }
.party .host { border-top: 1px solid #2d2944; margin-top: .8rem; padding-top: .5rem; }
.party .host .controls, .party .listen { display: flex; gap: .6rem; flex-wrap: wrap; align-items: center; }
.party .queue { padding-left: 1.2rem; }
.party .queue [aria-current] { font-weight: 700; }
.chat .log { height: 22rem; overflow-y: auto; background: #0f0d18; border-radius: .4rem; padding: .5rem; margin: 0; }
.chat .log .msg { padding: .3rem 0; border-bottom: 1px solid #211e30; }
.chat .log .who { font-weight: 600; margin-right: .4rem; }
.chat .reactions { display: flex; gap: .25rem; flex-wrap: wrap; margin-top: .2rem; }
.chat .reactions button { background: #2d2944; color: var(--text); padding: 0 .45rem; font-size: .9em; }
.chat .reactions button[aria-pressed=true] { background: var(--accent); color: var(--accent-ink); }
.chat form { display: flex; gap: .5rem; margin-top: .5rem; }
.chat form input { flex: 1; }
`;

export function useStyle() {
  if (!document.getElementById("mc-live-style")) {
    const el = document.createElement("style");
    el.id = "mc-live-style";
    el.textContent = STYLE;
    document.head.append(el);
  }
}

export const EMOJI = ["👏", "🔥", "❤️", "😂", "😮", "🎶"];
export const EMOJI_NAMES = {"👏": "applause", "🔥": "fire", "❤️": "love", "😂": "laughing", "😮": "wow", "🎶": "music"};

export function me() {
  const s = session();
  return s && s.user ? s.user : null;
}

export function when(iso, timeZone) {
  try {
    return new Intl.DateTimeFormat(undefined, {dateStyle: "medium", timeStyle: "short", ...(timeZone ? {timeZone} : {})})
      .format(new Date(iso));
  } catch { return iso; }
}

export function clock(seconds) {
  if (!Number.isFinite(seconds)) return "0:00";
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

// An API or socket refusal in words: the problem's detail, and when writing opens again.
export function problemText(p) {
  if (!p) return "Something went wrong.";
  const slug = (p.problem || p.type || "").replace("/problems/", "");
  const detail = p.detail || "";
  const wait = p.retry_after ? ` Try again in ${p.retry_after} s.` : "";
  switch (slug) {
    case "chat-muted": return `You are muted in this chat${p.until ? ` until ${when(p.until)}` : ""}.`;
    case "chat-banned": return "You are banned from this artist's chat.";
    case "chat-slow-mode": return `Slow mode is on: ${detail.replace(/^slow mode: /, "")}.${wait}`;
    case "chat-flood": return `You are sending messages too fast (${detail}).${wait}`;
    case "chat-members-only": return `${detail}.`;
    case "party-ended": return "This listening party has ended.";
    case "party-not-started": return "The listening party has not started yet.";
    case "unauthorized": return "Sign in to take part.";
    default: return detail || "Something went wrong.";
  }
}

// ---- the party clock (sync.py): an NTP-style offset estimate and the position now

export class OffsetEstimator {
  constructor(window = 8) { this.window = window; this.samples = []; }
  add(t0, t1, t2, t3) {
    const roundTrip = Math.max(0, (t3 - t0) - (t2 - t1));
    this.samples.push({offset: ((t1 - t0) + (t2 - t3)) / 2, roundTrip});
    if (this.samples.length > this.window) this.samples.shift();
  }
  get offset() {
    if (!this.samples.length) return 0;
    return this.samples.reduce((a, b) => (b.roundTrip < a.roundTrip ? b : a)).offset;
  }
  get count() { return this.samples.length; }
}

// Where the party is at server time `now`: {index, position, playing, ended}, carried over the
// playlist's durations while playing.
export function positionAt(durations, state, now) {
  let index = state.index, position = state.position;
  if (state.status === "ended") return {index, position, playing: false, ended: true};
  if (!state.playing) return {index, position, playing: false, ended: false};
  position += Math.max(0, now - state.at);
  while (index < durations.length && position >= durations[index]) {
    position -= durations[index];
    index += 1;
  }
  if (index >= durations.length) return {index: durations.length - 1, position: 0, playing: false, ended: true};
  return {index, position, playing: true, ended: false};
}
