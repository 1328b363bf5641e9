// In the artist slot of an artist's page: when the signed-in account is this artist's, the way
// into the studio (the studio is not in the main navigation, so listeners never see it).
import { Link, html } from "@musicconnect/web";
import { session } from "@musicconnect/api";

export default function StudioLink({artist}) {
  const s = session();
  const mine = s && s.user && s.user.artist && artist && s.user.artist.id === artist.id;
  if (!mine) return null;
  return html`<p class="studio-link" role="note">This is your page.
    <${Link} href="/studio/upload">Upload a track</${Link}> · <${Link} href="/studio/tracks">Your tracks</${Link}></p>`;
}
