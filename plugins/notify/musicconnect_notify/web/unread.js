// The inbox link in the navigation with the unread count (GET /api/v1/notify/inbox/unread-count).
// Live: each notification on the realtime socket (./live.js) adds one, and the count is asked again
// whenever the socket (re)opens and when the inbox page marks something read ("mc-notify"). Only
// while the socket is down is the count asked every 30 seconds.
import { useEffect, useState } from "preact/hooks";
import { Link, html } from "@musicconnect/web";
import { api } from "@musicconnect/api";
import { isLive, listen } from "./live.js";

export default function InboxLink({session}) {
  const [unread, setUnread] = useState(null);
  useEffect(() => {
    if (!session) { setUnread(null); return undefined; }
    let live = true;
    const ask = () => api("notify/inbox/unread-count").then((out) => live && setUnread(out.unread), () => {});
    ask();
    const timer = setInterval(() => { if (!isLive()) ask(); }, 30000);
    const stop = listen((msg) => {
      if (msg.type === "notification") setUnread((n) => (n || 0) + 1);
      else if (msg.type === "open") ask();
    });
    addEventListener("mc-notify", ask);
    return () => { live = false; clearInterval(timer); stop(); removeEventListener("mc-notify", ask); };
  }, [session && session.access_token]);
  if (!session) return null;
  // the name read out is the text shown: "Inbox 3 unread" ("unread" only for screen readers)
  return html`<${Link} href="/inbox" class="inbox-link">Inbox${unread
    ? html` <span class="unread">${unread}<span class="visually-hidden"> unread</span></span>` : null}</${Link}>`;
}
