// What every screen shares: htm bound to Preact, the client-side router (History API) and small
// components. Other plugins' screens import it as "@musicconnect/web" (the page's import map).
import { h } from "preact";
import { useEffect, useState } from "preact/hooks";
import htm from "htm";

export const html = htm.bind(h);

export function navigate(to, {replace = false} = {}) {
  history[replace ? "replaceState" : "pushState"](null, "", to);
  dispatchEvent(new Event("mc-route"));
  scrollTo(0, 0);
}

export function Link({href, children, ...rest}) {
  const click = (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(href);
  };
  return html`<a href=${href} onClick=${click} ...${rest}>${children}</a>`;
}

export function useLocation() {
  const [loc, setLoc] = useState(location.pathname + location.search);
  useEffect(() => {
    const on = () => setLoc(location.pathname + location.search);
    addEventListener("popstate", on);
    addEventListener("mc-route", on);
    return () => { removeEventListener("popstate", on); removeEventListener("mc-route", on); };
  }, []);
  return loc;
}

// load(): a promise; answers {loading, error, data} and re-runs when deps change
export function useLoad(load, deps) {
  const [state, setState] = useState({loading: true, error: null, data: null});
  useEffect(() => {
    let live = true;
    setState({loading: true, error: null, data: null});
    load().then((data) => live && setState({loading: false, error: null, data}),
                (error) => live && setState({loading: false, error, data: null}));
    return () => { live = false; };
  }, deps);
  return state;
}

export function Loading({what = "Loading"}) {
  return html`<p class="muted" role="status">${what}…</p>`;
}

export function ErrorNote({error}) {
  return html`<p class="error" role="alert">${error && error.message ? error.message : String(error)}</p>`;
}

export function money(amount, currency) {
  try {
    return new Intl.NumberFormat(undefined, {style: "currency", currency}).format(amount / 100);
  } catch { return `${(amount / 100).toFixed(2)} ${currency}`; }
}

export function title(text) {
  const name = document.getElementById("app").dataset.name || "MusicConnect";
  document.title = text ? `${text} · ${name}` : name;
}

// Other plugins' screens (GET /api/v1/web/extensions), set once by the shell.
let declared = [];
export function setExtensions(list) { declared = list || []; dispatchEvent(new Event("mc-extensions")); }
export function extensions(kind) { return declared.filter((e) => !kind || e.kind === kind); }

// <${Slot} name="artist" artist=${a} />: every component another plugin put in this slot
export function Slot({name, ...props}) {
  const [parts, setParts] = useState([]);
  const [known, setKnown] = useState(declared.length);  // the list may arrive after the slot mounts
  useEffect(() => {
    const on = () => setKnown(declared.length);
    addEventListener("mc-extensions", on);
    return () => removeEventListener("mc-extensions", on);
  }, []);
  useEffect(() => {
    let live = true;
    const wanted = extensions("component").filter((e) => e.slot === name);
    Promise.all(wanted.map((e) => import(e.module).then((m) => ({key: e.module, C: m.default}), () => null)))
      .then((loaded) => live && setParts(loaded.filter(Boolean)));
    return () => { live = false; };
  }, [name, known]);
  return parts.map(({key, C}) => html`<${C} key=${key} ...${props} />`);
}
