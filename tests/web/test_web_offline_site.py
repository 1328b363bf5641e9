"""Offline downloads without a browser: the streaming plugin declares the download button (track
slot) and the downloads page (no menu link) while enabled and they leave with it; the service
worker answers downloaded audio from ``mc-audio-v1`` (with byte ranges) and the track's JSON from
there only when the network fails. The browser side is ``test_web_offline_browser.py``."""
from __future__ import annotations

import pytest

from helpers import problem

pytestmark = pytest.mark.mc_plugins("web", "streaming")


def _offline(client) -> list[dict]:
    return [e for e in client.get("/api/v1/web/extensions").json()["extensions"]
            if e["plugin"] == "streaming" and (e["path"] == "/downloads" or e["slot"] == "track")]


def test_the_download_screens_are_declared_served_and_leave_with_streaming(mc_client, mc_platform):
    found = {(e["kind"], e["path"] or e["slot"]): e for e in _offline(mc_client)}
    assert set(found) == {("page", "/downloads"), ("component", "track")}
    assert all(not e["title"] for e in found.values())  # reached from the button, never a menu link
    button = mc_client.get(found[("component", "track")]["module"])
    assert button.status_code == 200 and "Download for offline" in button.text
    shared = mc_client.get(found[("component", "track")]["module"].replace("download-button.js", "downloads.js"))
    assert shared.status_code == 200
    assert '"mc-audio-v1"' in shared.text and "/download`" in shared.text and "me/entitlements" in shared.text
    assert mc_client.get("/downloads").headers["content-type"].startswith("text/html")  # a client route
    mc_platform.plugins.apply_state({"streaming": False})
    try:
        assert _offline(mc_client) == []
        problem(mc_client.get(found[("page", "/downloads")]["module"]), 404)
    finally:
        mc_platform.plugins.apply_state({"streaming": True})
    assert len(_offline(mc_client)) == 2


def test_the_service_worker_answers_downloads_from_the_audio_cache(mc_client):
    sw = mc_client.get("/sw.js").text
    assert 'const AUDIO_CACHE = "mc-audio-v1"' in sw
    assert 'url.pathname.startsWith("/offline-audio/")' in sw and "status: 206" in sw
    # the track JSON's branch comes before the rule that sends the rest of streaming to the network
    assert sw.index("TRACK_JSON.test(url.pathname)") < sw.index('url.pathname.startsWith("/api/v1/streaming/")')
