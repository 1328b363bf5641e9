// /studio/dashboard: the artist's analytics (GET /api/v1/analytics/artists/{id}/metrics?days=N),
// charts drawn as SVG without a chart library, figures formatted for the reader's locale, an
// empty state that says what would fill each chart, and "what to do next" from the models
// (best release time, members at risk, tracks that spread, the trend of plays).
import { useState } from "preact/hooks";
import { ErrorNote, Link, Loading, extensions, html, money, title, useLoad } from "@musicconnect/web";
import { api, session } from "@musicconnect/api";

const STYLE = `
.dash .kpis { display: grid; grid-template-columns: repeat(auto-fill, minmax(10rem, 1fr)); gap: .75rem; padding: 0; list-style: none; }
.dash .kpi { background: var(--panel); border-radius: .6rem; padding: .75rem 1rem; }
.dash .kpi strong { display: block; font-size: 1.6rem; font-variant-numeric: tabular-nums; }
.dash figure { background: var(--panel); border-radius: .6rem; padding: 1rem; margin: 1rem 0; }
.dash figcaption { font-weight: 600; margin-bottom: .5rem; }
.dash svg { width: 100%; height: auto; display: block; }
.dash svg text { fill: var(--muted); font-size: 11px; }
.dash svg.parts text { font-size: 22px; }
.dash .grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(20rem, 1fr)); gap: 0 1rem; }
.dash .next { background: var(--panel); border-left: 4px solid var(--accent); border-radius: .4rem; padding: .5rem 1rem 1rem; }
.dash .next li { margin: .4rem 0; }
.dash .period { display: flex; gap: .5rem; align-items: center; flex-wrap: wrap; }
.dash .period button[aria-pressed=true] { outline: 2px solid var(--text); }
.dash ol.fans { padding-left: 1.2rem; }
.dash-nav { display: flex; gap: 1rem; margin-bottom: .5rem; }
`;

const fmt = (n, opts) => (Number.isFinite(n) ? new Intl.NumberFormat(undefined, opts).format(n) : "–");
const pct = (r) => fmt(r, {style: "percent", maximumFractionDigits: 0});
const dayLabel = (iso) => {
  try { return new Intl.DateTimeFormat(undefined, {month: "short", day: "numeric", timeZone: "UTC"}).format(new Date(`${iso}T00:00:00Z`)); }
  catch { return iso; }
};

function useStyle() {
  if (!document.getElementById("mc-analytics-dash-style")) {
    const el = document.createElement("style");
    el.id = "mc-analytics-dash-style";
    el.textContent = STYLE;
    document.head.append(el);
  }
}

const W = 640, H = 200, PAD = {l: 44, r: 8, t: 10, b: 24};

function axis(max) {
  const ticks = [0, max / 2, max].map((v) => (max >= 4 ? Math.round(v) : Math.round(v * 10) / 10));
  return [...new Set(ticks)];
}

// bars per day (rows: [{day, value}]); accessible: role img with a summary, a title per bar
function Bars({id, rows, unit, color = "#8f7bff", format = (v) => fmt(v)}) {
  const max = Math.max(1, ...rows.map((r) => r.value));
  const iw = W - PAD.l - PAD.r, ih = H - PAD.t - PAD.b;
  const bw = iw / Math.max(1, rows.length);
  const total = rows.reduce((a, r) => a + r.value, 0);
  const label = `${format(total)} ${unit} from ${dayLabel(rows[0].day)} to ${dayLabel(rows[rows.length - 1].day)}; ` +
                `the busiest day had ${format(Math.max(...rows.map((r) => r.value)))}`;
  return html`<svg id=${id} viewBox=${`0 0 ${W} ${H}`} role="img" aria-label=${label}>
    ${axis(max).map((t) => { const y = PAD.t + ih - (t / max) * ih; return html`<g key=${`t${t}`}>
      <line x1=${PAD.l} x2=${W - PAD.r} y1=${y} y2=${y} stroke="#2d2944" />
      <text x=${PAD.l - 6} y=${y + 4} text-anchor="end">${format(t)}</text></g>`; })}
    ${rows.map((r, i) => { const h = (r.value / max) * ih; return html`<rect key=${r.day} class="bar" data-value=${r.value}
        x=${PAD.l + i * bw + bw * 0.1} y=${PAD.t + ih - h} width=${Math.max(1, bw * 0.8)} height=${h} fill=${color}>
        <title>${dayLabel(r.day)}: ${format(r.value)} ${unit}</title></rect>`; })}
    <text x=${PAD.l} y=${H - 6}>${dayLabel(rows[0].day)}</text>
    <text x=${W - PAD.r} y=${H - 6} text-anchor="end">${dayLabel(rows[rows.length - 1].day)}</text>
  </svg>`;
}

// a line per day (rows: [{day, value}])
function Line({id, rows, unit, color = "#6fd3b5", format = (v) => fmt(v)}) {
  const max = Math.max(1, ...rows.map((r) => r.value));
  const iw = W - PAD.l - PAD.r, ih = H - PAD.t - PAD.b;
  const x = (i) => PAD.l + (rows.length > 1 ? (i / (rows.length - 1)) * iw : iw / 2);
  const y = (v) => PAD.t + ih - (v / max) * ih;
  const d = rows.map((r, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(r.value).toFixed(1)}`).join(" ");
  const last = rows[rows.length - 1];
  const label = `${format(rows[0].value)} ${unit} on ${dayLabel(rows[0].day)}, ${format(last.value)} on ${dayLabel(last.day)}`;
  return html`<svg id=${id} viewBox=${`0 0 ${W} ${H}`} role="img" aria-label=${label}>
    ${axis(max).map((t) => html`<g key=${`t${t}`}><line x1=${PAD.l} x2=${W - PAD.r} y1=${y(t)} y2=${y(t)} stroke="#2d2944" />
      <text x=${PAD.l - 6} y=${y(t) + 4} text-anchor="end">${format(t)}</text></g>`)}
    <path d=${d} fill="none" stroke=${color} stroke-width="2.5" />
    <text x=${PAD.l} y=${H - 6}>${dayLabel(rows[0].day)}</text>
    <text x=${W - PAD.r} y=${H - 6} text-anchor="end">${dayLabel(last.day)}</text>
  </svg>`;
}

// horizontal bars for a few named figures
function Parts({id, parts, unit}) {
  const max = Math.max(1, ...parts.map((p) => p.value));
  const rowH = 40;
  return html`<svg id=${id} class="parts" viewBox=${`0 0 ${W} ${parts.length * rowH + 6}`} role="img"
      aria-label=${parts.map((p) => `${p.label}: ${fmt(p.value)} ${unit}`).join(", ")}>
    ${parts.map((p, i) => html`<g key=${p.label}>
      <text x="0" y=${i * rowH + 27}>${p.label}</text>
      <rect x="200" y=${i * rowH + 8} height="26" width=${Math.max(1, (p.value / max) * (W - 280))} fill=${p.color || "#8f7bff"} />
      <text x=${208 + (p.value / max) * (W - 280)} y=${i * rowH + 27}>${fmt(p.value)}</text></g>`)}
  </svg>`;
}

function Chart({id, caption, empty, hint, children, definition}) {
  return html`<figure aria-labelledby=${`${id}-cap`}>
    <figcaption id=${`${id}-cap`} title=${definition || ""}>${caption}</figcaption>
    ${empty ? html`<p class="muted empty" id=${`${id}-empty`}>${hint}</p>` : children}
  </figure>`;
}

function byId(list) {
  return Object.fromEntries(list.map((m) => [m.id, m]));
}

function val(m, id) {
  return m[id] && !m[id].error ? m[id].value : null;
}

// "what to do next", from the figures the server computed
function advice(m, days, currency) {
  const out = [];
  const plays = val(m, "analytics_plays") || [];
  const total = plays.reduce((a, r) => a + r.plays, 0);
  if (!total) {
    out.push({key: "no-plays", text: html`No counted plays in the last ${days} days. Share a track with your followers
      (a play counts after 30 seconds), or <${Link} href="/studio/upload">upload a new one</${Link}>.`});
  } else if (plays.length >= 14) {
    const recent = plays.slice(-7).reduce((a, r) => a + r.plays, 0);
    const before = plays.slice(-14, -7).reduce((a, r) => a + r.plays, 0);
    if (before && recent < before * 0.8) {
      out.push({key: "trend", text: `Plays fell ${pct(1 - recent / before)} this week (${fmt(recent)} against ${fmt(before)}): a post or a new track brings listeners back.`});
    } else if (before && recent > before * 1.2) {
      out.push({key: "trend", text: `Plays grew ${pct(recent / before - 1)} this week (${fmt(recent)} against ${fmt(before)}): a good moment to offer a tier.`});
    }
  }
  const followers = (val(m, "analytics_followers") || []).slice(-1)[0];
  if (total && followers && !followers.followers) {
    out.push({key: "follow", text: `Your music was played ${fmt(total)} times, but nobody follows you yet: ask your listeners to follow you, so that your next release reaches them.`});
  }
  const release = val(m, "analytics_best_release_time");
  if (release && release.best_slots && release.best_slots.length) {
    const s = release.best_slots[0];
    out.push({key: "release", text: `Release your next track on ${s.weekday_name} around ${String(s.hour).padStart(2, "0")}:00 (your followers' own time): about ${fmt(s.expected_reach_24h, {maximumFractionDigits: 0})} followers would hear it within a day.`});
  }
  const churn = val(m, "analytics_churn_risk");
  if (churn && churn.at_risk) {
    out.push({key: "churn", text: `${fmt(churn.at_risk)} paying member${churn.at_risk === 1 ? " is" : "s are"} likely to cancel within 30 days: a message or something exclusive for members can keep them.`});
  }
  const viral = val(m, "analytics_viral_potential");
  const spreading = viral && (viral.tracks || []).find((t) => t.k_factor > 0);
  if (spreading) {
    out.push({key: "viral", text: `“${spreading.title}” brings new listeners when it is shared (${fmt(spreading.k_factor, {maximumFractionDigits: 2})} new listeners per listener): ask fans to share it.`});
  }
  const segments = val(m, "analytics_listener_segments");
  const members = (val(m, "analytics_members") || []).slice(-1)[0];
  if (segments && segments.super && members && !members.members) {
    out.push({key: "tier", text: `${fmt(segments.super)} fans listen on 10 days a month or more but nobody is a member yet: offer them a tier with perks.`});
  }
  const mrr = val(m, "analytics_mrr");
  if (mrr && currency) {
    out.push({key: "mrr", text: `Memberships bring ${money(mrr, currency)} a month.`});
  }
  return out;
}

function Dashboard({artist}) {
  const [days, setDays] = useState(30);
  const state = useLoad(() => Promise.all([
    api(`analytics/artists/${artist.id}/metrics?days=${days}`),
    api(`artists/${artist.id}/tiers`, {auth: false}).catch(() => []),
  ]), [artist.id, days]);
  title("Dashboard");
  const period = html`<div class="period" role="group" aria-label="Period">
    <span>Period:</span>
    ${[7, 30, 90, 365].map((d) => html`<button type="button" class="ghost" key=${d} aria-pressed=${d === days}
        onClick=${() => setDays(d)}>${d} days</button>`)}
  </div>`;
  if (state.loading) return html`${period}<${Loading} what="Loading your figures" />`;
  if (state.error) return html`${period}<${ErrorNote} error=${state.error} />`;
  const [out, tiers] = state.data;
  const m = byId(out.metrics);
  const currency = (tiers.find((t) => t.price_amount > 0) || tiers[0] || {}).currency || null;
  const plays = (val(m, "analytics_plays") || []).map((r) => ({day: r.day, value: r.plays}));
  const totalPlays = plays.reduce((a, r) => a + r.value, 0);
  const followers = (val(m, "analytics_followers") || []).map((r) => ({day: r.day, value: r.followers}));
  const members = (val(m, "analytics_members") || []).map((r) => ({day: r.day, value: r.members}));
  const mrrRows = (val(m, "analytics_mrr_movements") || []).map((r) => ({day: r.day, value: r.mrr}));
  const seg = val(m, "analytics_listener_segments") || {};
  const fans = val(m, "analytics_top_fans_listening") || [];
  const money2 = (v) => (currency ? money(v, currency) : fmt(v / 100, {maximumFractionDigits: 2}));
  const next = advice(m, days, currency);
  const last = (rows) => (rows.length ? rows[rows.length - 1].value : 0);
  return html`${period}
    <ul class="kpis" aria-label="Key figures">
      <li class="kpi" id="kpi-plays"><strong>${fmt(totalPlays)}</strong> plays in ${days} days</li>
      <li class="kpi"><strong>${fmt(val(m, "analytics_active_audience"))}</strong> active listeners (28 days)</li>
      <li class="kpi"><strong>${fmt(last(followers))}</strong> followers</li>
      <li class="kpi"><strong>${fmt(last(members))}</strong> members</li>
      <li class="kpi"><strong>${money2(val(m, "analytics_mrr") || 0)}</strong> a month (MRR)</li>
      <li class="kpi"><strong>${money2(val(m, "analytics_net_revenue") || 0)}</strong> net revenue in ${days} days</li>
    </ul>
    <section class="next" aria-labelledby="next-h">
      <h2 id="next-h">What to do next</h2>
      ${next.length ? html`<ul id="advice">${next.map((a) => html`<li key=${a.key} data-advice=${a.key}>${a.text}</li>`)}</ul>`
                    : html`<p class="muted">Nothing stands out this period: keep going.</p>`}
    </section>
    <${Chart} id="chart-plays" caption="Plays per day" empty=${!totalPlays} definition=${m.analytics_plays && m.analytics_plays.definition}
      hint="No counted plays in this period yet. A play counts after 30 seconds of listening, once per listener and track every 30 minutes.">
      ${plays.length ? html`<${Bars} id="plays-svg" rows=${plays} unit="plays" />` : null}
    </${Chart}>
    <div class="grid2">
      <${Chart} id="chart-followers" caption="Followers" empty=${!followers.some((r) => r.value)}
        hint="No followers yet: fans follow you from your artist page.">
        ${followers.length ? html`<${Line} id="followers-svg" rows=${followers} unit="followers" />` : null}
      </${Chart}>
      <${Chart} id="chart-members" caption="Members" empty=${!members.some((r) => r.value)}
        hint="No members yet: fans join one of your tiers.">
        ${members.length ? html`<${Line} id="members-svg" rows=${members} unit="members" color="#ffd166" />` : null}
      </${Chart}>
      <${Chart} id="chart-mrr" caption="Monthly recurring revenue" empty=${!mrrRows.some((r) => r.value)}
        hint="No paid memberships in this period.">
        ${mrrRows.length ? html`<${Line} id="mrr-svg" rows=${mrrRows} unit="" color="#ff9bd2" format=${money2} />` : null}
      </${Chart}>
      <${Chart} id="chart-segments" caption="Listeners by how often they listen (28 days)"
        empty=${!(seg.super || seg.moderate || seg.light)}
        hint="Signed-in fans with a counted play in the last 28 days show here.">
        <${Parts} id="segments-svg" unit="fans" parts=${[
          {label: "10+ days (super)", value: seg.super || 0, color: "#8f7bff"},
          {label: "3–9 days", value: seg.moderate || 0, color: "#6fd3b5"},
          {label: "1–2 days", value: seg.light || 0, color: "#4a4566"}]} />
      </${Chart}>
    </div>
    <figure aria-labelledby="fans-cap"><figcaption id="fans-cap">Top listeners</figcaption>
      ${fans.length ? html`<ol class="fans">${fans.map((f) => html`<li key=${f.rank}>${f.name}: ${fmt(f.value)} play${f.value === 1 ? "" : "s"}</li>`)}</ol>`
                    : html`<p class="muted">Nobody yet: fans with counted plays in this period show here (by name only if they chose to).</p>`}
    </figure>
    <p class="muted">Period: ${new Date(out.period.start).toLocaleDateString()} to ${new Date(out.period.end).toLocaleDateString()} (UTC days).
      Figures from the analytics plugin; models refit in the background.</p>`;
}

const STUDIO = [["/studio/upload", "Upload"], ["/studio/tracks", "Tracks"], ["/studio/dashboard", "Dashboard"]];

function Refused({user}) {
  const next = encodeURIComponent(location.pathname);
  return html`<section class="gated studio-refused" role="status"><h1>Dashboard</h1>
    ${user ? html`<p>The dashboard is for artists, and ${user.display_name || user.email} is a listener's account.
                   <${Link} href="/discover">Discover artists</${Link}> instead.</p>`
           : html`<p>The dashboard shows artists how their music does.
                   <${Link} href=${`/signin?next=${next}`}>Sign in</${Link}> with your artist account.</p>`}
  </section>`;
}

export default function DashboardScreen() {
  useStyle();
  const me = useLoad(() => (session() ? api("me") : Promise.resolve(null)), []);
  if (me.loading) return html`<${Loading} />`;
  if (me.error && me.error.status !== 401) return html`<${ErrorNote} error=${me.error} />`;
  const user = me.error ? null : me.data;
  if (!user || !user.artist) return html`<${Refused} user=${user} />`;
  const declared = new Set(extensions("page").map((e) => e.path));  // the studio pages enabled plugins offer
  return html`<section class="dash">
    <nav class="dash-nav" aria-label="Studio">
      ${STUDIO.filter(([p]) => declared.has(p)).map(([p, label]) => html`<${Link} key=${p} href=${p}
          aria-current=${p === "/studio/dashboard" ? "page" : undefined}>${label}</${Link}>`)}</nav>
    <h1>Dashboard</h1>
    <${Dashboard} artist=${user.artist} />
  </section>`;
}
