"""The delivery pipeline: idempotent fan-out, retries with back-off, permanent failures,
preferences, quiet hours, digests."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from musicconnect.testing import make_user
from musicconnect_notify import channels, digests, pipeline
from musicconnect_notify.channels import DeliveryResult, PermanentFailure, TemporaryFailure


class FakeChannel:
    def __init__(self, id="push", script=()):
        self.id = id
        self.script = list(script)  # exceptions to raise, in order; then success
        self.sent = []

    def deliver(self, platform, delivery):
        if self.script:
            raise self.script.pop(0)
        self.sent.append(delivery)
        return DeliveryResult(True, "ok")


@pytest.fixture
def fake_push(monkeypatch):
    ch = FakeChannel("push")
    monkeypatch.setitem(channels.CHANNELS, "push", ch)
    monkeypatch.delitem(channels.CHANNELS, "email", raising=False)
    return ch


def release(p, artist):
    """A track release event (what the core emits when a track becomes ready)."""
    with p.session() as s:
        return p.emit(s, "content.published", actor_id=artist.id, artist_id=artist.artist_id,
                      subject=("content", uuid.uuid4()), data={"kind": "track", "publish_at": p.clock.now().isoformat()})


def put_prefs(client, fan, **body):
    r = client.put("/api/v1/notify/preferences", headers=fan.headers, json=body)
    assert r.status_code == 200, r.text
    return r.json()


def test_a_retried_fanout_sends_nothing_twice(env, helpers, fake_push):
    client, p, artist, tiers = env
    fans = [make_user(p) for _ in range(3)]
    for f in fans:
        helpers.follow(client, artist, f)
    ev = release(p, artist)
    p.jobs.wait_idle(30)
    assert len(fake_push.sent) == 3 and len(helpers.rows(p, channel="inbox")) == 3
    kind = p.notification_kinds()["streaming.new_release"][1]

    class Ctx:
        platform = p
    for _ in range(2):  # the same job again (a redelivered message, a retry after a crash)
        assert pipeline.fanout(Ctx, kind=kind.id, event=pipeline.event_args(ev))["recipients"] == 3
    p.jobs.wait_idle(30)
    assert len(fake_push.sent) == 3
    assert len(helpers.rows(p, kind="streaming.new_release")) == 6  # 3 fans x (inbox, push)
    assert {d.recipient_id for d in fake_push.sent} == {str(f.id) for f in fans}


def test_big_audiences_fan_out_in_batches(env, helpers, fake_push, monkeypatch):
    client, p, artist, tiers = env
    monkeypatch.setattr(pipeline, "BATCH", 2)
    for _ in range(5):
        helpers.follow(client, artist, make_user(p))
    release(p, artist)
    p.jobs.wait_idle(30)
    from sqlalchemy import select

    from musicconnect.models import Job

    with p.session() as s:
        assert len(s.scalars(select(Job).where(Job.actor == "notify.batch")).all()) == 3
    assert len(helpers.rows(p, channel="inbox")) == 5 and len(fake_push.sent) == 5


def test_temporary_failures_back_off_and_permanent_ones_disable(env, helpers, fake_push):
    client, p, artist, tiers = env
    flaky, dead = make_user(p), make_user(p)
    helpers.follow(client, artist, flaky)
    fake_push.script = [TemporaryFailure("push service 503")]
    release(p, artist)
    p.jobs.wait_idle(30)
    [row] = helpers.rows(p, channel="push")
    assert row.status == "pending" and row.attempts == 1 and "503" in row.reason
    assert row.not_before == p.clock.now() + pipeline.backoff(1)
    assert pipeline.deliver_due(p)["sent"] == 0  # not before the back-off
    p.clock.advance(seconds=pipeline.backoff(1).total_seconds())
    assert pipeline.deliver_due(p)["sent"] == 1
    [row] = helpers.rows(p, channel="push")
    assert row.status == "sent" and row.attempts == 2 and len(fake_push.sent) == 1
    assert pipeline.deliver_due(p)["sent"] == 0  # sent once

    client.delete(f"/api/v1/fanclub/artists/{artist.artist_id}/follow", headers=flaky.headers)
    helpers.follow(client, artist, dead)
    fake_push.script = [PermanentFailure("subscription gone (410)")]
    release(p, artist)
    p.jobs.wait_idle(30)
    [row] = helpers.rows(p, channel="push", recipient_id=dead.id)
    assert (row.status, row.reason) == ("failed", "subscription gone (410)")


def test_preferences_channels_mute_and_email_opt_out(env, helpers, fake_push, monkeypatch):
    client, p, artist, tiers = env
    email = FakeChannel("email")
    monkeypatch.setitem(channels.CHANNELS, "email", email)
    no_push, muted, opted_out = make_user(p), make_user(p), make_user(p)
    for f in (no_push, muted, opted_out):
        helpers.follow(client, artist, f)
    got = put_prefs(client, no_push, channels={"streaming.new_release": {"push": False}}, digest="off")
    assert any(k["id"] == "streaming.new_release" and k["default_channels"] == ["inbox", "push", "email"]
               for k in got["kinds"])
    put_prefs(client, muted, muted_artists=[str(artist.artist_id)])
    put_prefs(client, opted_out, email_opt_out=True, digest="off")
    assert client.get("/api/v1/notify/preferences", headers=opted_out.headers).json()["email_opt_out"] is True
    release(p, artist)
    p.jobs.wait_idle(30)
    by = [sorted(r.channel for r in helpers.rows(p, recipient_id=f.id)) for f in (no_push, muted, opted_out)]
    assert by == [["email", "inbox"], [], ["inbox", "push"]]
    r = client.put("/api/v1/notify/preferences", headers=muted.headers, json={"channels": {"nope.kind": {"push": True}}})
    assert r.status_code == 422 and r.json()["type"].endswith("/unknown-notification-kind")
    r = client.put("/api/v1/notify/preferences", headers=muted.headers, json={"quiet_start": "22:00"})
    assert r.status_code == 422 and r.json()["type"].endswith("/invalid-quiet-hours")
    r = client.put("/api/v1/notify/preferences", headers=muted.headers, json={"timezone": "Mars/Base"})
    assert r.status_code == 422
    assert client.get("/api/v1/notify/preferences").status_code == 401


def test_quiet_hours_defer_push_to_their_end_in_the_fans_zone(env, helpers, fake_push):
    client, p, artist, tiers = env
    fan = make_user(p)
    helpers.follow(client, artist, fan)
    put_prefs(client, fan, quiet_start="22:00", quiet_end="07:30", timezone="America/New_York")
    p.clock.set(datetime(2026, 7, 1, 3, 0, tzinfo=timezone.utc))  # 23:00 in New York (EDT)
    release(p, artist)
    p.jobs.wait_idle(30)
    [push] = helpers.rows(p, channel="push")
    [inbox] = helpers.rows(p, channel="inbox")
    assert inbox.status == "sent"  # the inbox interrupts nobody
    assert push.status == "pending" and push.not_before == datetime(2026, 7, 1, 11, 30, tzinfo=timezone.utc)
    assert fake_push.sent == []
    p.clock.set(datetime(2026, 7, 1, 11, 29, tzinfo=timezone.utc))
    assert pipeline.deliver_due(p)["sent"] == 0
    p.clock.set(datetime(2026, 7, 1, 11, 31, tzinfo=timezone.utc))
    assert pipeline.deliver_due(p)["sent"] == 1 and len(fake_push.sent) == 1  # deferred, not dropped


def test_digestible_email_is_batched_and_sent_at_the_fans_active_hour(env, helpers, monkeypatch):
    from musicconnect.models import DomainEvent

    client, p, artist, tiers = env
    monkeypatch.delitem(channels.CHANNELS, "push", raising=False)
    email = FakeChannel("email")
    monkeypatch.setitem(channels.CHANNELS, "email", email)
    p.clock.set(datetime(2026, 3, 2, 6, 0, tzinfo=timezone.utc))
    fan, lazy = make_user(p), make_user(p)
    helpers.follow(client, artist, fan)
    helpers.follow(client, artist, lazy)  # lazy's only event: 06:00 UTC, their active hour
    put_prefs(client, fan, timezone="Europe/Berlin")  # daily digest (the default)
    with p.session() as s:  # the fan is usually active at 21:00 Berlin time (20:00 UTC in March)
        for d in range(1, 4):
            s.add(DomainEvent(id=uuid.uuid4(), type="play.counted", actor_id=fan.id, artist_id=artist.artist_id,
                              occurred_at=datetime(2026, 3, 2, 20, 5, tzinfo=timezone.utc) - timedelta(days=d), data={}))
        from zoneinfo import ZoneInfo

        assert digests.active_hour(s, uuid.uuid4(), ZoneInfo("UTC"), p.clock.now()) == digests.FALLBACK_HOUR == 18
        assert digests.active_hour(s, fan.id, ZoneInfo("Europe/Berlin"), p.clock.now()) == 21
    release(p, artist)
    release(p, artist)
    p.jobs.wait_idle(30)
    assert email.sent == [] and len(helpers.rows(p, channel="email", status="digest")) == 4
    p.clock.set(datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc))
    assert digests.run(p) == {"digests": 0}  # nobody's hour
    p.clock.set(datetime(2026, 3, 2, 20, 10, tzinfo=timezone.utc))  # 21:00 in Berlin: the fan's hour
    assert digests.run(p) == {"digests": 1}
    assert digests.run(p) == {"digests": 0}  # once per window
    p.clock.set(datetime(2026, 3, 3, 6, 10, tzinfo=timezone.utc))  # lazy's hour, the next day
    assert digests.run(p) == {"digests": 1}
    p.jobs.wait_idle(30)
    sent = {d.recipient_id: d for d in email.sent}
    assert set(sent) == {str(fan.id), str(lazy.id)} and len(email.sent) == 2
    assert sent[str(fan.id)].title == "2 updates from your artists"
    assert sent[str(fan.id)].body.count("New release from Nova") == 2
    assert len(helpers.rows(p, channel="email", status="digested")) == 4


def test_a_template_error_fails_that_kind_loudly_and_others_go_on(env, helpers, monkeypatch, caplog):
    from musicconnect import NotificationKind
    from musicconnect.models import Job

    client, p, artist, tiers = env
    fan = make_user(p)
    helpers.follow(client, artist, fan)
    real = p.notification_kinds

    def kinds():
        out = dict(real())
        out["test.broken"] = ("test", NotificationKind("test.broken", "Broken", "content.published",
                                                       {"title": "{no_such_field}"}, "followers"))
        return out
    monkeypatch.setattr(p, "notification_kinds", kinds)
    release(p, artist)
    p.jobs.wait_idle(30)
    assert [r.kind for r in helpers.rows(p, recipient_id=fan.id, channel="inbox")] == ["streaming.new_release"]
    from sqlalchemy import select

    with p.session() as s:
        failed = [j for j in s.scalars(select(Job).where(Job.actor == "notify.fanout")) if j.args["kind"] == "test.broken"]
    assert [j.state for j in failed] == ["failed"] and "no_such_field" in failed[0].message
    assert "template error" in caplog.text
