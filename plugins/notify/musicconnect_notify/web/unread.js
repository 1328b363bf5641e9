// The inbox link in the navigation with the unread count (GET /api/v1/notify/inbox/unread-count),
// asked again every 30 seconds and whenever the inbox page marks something read ("mc-notify").
import { useEffect, useState } from "preact/hooks";
import { Link, html } from "@musicconnect/web";
import { api } from "@musicconnect/api";

export default function InboxLink({session}) {
  const [unread, setUnread] = useState(null);
  useEffect(() => {
    if (!session) { setUnread(null); return undefined; }
    let live = true;
    const ask = () => api("notify/inbox/unread-count").then((out) => live && setUnread(out.unread), () => {});
    ask();
    const timer = setInterval(ask, 30000);
    addEventListener("mc-notify", ask);
    return () => { live = false; clearInterval(timer); removeEventListener("mc-notify", ask); };
  }, [session && session.access_token]);
  if (!session) return null;
  // the name read out is the text shown: "Inbox 3 unread" ("unread" only for screen readers)
  return html`<${Link} href="/inbox" class="inbox-link">Inbox${unread
    ? html` <span class="unread">${unread}<span class="visually-hidden"> unread</span></span>` : null}</${Link}>`;
}
