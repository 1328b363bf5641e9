"""The co-op's screens in the web app (no browser): the co-op page, the promotion slot component
and the members' studio page are listed by ``GET /api/v1/web/extensions`` while the coop plugin is
enabled, their ES modules are served, parse as modules (``node --check`` when Node is there) and
speak to the co-op's API; the co-op page's address answers the app shell; all gone when disabled."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.helpers import problem


@pytest.fixture
def mc_plugins():
    return ["web", "coop"]


COOP = {("page", None, "/coop", "coop.js", None), ("component", "artist", None, "promo.js", None),
        ("component", "feed", None, "feedpromo.js", None), ("page", None, "/studio/coop", "studio.js", "Co-ops")}


def _listed(client) -> dict[tuple, dict]:
    r = client.get("/api/v1/web/extensions")
    assert r.status_code == 200, r.text
    return {(e["kind"], e["slot"], e["path"], e["module"].rsplit("/", 1)[-1], e["title"]): e
            for e in r.json()["extensions"] if e["plugin"] == "coop"}


def test_coop_screens_are_listed_served_and_parse(mc_client):
    listed = _listed(mc_client)
    assert set(listed) == COOP
    assert listed[("page", None, "/studio/coop", "studio.js", "Co-ops")]["audience"] == "artists"
    sources = {}
    for key, e in listed.items():
        assert e["module"].startswith("/static/ext/coop/"), e
        r = mc_client.get(e["module"])
        assert r.status_code == 200, e["module"]
        assert "javascript" in r.headers["content-type"] and "immutable" in r.headers["cache-control"]
        assert "export default function" in r.text
        sources[key[3]] = r.text
    base = listed[("page", None, "/coop", "coop.js", None)]["module"].rsplit("/", 1)[0]
    common = mc_client.get(f"{base}/common.js")
    assert common.status_code == 200
    sources["common.js"] = common.text
    # only the app's public modules and the plugin's own common.js
    for text in sources.values():
        for line in (ln for ln in text.splitlines() if ln.startswith("import ")):
            assert line.split(" from ")[-1].strip(' ";') in (
                "@musicconnect/web", "@musicconnect/api", "preact/hooks", "./common.js"), line
    node = shutil.which("node")
    if node:  # syntax of each module as an ES module (imports are not resolved)
        for name, text in sources.items():
            out = subprocess.run([node, "--check", "--input-type=module"], input=text, capture_output=True, text=True)
            assert out.returncode == 0, (name, out.stderr)
    for needle in ("coop/coops/${encodeURIComponent(slug)}", "Join the bundle", "includes", "/parties/"):
        assert needle in sources["coop.js"], needle
    for needle in ('"billing/checkout"', "/checkout/return?artist=", "success_url", "cancel_url"):
        assert needle in sources["common.js"], needle
    for needle in ("coop/promotions/slot?surface=", "host_artist_id=", "/click", 'method: "POST"'):
        assert needle in sources["common.js"], needle
    assert 'askPromotion(surface, artist.id)' in sources["promo.js"]
    assert 'askPromotion("feed", host)' in sources["feedpromo.js"] and "hosts.slice(0, TRIES)" in sources["feedpromo.js"]
    for needle in ("/proposals?status=open", "/votes", "/pick", "/ledger", "/audience", "coop/me/promotions/surfaces",
                   "coop/me/promotions/nominations"):
        assert needle in sources["studio.js"], needle
    # the co-op page's address opens the app
    for path in ("/coop/night-shift", "/studio/coop"):
        r = mc_client.get(path)
        assert r.status_code == 200 and 'id="app"' in r.text, path


def test_a_disabled_coop_plugin_takes_its_screens_away(mc_client, mc_platform):
    modules = [e["module"] for e in _listed(mc_client).values()]
    mc_platform.plugins.apply_state({"coop": False})
    assert _listed(mc_client) == {}
    for module in modules:
        problem(mc_client.get(module), 404)
    mc_platform.plugins.apply_state({"coop": True})
    assert set(_listed(mc_client)) == COOP
