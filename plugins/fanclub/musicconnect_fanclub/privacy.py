"""A person's fan club data: their export and their erasure (GDPR Art. 15, 17, 20; docs/privacy.md).

A fan leaves follows, comments, reactions, direct messages, backstage posts and replies, Wrapped
share links, a privacy choice and DM quota counters behind; an artist also their posts (content
items of kind ``post``, whose rows the core deletes, and whose images are this plugin's storage
objects), their fans' conversations with them, their backstage and the fan club perks of their
tiers. Comments are not threaded, so an erased person's comments go entirely (no placeholder)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import delete, or_, select

from musicconnect.contracts import ErasureReport, ExportFile, ExportPart
from musicconnect.models import ContentItem, Tier, User

from .models import (BackstagePost, Comment, DmCounter, Follow, Message, Notice, Privacy, Reaction,
                     WrappedShare)
from .rules import PERKS

NOTES = (
    "follows: the artists you follow. comments and reactions: what you wrote and how you reacted "
    "under artists' posts and tracks. direct_messages: your conversations with artists, both sides "
    "(sender says who wrote each message). backstage: what you posted or replied in artists' "
    "members-only backstage. wrapped_shares: the public links you made to parts of your monthly "
    "report (Wrapped); the report and its card are computed from your listening when shown and "
    "are not stored. privacy: whether the fan club shows you as an anonymous fan. dm_quota: how "
    "many messages you sent each artist per month (the direct-message allowance). As an artist: "
    "posts (with their images in posts/), the tiers' fan club perks and your fans' conversations "
    "with you.")


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _str(value) -> str | None:
    return str(value) if value is not None else None


def _image_keys(platform, post_ids) -> list[str]:
    """Every stored rendition of the posts' images (live and quarantined after a take-down)."""
    keys: list[str] = []
    for pid in post_ids:
        for prefix in (f"posts/{pid}/", f"quarantine/posts/{pid}/"):
            keys.extend(platform.storage.list(prefix))
    return sorted(set(keys))


def export(platform, session, user) -> ExportPart | None:
    uid = user.id
    artist = getattr(user, "artist", None)
    aid = artist.id if artist is not None else None
    records: dict[str, list[dict[str, Any]]] = {}
    records["follows"] = [{"artist_id": str(f.artist_id), "created_at": _iso(f.created_at)}
                          for f in session.scalars(select(Follow).where(Follow.user_id == uid)
                                                   .order_by(Follow.created_at))]
    records["comments"] = [{"id": str(c.id), "content_id": str(c.content_id), "body": c.body,
                            "created_at": _iso(c.created_at)}
                           for c in session.scalars(select(Comment).where(Comment.user_id == uid)
                                                    .order_by(Comment.created_at))]
    records["reactions"] = [{"content_id": str(r.content_id), "kind": r.kind, "created_at": _iso(r.created_at)}
                            for r in session.scalars(select(Reaction).where(Reaction.user_id == uid)
                                                     .order_by(Reaction.created_at))]
    mine = Message.fan_id == uid if aid is None else or_(Message.fan_id == uid, Message.artist_id == aid)
    records["direct_messages"] = [
        {"id": str(m.id), "artist_id": str(m.artist_id), "fan_id": str(m.fan_id), "sender": m.sender,
         "body": m.body, "created_at": _iso(m.created_at)}
        for m in session.scalars(select(Message).where(mine).order_by(Message.created_at))]
    records["backstage"] = [
        {"id": str(b.id), "artist_id": str(b.artist_id), "parent_id": _str(b.parent_id), "body": b.body,
         "created_at": _iso(b.created_at)}
        for b in session.scalars(select(BackstagePost).where(BackstagePost.author_id == uid)
                                 .order_by(BackstagePost.created_at))]
    records["wrapped_shares"] = [
        {"month": w.month, "sections": w.sections.split(","), "show_name": w.show_name,
         "created_at": _iso(w.created_at), "revoked_at": _iso(w.revoked_at)}
        for w in session.scalars(select(WrappedShare).where(WrappedShare.user_id == uid)
                                 .order_by(WrappedShare.created_at))]
    pv = session.get(Privacy, uid)
    records["privacy"] = [] if pv is None else [{"anonymous": pv.anonymous, "updated_at": _iso(pv.updated_at)}]
    records["dm_quota"] = [{"artist_id": str(d.artist_id), "period_start": _iso(d.period_start), "used": d.used}
                           for d in session.scalars(select(DmCounter).where(DmCounter.fan_id == uid))]
    files: list[ExportFile] = []
    if aid is not None:
        posts = list(session.scalars(select(ContentItem).where(ContentItem.artist_id == aid,
                                                               ContentItem.kind == "post")
                                     .order_by(ContentItem.created_at)))
        records["posts"] = [{"id": str(p.id), "title": p.title, "body": (p.data or {}).get("body", ""),
                             "visibility": p.visibility, "status": p.status, "publish_at": _iso(p.publish_at),
                             "created_at": _iso(p.created_at)} for p in posts]
        for key in _image_keys(platform, [p.id for p in posts]):
            files.append(ExportFile(path=key.removeprefix("quarantine/"), storage_key=key, content_type="image/jpeg"))
        records["tier_perks"] = [{"tier_id": str(t.id), "key": t.key,
                                  "perks": {k: v for k, v in (t.perks or {}).items() if k in PERKS}}
                                 for t in session.scalars(select(Tier).where(Tier.artist_id == aid))
                                 if any(k in PERKS for k in (t.perks or {}))]
    if not any(records.values()) and not files:
        return None
    return ExportPart(records=records, files=tuple(files), notes=NOTES)


def _delete(session, stmt) -> int:
    return int(session.execute(stmt.execution_options(synchronize_session=False)).rowcount or 0)


def erase(platform, session, user) -> ErasureReport:
    uid = user.id
    artist = getattr(user, "artist", None)
    aid = artist.id if artist is not None else None
    erased: dict[str, int] = {}
    # a job about to note something of theirs (a Wrapped notice) share-locks their row: wait for it
    # (then its rows are seen below), or make it wait for the erasure (then it finds them gone)
    session.execute(select(User.id).where(User.id == uid).with_for_update())
    # their conversations go whole: a conversation is the fan's and the artist's, and half of one is
    # the other side's words without context (the artist loses the fan's thread, the fan the artist's)
    erased["direct_messages"] = _delete(session, delete(Message).where(
        Message.fan_id == uid if aid is None else or_(Message.fan_id == uid, Message.artist_id == aid)))
    erased["dm_quota"] = _delete(session, delete(DmCounter).where(
        DmCounter.fan_id == uid if aid is None else or_(DmCounter.fan_id == uid, DmCounter.artist_id == aid)))
    # backstage: their posts (replies to them go with the thread), and, for an artist, their backstage
    erased["backstage"] = _delete(session, delete(BackstagePost).where(
        BackstagePost.author_id == uid if aid is None
        else or_(BackstagePost.author_id == uid, BackstagePost.artist_id == aid)))
    erased["comments"] = _delete(session, delete(Comment).where(Comment.user_id == uid))
    erased["reactions"] = _delete(session, delete(Reaction).where(Reaction.user_id == uid))
    erased["follows"] = _delete(session, delete(Follow).where(
        Follow.user_id == uid if aid is None else or_(Follow.user_id == uid, Follow.artist_id == aid)))
    erased["wrapped_shares"] = _delete(session, delete(WrappedShare).where(WrappedShare.user_id == uid))
    erased["privacy"] = _delete(session, delete(Privacy).where(Privacy.user_id == uid))
    erased["notices"] = _delete(session, delete(Notice).where(
        or_(Notice.key.startswith(f"wrapped:{uid}:"), Notice.key.startswith(f"wrapped:{uid.hex}:"))))
    storage_keys: list[str] = []
    if aid is not None:
        post_ids = list(session.scalars(select(ContentItem.id).where(ContentItem.artist_id == aid,
                                                                     ContentItem.kind == "post")))
        # the post rows are content items: the core deletes them with the artist; their images are ours
        erased["post_images"] = len(_image_keys(platform, post_ids))
        # prefixes (ending in /): everything under them goes after the commit, images written meanwhile too
        storage_keys = [pre for pid in post_ids for pre in (f"posts/{pid}/", f"quarantine/posts/{pid}/")]
        tiers = 0
        for t in session.scalars(select(Tier).where(Tier.artist_id == aid)):
            if any(k in PERKS for k in (t.perks or {})):
                t.perks = {k: v for k, v in t.perks.items() if k not in PERKS}
                tiers += 1
        erased["tier_perks"] = tiers
        session.flush()
    return ErasureReport(erased={k: v for k, v in erased.items() if v}, storage_keys=tuple(storage_keys))
