// In the artist slot of an artist's page: when the signed-in account is this artist's, a link to
// the dashboard (not in the main navigation, so listeners never see it).
import { Link, html } from "@musicconnect/web";
import { session } from "@musicconnect/api";

export default function DashboardLink({artist}) {
  const s = session();
  const mine = s && s.user && s.user.artist && artist && s.user.artist.id === artist.id;
  if (!mine) return null;
  return html`<p class="dashboard-link" role="note"><${Link} href="/studio/dashboard">Your dashboard</${Link}>: plays, listeners, members and what to do next.</p>`;
}
