"""The notify plugin's screens without a browser: the inbox page and the unread link in the
navigation's slot are declared through ``web_extensions`` and served while notify is enabled,
gone when it is disabled; the service worker shows pushes and opens their page on a click."""
from __future__ import annotations

import re

import pytest

from helpers import problem

pytestmark = pytest.mark.mc_plugins("web", "notify")


def _notify(client) -> set:
    return {(e["kind"], e["path"] or e["slot"], e["title"]) for e in client.get("/api/v1/web/extensions").json()["extensions"]
            if e["plugin"] == "notify"}


def test_inbox_screens_are_listed_served_and_gone_when_disabled(mc_client, mc_platform):
    assert _notify(mc_client) == {("page", "/inbox", None), ("component", "nav", None)}
    ext = [e for e in mc_client.get("/api/v1/web/extensions").json()["extensions"] if e["plugin"] == "notify"]
    bodies = {}
    for e in ext:
        assert re.fullmatch(r"/static/ext/notify/[0-9a-f]{10}/[a-z]+\.js", e["module"]), e
        r = mc_client.get(e["module"])
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
        bodies[e["path"] or e["slot"]] = r.text
    assert "notify/inbox/unread-count" in bodies["nav"] and "notify/inbox/read-all" in bodies["/inbox"]
    push = mc_client.get(ext[0]["module"].rsplit("/", 1)[0] + "/push.js")
    assert push.status_code == 200 and "pushManager.subscribe" in push.text and "vapid-public-key" in push.text
    assert mc_client.get("/inbox").headers["content-type"].startswith("text/html")

    mc_platform.plugins.apply_state({"notify": False})
    assert _notify(mc_client) == set()
    problem(mc_client.get(ext[0]["module"]), 404)
    mc_platform.plugins.apply_state({"notify": True})
    assert _notify(mc_client) == {("page", "/inbox", None), ("component", "nav", None)}


def test_the_service_worker_shows_pushes_and_opens_their_page(mc_client):
    body = mc_client.get("/sw.js").text
    push = body[body.index('addEventListener("push"'):]
    assert "showNotification" in push and "event.data.json()" in push
    click = body[body.index('addEventListener("notificationclick"'):]
    assert "openWindow" in click and "navigate(" in click and "notification.close()" in click
