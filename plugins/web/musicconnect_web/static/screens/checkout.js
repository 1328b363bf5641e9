// Where a payment provider sends the fan back (/checkout/return): the membership follows from the
// provider's webhook, so this page only says what happens next. (The checkout flow's own screens
// come in a later step.)
import { Link, html, title } from "../ui.js";

export default function CheckoutReturn() {
  title("Thank you");
  const artist = new URLSearchParams(location.search).get("artist");
  return html`<section>
    <h1>Thank you</h1>
    <p>Your payment is being confirmed; your membership starts as soon as it is.</p>
    <p>${artist ? html`<${Link} href=${`/artists/${encodeURIComponent(artist)}`}>Back to the artist</${Link}>`
                : html`<${Link} href="/">Back to discover</${Link}>`}</p>
  </section>`;
}
