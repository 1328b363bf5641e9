"""Live inbox updates in a real browser (headless Chromium driven by Playwright) against
``musicconnect serve`` with notify: a member has ``/inbox`` open; an artist's message sent through
the API shows in the inbox and in the navigation's unread count within a few seconds, carried by
the realtime socket (``/api/v1/realtime``, opened with a single-use ticket): no request for the
inbox or the unread count is made after the message is sent, and the polling's interval (20 and
30 s) is far longer than the wait. The access token never appears in the socket's address.

Then the socket is dropped (Playwright's WebSocket routing closes it, 4000): the app opens a new one with a new ticket (after the backoff) and the next message arrives
live again. Finally the server refuses the socket for good (4404, as when the route's plugin is
disabled): the page falls back to polling (the inbox is asked again every 20 s, seen with the
page's clock run forward)."""
from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

from web_helpers import PASSWORD, Console, sign_in


AXE = Path(__file__).parent / "vendor" / "axe-4.14.1.min.js"


def _axe(page) -> list[dict]:
    """axe-core's serious and critical violations (WCAG 2.x A/AA and best practices) of the page now."""
    page.add_script_tag(content=AXE.read_text())
    return page.evaluate("""async () => {
      const r = await axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]},
                                         resultTypes: ["violations"]});
      return r.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
        .map((v) => ({id: v.id, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" "))}));
    }""")


def _login(c, email):
    r = c.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _polls(requests: list[str]) -> list[str]:
    """Requests for the inbox's list or the unread count (what the polling asks)."""
    return [u for u in requests if "/api/v1/notify/inbox" in u]


class Sockets:
    """The page's WebSockets and the messages each received."""

    def __init__(self, page):
        self.urls: list[str] = []
        self.received: list[dict] = []
        self.closed = 0
        page.on("websocket", self._opened)

    def _opened(self, ws):
        self.urls.append(ws.url)
        ws.on("framereceived", lambda payload: self.received.append(json.loads(payload)))
        ws.on("close", lambda _ws: setattr(self, "closed", self.closed + 1))

    def hellos(self) -> int:
        return sum(1 for m in self.received if m.get("type") == "hello")


def _wait(predicate, timeout: float, what: str, page) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        page.wait_for_timeout(100)


def test_inbox_and_unread_count_update_live_over_the_socket(browser, shots, proc_env):
    from helpers import bearer, free_port, register, serve_process, wait_ready

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = serve_process({**proc_env, "MC_PLUGINS": "web,notify", "MC_BASE_URL": base}, port)
    try:
        wait_ready(proc, base)
        with httpx.Client(base_url=base, timeout=30) as c:
            artist = register(c, "nova@example.com", password=PASSWORD, role="artist", artist_name="Nova Lane",
                              display_name="Nova")
            register(c, "robin@example.com", password=PASSWORD, display_name="Robin")
            artist_id = artist["user"]["artist"]["id"]
            h = bearer(artist["tokens"]["access_token"])
            tier = next(t for t in c.get(f"/api/v1/artists/{artist_id}/tiers").json() if t["rank"] > 0)
            r = c.post(f"/api/v1/artists/{artist_id}/comps", headers=h,
                       json={"email": "robin@example.com", "tier_id": tier["id"]})
            assert r.status_code in (200, 201), r.text
            fan = _login(c, "robin@example.com")
            before = c.get("/api/v1/notify/inbox/unread-count", headers=fan).json()["unread"]

        page = browser.new_page()
        console = Console(page)
        sockets = Sockets(page)
        requests: list[str] = []
        page.on("request", lambda req: requests.append(req.url))
        sign_in(page, base, "robin@example.com", next_path="/inbox")
        page.get_by_role("heading", name="Inbox", level=1).wait_for()
        _wait(lambda: sockets.hellos() == 1, 15, "the socket never said hello", page)
        assert sockets.urls[0].startswith(f"ws://127.0.0.1:{port}/api/v1/realtime?ticket=")
        token = page.evaluate("JSON.parse(localStorage.getItem('mc.session')).access_token")
        assert token and token not in sockets.urls[0]
        page.wait_for_load_state("networkidle")   # the re-read when the socket opened is done
        nav = page.get_by_role("navigation", name="Main")
        expected = f"{before} unread" if before else "Nothing unread"
        page.locator("#inbox-unread").filter(has_text=expected).wait_for()
        shots(page, "01-inbox-open")

        def message(title: str, body: str) -> dict:
            with httpx.Client(base_url=base, timeout=30) as c:
                r = c.post(f"/api/v1/notify/artists/{artist_id}/messages", headers=h,
                           json={"segment": "members", "title": title, "body": body})
                assert r.status_code == 201, r.text

        seen = len(requests)
        sent = time.monotonic()
        message("Tour dates", "Berlin on the 12th.")
        row = page.locator("ul.inbox li").filter(has_text="Tour dates")
        row.wait_for(timeout=5000)
        took = time.monotonic() - sent
        print(f"the message reached the open inbox in {took:.2f} s")
        assert "Berlin on the 12th." in row.inner_text()
        page.locator("#inbox-unread").filter(has_text=f"{before + 1} unread").wait_for(timeout=2000)
        nav.get_by_role("link", name=f"Inbox {before + 1} unread").wait_for(timeout=2000)
        assert took < 3, took
        # it came over the socket: the message is there, and nothing asked the server for it
        live = [m for m in sockets.received if m.get("type") == "notification"]
        assert len(live) == 1 and live[0]["title"].endswith("Tour dates"), live
        assert _polls(requests[seen:]) == [], requests[seen:]
        shots(page, "02-live-message")
        assert _axe(page) == []   # the inbox with a live item
        # what the app shows is what the server holds
        with httpx.Client(base_url=base, timeout=30) as c:
            fan = _login(c, "robin@example.com")
            items = c.get("/api/v1/notify/inbox", headers=fan).json()["items"]
        assert items[0]["id"] == live[0]["id"] and items[0]["read"] is False
        assert page.locator(f'li[data-id="{items[0]["id"]}"]').count() == 1

        # marking it read still works (and the nav follows)
        row.get_by_role("button", name="Mark read: " + items[0]["title"]).click()
        nav.get_by_role("link", name=f"Inbox {before} unread" if before else "Inbox", exact=True).wait_for()
        assert console.unexpected() == [], console.errors
    finally:
        proc.terminate()
        proc.wait(10)


def test_dropped_socket_reconnects_and_a_refused_one_falls_back_to_polling(browser, shots, proc_env):
    from helpers import bearer, free_port, register, serve_process, wait_ready

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = serve_process({**proc_env, "MC_PLUGINS": "web,notify", "MC_BASE_URL": base}, port)
    try:
        wait_ready(proc, base)
        with httpx.Client(base_url=base, timeout=30) as c:
            artist = register(c, "nova@example.com", password=PASSWORD, role="artist", artist_name="Nova Lane",
                              display_name="Nova")
            register(c, "robin@example.com", password=PASSWORD, display_name="Robin")
            artist_id = artist["user"]["artist"]["id"]
            h = bearer(artist["tokens"]["access_token"])
            tier = next(t for t in c.get(f"/api/v1/artists/{artist_id}/tiers").json() if t["rank"] > 0)
            r = c.post(f"/api/v1/artists/{artist_id}/comps", headers=h,
                       json={"email": "robin@example.com", "tier_id": tier["id"]})
            assert r.status_code in (200, 201), r.text

        page = browser.new_page()
        console = Console(page)
        sockets = Sockets(page)
        tickets: list[str] = []
        page.on("request", lambda req: req.method == "POST" and req.url.endswith("/realtime/tickets")
                and tickets.append(req.url))
        # the sockets go to the real server through a route that can drop them, or refuse them
        routed = []
        refuse = []

        def route(ws):
            if refuse:
                ws.close(code=4404, reason="disabled")
            else:
                ws.connect_to_server()
                routed.append(ws)

        page.route_web_socket("**/api/v1/realtime*", route)
        sign_in(page, base, "robin@example.com", next_path="/inbox")
        page.get_by_role("heading", name="Inbox", level=1).wait_for()
        _wait(lambda: sockets.hellos() == 1, 15, "the socket never said hello", page)
        assert len(tickets) == 1

        routed[0].close(code=4000, reason="dropped by the test")   # the page side; the server's follows
        # a new ticket, a new socket (after 1 s of backoff, give or take)
        _wait(lambda: sockets.hellos() == 2, 15, "the app did not open a new socket", page)
        assert len(tickets) == 2 and len(sockets.urls) == 2 and sockets.urls[0] != sockets.urls[1]
        with httpx.Client(base_url=base, timeout=30) as c:
            r = c.post(f"/api/v1/notify/artists/{artist_id}/messages", headers=h,
                       json={"segment": "members", "title": "After the drop", "body": "Still here."})
            assert r.status_code == 201, r.text
        page.locator("ul.inbox li").filter(has_text="After the drop").wait_for(timeout=5000)
        shots(page, "01-reconnected")

        # refused for good (4404): the page polls instead
        refuse.append(True)
        page.clock.install()
        page.reload()
        page.get_by_role("heading", name="Inbox", level=1).wait_for()
        page.locator("ul.inbox li").filter(has_text="After the drop").wait_for()
        _wait(lambda: len(tickets) == 3, 10, "the refused socket was not tried", page)
        page.wait_for_timeout(1500)
        requests: list[str] = []
        page.on("request", lambda req: requests.append(req.url))
        with httpx.Client(base_url=base, timeout=30) as c:
            r = c.post(f"/api/v1/notify/artists/{artist_id}/messages", headers=h,
                       json={"segment": "members", "title": "Polled", "body": "By the clock."})
            assert r.status_code == 201, r.text
            fan = _login(c, "robin@example.com")
            deadline = time.monotonic() + 30
            while not any(i["title"].endswith("Polled") for i in c.get("/api/v1/notify/inbox", headers=fan).json()["items"]):
                assert time.monotonic() < deadline
                time.sleep(0.2)
        page.wait_for_timeout(500)
        assert page.locator("ul.inbox li").filter(has_text="Polled").count() == 0   # nothing live any more
        page.clock.run_for(21_000)
        page.locator("ul.inbox li").filter(has_text="Polled").wait_for(timeout=5000)
        assert any("/api/v1/notify/inbox?limit=20" in u for u in requests), requests
        assert len(tickets) == 3   # no more attempts after 4404
        shots(page, "02-polling")
        assert console.unexpected() == [], console.errors
    finally:
        proc.terminate()
        proc.wait(10)
