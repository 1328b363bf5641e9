"""The player in a real browser (headless Chromium, ``musicconnect serve`` with web and streaming):
the play queue (add from the artist page, reorder and remove by keyboard only, kept in
localStorage, auto-advance at the end of a track, Previous/Next), adaptive bitrate across the
streaming plugin's three variants (hls.js sees 128k/256k/320k with the master playlist's
bandwidths; choosing each one fetches that variant's playlist and segments, the key through the
playback token, and the audio's time advances), the quality shown and chosen, and axe-core on
the player with a queue."""
from __future__ import annotations

import json
import re

import httpx

from web_helpers import Console, axe_audit, seed_tracks, served

AUDIO_TIME = "() => (document.querySelector('audio') || {currentTime: 0}).currentTime"


def _queue(page) -> list[str]:
    return [t["title"] for t in json.loads(page.evaluate("() => localStorage.getItem('mc.queue')"))["next"]]


def _shown(page) -> list[str]:
    return [t.strip() for t in page.locator(".queue-list li .queue-title a").all_inner_texts()]


def _focused(page) -> str:
    return page.evaluate("() => document.activeElement && document.activeElement.getAttribute('aria-label')")


def test_the_play_queue_by_keyboard_with_auto_advance(browser, shots, proc_env, tmp_path):
    with served(proc_env, "web,streaming") as base:
        seeded = seed_tracks(base, tmp_path, seconds=8, more={"Second Wind": 6, "Third Light": 6})
        ids = seeded["tracks"]
        page = browser.new_page()
        console = Console(page)
        page.goto(f"{base}/artists/nova-lane")
        page.get_by_role("heading", name="Nova Lane", level=1).wait_for()
        # the locked track has no queue buttons (an anonymous visitor cannot play it)
        assert page.get_by_role("button", name="Play Backstage Demo next").count() == 0
        # keyboard only: focus a button, Enter
        page.get_by_role("button", name="Add Second Wind to the queue").focus()
        page.keyboard.press("Enter")
        page.get_by_role("button", name="Add Third Light to the queue").focus()
        page.keyboard.press("Enter")
        page.get_by_text("Third Light added to the queue.").wait_for()
        assert _queue(page) == ["Second Wind", "Third Light"]
        page.get_by_role("button", name="Play Third Light next").focus()
        page.keyboard.press("Space")   # "play next" moves it to the front
        assert _queue(page) == ["Third Light", "Second Wind"]
        shots(page, "01-artist-queue-buttons")

        page.get_by_role("link", name="Open Sky").click()
        page.get_by_role("heading", name="Up next").wait_for()
        assert _shown(page) == ["Third Light", "Second Wind"]
        # reorder by keyboard: the "down" button of the first item, then focus stays on the moved track
        page.get_by_role("button", name="Move Third Light down").focus()
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.querySelector('.queue-list li a').textContent === 'Second Wind'")
        assert _shown(page) == ["Second Wind", "Third Light"] == _queue(page)
        assert "Third Light" in _focused(page)
        # Alt+↑ on the item moves it back up
        page.keyboard.press("Alt+ArrowUp")
        page.wait_for_function("() => document.querySelector('.queue-list li a').textContent === 'Third Light'")
        assert _shown(page) == ["Third Light", "Second Wind"] == _queue(page)
        assert "Third Light" in _focused(page)
        # kept across a reload (localStorage)
        page.reload()
        page.get_by_role("heading", name="Up next").wait_for()
        assert _shown(page) == ["Third Light", "Second Wind"]
        # remove by keyboard
        page.get_by_role("button", name="Remove Second Wind from the queue").focus()
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.querySelectorAll('.queue-list li').length === 1")
        assert _queue(page) == ["Third Light"]
        shots(page, "02-player-with-queue")
        found = axe_audit(page, "player with a queue")
        assert found == [], json.dumps(found, indent=1)

        # keyboard-only playing: Tab reaches the player's controls; Enter plays; near the end the
        # next in the queue opens and plays by itself
        page.get_by_role("button", name="Play", exact=True).focus()
        page.keyboard.press("Enter")
        page.wait_for_function(f"{AUDIO_TIME} > 0.5", timeout=30_000)
        page.get_by_role("slider", name="Seek").focus()
        page.keyboard.press("End")      # the slider's end: the last second of Open Sky
        page.wait_for_url(f"{base}/tracks/{ids['Third Light']}", timeout=30_000)
        page.get_by_role("heading", name="Third Light", level=1).wait_for()
        page.wait_for_function(f"{AUDIO_TIME} > 0.5 && !document.querySelector('audio').paused", timeout=30_000)
        assert _queue(page) == []
        page.locator("#queue-empty").wait_for()
        assert page.get_by_role("button", name="Next").is_disabled()
        shots(page, "03-advanced-to-the-next")

        # Previous: back to Open Sky (Third Light goes to the front of the queue), Next: forward again
        page.get_by_role("button", name="Previous").focus()
        page.keyboard.press("Enter")
        page.wait_for_url(f"{base}/tracks/{ids['Open Sky']}")
        page.get_by_role("heading", name="Open Sky", level=1).wait_for()
        page.wait_for_function(f"{AUDIO_TIME} > 0.3", timeout=30_000)
        assert _queue(page) == ["Third Light"]
        page.get_by_role("button", name="Next").click()
        page.wait_for_url(f"{base}/tracks/{ids['Third Light']}")
        page.wait_for_function(f"{AUDIO_TIME} > 0.3", timeout=30_000)
        assert console.unexpected() == [], console.errors


def _variants(base: str, track_id: str) -> dict[str, int]:
    """The master playlist's variants (name: BANDWIDTH), as any client reads them."""
    text = httpx.get(f"{base}/api/v1/streaming/tracks/{track_id}/master.m3u8").text
    found = re.findall(r"BANDWIDTH=(\d+)[^\n]*\n(\d+k)/index\.m3u8", text)
    return {name: int(bw) for bw, name in found}


def _fetched(page) -> list[str]:
    return page.evaluate("() => performance.getEntriesByType('resource').map((e) => e.name)")


def test_adaptive_bitrate_across_three_variants_and_the_listener_chooses(browser, shots, proc_env, tmp_path):
    with served(proc_env, "web,streaming") as base:
        seeded = seed_tracks(base, tmp_path, seconds=6, more={"Long Road": 40})
        track_id = seeded["tracks"]["Long Road"]
        variants = _variants(base, track_id)
        assert list(variants) == ["128k", "256k", "320k"]
        assert variants["128k"] < variants["256k"] < variants["320k"]

        page = browser.new_page()
        console = Console(page)
        page.goto(f"{base}/tracks/{track_id}")
        quality = page.get_by_label("Quality")
        quality.wait_for()
        options = page.locator("#quality option")
        # hls.js's levels: the three variants, with the master playlist's bandwidths
        assert options.all_inner_texts() == ["Auto", "128 kbit/s", "256 kbit/s", "320 kbit/s"]
        assert [int(b) for b in options.evaluate_all("(os) => os.slice(1).map((o) => o.dataset.bandwidth)")] == \
            list(variants.values())
        assert page.locator("#quality-now").inner_text().startswith("Auto")

        page.get_by_role("button", name="Play", exact=True).click()
        page.wait_for_function(f"{AUDIO_TIME} > 0.5", timeout=30_000)
        for name in ("128k", "256k", "320k"):
            before = len(_fetched(page))
            t0 = page.evaluate(AUDIO_TIME)
            quality.select_option(name)
            kb = f"{int(name[:-1])} kbit/s"
            page.wait_for_function("(kb) => document.querySelector('#quality-now').textContent === kb", arg=kb)
            # that variant's segments are fetched after the choice, and the audio plays on
            page.wait_for_function(
                "([n, name]) => performance.getEntriesByType('resource').slice(n)"
                ".some((e) => e.name.includes(`/hls/${name}/seg_`))", arg=[before, name], timeout=30_000)
            page.wait_for_function(f"(t0) => {AUDIO_TIME.removeprefix('() => ')} > t0 + 1.5", arg=t0, timeout=30_000)
            assert not page.evaluate("() => document.querySelector('audio').paused")
            new = _fetched(page)[before:]
            others = [u for u in new if "/hls/" in u and f"/hls/{name}/" not in u]
            assert others == [], others  # a forced level fetches no other variant's segments
            shots(page, f"04-quality-{name}")
        fetched = _fetched(page)
        for name in variants:  # every variant playlist came through the master's playback token
            assert any(re.search(rf"/tracks/{track_id}/{name}/index\.m3u8\?pt=", u) for u in fetched), name
        assert any(re.search(rf"/tracks/{track_id}/key\?pt=", u) for u in fetched)  # the AES-128 key, same token
        # the choice is kept; Auto gives the choice back to hls.js and says which variant plays
        assert page.evaluate("() => localStorage.getItem('mc.quality')") == "320k"
        page.reload()
        page.get_by_label("Quality").wait_for()
        assert page.locator("#quality").input_value() == "320k"
        page.get_by_label("Quality").select_option("auto")
        page.get_by_role("button", name="Play", exact=True).click()
        page.wait_for_function("() => /^Auto \\(\\d+ kbit\\/s\\)$/.test(document.querySelector('#quality-now').textContent)",
                               timeout=30_000)
        shots(page, "05-quality-auto")
        assert console.unexpected() == [], console.errors
