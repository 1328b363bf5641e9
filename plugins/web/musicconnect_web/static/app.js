// The app shell: header and navigation, the client-side router with one lazily imported module
// per route (code splitting without a build step), other plugins' pages, the service worker.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ErrorNote, Link, Loading, Slot, extensions, html, setExtensions, useLocation } from "./ui.js";
import { api, online, session, signOut } from "./api.js";

const ROUTES = [
  {re: /^\/(discover)?$/, load: () => import("./screens/discover.js")},
  {re: /^\/signin$/, load: () => import("./screens/auth.js"), props: {mode: "signin"}},
  {re: /^\/signup$/, load: () => import("./screens/auth.js"), props: {mode: "signup"}},
  {re: /^\/artists\/([^/]+)$/, load: () => import("./screens/artist.js"), names: ["slug"]},
  {re: /^\/tracks\/([^/]+)$/, load: () => import("./screens/track.js"), names: ["id"]},
  {re: /^\/checkout\/return$/, load: () => import("./screens/checkout.js")},
  {re: /^\/studio\/tiers$/, load: () => import("./screens/tiers.js")},
];

// the web plugin's own studio screen (the tiers are a core API), last in the studio menu
const STUDIO_TIERS = {path: "/studio/tiers", title: "Tiers and perks", audience: "artists"};

function match(path) {
  const clean = path.length > 1 ? path.replace(/\/+$/, "") : path;
  for (const r of ROUTES) {
    const m = clean.match(r.re);
    if (m) {
      const params = {};
      (r.names || []).forEach((n, i) => { params[n] = decodeURIComponent(m[i + 1]); });
      return {load: r.load, props: {...(r.props || {}), ...params}};
    }
  }
  const page = extensions("page").find((e) => e.path === clean);
  if (page) return {load: () => import(page.module), props: {}};
  // "/wrapped/2026-10": a plugin's page with the rest of the address as a prop (links in notifications)
  const parent = extensions("page").find((e) => clean.startsWith(`${e.path}/`));
  if (parent) return {load: () => import(parent.module), props: {rest: clean.slice(parent.path.length + 1)}};
  return null;
}

function useSession() {
  const [s, set] = useState(session());
  useEffect(() => {
    const on = () => set(session());
    addEventListener("mc-session", on);
    return () => removeEventListener("mc-session", on);
  }, []);
  return s;
}

function Nav() {
  const s = useSession();
  const [, tick] = useState(0);
  useEffect(() => {
    const on = () => tick((n) => n + 1);
    addEventListener("mc-extensions", on);
    return () => removeEventListener("mc-extensions", on);
  }, []);
  const links = extensions().filter((e) => (e.kind === "nav" || e.kind === "page") && e.title && e.path);
  const everyone = links.filter((e) => e.audience !== "artists");
  // artists' tools: a second menu, only for a signed-in artist (the pages' APIs still decide)
  const artist = s && s.user && s.user.artist;
  const studio = artist ? [...links.filter((e) => e.audience === "artists"), STUDIO_TIERS] : [];
  return html`<header class="top">
    <${Link} class="brand" href="/">${document.getElementById("app").dataset.name}</${Link}>
    <nav aria-label="Main">
      <${Link} href="/discover">Discover</${Link}>
      ${everyone.map((e) => html`<${Link} key=${e.path} href=${e.path}>${e.title}</${Link}>`)}
      <${Slot} name="nav" session=${s} />
    </nav>
    ${studio.length ? html`<nav aria-label="Studio" class="studio-menu"><span class="label">Studio</span>
      ${studio.map((e) => html`<${Link} key=${e.path} href=${e.path}>${e.title}</${Link}>`)}</nav>` : null}
    <div class="account">
      ${s ? html`<span class="who">${(s.user && (s.user.display_name || s.user.email)) || "Signed in"}</span>
                 <button type="button" onClick=${() => signOut()}>Sign out</button>`
          : html`<${Link} href="/signin">Sign in</${Link}> <${Link} class="button" href="/signup">Sign up</${Link}>`}
    </div>
  </header>`;
}

// Offline (the service worker answered with the precached shell): say so, and where downloads are
// (the browser's own flag, or the server not answering the app's requests)
const OFFLINE_EVENTS = ["online", "offline", "mc-online", "mc-offline"];

function OfflineBanner() {
  const [offline, set] = useState(!navigator.onLine || !online());
  useEffect(() => {
    const on = () => set(!navigator.onLine || !online());
    OFFLINE_EVENTS.forEach((e) => addEventListener(e, on));
    on();  // a first answer may have come before this effect subscribed
    return () => OFFLINE_EVENTS.forEach((e) => removeEventListener(e, on));
  }, []);
  if (!offline) return null;
  const downloads = extensions("page").some((e) => e.path === "/downloads");
  return html`<p class="offline-banner" role="status">You are offline.
    ${downloads ? html` Your <${Link} href="/downloads">downloads</${Link}> still play.` : " What you opened before may still show."}</p>`;
}

function Screen({path}) {
  const [state, setState] = useState({C: null, props: {}, error: null});
  useEffect(() => {
    let live = true;
    const hit = match(path);
    if (!hit) { setState({C: NotFound, props: {}, error: null}); return; }
    hit.load().then((m) => live && setState({C: m.default, props: hit.props, error: null}),
                    (error) => live && setState({C: null, props: {}, error}));
    return () => { live = false; };
  }, [path, extensions().length]);
  if (state.error) return html`<${ErrorNote} error=${state.error} />`;
  if (!state.C) return html`<${Loading} />`;
  const C = state.C;
  return html`<${C} ...${state.props} />`;
}

function NotFound() {
  return html`<section class="page"><h1>Not found</h1><p>Nothing lives at this address.</p>
    <p><${Link} href="/">Discover artists</${Link}></p></section>`;
}

function App() {
  const loc = useLocation();
  const path = loc.split("?")[0];
  const [, tick] = useState(0);
  useEffect(() => {
    const on = () => tick((n) => n + 1);
    addEventListener("mc-extensions", on);
    return () => removeEventListener("mc-extensions", on);
  }, []);
  return html`<${Nav} /><${OfflineBanner} />
    <main id="main" class="page" tabindex="-1"><${Screen} key=${path} path=${path} /></main>
    <footer class="foot"><a href="/docs">API</a></footer>`;
}

const root = document.getElementById("app");
root.textContent = "";  // the "loading" placeholder of the HTML shell
render(html`<${App} />`, root);

api("web/extensions", {auth: false}).then((out) => setExtensions(out.extensions), () => setExtensions([]));

if ("serviceWorker" in navigator && location.protocol !== "file:") {
  navigator.serviceWorker.register("/sw.js", {scope: "/"}).catch(() => {});
}
