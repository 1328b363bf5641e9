"""The inbox in a real browser (headless Chromium driven by Playwright) against ``musicconnect
serve`` with notify: an artist messages their members through the API, the member sees the unread
count in the navigation and the message in the inbox, marks it read (the server holds it read,
the count goes), saves quiet hours, and turns push on: permission (granted to the context), the
service worker's push manager subscribed with the server's VAPID key, the subscription registered
with the notify API.

Debian's headless Chromium has no push service to subscribe with here (``subscribe()`` never
answers: no network push service), so when the real subscription fails within 5 s the test replaces
``PushManager.prototype.subscribe``/``getSubscription`` in the page with a stand-in that records
the ``applicationServerKey`` it was given and returns a subscription with a real P-256 key pair
made by WebCrypto; everything after (the POST to the notify API) is the app's own code."""
from __future__ import annotations

import base64
import time

import httpx

from web_helpers import Console

STUB = """() => {
  const b64 = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
  let current = null;
  PushManager.prototype.getSubscription = async function () { return current; };
  PushManager.prototype.subscribe = async function (options) {
    window.__mcServerKey = b64(options.applicationServerKey);
    const pair = await crypto.subtle.generateKey({name: "ECDH", namedCurve: "P-256"}, true, ["deriveBits"]);
    const p256dh = b64(await crypto.subtle.exportKey("raw", pair.publicKey));
    const auth = b64(crypto.getRandomValues(new Uint8Array(16)));
    const endpoint = "https://push.example.net/wpush/v2/" + b64(crypto.getRandomValues(new Uint8Array(24)));
    current = {endpoint, toJSON: () => ({endpoint, expirationTime: null, keys: {p256dh, auth}}),
               unsubscribe: async () => { current = null; return true; }};
    return current;
  };
}"""


def _login(c, email):
    return {"Authorization": f"Bearer {c.post('/api/v1/auth/login', json={'email': email, 'password': 'a-long-passphrase'}).json()['access_token']}"}


def test_inbox_mark_read_preferences_and_push_opt_in(browser, shots, proc_env):
    from helpers import bearer, free_port, register, serve_process, wait_ready

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = serve_process({**proc_env, "MC_PLUGINS": "web,notify", "MC_BASE_URL": base}, port)
    try:
        wait_ready(proc, base)
        with httpx.Client(base_url=base, timeout=30) as c:
            artist = register(c, "nova@example.com", role="artist", artist_name="Nova Lane", display_name="Nova")
            register(c, "robin@example.com", display_name="Robin")
            artist_id = artist["user"]["artist"]["id"]
            h = bearer(artist["tokens"]["access_token"])
            tier = next(t for t in c.get(f"/api/v1/artists/{artist_id}/tiers").json() if t["rank"] > 0)
            r = c.post(f"/api/v1/artists/{artist_id}/comps", headers=h, json={"email": "robin@example.com", "tier_id": tier["id"]})
            assert r.status_code in (200, 201), r.text
            r = c.post(f"/api/v1/notify/artists/{artist_id}/messages", headers=h,
                       json={"segment": "members", "title": "Tour dates", "body": "Berlin on the 12th."})
            assert r.status_code == 201, r.text
            fan = _login(c, "robin@example.com")
            deadline = time.monotonic() + 60
            while not (items := c.get("/api/v1/notify/inbox", headers=fan).json()["items"]):
                assert time.monotonic() < deadline, "the message never reached the inbox"
                time.sleep(0.3)
            note = next(i for i in items if i["title"].endswith("Tour dates"))
            assert note["read"] is False

        browser.grant_permissions(["notifications"], origin=base)
        page = browser.new_page()
        console = Console(page)
        page.goto(f"{base}/signin?next=/discover")
        page.get_by_label("Email").fill("robin@example.com")
        page.get_by_label("Password").fill("a-long-passphrase")
        page.get_by_role("button", name="Sign in").click()
        nav = page.get_by_role("navigation", name="Main")
        link = nav.get_by_role("link", name="Inbox 1 unread")
        link.wait_for()
        link.click()
        page.get_by_role("heading", name="Inbox", level=1).wait_for()
        row = page.locator(f'li[data-id="{note["id"]}"]')
        assert "Tour dates" in row.inner_text() and "Berlin on the 12th." in row.inner_text()
        assert page.locator("#inbox-unread").inner_text() == "1 unread"
        shots(page, "01-inbox")
        row.get_by_role("button", name="Mark read: " + note["title"]).click()
        page.locator("#inbox-unread").filter(has_text="Nothing unread").wait_for()
        nav.get_by_role("link", name="Inbox", exact=True).wait_for()
        with httpx.Client(base_url=base, timeout=30) as c:
            fan = _login(c, "robin@example.com")
            assert c.get("/api/v1/notify/inbox/unread-count", headers=fan).json() == {"unread": 0}
            assert c.get("/api/v1/notify/inbox", headers=fan).json()["items"][0]["read"] is True

        # preferences: quiet hours
        page.get_by_label("From", exact=True).fill("22:00")
        page.get_by_label("Until", exact=True).fill("07:30")
        page.get_by_label("Time zone", exact=True).fill("Europe/Berlin")
        page.get_by_role("button", name="Save preferences").click()
        page.get_by_role("status").filter(has_text="Saved.").wait_for()
        with httpx.Client(base_url=base, timeout=30) as c:
            prefs = c.get("/api/v1/notify/preferences", headers=_login(c, "robin@example.com")).json()
        assert (prefs["quiet_start"], prefs["quiet_end"], prefs["timezone"]) == ("22:00", "07:30", "Europe/Berlin")

        # push: a real subscription when this Chromium has a push service, else the stand-in
        with httpx.Client(base_url=base, timeout=30) as c:
            vapid = c.get("/api/v1/notify/push/vapid-public-key").json()["public_key"]
        real = page.evaluate("""async (key) => {
          const reg = await navigator.serviceWorker.ready;
          const raw = Uint8Array.from(atob(key.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - key.length % 4) % 4)), (c) => c.charCodeAt(0));
          const timeout = new Promise((_, no) => setTimeout(() => no(new Error("no answer in 5 s")), 5000));
          try { const s = await Promise.race([reg.pushManager.subscribe({userVisibleOnly: true, applicationServerKey: raw}), timeout]);
                await s.unsubscribe(); return "subscribed"; }
          catch (e) { return String(e); }
        }""", vapid)
        print("real push subscription:", real)
        if real != "subscribed":
            page.evaluate(STUB)
        assert page.evaluate("Notification.permission") == "granted"
        page.get_by_role("button", name="Turn on push notifications").click()
        page.locator("#push-status").filter(has_text="on for this device").wait_for()
        shots(page, "02-push-on")
        with httpx.Client(base_url=base, timeout=30) as c:
            devices = c.get("/api/v1/notify/push/subscriptions", headers=_login(c, "robin@example.com")).json()
        assert len(devices) == 1 and devices[0]["endpoint"].startswith("https://")
        if real != "subscribed":
            # the app subscribed with the server's VAPID key, and registered what the manager gave it
            assert page.evaluate("window.__mcServerKey") == vapid
            assert devices[0]["endpoint"].startswith("https://push.example.net/wpush/v2/")
            assert base64.urlsafe_b64decode(vapid + "==")[0] == 4
        page.get_by_role("button", name="Turn off on this device").click()
        page.locator("#push-status").filter(has_text="off for this device").wait_for()
        with httpx.Client(base_url=base, timeout=30) as c:
            assert c.get("/api/v1/notify/push/subscriptions", headers=_login(c, "robin@example.com")).json() == []
        assert console.unexpected() == [], console.errors
    finally:
        proc.terminate()
        proc.wait(10)
