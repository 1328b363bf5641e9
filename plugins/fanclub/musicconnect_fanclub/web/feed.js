// /feed: posts and tracks of the artists the fan follows or supports, newest first. A locked
// teaser names the tier it needs with a button to join; early-access items say so. Other plugins'
// components in the "feed" slot get `hosts`: the feed's artists, in the order they first appear.
import { ErrorNote, Link, Loading, Slot, html, title, useLoad } from "@musicconnect/web";
import { api } from "@musicconnect/api";
import { artist, day, signedIn, tierName } from "./common.js";
import { PostImages, useImageStyle } from "./images.js";

async function load() {
  const items = await api("fanclub/feed?limit=50");
  const ids = [...new Set(items.map((i) => i.artist_id))];
  const found = Object.fromEntries(await Promise.all(ids.map(async (id) => [id, await artist(id)])));
  return {items, artists: found};
}

function Item({item, a}) {
  const href = item.kind === "track" ? `/tracks/${item.id}` : `/post?id=${item.id}`;
  const need = item.required_tier_id ? tierName(a, item.required_tier_id) : null;
  return html`<li class=${`card feed-item${item.locked ? " locked" : ""}`} aria-label=${item.title}>
    <p class="muted">${a.name} · ${item.kind === "track" ? "Track" : "Post"} · ${day(item.publish_at)}
      ${item.early_access ? html` · <span class="badge early">Early access</span>` : null}</p>
    <h2>${item.locked ? item.title : html`<${Link} href=${href}>${item.title}</${Link}>`}</h2>
    ${item.locked
      ? html`<p class="lock">Locked: for ${need} members and above.
          <${Link} class="button" href=${`/artists/${encodeURIComponent(a.slug)}`}>Join ${need}</${Link}></p>`
      : html`${item.data && item.data.body ? html`<p>${item.data.body.length > 280 ? `${item.data.body.slice(0, 280)}…` : item.data.body}</p>` : null}
        <${PostImages} item=${item} />`}
  </li>`;
}

export default function Feed() {
  title("Feed");
  useImageStyle();
  const state = useLoad(() => (signedIn() ? load() : Promise.resolve(null)), []);
  if (!signedIn()) return html`<section><h1>Feed</h1><p><${Link} href="/signin?next=/feed">Sign in</${Link}> to see your feed.</p></section>`;
  if (state.loading) return html`<${Loading} what="Loading your feed" />`;
  if (state.error) return html`<section><h1>Feed</h1><${ErrorNote} error=${state.error} /></section>`;
  const {items, artists} = state.data;
  return html`<section>
    <h1>Feed</h1>
    ${items.length === 0 ? html`<p>Nothing yet: follow artists on their pages. <${Link} href="/discover">Discover artists</${Link}></p>`
      : html`<${Slot} name="feed" hosts=${[...new Set(items.map((i) => i.artist_id))]} />
        <ul class="feed">${items.map((i) => html`<${Item} key=${i.id} item=${i} a=${artists[i.artist_id]} />`)}</ul>`}
  </section>`;
}
