"""Issue 11, part 1: a plugin whose ``check_access`` raises is quarantined in this process instead of
denying every request to everyone: its votes are dropped, an ERROR is logged, ``GET
/api/v1/plugins`` and ``/readyz`` name it, the owner and admins keep reading and playing their
content (sync routes and the async fast path) and the other plugins' votes still count; disabling
and enabling it again lifts the quarantine."""
from __future__ import annotations

import logging
import time

import pytest

from helpers import problem
from musicconnect import ContentKind, Vote, hookimpl, resource_of
from musicconnect.testing import make_user


class notes:
    """A content kind, a rule that still counts (embargo denies fans, ``open`` lets any signed-in
    fan in) and a fast "play" route deciding through ``platform.access.arequire``."""

    @staticmethod
    @hookimpl
    def register_content_kinds(platform):
        from pydantic import BaseModel, ConfigDict

        class NoteData(BaseModel):
            model_config = ConfigDict(extra="forbid")
            embargo: bool = False
            open: bool = False

        return [ContentKind("note", "Note", "A test note.", data_model=NoteData)]

    @staticmethod
    @hookimpl
    def check_access(actor, action, resource, context):
        if resource.kind != "note" or (actor is not None and actor.artist_id == resource.artist_id):
            return None
        if resource.data.get("embargo"):
            return Vote.DENY
        if resource.data.get("open") and actor is not None and resource.status == "ready":
            return Vote.ALLOW
        return None

    @staticmethod
    @hookimpl
    def register_scopes(platform):
        return {"notes:play": "play notes"}

    @staticmethod
    @hookimpl
    def register_fast_routes(platform):
        import uuid

        from starlette.concurrency import run_in_threadpool

        from musicconnect.fastpath import FastResponse, FastRoute

        def load(item_id):
            with platform.db.read() as s:
                return resource_of(platform.content.get(s, uuid.UUID(item_id)))

        async def play(req):
            actor = await req.actor()
            resource = await run_in_threadpool(load, req.params["item_id"])
            await req.platform.access.arequire(actor, "stream", resource)
            return FastResponse(b'{"playing": true}')

        return [FastRoute("GET", "/api/v1/notes/{item_id}/play", play, scope="notes:play")]


class crashing_rule:
    calls = 0

    @staticmethod
    @hookimpl
    def check_access(actor, action, resource, context):
        crashing_rule.calls += 1
        raise RuntimeError("rule table corrupt")


@pytest.fixture
def env(mc_make_platform):
    from starlette.testclient import TestClient

    from musicconnect.app import create_app

    crashing_rule.calls = 0
    p = mc_make_platform(extra_plugins=[("notes", notes), ("crashing_rule", crashing_rule)], entry_points=False)
    users = {"artist": make_user(p, "artist", artist_name="Owner Band"), "admin": make_user(p, "admin"),
             "fan": make_user(p, "fan")}
    with TestClient(create_app(p, state_poll_interval=0.1)) as client:
        yield client, p, users


def _create(client, artist, **body):
    r = client.post(f"/api/v1/artists/{artist.artist_id}/content", headers=artist.headers,
                    json={"kind": "note", "title": body.pop("title", "a note"), **body})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _eventually(check, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def test_a_raising_access_rule_is_quarantined_not_fatal(env, caplog):
    client, p, u = env
    artist, admin, fan = u["artist"], u["admin"], u["fan"]
    assert client.get("/readyz").json()["status"] == "ok"
    draft = _create(client, artist, status="draft", title="work in progress")
    tier_id = next(t.id for t in p.access.tiers(artist.artist_id) if t.key == "superfan")
    gated_open = _create(client, artist, visibility="tier", required_tier_id=str(tier_id), data={"open": True})
    embargoed = _create(client, artist, data={"embargo": True})
    public = _create(client, artist)

    with caplog.at_level(logging.ERROR, logger="musicconnect.plugins"):
        # the owner and an admin still read and play their content (before: everyone was denied)
        for who in (artist, admin):
            assert client.get(f"/api/v1/content/{draft}", headers=who.headers).status_code == 200
            r = client.get(f"/api/v1/notes/{draft}/play", headers=who.headers)
            assert r.status_code == 200 and r.json() == {"playing": True}, r.text
    assert crashing_rule.calls == 1  # quarantined on its first exception: never asked again
    assert any("crashing_rule" in r.getMessage() and "QUARANTINED" in r.getMessage() and r.levelno == logging.ERROR
               for r in caplog.records)

    # the other plugins' votes and the core's rule still count
    problem(client.get(f"/api/v1/content/{draft}", headers=fan.headers), 404)
    assert client.get(f"/api/v1/content/{public}", headers=fan.headers).status_code == 200
    assert client.get(f"/api/v1/content/{gated_open}", headers=fan.headers).status_code == 200  # notes allows
    # notes denies (403, or 404 where the route hides a refused item)
    assert client.get(f"/api/v1/content/{embargoed}", headers=fan.headers).status_code in (403, 404)
    assert client.get(f"/api/v1/content/{embargoed}", headers=artist.headers).status_code == 200
    problem(client.get(f"/api/v1/notes/{embargoed}/play", headers=fan.headers), 403)
    assert client.get(f"/api/v1/notes/{gated_open}/play", headers=fan.headers).status_code == 200
    assert crashing_rule.calls == 1

    # the operator sees it: readiness degraded with its name, the plugin list, the record
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "degraded"
    assert "crashing_rule" in ready.json()["checks"]["plugins"]
    assert "check_access raised RuntimeError: rule table corrupt" in ready.json()["checks"]["plugins"]
    rows = {r["name"]: r for r in client.get("/api/v1/plugins", headers=admin.headers).json()}
    assert rows["crashing_rule"]["status"] == "quarantined"
    assert "check_access raised RuntimeError" in rows["crashing_rule"]["quarantined"]
    assert rows["notes"]["status"] == "enabled" and rows["notes"]["quarantined"] is None
    assert [r.name for r in p.plugins.quarantined()] == ["crashing_rule"]

    # disabling and enabling it again (plugins disable / enable) lifts the quarantine
    from musicconnect.plugin_state import set_enabled

    set_enabled(p.db, "crashing_rule", False)
    _eventually(lambda: p.plugins.get("crashing_rule").status == "disabled")
    assert client.get("/readyz").json()["status"] == "ok"
    set_enabled(p.db, "crashing_rule", True)
    _eventually(lambda: p.plugins.get("crashing_rule").status == "enabled")
    assert client.get("/readyz").json()["status"] == "ok"
    assert client.get(f"/api/v1/content/{draft}", headers=artist.headers).status_code == 200
    assert crashing_rule.calls == 2 and p.plugins.get("crashing_rule").status == "quarantined"  # still broken


@pytest.mark.anyio
async def test_an_async_rule_that_raises_is_quarantined_on_the_async_path():
    from musicconnect.plugins import create_plugin_manager

    class async_crash:
        @staticmethod
        @hookimpl
        async def check_access(actor, action, resource, context):
            raise RuntimeError("async rule broke")

    class allow_all:
        @staticmethod
        @hookimpl
        def check_access(actor, action, resource, context):
            return Vote.ALLOW

    reg = create_plugin_manager(entry_points=False, extra=[("async_crash", async_crash), ("allow_all", allow_all)])
    kw = dict(platform=None, actor=None, action="view", resource=None, context=None)
    votes = await reg.avote("check_access", **kw)
    assert ("allow_all", Vote.ALLOW) in votes and all(p != "async_crash" for p, _ in votes)
    assert reg.get("async_crash").status == "quarantined"
    assert "async rule broke" in reg.get("async_crash").quarantined


def test_plugins_list_shows_the_quarantine_of_its_process(mc_make_platform, monkeypatch):
    """``musicconnect plugins list`` prints what its process knows: here a platform whose
    ``crashing_rule`` raised (a server's quarantine is reported by its /readyz and GET /plugins)."""
    import json
    import uuid

    from typer.testing import CliRunner

    from musicconnect import Resource
    from musicconnect_cli import main as cli

    p = mc_make_platform(extra_plugins=[("crashing_rule", crashing_rule)], entry_points=False)
    owner = make_user(p, "artist", artist_name="Listed Band")
    from musicconnect import Actor

    item = Resource(kind="note", id=uuid.uuid4(), artist_id=owner.artist_id, visibility="public", status="draft",
                    publish_at=None, data={})
    assert p.access.decide(Actor(owner.id, "artist", owner.artist_id), "view", item).allowed
    monkeypatch.setattr(cli, "connected", lambda: p)
    result = CliRunner().invoke(cli.app, ["plugins", "list", "--json"])
    assert result.exit_code == 0, result.output
    row = next(r for r in json.loads(result.output) if r["name"] == "crashing_rule")
    assert row["status"] == "quarantined" and "check_access raised RuntimeError" in row["quarantined"]
    table = CliRunner().invoke(cli.app, ["plugins", "list"])
    assert "quarantined: check_access raised RuntimeError" in table.output
