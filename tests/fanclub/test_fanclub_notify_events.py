"""The fan club's timed events for notifications: an early-access window opening for a tier
(once per item and tier) and Wrapped being ready (once per fan and month), from periodic jobs;
with the notify plugin, the members / the fan find them in their inbox."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from musicconnect.models import ContentItem, DomainEvent
from musicconnect.testing import make_user


@pytest.fixture
def mc_plugins():
    return ["notify", "fanclub", "streaming", "billing"]


def events(p, type_):
    with p.session() as s:
        return s.scalars(select(DomainEvent).where(DomainEvent.type == type_)).all()


def run(p, job):

    import types

    from musicconnect_fanclub import notices

    return getattr(notices, job)(types.SimpleNamespace(platform=p))


def inbox(client, p, user, kind):
    r = client.get("/api/v1/notify/inbox", headers=user.renew(p).headers)  # the frozen clock moved on
    assert r.status_code == 200, r.text
    return [i for i in r.json()["items"] if i["kind"] == kind]


@pytest.fixture
def env(mc_make_platform, club_perks):
    from starlette.testclient import TestClient

    from musicconnect.app import create_app

    p = mc_make_platform()
    artist = make_user(p, "artist", artist_name="Nova")
    club_perks(p, artist.artist_id)  # superfans: 24 h early access
    tiers = {t.key: t for t in p.access.tiers(artist.artist_id)}
    with TestClient(create_app(p)) as client:
        yield client, p, artist, tiers


def grant(p, artist, user, tier):
    with p.session() as s:
        p.entitlements.grant(s, user_id=user.id, artist_id=artist.artist_id, tier_id=tier.id, source="test",
                             source_ref=f"test:{user.id}", status="active")


def test_early_access_opens_once_per_item_and_tier_and_reaches_its_members(env, mc_clock):
    client, p, artist, tiers = env
    superfan, supporter, free = make_user(p), make_user(p), make_user(p)
    grant(p, artist, superfan, tiers["superfan"])
    grant(p, artist, supporter, tiers["supporter"])
    grant(p, artist, free, tiers["free"])
    item_id = uuid.uuid4()
    publish_at = mc_clock.now() + timedelta(hours=30)
    with p.session() as s:
        s.add(ContentItem(id=item_id, artist_id=artist.artist_id, kind="post", title="Soon", status="ready",
                          visibility="public", publish_at=publish_at, data={"body": "soon"}))
    assert run(p, "early_access_opened") == {"emitted": 0}  # 30 h ahead: the 24 h window is not open
    mc_clock.advance(hours=7)  # 23 h before release
    assert run(p, "early_access_opened") == {"emitted": 1}
    assert run(p, "early_access_opened") == {"emitted": 0}  # a rerun emits nothing
    p.jobs.run_schedules()  # the scheduled job too: still one
    p.jobs.wait_idle(30)
    got = events(p, "fanclub.early_access_opened")
    assert len(got) == 1
    e = got[0]
    assert (e.subject_type, e.subject_id, e.artist_id) == ("content", str(item_id), artist.artist_id)
    assert e.data["tier_id"] == str(tiers["superfan"].id) and e.data["tier_rank"] == tiers["superfan"].rank
    assert datetime.fromisoformat(e.data["publish_at"]) == publish_at
    got = inbox(client, p, superfan, "fanclub.early_access")
    assert [(i["title"], i["url"]) for i in got] == [("Early access from Nova", f"/content/{item_id}")]
    assert inbox(client, p, supporter, "fanclub.early_access") == []
    assert inbox(client, p, free, "fanclub.early_access") == []
    mc_clock.advance(hours=24)  # released: nothing more
    assert run(p, "early_access_opened") == {"emitted": 0}


def test_wrapped_ready_once_per_fan_at_the_start_of_the_month(env, mc_clock):
    client, p, artist, tiers = env
    listener, silent = make_user(p), make_user(p)
    with p.session() as s:  # 2026-06: the listener plays twice
        for _ in range(2):
            p.emit(s, "play.counted", actor_id=listener.id, artist_id=artist.artist_id,
                   subject=("content", uuid.uuid4()), data={"seconds": 31})
    p.jobs.wait_idle(30)
    assert run(p, "wrapped_ready")["emitted"] == 0  # May had no plays; June is not over
    mc_clock.set(datetime(2026, 7, 1, 0, 5, tzinfo=timezone.utc))
    assert run(p, "wrapped_ready") == {"month": "2026-06", "emitted": 1}
    assert run(p, "wrapped_ready") == {"month": "2026-06", "emitted": 0}
    p.jobs.run_schedules()
    p.jobs.wait_idle(30)
    got = events(p, "fanclub.wrapped_ready")
    assert [(e.subject_type, e.subject_id, e.data) for e in got] == [("user", str(listener.id), {"month": "2026-06"})]
    mine = inbox(client, p, listener, "fanclub.wrapped_ready")
    assert [(i["title"], i["url"]) for i in mine] == [("Your Wrapped for 2026-06 is ready", "/wrapped/2026-06")]
    assert inbox(client, p, silent, "fanclub.wrapped_ready") == []
