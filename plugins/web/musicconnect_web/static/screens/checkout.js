// Where a payment provider sends the fan back (/checkout/return): the membership follows from the
// provider's webhook, so this page only says what happens next; the "checkout-return" slot lets the
// payment plugin show the membership once it is held (or that the checkout was cancelled).
import { Link, Slot, extensions, html, title } from "../ui.js";

export default function CheckoutReturn() {
  title("Thank you");
  const artist = new URLSearchParams(location.search).get("artist");
  if (extensions("component").some((e) => e.slot === "checkout-return")) {
    return html`<section><${Slot} name="checkout-return" /></section>`;
  }
  return html`<section>
    <h1>Thank you</h1>
    <p>Your payment is being confirmed; your membership starts as soon as it is.</p>
    <p>${artist ? html`<${Link} href=${`/artists/${encodeURIComponent(artist)}`}>Back to the artist</${Link}>`
                : html`<${Link} href="/">Back to discover</${Link}>`}</p>
  </section>`;
}
