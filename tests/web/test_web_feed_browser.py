"""The discovery feed in a real browser (headless Chromium, an in-process server with the web,
streaming and ai plugins): a fan opens "Feed for you" from the menu, the cards of GET
/api/v1/ai/feed are listed, the keyboard moves between them, and Like and Skip reach the feed's
events API (recorded on the card the server served)."""
from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from web_helpers import Console

pytestmark = pytest.mark.mc_plugins("web", "streaming", "ai")


def _track(p, artist_id, title):
    from musicconnect.models import ContentItem

    with p.session() as s:
        s.add(ContentItem(id=uuid.uuid4(), artist_id=artist_id, kind="track", title=title, status="ready",
                          visibility="public", publish_at=p.clock.now() - timedelta(days=60),
                          data={"duration": 200.0, "version": 1}))


def _impression(p, title):
    from musicconnect.models import ContentItem
    from musicconnect_ai.feed import FeedImpression

    with p.session() as s:
        return s.scalars(select(FeedImpression).join(ContentItem, ContentItem.id == FeedImpression.content_id)
                         .where(ContentItem.title == title)).one()


def test_a_fan_opens_the_feed_and_likes_and_skips_cards(browser, shots, thread_server, mc_platform):
    from musicconnect.app import create_app
    from musicconnect.testing import make_user

    p = mc_platform
    artist = make_user(p, "artist", artist_name="Nova Lane")
    for title in ("Open Sky", "Low Tide", "Night Bus"):
        _track(p, artist.artist_id, title)
    fan = make_user(p, "fan", email="robin@example.com")
    base = thread_server(create_app(p))
    page = browser.new_page()
    console = Console(page)
    page.goto(f"{base}/")
    page.evaluate("s => localStorage.setItem('mc.session', s)", json.dumps(
        {"access_token": fan.access_token, "refresh_token": fan.refresh_token,
         "user": {"id": str(fan.id), "display_name": "robin", "email": fan.email}}))
    page.goto(f"{base}/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Feed for you").click()
    page.get_by_role("heading", name="Discovery feed").wait_for()
    cards = page.locator(".feed-card")
    cards.nth(2).wait_for()
    assert cards.count() == 3
    first = cards.nth(0)
    title = first.locator("h2").inner_text()
    assert first.get_attribute("aria-current") == "true"
    first.get_by_role("button", name="Like").click()
    first.get_by_role("button", name="Liked").wait_for()
    deadline = time.monotonic() + 10
    while not _impression(p, title).liked:
        assert time.monotonic() < deadline, "the like was not recorded"
        time.sleep(0.2)
    # the keyboard: J moves to the next card, S skips it (the skip is recorded, the feed moves on)
    page.locator(".ai-feed").focus()
    page.keyboard.press("j")
    second = cards.nth(1)
    page.wait_for_function("() => document.querySelectorAll('.feed-card')[1].getAttribute('aria-current') === 'true'")
    second_title = second.locator("h2").inner_text()
    page.keyboard.press("s")
    second.get_by_role("button", name="Skipped").wait_for()
    page.wait_for_function("() => document.querySelectorAll('.feed-card')[2].getAttribute('aria-current') === 'true'")
    deadline = time.monotonic() + 10
    while _impression(p, second_title).outcome != "skipped":
        assert time.monotonic() < deadline, "the skip was not recorded"
        time.sleep(0.2)
    shots(page, "01-feed")
    # the previews of these made-up tracks have no files: the only errors the page may log
    assert console.unexpected("preview", "404", "409") == [], console.errors
