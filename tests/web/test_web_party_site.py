"""The live plugin's listening-party screens in the web app (no browser): the artist-slot
component and the party page are listed by ``GET /api/v1/web/extensions`` while the live plugin is
enabled, their ES modules are served (and speak to the live plugin's API and party socket), the
party page's addresses answer the app shell, and everything is gone once the plugin is disabled."""
from __future__ import annotations

import pytest

from tests.helpers import problem


@pytest.fixture
def mc_plugins():
    return ["web", "live"]


LIVE = {("component", "artist", None, "parties.js"), ("page", None, "/parties", "party.js")}


def _listed(client) -> dict[tuple, dict]:
    r = client.get("/api/v1/web/extensions")
    assert r.status_code == 200, r.text
    return {(e["kind"], e["slot"], e["path"], e["module"].rsplit("/", 1)[-1]): e
            for e in r.json()["extensions"] if e["plugin"] == "live"}


def test_party_screens_are_listed_and_served(mc_client):
    listed = _listed(mc_client)
    assert set(listed) == LIVE
    # the party page is reached from the artist page and notifications, never a menu link
    assert all(e["title"] is None for e in listed.values())
    sources = {}
    for key, e in listed.items():
        assert e["module"].startswith("/static/ext/live/"), e
        r = mc_client.get(e["module"])
        assert r.status_code == 200, e["module"]
        assert "javascript" in r.headers["content-type"]
        assert "immutable" in r.headers["cache-control"]
        assert "export default function" in r.text
        sources[key[3]] = r.text
    # the modules' own imports (common.js) are served from the same folder
    base = listed[("page", None, "/parties", "party.js")]["module"].rsplit("/", 1)[0]
    common = mc_client.get(f"{base}/common.js")
    assert common.status_code == 200 and "class OffsetEstimator" in common.text
    # only the app's public modules and the import map's hls.js; nothing of the web plugin's files
    for text in sources.values():
        for line in (ln for ln in text.splitlines() if ln.startswith("import ")):
            assert line.split(" from ")[-1].strip(' ";') in (
                "@musicconnect/web", "@musicconnect/api", "preact/hooks", "./common.js"), line
    party = sources["party.js"]
    assert 'import("hls.js")' in party
    for needle in ("/api/v1/live/parties/", "/socket?", "realtime/tickets", "last_seen_id", "/control",
                   'role="log"', 'aria-live="polite"', "/messages"):
        assert needle in party, needle
    for needle in ("live/artists/${artist.id}/parties", "/rsvp", '"live/parties"'):
        assert needle in sources["parties.js"], needle
    # the party's addresses (also the notifications' /parties/<id> and /parties/<id>/recap) open the app
    for path in ("/parties/5d0c6f1e-0000-4000-8000-000000000001", "/parties/5d0c6f1e-0000-4000-8000-000000000001/recap",
                 "/parties?id=5d0c6f1e-0000-4000-8000-000000000001"):
        r = mc_client.get(path)
        assert r.status_code == 200 and 'id="app"' in r.text, path


def test_a_disabled_live_plugin_takes_its_screens_away(mc_client, mc_platform):
    listed = _listed(mc_client)
    modules = [e["module"] for e in listed.values()]
    mc_platform.plugins.apply_state({"live": False})
    assert _listed(mc_client) == {}
    for module in modules:
        problem(mc_client.get(module), 404)
    mc_platform.plugins.apply_state({"live": True})
    assert set(_listed(mc_client)) == LIVE
    assert mc_client.get(modules[0]).status_code == 200
