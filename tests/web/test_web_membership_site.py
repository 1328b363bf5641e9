"""The billing and fan club plugins' screens in the web app (no browser): each plugin lists its
pages and slot components through ``web_extensions`` while it is enabled, their ES modules are
served, and both disappear the moment the plugin is disabled."""
from __future__ import annotations

import pytest

from tests.helpers import problem


@pytest.fixture
def mc_plugins():
    return ["web", "billing", "fanclub"]


BILLING = {("component", "artist", None, "join.js"), ("component", "checkout-return", None, "return.js"),
           ("page", None, "/membership", "membership.js"), ("page", None, "/studio/payouts", "payouts.js")}
FANCLUB = {("component", "artist", None, "club.js"), ("page", None, "/feed", "feed.js"),
           ("page", None, "/post", "post.js"), ("page", None, "/messages", "messages.js"),
           ("page", None, "/backstage", "backstage.js"), ("page", None, "/wrapped", "wrapped.js"),
           ("page", None, "/studio/posts", "studio-posts.js"), ("page", None, "/studio/messages", "studio-messages.js")}


def _listed(client) -> dict[str, dict[tuple, str]]:
    r = client.get("/api/v1/web/extensions")
    assert r.status_code == 200, r.text
    out: dict[str, dict[tuple, str]] = {}
    for e in r.json()["extensions"]:
        name = e["module"].rsplit("/", 1)[-1]
        assert e["module"].startswith(f"/static/ext/{e['plugin']}/"), e
        out.setdefault(e["plugin"], {})[(e["kind"], e["slot"], e["path"], name)] = e["module"]
    return out


def test_billing_and_fanclub_screens_are_listed_and_served(mc_client):
    listed = _listed(mc_client)
    assert set(listed["billing"]) == BILLING
    assert set(listed["fanclub"]) == FANCLUB
    titles = {e["path"]: e["title"] for e in mc_client.get("/api/v1/web/extensions").json()["extensions"] if e["path"]}
    assert titles == {"/membership": "Membership", "/studio/payouts": "Payouts", "/feed": "Feed", "/post": None, "/messages": "Messages",
                      "/backstage": None, "/wrapped": "Wrapped", "/studio/posts": "Posts", "/studio/messages": "Messages"}
    for plugin in ("billing", "fanclub"):
        for module in listed[plugin].values():
            r = mc_client.get(module)
            assert r.status_code == 200, module
            assert "javascript" in r.headers["content-type"]
            assert "export default function" in r.text
    # the app's client routes answer the shell (the router then opens the plugin's page)
    for path in ("/membership", "/feed", "/messages", "/post", "/backstage", "/checkout/return"):
        r = mc_client.get(path)
        assert r.status_code == 200 and 'id="app"' in r.text, path


@pytest.mark.parametrize("plugin,other", [("billing", "fanclub"), ("fanclub", "billing")])
def test_a_disabled_plugins_membership_screens_leave_the_listing(mc_client, mc_platform, plugin, other):
    modules = _listed(mc_client)[plugin]
    mc_platform.plugins.apply_state({plugin: False})
    listed = _listed(mc_client)
    assert plugin not in listed and set(listed[other]) == (FANCLUB if other == "fanclub" else BILLING)
    for module in modules.values():
        problem(mc_client.get(module), 404)
    mc_platform.plugins.apply_state({plugin: True})
    assert set(_listed(mc_client)[plugin]) == set(modules)


def test_a_fan_deletes_their_own_comment_and_only_theirs(mc_client, mc_users):
    """The post screen's "Delete my comment": DELETE /api/v1/fanclub/content/{id}/comments/{id}."""
    fan, artist = mc_users.fan, mc_users.artist
    other = mc_users.make("fan")
    r = mc_client.post(f"/api/v1/fanclub/artists/{artist.artist_id}/posts", headers=artist.headers,
                       data={"title": "Studio diary", "body": "Two new songs.", "visibility": "public"})
    assert r.status_code == 201, r.text
    post = r.json()["id"]
    ids = {}
    for who in (fan, other):
        assert mc_client.post(f"/api/v1/fanclub/artists/{artist.artist_id}/join", headers=who.headers).status_code == 201
        r = mc_client.post(f"/api/v1/fanclub/content/{post}/comments", headers=who.headers, json={"body": f"by {who.email}"})
        assert r.status_code == 201, r.text
        ids[who.email] = r.json()["id"]
    url = f"/api/v1/fanclub/content/{post}/comments"
    assert problem(mc_client.delete(f"{url}/{ids[other.email]}", headers=fan.headers), 403)["type"] == "/problems/forbidden"
    assert mc_client.delete(f"{url}/{ids[fan.email]}").status_code == 401
    assert mc_client.delete(f"{url}/{ids[fan.email]}", headers=fan.headers).status_code == 204
    assert [c["body"] for c in mc_client.get(url).json()["comments"]] == [f"by {other.email}"]
    problem(mc_client.delete(f"{url}/{ids[fan.email]}", headers=fan.headers), 404)  # already gone
    r = mc_client.post(f"/api/v1/fanclub/artists/{artist.artist_id}/posts", headers=artist.headers,
                       data={"title": "Another", "body": "x", "visibility": "public"})
    problem(mc_client.delete(f"/api/v1/fanclub/content/{r.json()['id']}/comments/{ids[other.email]}",
                             headers=other.headers), 404)  # the comment is not under that item
