// Shared by the fan club screens: artists and their tiers by id (cached for the page's life), dates.
import { api, session } from "@musicconnect/api";

export function signedIn() { return !!(session() && session().access_token); }

const artists = new Map();
export function artist(id) {
  if (!artists.has(id)) {
    artists.set(id, Promise.all([api(`artists/${id}`, {auth: false}), api(`artists/${id}/tiers`, {auth: false})])
      .then(([a, tiers]) => ({...a, tiers: tiers.sort((x, y) => x.rank - y.rank)})));
  }
  return artists.get(id);
}

export function tierName(a, id) { return ((a.tiers || []).find((t) => t.id === id) || {}).name || "a higher tier"; }

export function when(value) {
  return value ? new Date(value).toLocaleString(undefined, {dateStyle: "medium", timeStyle: "short"}) : "";
}

export function day(value) {
  return value ? new Date(value).toLocaleDateString(undefined, {year: "numeric", month: "long", day: "numeric"}) : "";
}
