"""The inbox API, artists' messages to a segment (rate limit under concurrency), operator
commands, metrics and the demo fan's waiting notifications."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from musicconnect.testing import concurrently, make_user
from musicconnect_notify import channels
from musicconnect_notify.channels import DeliveryResult, PermanentFailure


def message(client, artist, **body):
    return client.post(f"/api/v1/notify/artists/{artist.artist_id}/messages", headers=artist.headers,
                       json={"segment": "followers", "title": "Tour dates", "body": "See you soon", **body})


def test_inbox_pages_counts_and_marks_read(env, helpers):
    client, p, artist, tiers = env
    fan, other = make_user(p), make_user(p)
    helpers.follow(client, artist, fan)
    for i in range(3):
        assert message(client, artist, title=f"m{i}").status_code == 201
        p.clock.advance(seconds=1)
    p.jobs.wait_idle(30)
    h = fan.headers
    page = client.get("/api/v1/notify/inbox?limit=2", headers=h).json()
    assert [i["title"] for i in page["items"]] == ["Nova: m2", "Nova: m1"] and page["unread"] == 3
    rest = client.get(f"/api/v1/notify/inbox?limit=2&before={page['next_before']}", headers=h).json()
    assert [i["title"] for i in rest["items"]] == ["Nova: m0"] and rest["next_before"] is None
    first = page["items"][0]["id"]
    assert client.post(f"/api/v1/notify/inbox/{first}/read", headers=other.headers).status_code == 404  # not theirs
    assert client.post(f"/api/v1/notify/inbox/{first}/read", headers=h).status_code == 204
    assert client.post(f"/api/v1/notify/inbox/{first}/read", headers=h).status_code == 204  # idempotent
    assert client.get("/api/v1/notify/inbox/unread-count", headers=h).json() == {"unread": 2}
    assert client.post("/api/v1/notify/inbox/read-all", headers=h).json() == {"marked": 2}
    assert client.get("/api/v1/notify/inbox/unread-count", headers=h).json() == {"unread": 0}
    assert all(i["read"] for i in client.get("/api/v1/notify/inbox", headers=h).json()["items"])
    assert client.get("/api/v1/notify/inbox").status_code == 401


def test_artist_message_reaches_the_segment_only(env, helpers):
    client, p, artist, tiers = env
    top = max(tiers.values(), key=lambda t: t.rank)
    superfan, follower = make_user(p), make_user(p)
    helpers.comp(client, artist, superfan, top)
    helpers.follow(client, artist, follower)
    r = message(client, artist, segment=f"tier:{top.rank}", title="Secret show")
    assert r.status_code == 201, r.text
    assert r.json()["remaining_today"] == 2
    p.jobs.wait_idle(30)
    got = [i for i in client.get("/api/v1/notify/inbox", headers=superfan.headers).json()["items"]
           if i["kind"] == "notify.artist_message"]
    assert [(i["title"], i["body"]) for i in got] == [("Nova: Secret show", "See you soon")]
    assert client.get("/api/v1/notify/inbox", headers=follower.headers).json()["items"] == []
    assert message(client, artist, segment="everyone").status_code == 422
    other = make_user(p, "artist", artist_name="Other")
    r = client.post(f"/api/v1/notify/artists/{artist.artist_id}/messages", headers=other.headers,
                    json={"segment": "followers", "title": "x", "body": "y"})
    assert r.status_code == 403
    r = client.post(f"/api/v1/notify/artists/{artist.artist_id}/messages", headers=follower.headers,
                    json={"segment": "followers", "title": "x", "body": "y"})
    assert r.status_code == 403


def test_artist_messages_are_limited_per_day_under_concurrency(env, helpers):
    client, p, artist, tiers = env
    codes = concurrently(8, lambda i: message(client, artist, title=f"t{i}").status_code)
    assert sorted(codes) == [201] * 3 + [429] * 5
    r = message(client, artist)
    assert r.status_code == 429 and r.json()["type"].endswith("/message-limit")
    p.clock.advance(days=1)
    artist.renew(p)
    assert message(client, artist).status_code == 201  # a new day


def test_artist_messages_carry_an_unsubscribe_link_by_email(env, helpers, monkeypatch):
    sent = []

    class Email:
        id = "email"

        def deliver(self, platform, d):
            sent.append(d)
            return DeliveryResult(True)
    monkeypatch.setitem(channels.CHANNELS, "email", Email())
    monkeypatch.delitem(channels.CHANNELS, "push", raising=False)
    client, p, artist, tiers = env
    fan = make_user(p)
    helpers.follow(client, artist, fan)
    assert message(client, artist).status_code == 201
    p.jobs.wait_idle(30)
    [d] = sent
    assert d.recipient_id == str(fan.id) and d.kind == "notify.artist_message" and d.title == "Nova: Tour dates"
    try:
        from musicconnect_notify import unsubscribe  # noqa: F401 (the channels' module)
    except ImportError:
        assert d.unsubscribe_url is None
    else:
        assert d.unsubscribe_url


def test_operator_commands(env, monkeypatch):
    from musicconnect_notify.cli import make_app

    client, p, artist, tiers = env
    app = make_app(p)
    run = CliRunner()
    monkeypatch.delitem(channels.CHANNELS, "email", raising=False)
    r = run.invoke(app, ["test", "ops@example.com"])
    assert r.exit_code == 1 and "email channel is not available" in r.output

    sent = []

    class Email:
        id = "email"

        def deliver(self, platform, d):
            if d.data["to"] == "bad@example.com":
                raise PermanentFailure("550 no such user")
            sent.append(d)
            return DeliveryResult(True, "250 queued")
    monkeypatch.setitem(channels.CHANNELS, "email", Email())
    r = run.invoke(app, ["test", "Ops@Example.com"])
    assert r.exit_code == 0, r.output
    assert "sent to ops@example.com" in r.output and sent[0].data["to"] == "ops@example.com"
    r = run.invoke(app, ["test", "bad@example.com"])
    assert r.exit_code == 1 and "550 no such user" in r.output and len(r.output.strip().splitlines()) == 1

    from musicconnect_notify.channel_models import EmailSuppression

    assert "suppressed" in run.invoke(app, ["suppress", "Spam@Example.com"]).output
    assert "already" in run.invoke(app, ["suppress", "spam@example.com"]).output
    with p.session() as s:
        row = s.get(EmailSuppression, "spam@example.com")
        assert (row.source, row.reason) == ("operator", "operator")
    assert run.invoke(app, ["stats"]).exit_code == 0


def test_delivery_stats_are_prometheus_metrics(env, helpers):
    from prometheus_client import REGISTRY

    client, p, artist, tiers = env

    def sent():
        return REGISTRY.get_sample_value("mc_notify_deliveries_total", {"channel": "inbox", "outcome": "sent"}) or 0
    before = sent()
    fan = make_user(p)
    helpers.follow(client, artist, fan)
    assert message(client, artist).status_code == 201
    p.jobs.wait_idle(30)
    assert sent() == before + 1


@pytest.mark.mc_plugins("notify")
def test_the_demo_fan_has_notifications_waiting(mc_make_platform):
    from musicconnect.seed import seed_demo
    from starlette.testclient import TestClient

    from musicconnect.app import create_app

    p = mc_make_platform()
    demo = seed_demo(p)
    seed_demo(p)  # idempotent
    from musicconnect.models import User

    with p.session() as s:
        token = p.tokens.issue_access(s.get(User, demo.fan.id))
    with TestClient(create_app(p)) as client:
        page = client.get("/api/v1/notify/inbox", headers={"Authorization": f"Bearer {token}"}).json()
    assert page["unread"] == 3 and len(page["items"]) == 3
    assert page["items"][0]["title"].endswith("thank you!")
