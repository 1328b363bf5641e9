"""Notify's part of a person's data export and erasure (GDPR): what a fan and an artist leave
behind in notifications, preferences, push subscriptions and the email suppression list."""
from __future__ import annotations

from sqlalchemy import String, cast, func, or_, select

from musicconnect.models import User
from musicconnect.testing import make_user
from musicconnect_notify import privacy
from musicconnect_notify.channel_models import EmailSuppression, PushSent, PushSubscription
from musicconnect_notify.models import ArtistMessage, Delivery, MessageQuota, Preference

SUB = {"endpoint": "https://push.example.net/wpush/v2/device-{n}",
       "keys": {"p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM",
                "auth": "tBHItJI5svbpez7KI4CCXg"}}


def _subscribe(client, user, n):
    body = {**SUB, "endpoint": SUB["endpoint"].format(n=n)}
    r = client.post("/api/v1/notify/push/subscriptions", headers=user.headers, json=body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _fill(client, p, artist, helpers, fan, n):
    helpers.follow(client, artist, fan)
    r = client.put("/api/v1/notify/preferences", headers=fan.headers, json={"digest": "weekly"})
    assert r.status_code == 200, r.text
    _subscribe(client, fan, n)


def _naming(p, user) -> int:
    """Rows of notify's tables that still name ``user`` (id, email or display name)."""
    with p.session() as s:
        needles = [str(user.id), user.id.hex, user.email, user.email.split("@")[0]]
        n = s.scalar(select(func.count()).select_from(Delivery).where(or_(
            Delivery.recipient_id == user.id,
            *(c.contains(x) for x in needles for c in (Delivery.title, Delivery.body, Delivery.object_key,
                                                        cast(Delivery.data, String))))))
        n += s.scalar(select(func.count()).select_from(Preference).where(Preference.user_id == user.id))
        n += s.scalar(select(func.count()).select_from(PushSubscription).where(PushSubscription.user_id == user.id))
        n += s.scalar(select(func.count()).select_from(EmailSuppression)
                      .where(EmailSuppression.email.contains(user.email.split("@")[0])))
        return n


def test_a_fan_exports_and_erases_their_notify_data(env, helpers):
    client, p, artist, tiers = env
    fan, other = make_user(p), make_user(p)
    _fill(client, p, artist, helpers, fan, 1)
    _fill(client, p, artist, helpers, other, 2)
    r = client.post(f"/api/v1/notify/artists/{artist.artist_id}/messages", headers=artist.headers,
                    json={"segment": "followers", "title": "Tour", "body": "See you"})
    assert r.status_code == 201, r.text
    p.jobs.wait_idle(30)
    from musicconnect_notify.cli import make_app
    from typer.testing import CliRunner

    assert CliRunner().invoke(make_app(p), ["suppress", fan.email]).exit_code == 0

    with p.read() as s:
        parts = dict(p.export_user_data(s, s.get(User, fan.id)))
    part = parts["notify"]
    assert [n["title"] for n in part.records["notifications"]
            if n["kind"] == "notify.artist_message" and n["channel"] == "inbox"] == ["Nova: Tour"]
    assert part.records["preferences"][0]["digest"] == "weekly"
    assert part.records["push_subscriptions"][0]["endpoint"].endswith("device-1")
    assert part.records["email_suppression"][0]["source"] == "operator"
    assert part.records["artist_messages"] == [] and "push_subscriptions" in part.notes
    import json

    json.dumps(part.records)  # JSON-able as it is

    assert _naming(p, fan) > 0
    before_other = _naming(p, other)
    with p.session() as s:
        report = privacy.erase(p, s, s.get(User, fan.id))
    assert report.erased["push_subscriptions"] == 1 and report.erased["preferences"] == 1
    assert report.erased["notifications"] >= 1
    assert _naming(p, fan) == 0
    assert _naming(p, other) == before_other  # the other fan keeps everything
    # the operator's "never email this address" is kept as a keyed hash only, and still holds
    assert [x.what for x in report.retained] == ["email suppression"]
    assert "to keep not emailing you" in report.retained[0].why
    with p.read() as s:
        keys = s.scalars(select(EmailSuppression.email)).all()
        assert fan.email not in keys and len(keys) == 1 and keys[0].startswith(privacy.HASHED)
        assert privacy.hashed_suppression(p, s, fan.email.upper()) is not None
        assert privacy.hashed_suppression(p, s, other.email) is None


def test_a_bounced_address_goes_with_the_account(env, helpers):
    client, p, artist, tiers = env
    fan = make_user(p)
    from musicconnect_notify.email_channel import suppress

    suppress(p, fan.email, f"550 {fan.email}: no such user")
    with p.session() as s:
        report = privacy.erase(p, s, s.get(User, fan.id))
    assert report.retained == () and report.erased["email_suppression"] == 1
    with p.read() as s:
        assert s.scalar(select(func.count()).select_from(EmailSuppression)) == 0


def test_an_artist_who_leaves_takes_their_messages_with_them(env, helpers):
    client, p, artist, tiers = env
    fan = make_user(p)
    sub = _subscribe(client, fan, 3)
    helpers.follow(client, artist, fan)
    r = client.post(f"/api/v1/notify/artists/{artist.artist_id}/messages", headers=artist.headers,
                    json={"segment": "followers", "title": "Goodbye", "body": "Thanks"})
    assert r.status_code == 201, r.text
    p.jobs.wait_idle(30)
    other = make_user(p, "artist", artist_name="Stays")
    with p.session() as s:
        s.add(PushSent(delivery_id="x", subscription_id=__import__("uuid").UUID(sub)))
        s.add(ArtistMessage(artist_id=other.artist_id, segment="followers", title="Hi", body="Still here",
                            created_at=p.clock.now()))
    with p.read() as s:
        part = dict(p.export_user_data(s, s.get(User, artist.id)))["notify"]
    assert [m["title"] for m in part.records["artist_messages"]] == ["Goodbye"]
    with p.session() as s:
        report = privacy.erase(p, s, s.get(User, artist.id))
    assert report.erased["artist_messages"] == 1 and report.erased["notifications_from_them"] >= 1
    with p.read() as s:
        assert s.scalar(select(func.count()).select_from(ArtistMessage)
                        .where(ArtistMessage.artist_id == artist.artist_id)) == 0
        assert s.scalar(select(func.count()).select_from(MessageQuota)
                        .where(MessageQuota.artist_id == artist.artist_id)) == 0
        assert s.scalar(select(func.count()).select_from(Delivery).where(Delivery.artist_id == artist.artist_id)) == 0
        assert s.scalar(select(func.count()).select_from(ArtistMessage)) == 1  # the other artist's stays
        assert s.scalar(select(func.count()).select_from(PushSent)) == 1  # the fan's device is not the artist's
        assert s.scalar(select(func.count()).select_from(PushSubscription)) == 1


def test_the_kept_hash_still_stops_email_to_the_address_after_the_account_is_gone(env):
    import uuid

    import pytest
    from sqlalchemy import delete

    from musicconnect_notify.channels import CHANNELS, Delivery, PermanentFailure
    from musicconnect_notify.email_channel import suppress

    client, p, artist, tiers = env
    fan = make_user(p, email="Leaving@Nova.example")
    suppress(p, fan.email, "operator", source="operator")
    with p.session() as s:
        privacy.erase(p, s, s.get(User, fan.id))
        s.execute(delete(User).where(User.id == fan.id))  # the core's part: the account goes
    back = make_user(p, email="leaving@nova.example")  # the same address, a new account
    with pytest.raises(PermanentFailure) as refused:
        CHANNELS["email"].deliver(p, Delivery(id=str(uuid.uuid4()), recipient_id=str(back.id), kind="fanclub_post",
                                              channel="email", title="Hi", body="Hello", url="/"))
    assert "suppressed" in refused.value.reason
    with p.read() as s:
        assert s.get(EmailSuppression, "leaving@nova.example") is None  # the address itself is not kept


def test_erasing_one_account_never_deletes_other_peoples_notifications(env, helpers):
    """Notifications about the person are found by their id only: a display name that is a LIKE
    pattern ("____", "%%%%") or a common name, or their email, matches nothing of anyone else's."""
    import uuid

    client, p, artist, tiers = env
    other = make_user(p)
    now = p.clock.now()

    def add(recipient, title, body="", data=None, object_key=None):
        object_key = object_key or f"k-{uuid.uuid4().hex[:8]}"
        with p.session() as s:
            s.add(Delivery(id=uuid.uuid4(), kind="test.kind", object_key=object_key, recipient_id=recipient,
                           channel="inbox", title=title, body=body, data=data or {}, created_at=now))

    for name in ("____", "%%%%", "Alex"):
        gone = make_user(p)
        with p.session() as s:
            s.get(User, gone.id).display_name = name
        unrelated = ["Alex Morgan followed you", "100% of tickets sold", f"a note for {gone.email}"]
        add(other.id, unrelated[0], "abcd efgh")
        add(other.id, unrelated[1], "wxyz")
        add(other.id, unrelated[2], "mentions the address, not the account")
        add(other.id, "a message from someone", "about them", data={"sender_id": str(gone.id)})
        add(other.id, "a reply", "", object_key=f"dm:{gone.id.hex}")
        with p.read() as s:
            before = s.scalar(select(func.count()).select_from(Delivery).where(Delivery.recipient_id == other.id))
        with p.session() as s:
            report = privacy.erase(p, s, s.get(User, gone.id))
        # the two naming the erased account's id go; the other person's three unrelated ones stay
        assert report.erased["notifications_about_them"] == 2, name
        with p.read() as s:
            after = s.scalars(select(Delivery.title).where(Delivery.recipient_id == other.id)).all()
        assert len(after) == before - 2
        assert set(unrelated) <= set(after)
        with p.session() as s:  # the next round starts clean
            s.execute(Delivery.__table__.delete().where(Delivery.recipient_id == other.id))
