"""The fan club's part of a person's data export and erasure (GDPR): a fan's follows, comments,
reactions, conversations, backstage, Wrapped links and privacy choice; an artist's posts (and
their images), backstage, fans' conversations and tiers' perks."""
from __future__ import annotations

import io
import json

from PIL import Image
from sqlalchemy import func, or_, select

from musicconnect.models import Tier, User
from musicconnect.testing import make_user
from musicconnect_fanclub import privacy
from musicconnect_fanclub.models import (BackstagePost, Comment, DmCounter, Follow, Message, Privacy, Reaction,
                                         WrappedShare)


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 40, 40)).save(buf, "PNG")
    return buf.getvalue()


def _ok(r, code=201):
    assert r.status_code == code, r.text
    return r.json() if r.content else None


def _comp(client, artist, fan, tier):
    _ok(client.post(f"/api/v1/artists/{artist.artist_id}/comps", headers=artist.headers,
                    json={"email": fan.email, "tier_id": str(tier.id)}))


def _club(client, p, artist, fan, tiers, word):
    """Everything a fan can leave in the fan club of ``artist``."""
    a = f"/api/v1/fanclub/artists/{artist.artist_id}"
    _ok(client.post(f"{a}/follow", headers=fan.headers), 204)
    _comp(client, artist, fan, tiers["superfan"])
    _ok(client.post(f"{a}/messages", headers=fan.headers, json={"body": f"{word} dm"}))
    _ok(client.post(f"{a}/conversations/{fan.id}/messages", headers=artist.headers, json={"body": f"re {word}"}))
    root = _ok(client.post(f"{a}/backstage", headers=fan.headers, json={"body": f"{word} backstage"}))
    _ok(client.post(f"{a}/backstage/{root['id']}/replies", headers=fan.headers, json={"body": f"{word} reply"}))
    post = _ok(client.post(f"{a}/posts", headers=artist.headers, data={"title": f"post for {word}"},
                           files=[("images", ("a.png", _png(), "image/png"))]))
    _ok(client.post(f"/api/v1/fanclub/content/{post['id']}/comments", headers=fan.headers, json={"body": f"{word} says"}))
    _ok(client.put(f"/api/v1/fanclub/content/{post['id']}/reactions/heart", headers=fan.headers), 204)
    _ok(client.put("/api/v1/fanclub/me/privacy", headers=fan.headers, json={"anonymous": True}), 200)
    _ok(client.post("/api/v1/fanclub/me/wrapped/2026-06/shares", headers=fan.headers, json={"sections": ["minutes"]}))
    return post


def _naming(p, user_id) -> int:
    with p.read() as s:
        n = 0
        for model, cols in ((Follow, ("user_id",)), (Message, ("fan_id",)), (BackstagePost, ("author_id",)),
                            (Comment, ("user_id",)), (Reaction, ("user_id",)), (WrappedShare, ("user_id",)),
                            (DmCounter, ("fan_id",)), (Privacy, ("user_id",))):
            n += s.scalar(select(func.count()).select_from(model)
                          .where(or_(*(getattr(model, c) == user_id for c in cols))))
        return n


def test_a_fan_exports_and_erases_their_fan_club(env):
    client, p, artist, fan, tiers = env
    other = make_user(p)
    _club(client, p, artist, fan, tiers, "mine")
    _club(client, p, artist, other, tiers, "theirs")
    with p.read() as s:
        part = dict(p.export_user_data(s, s.get(User, fan.id)))["fanclub"]
    r = part.records
    json.dumps(r)
    assert [c["body"] for c in r["comments"]] == ["mine says"]
    assert [x["kind"] for x in r["reactions"]] == ["heart"]
    assert sorted((m["sender"], m["body"]) for m in r["direct_messages"]) == [("artist", "re mine"), ("fan", "mine dm")]
    assert sorted(b["body"] for b in r["backstage"]) == ["mine backstage", "mine reply"]
    assert r["follows"] == [{"artist_id": str(artist.artist_id), "created_at": r["follows"][0]["created_at"]}]
    assert r["privacy"][0]["anonymous"] is True and r["wrapped_shares"][0]["sections"] == ["minutes"]
    assert r["dm_quota"][0]["used"] == 1 and "posts" not in r and part.files == ()
    assert "both sides" in part.notes

    assert _naming(p, fan.id) > 0
    others = _naming(p, other.id)
    with p.session() as s:
        report = privacy.erase(p, s, s.get(User, fan.id))
    assert report.erased["direct_messages"] == 2 and report.erased["comments"] == 1
    assert report.erased["backstage"] >= 1  # (the reply may go on cascade with its thread, uncounted)
    assert report.storage_keys == () and report.retained == ()
    assert _naming(p, fan.id) == 0
    assert _naming(p, other.id) == others  # nothing of the other fan's went
    with p.read() as s:
        assert s.scalar(select(func.count()).select_from(Message).where(Message.body.contains("mine"))) == 0
        assert s.scalar(select(func.count()).select_from(BackstagePost).where(BackstagePost.body.contains("mine"))) == 0
    # the other fan's conversation is still there through the API
    inbox = client.get(f"/api/v1/fanclub/artists/{artist.artist_id}/messages", headers=other.headers)
    assert inbox.status_code == 200 and sorted(m["body"] for m in inbox.json()) == ["re theirs", "theirs dm"]


def test_an_artist_who_leaves_takes_posts_images_backstage_and_perks(env):
    client, p, artist, fan, tiers = env
    post = _club(client, p, artist, fan, tiers, "fan")
    stays = make_user(p, "artist", artist_name="Stays")
    with p.session() as s:
        s.add(Follow(user_id=fan.id, artist_id=stays.artist_id, created_at=p.clock.now()))
    keys = list(p.storage.list(f"posts/{post['id']}/"))
    assert keys
    with p.read() as s:
        part = dict(p.export_user_data(s, s.get(User, artist.id)))["fanclub"]
    assert [x["title"] for x in part.records["posts"]] == ["post for fan"]
    assert sorted(f.storage_key for f in part.files) == sorted(keys)
    assert {t["key"] for t in part.records["tier_perks"]} == {"supporter", "superfan"}
    assert sorted(m["body"] for m in part.records["direct_messages"]) == ["fan dm", "re fan"]
    with p.session() as s:
        report = privacy.erase(p, s, s.get(User, artist.id))
    # prefixes, listed when the purge runs (images written meanwhile go too)
    assert sorted(report.storage_keys) == sorted([f"posts/{post['id']}/", f"quarantine/posts/{post['id']}/"])
    assert all(k.startswith(f"posts/{post['id']}/") for k in keys) and report.erased["post_images"] == len(keys)
    assert report.erased["tier_perks"] == 2
    with p.read() as s:
        aid = artist.artist_id
        assert s.scalar(select(func.count()).select_from(Message).where(Message.artist_id == aid)) == 0
        assert s.scalar(select(func.count()).select_from(BackstagePost).where(BackstagePost.artist_id == aid)) == 0
        assert s.scalar(select(func.count()).select_from(DmCounter).where(DmCounter.artist_id == aid)) == 0
        assert s.scalar(select(func.count()).select_from(Follow).where(Follow.artist_id == aid)) == 0
        assert all(not ({"direct_messages", "virtual_backstage", "early_access"} & set(t.perks or {}))
                   for t in s.scalars(select(Tier).where(Tier.artist_id == aid)))
        # the fan's own follow of another artist stays
        assert s.scalar(select(func.count()).select_from(Follow).where(Follow.user_id == fan.id)) == 1


def test_no_wrapped_notice_is_noted_for_a_person_already_erased(env):
    import uuid

    from musicconnect_fanclub import notices
    from musicconnect_fanclub.models import Notice

    client, p, artist, fan, tiers = env
    gone = uuid.uuid4()  # a fan the jobs' earlier read still saw, erased since
    assert notices._once(p, f"wrapped:{gone}:2026-05", "fanclub.wrapped_ready", person=gone,
                         subject=("user", gone), data={"month": "2026-05"}) is False
    assert notices._once(p, f"wrapped:{fan.id}:2026-05", "fanclub.wrapped_ready", person=fan.id,
                         subject=("user", fan.id), data={"month": "2026-05"}) is True
    with p.read() as s:
        assert list(s.scalars(select(Notice.key))) == [f"wrapped:{fan.id}:2026-05"]
