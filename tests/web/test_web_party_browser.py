"""A listening party in a real browser (headless Chromium driven by Playwright) against one
``musicconnect serve`` process with the web, streaming and live plugins: an artist with a ready
track schedules a party from their page, a fan RSVPs and joins it once it has started, both
listen along; the host pauses and plays for everyone and the fan's player follows (its time
advances and stays within 1.5 s of the host's; paused with the host), chat messages go both ways
live with a reaction, the flood limit is shown in words, the fan's socket comes back after the
network drops (with the message sent meanwhile), the page has no serious axe violation, and the
host ends the party. Two browser contexts (two people with their own sign-in); screenshots of
each step go under the test's tmp dir (``screenshots/``)."""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import httpx
import pytest

from web_helpers import Console, sign_in

AXE = Path(__file__).parent / "vendor" / "axe-4.14.1.min.js"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--mute-audio"]


@pytest.fixture
def two_people():
    """Two browser contexts of one headless Chromium (the shared ``browser`` fixture is one
    persistent context: one localStorage, so one sign-in)."""
    path = os.environ.get("MC_TEST_CHROMIUM") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium")
                                                  else shutil.which("chromium"))
    if not path:
        pytest.skip("Chromium is not installed (apt-get install chromium; scripts/test.py does it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright for Python is not installed (pip install -e '.[test]')")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, headless=True, args=ARGS)
        try:
            yield [browser.new_context(viewport={"width": 1100, "height": 900}) for _ in range(2)]
        finally:
            browser.close()


def _seed(base: str, audio_dir) -> dict:
    """Through the HTTP API: an artist with a public 60-second track (transcoded from generated
    audio) and a fan."""
    from helpers import bearer, register
    from musicconnect_streaming import media

    with httpx.Client(base_url=base, timeout=30) as c:
        artist = register(c, "nova@example.com", role="artist", artist_name="Nova Lane", display_name="Nova")
        register(c, "robin@example.com", display_name="Robin")
        h = bearer(artist["tokens"]["access_token"])
        artist_id = artist["user"]["artist"]["id"]
        wav = audio_dir / "party.wav"
        media.generated_tone(wav, 60, seed=5)
        with open(wav, "rb") as fh:
            r = c.post(f"/api/v1/streaming/artists/{artist_id}/tracks", headers=h,
                       files={"file": (wav.name, fh, "audio/wav")}, data={"title": "Night Drive", "visibility": "public"})
        assert r.status_code == 202, r.text
        track_id = r.json()["id"]
        deadline = time.monotonic() + 180
        while (status := c.get(f"/api/v1/streaming/tracks/{track_id}", headers=h).json()["status"]) != "ready":
            assert status in ("processing", "pending", "draft") and time.monotonic() < deadline, status
            time.sleep(0.5)
    return {"artist_id": artist_id, "track_id": track_id, "headers": h}


def _audit(page) -> list[dict]:
    page.add_script_tag(content=AXE.read_text())
    return page.evaluate("""async () => {
      const r = await axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]},
                                         resultTypes: ["violations"]});
      return r.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
        .map((v) => ({id: v.id, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" "))}));
    }""")


def _time(page) -> float:
    return page.evaluate("document.querySelector('audio').currentTime")


def _playing(page) -> bool:
    return page.evaluate("(() => { const a = document.querySelector('audio'); return !a.paused && a.readyState >= 3; })()")


def test_a_listening_party_plays_in_sync_with_chat(two_people, shots, proc_env, tmp_path):
    from helpers import free_port, serve_process, wait_ready

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**proc_env, "MC_PLUGINS": "web,streaming,live", "MC_BASE_URL": base}
    proc = serve_process(env, port)
    try:
        wait_ready(proc, base)
        audio_dir = tmp_path / "audio"
        audio_dir.mkdir()
        seeded = _seed(base, audio_dir)
        host_ctx, fan_ctx = two_people
        host, fan = host_ctx.new_page(), fan_ctx.new_page()
        consoles = [Console(host), Console(fan)]

        # the artist schedules a party on their own page, starting in 15 s (the browser's local time)
        sign_in(host, base, "nova@example.com", "/artists/nova-lane")
        host.get_by_role("heading", name="Listening parties").wait_for()
        host.get_by_role("button", name="Schedule a listening party").click()
        host.get_by_label("Title").fill("Album premiere")
        host.get_by_role("checkbox", name="Night Drive").check()
        starts = host.evaluate("""(() => { const d = new Date(Date.now() + 15000), p = (n) => String(n).padStart(2, "0");
          return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`; })()""")
        host.get_by_label("Starts (your time", exact=False).fill(starts)
        shots(host, "01-host-schedules")
        host.get_by_role("button", name="Schedule", exact=True).click()
        item = host.locator("li.party-item", has_text="Album premiere")
        item.wait_for()
        party_id = item.get_attribute("data-party")
        with httpx.Client(base_url=base, timeout=30) as c:
            party = c.get(f"/api/v1/live/parties/{party_id}").json()
        assert party["status"] == "scheduled" and [e["track_id"] for e in party["playlist"]] == [seeded["track_id"]]

        # the fan RSVPs on the artist page (the server counts it)
        sign_in(fan, base, "robin@example.com", "/artists/nova-lane")
        fan.get_by_role("button", name="RSVP: I'll be there").click()
        fan.locator("li.party-item .rsvps", has_text="1 going").wait_for()
        shots(fan, "02-fan-rsvps")
        with httpx.Client(base_url=base, timeout=30) as c:
            assert c.get(f"/api/v1/live/parties/{party_id}").json()["rsvps"] == 1

        # the host waits on the party page and listens along; the party starts by itself
        item.get_by_role("link", name="Party page").click()
        host.locator("#party-starts").wait_for()
        host.get_by_role("button", name="Listen along").click()
        shots(host, "03-host-waiting")
        host.locator("#now-playing").wait_for(timeout=40_000)
        host.wait_for_function("() => document.querySelector('audio').currentTime > 1", timeout=30_000)

        # the fan joins late from the artist page and starts near the party's position
        fan.reload()
        fan.get_by_role("link", name="Join the party").click()
        fan.locator("#now-playing").wait_for()
        fan.get_by_role("button", name="Listen along").click()
        fan.wait_for_function("() => document.querySelector('audio').currentTime > 1", timeout=30_000)
        time.sleep(2)
        assert abs(_time(host) - _time(fan)) < 1.5, (_time(host), _time(fan))

        # the host pauses for everyone: the fan's player pauses too, at the same place
        host.get_by_role("button", name="Pause for everyone").click()
        fan.wait_for_function("() => document.querySelector('audio').paused", timeout=10_000)
        host.wait_for_function("() => document.querySelector('audio').paused", timeout=10_000)
        paused_at = _time(fan)
        time.sleep(1.5)
        assert _time(fan) == pytest.approx(paused_at, abs=0.3)
        assert abs(_time(host) - _time(fan)) < 1.5
        with httpx.Client(base_url=base, timeout=30) as c:
            assert c.get(f"/api/v1/live/parties/{party_id}").json()["state"]["playing"] is False
        fan.locator("#now-playing", has_text="(paused)").wait_for()
        shots(fan, "04-fan-paused-with-host")

        # and plays again: the fan's time advances and stays within 1.5 s of the host's
        host.get_by_role("button", name="Play for everyone").click()
        fan.wait_for_function(f"() => document.querySelector('audio').currentTime > {paused_at + 2}", timeout=15_000)
        for _ in range(4):
            time.sleep(1)
            h, f = _time(host), _time(fan)
            assert _playing(fan) and abs(h - f) < 1.5, (h, f)
        # a seek by the host moves everyone
        host.get_by_label("Move everyone to", exact=False).focus()
        host.evaluate("""(() => { const s = document.getElementById('host-seek'); s.value = '40';
          s.dispatchEvent(new Event('change', {bubbles: true})); })()""")
        fan.wait_for_function("() => document.querySelector('audio').currentTime > 40", timeout=15_000)
        time.sleep(1.5)
        assert abs(_time(host) - _time(fan)) < 1.5, (_time(host), _time(fan))

        # the chat: both ways, live, and a reaction
        fan.get_by_role("textbox", name="Message").fill("Hello from Robin")
        fan.get_by_role("button", name="Send").click()
        host.locator("#chat-log .msg", has_text="Hello from Robin").wait_for()
        host.get_by_role("textbox", name="Message").fill("Welcome, Robin!")
        host.get_by_role("button", name="Send").click()
        welcome = fan.locator("#chat-log .msg", has_text="Welcome, Robin!")
        welcome.wait_for()
        welcome.get_by_role("button", name="fire").click()
        host.locator("#chat-log .msg", has_text="Welcome, Robin!").get_by_role("button", name="fire, 1").wait_for()
        shots(host, "05-host-chat")

        # the flood limit (5 messages in 10 s) is said in words
        for n in range(5):
            fan.get_by_role("textbox", name="Message").fill(f"message {n}")
            fan.get_by_role("button", name="Send").click()
            fan.locator("#chat-log .msg", has_text=f"message {n}").or_(fan.locator("#chat-refused")).first.wait_for()
            if fan.locator("#chat-refused").count():
                break
        refused = fan.locator("#chat-refused")
        refused.wait_for()
        assert "You are sending messages too fast" in refused.inner_text() and "Try again in" in refused.inner_text()
        shots(fan, "06-fan-flood-refused")

        # the fan's network drops: the app says so, reconnects and gets what was said meanwhile
        fan_ctx.set_offline(True)
        fan.locator("#party-connection", has_text="reconnecting").wait_for(timeout=15_000)
        host.get_by_role("textbox", name="Message").fill("Said while Robin was away")
        host.get_by_role("button", name="Send").click()
        time.sleep(1)
        fan_ctx.set_offline(False)
        fan.locator("#chat-log .msg", has_text="Said while Robin was away").wait_for(timeout=20_000)
        fan.wait_for_function("() => document.getElementById('party-connection').textContent === ''", timeout=10_000)
        time.sleep(2)
        assert _playing(fan) and abs(_time(host) - _time(fan)) < 1.5, (_time(host), _time(fan))

        violations = _audit(fan)
        assert violations == [], violations
        shots(fan, "07-fan-party")

        # the host ends the party: everyone is told, with the recap
        host.get_by_role("button", name="End the party").click()
        host.get_by_role("button", name="Yes, end the party").click()
        fan.locator("#party-ended").wait_for(timeout=10_000)
        fan.wait_for_function("() => document.querySelector('audio').paused", timeout=10_000)
        fan.get_by_role("link", name="See the recap").click()
        fan.get_by_text("Peak listeners").wait_for()
        assert "Chat messages:" in fan.locator("article").inner_text()
        shots(fan, "08-recap")
        for console in consoles:
            # a refused chat message is a 429 the browser logs; offline, the socket and tickets fail
            assert console.unexpected("429", "ERR_INTERNET_DISCONNECTED", "WebSocket", "net::") == []
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except Exception:
            proc.kill()
