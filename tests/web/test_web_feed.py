"""The AI plugin's discovery feed screen without a browser: ``/discover/feed`` is declared through
``web_extensions`` (a menu link) and served while the ai plugin is enabled, and gone when it is
disabled. The browser side is ``test_web_feed_browser.py``."""
from __future__ import annotations

import pytest

from helpers import problem

pytestmark = pytest.mark.mc_plugins("web", "streaming", "ai")


def _feed(client) -> list[dict]:
    return [e for e in client.get("/api/v1/web/extensions").json()["extensions"] if e["plugin"] == "ai"]


def test_the_feed_screen_is_listed_served_and_leaves_with_the_ai_plugin(mc_client, mc_platform):
    entries = _feed(mc_client)
    assert [(e["kind"], e["path"], e["title"]) for e in entries] == [("page", "/discover/feed", "Feed for you")]
    module = mc_client.get(entries[0]["module"])
    assert module.status_code == 200 and module.headers["content-type"].startswith("text/javascript")
    # the screen reports to the feed's events API and pages with next_cursor
    assert "ai/feed/events" in module.text and "next_cursor" in module.text and "export default function" in module.text
    assert mc_client.get("/discover/feed").headers["content-type"].startswith("text/html")  # a client route
    mc_platform.plugins.apply_state({"ai": False})
    try:
        assert _feed(mc_client) == []
        problem(mc_client.get(entries[0]["module"]), 404)
    finally:
        mc_platform.plugins.apply_state({"ai": True})
    assert len(_feed(mc_client)) == 1
