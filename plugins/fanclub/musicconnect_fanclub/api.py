"""Fan club routes (mounted at /api/v1/fanclub)."""
from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from musicconnect import Actor, NotFound, Problem
from musicconnect.models import Artist, Tier, User
from musicconnect.web import ensure_artist_owner, get_platform, scope

from . import atomic, feed_artists, quota
from .models import BackstagePost, Follow, Message, Privacy
from .people import people, person, shown_id
from .quota import month_bounds

router = APIRouter()
MAX_OFFSET = 10_000_000


def _artist(s, artist_id: uuid.UUID) -> Artist:
    artist = s.get(Artist, artist_id)
    if artist is None:
        raise NotFound("artist")
    return artist


# ---------------------------------------------------------------- follow and free membership

@router.post("/artists/{artist_id}/follow", status_code=204)
def follow(artist_id: uuid.UUID, actor: Actor = Depends(scope("fanclub:write")), platform=Depends(get_platform)):
    """Follow an artist (their public posts and releases reach your feed). Idempotent: following
    twice, or many times at once, leaves one follow and one ``fan.followed`` event."""
    with platform.session() as s:
        _artist(s, artist_id)
        if atomic.insert_once(s, Follow, user_id=actor.user_id, artist_id=artist_id, created_at=platform.clock.now()):
            feed_artists.forget(platform, s, actor.user_id)
            platform.emit(s, "fan.followed", actor_id=actor.user_id, artist_id=artist_id, subject=("artist", artist_id))
    return Response(status_code=204)


@router.delete("/artists/{artist_id}/follow", status_code=204)
def unfollow(artist_id: uuid.UUID, actor: Actor = Depends(scope("fanclub:write")), platform=Depends(get_platform)):
    """Stop following (idempotent; one ``fan.unfollowed`` event however many arrive at once)."""
    with platform.session() as s:
        if atomic.delete_once(s, Follow, Follow.user_id == actor.user_id, Follow.artist_id == artist_id):
            feed_artists.forget(platform, s, actor.user_id)
            platform.emit(s, "fan.unfollowed", actor_id=actor.user_id, artist_id=artist_id, subject=("artist", artist_id))
    return Response(status_code=204)


def _free_membership(s, user_id: uuid.UUID, artist_id: uuid.UUID):
    """The fan's free membership row, read fresh (after :func:`atomic.member_lock`)."""
    from musicconnect.models import Entitlement

    return s.scalar(select(Entitlement).where(Entitlement.source == "fanclub",
                                              Entitlement.source_ref == f"free:{artist_id}:{user_id}")
                    .execution_options(populate_existing=True))


@router.post("/artists/{artist_id}/join", status_code=201)
def join(artist_id: uuid.UUID, actor: Actor = Depends(scope("fanclub:write")), platform=Depends(get_platform)):
    """Become a free member (the artist's rank-0 tier). Paid tiers come from a payment provider.
    Idempotent: joining again, or many times at once, answers the same membership."""
    with platform.session() as s:
        _artist(s, artist_id)
        free = s.scalar(select(Tier).where(Tier.artist_id == artist_id, Tier.rank == 0, Tier.is_active.is_(True)))
        if free is None:
            raise Problem(409, "no-free-tier", "this artist has no free tier")
        atomic.member_lock(s, actor.user_id, artist_id)  # one join or leave of this fan at a time
        _free_membership(s, actor.user_id, artist_id)  # fresh: grant() finds what a concurrent join made
        ent = platform.entitlements.grant(s, user_id=actor.user_id, artist_id=artist_id, tier_id=free.id,
                                          source="fanclub", source_ref=f"free:{artist_id}:{actor.user_id}",
                                          status="active", actor_id=actor.user_id)
        atomic.insert_once(s, Follow, user_id=actor.user_id, artist_id=artist_id, created_at=platform.clock.now())
        feed_artists.forget(platform, s, actor.user_id)
        return {"entitlement_id": str(ent.id), "tier": free.key}


@router.delete("/artists/{artist_id}/join", status_code=204, responses={404: {"description": "not a free member"}})
def leave(artist_id: uuid.UUID, actor: Actor = Depends(scope("fanclub:write")), platform=Depends(get_platform)):
    """End your free membership (404 when there is none: of many leaves at once, one succeeds)."""
    with platform.session() as s:
        atomic.member_lock(s, actor.user_id, artist_id)
        ent = _free_membership(s, actor.user_id, artist_id)
        if ent is None or ent.status == "ended":
            raise NotFound("free membership")
        platform.entitlements.revoke(s, ent, actor_id=actor.user_id)
    return Response(status_code=204)


# ---------------------------------------------------------------- perks and quota

def dm_state(platform, s, actor: Actor, artist: Artist) -> dict:
    context = platform.access.context(actor, artist.id)
    limit = context.perks().get("direct_messages")
    limit = int(limit) if isinstance(limit, int) and not isinstance(limit, bool) else 0
    start, reset = month_bounds(context.now, artist.timezone)
    used = quota.used(s, actor.user_id, artist.id, start)
    return {"limit": limit, "used": used, "remaining": max(0, limit - used), "resets_at": reset.isoformat(),
            "timezone": artist.timezone, "_start": start}


def _public(state: dict) -> dict:
    return {k: v for k, v in state.items() if not k.startswith("_")}


@router.get("/artists/{artist_id}/me")
def my_membership(artist_id: uuid.UUID, actor: Actor = Depends(scope("fanclub:read")), platform=Depends(get_platform)):
    """Your membership of this artist: effective tier, perks, and direct messages left this month."""
    with platform.session() as s:
        artist = _artist(s, artist_id)
        context = platform.access.context(actor, artist_id)
        best = max(context.effective(), key=lambda e: e.tier_rank, default=None)
        tier = context.tier(best.tier_id) if best else None
        return {"following": s.get(Follow, (actor.user_id, artist_id)) is not None,
                "tier": {"id": str(tier.id), "key": tier.key, "name": tier.name, "rank": tier.rank} if tier else None,
                "perks": context.perks(), "direct_messages": _public(dm_state(platform, s, actor, artist))}


# ---------------------------------------------------------------- direct messages

class MessageIn(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{"body": "Loved the Leipzig show. Will you play it live again?"}]}}

    body: str = Field(min_length=1, max_length=4000)


def _msg(m: Message, names: dict | None = None) -> dict:
    """A message; ``sender_name``: the fan's display name or the artist's name (a direct message
    is addressed to the artist, so it carries the fan's name whatever their privacy choice)."""
    return {"id": str(m.id), "sender": m.sender, "sender_name": (names or {}).get(m.sender), "body": m.body,
            "created_at": m.created_at.isoformat()}


def _names(s, artist: Artist | None, fan_id: uuid.UUID) -> dict:
    return {"artist": artist.name if artist else None, "fan": s.scalar(select(User.display_name).where(User.id == fan_id))}


@router.post("/artists/{artist_id}/messages", status_code=201,
             responses={403: {"description": "no DM perk"}, 429: {"description": "monthly quota used"}})
def send_to_artist(artist_id: uuid.UUID, body: MessageIn, actor: Actor = Depends(scope("messages:write")),
                   platform=Depends(get_platform)):
    """Message an artist, within your tier's monthly quota (perk ``direct_messages``). The quota
    is taken atomically: of N messages sent at once with M left, exactly M are accepted."""
    verdict = platform.screen_activity("dm.sent", actor.user_id, artist_id=artist_id, recipient=artist_id, text=body.body)
    if verdict.action in ("limit", "block"):  # abuse screens (bursts, the same text to many): docs/moderation.md
        retry = int(verdict.data.get("retry_after") or 60)
        raise Problem(429 if verdict.action == "limit" else 403,
                      "activity-limited" if verdict.action == "limit" else "activity-blocked", verdict.detail,
                      retry_after=retry, headers={"Retry-After": str(retry)} if verdict.action == "limit" else None)
    with platform.session() as s:
        artist = _artist(s, artist_id)
        if actor.artist_id == artist_id:
            raise Problem(422, "validation", "reply to a fan through the conversation routes")
        state = dm_state(platform, s, actor, artist)
        if state["limit"] == 0:
            raise Problem(403, "no-dm-perk", "your tier does not include direct messages to this artist")
        used = quota.take(s, actor.user_id, artist_id, state["_start"], state["limit"])
        if used is None:
            from datetime import datetime

            retry = int((datetime.fromisoformat(state["resets_at"]) - platform.clock.now()).total_seconds())
            raise Problem(429, "dm-quota-exceeded",
                          f"you have sent your {state['limit']} messages this month", resets_at=state["resets_at"],
                          headers={"Retry-After": str(max(1, retry))})
        m = Message(id=uuid.uuid4(), artist_id=artist_id, fan_id=actor.user_id, sender="fan", body=body.body,
                    created_at=platform.clock.now())
        s.add(m)
        platform.emit(s, "fan.messaged", actor_id=actor.user_id, artist_id=artist_id, subject=("message", m.id))
        return {**_msg(m, _names(s, artist, actor.user_id)), "remaining": max(0, state["limit"] - used), "resets_at": state["resets_at"]}


Limit = Query(100, ge=1, le=200, description="at most this many rows")
Offset = Query(0, ge=0, le=MAX_OFFSET, description="skip this many rows")


@router.get("/artists/{artist_id}/messages")
def my_conversation(artist_id: uuid.UUID, limit: int = Limit, offset: int = Offset,
                    actor: Actor = Depends(scope("messages:read")), platform=Depends(get_platform)):
    """Your conversation with this artist, oldest first (each message with its sender's name)."""
    with platform.session() as s:
        artist = _artist(s, artist_id)
        rows = s.scalars(select(Message).where(Message.artist_id == artist_id, Message.fan_id == actor.user_id)
                         .order_by(Message.created_at, Message.id).limit(limit).offset(offset)).all()
        names = _names(s, artist, actor.user_id)
        return [_msg(m, names) for m in rows]


@router.get("/artists/{artist_id}/conversations")
def conversations(artist_id: uuid.UUID, limit: int = Limit, offset: int = Offset, actor: Actor = Depends(scope("messages:read")),
                  platform=Depends(get_platform)):
    """The artist's inbox: one row per fan, latest message first, with who wrote last
    (``last_sender``: ``fan`` means the fan waits for a reply), the start of that message
    (``last_body``, 200 characters) and the fan's highest tier held now (``tier``, ``null``: none)."""
    ensure_artist_owner(actor, artist_id)
    with platform.session() as s:
        rows = s.execute(select(Message.fan_id, func.max(Message.created_at), func.count())
                         .where(Message.artist_id == artist_id).group_by(Message.fan_id)
                         .order_by(func.max(Message.created_at).desc(), Message.fan_id).limit(limit).offset(offset)).all()
        if not rows:
            return []
        fans = [r[0] for r in rows]  # a fixed number of queries for the page, not some per fan
        names = dict(s.execute(select(User.id, User.display_name).where(User.id.in_(fans))).all())
        tiers = _current_tiers(s, artist_id, fans, platform.clock.now())
        last = {}
        newest = (select(Message.fan_id, func.max(Message.created_at).label("at")).where(
            Message.artist_id == artist_id, Message.fan_id.in_(fans)).group_by(Message.fan_id).subquery())
        for m in s.scalars(select(Message).join(newest, (Message.fan_id == newest.c.fan_id) & (Message.created_at == newest.c.at))
                           .where(Message.artist_id == artist_id).order_by(Message.id)):
            last.setdefault(m.fan_id, m)
        return [{"fan_id": str(fan_id), "display_name": names.get(fan_id),
                 "last_message_at": at.isoformat() if hasattr(at, "isoformat") else str(at), "messages": n,
                 "last_sender": last[fan_id].sender if fan_id in last else None,
                 "last_body": last[fan_id].body[:200] if fan_id in last else None,
                 "tier": tiers.get(fan_id)}
                for fan_id, at, n in rows]


def _current_tiers(s, artist_id: uuid.UUID, fans: list, now) -> dict:
    """Each fan's highest tier of this artist held now (``{"id", "name", "rank"}``), one query."""
    from musicconnect.models import Entitlement

    out: dict = {}
    for user_id, tier in s.execute(select(Entitlement.user_id, Tier).join(Tier, Tier.id == Entitlement.tier_id).where(
            Entitlement.artist_id == artist_id, Entitlement.user_id.in_(fans),
            Entitlement.status.in_(("active", "past_due", "cancelled")), Entitlement.starts_at <= now,
            Entitlement.expires_at.is_(None) | (Entitlement.expires_at > now))):
        if user_id not in out or tier.rank > out[user_id]["rank"]:
            out[user_id] = {"id": str(tier.id), "key": tier.key, "name": tier.name, "rank": tier.rank}
    return out


@router.get("/artists/{artist_id}/conversations/{fan_id}")
def conversation(artist_id: uuid.UUID, fan_id: uuid.UUID, limit: int = Limit, offset: int = Offset,
                 actor: Actor = Depends(scope("messages:read")), platform=Depends(get_platform)):
    ensure_artist_owner(actor, artist_id)
    with platform.session() as s:
        rows = s.scalars(select(Message).where(Message.artist_id == artist_id, Message.fan_id == fan_id)
                         .order_by(Message.created_at, Message.id).limit(limit).offset(offset)).all()
        names = _names(s, s.get(Artist, artist_id), fan_id)
        return [_msg(m, names) for m in rows]


@router.post("/artists/{artist_id}/conversations/{fan_id}/messages", status_code=201)
def reply(artist_id: uuid.UUID, fan_id: uuid.UUID, body: MessageIn, actor: Actor = Depends(scope("messages:write")),
          platform=Depends(get_platform)):
    """The artist replies (no quota). Only to fans who wrote first."""
    ensure_artist_owner(actor, artist_id)
    with platform.session() as s:
        started = s.scalar(select(Message.id).where(Message.artist_id == artist_id, Message.fan_id == fan_id).limit(1))
        if started is None:
            raise NotFound("conversation")
        m = Message(id=uuid.uuid4(), artist_id=artist_id, fan_id=fan_id, sender="artist", body=body.body,
                    created_at=platform.clock.now())
        s.add(m)
        platform.emit(s, "artist.replied", actor_id=actor.user_id, artist_id=artist_id, subject=("message", m.id),
                      data={"fan_id": str(fan_id)})
        return _msg(m, _names(s, s.get(Artist, artist_id), fan_id))


# ---------------------------------------------------------------- backstage

class BackstageIn(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{"body": "Setlist ideas for Friday? Reply with one song each."}]}}

    body: str = Field(min_length=1, max_length=10000)


def _backstage_allowed(platform, actor: Actor, artist_id: uuid.UUID) -> None:
    if platform.access.manages(actor, artist_id):
        return
    if not platform.access.context(actor, artist_id).perks().get("virtual_backstage"):
        raise Problem(403, "no-backstage-perk", "the backstage is for members whose tier includes it")


def _post(p: BackstagePost, found: dict) -> dict:
    """A backstage post or reply with its ``author`` (display name; "A fan" for a fan who chose to
    be anonymous, whose id is then not shown either)."""
    return {"id": str(p.id), "author_id": shown_id(found, p.author_id), "author": person(found, p.author_id),
            "parent_id": str(p.parent_id) if p.parent_id else None, "body": p.body,
            "created_at": p.created_at.isoformat()}


@router.get("/artists/{artist_id}/backstage")
def backstage(artist_id: uuid.UUID, limit: int = Query(50, ge=1, le=200), offset: int = Offset,
              actor: Actor = Depends(scope("messages:read")), platform=Depends(get_platform)):
    """Backstage posts, newest first, each with its replies (oldest first) and every author's name
    (a fixed number of queries for the page: posts, replies, people)."""
    with platform.session() as s:
        _artist(s, artist_id)
        _backstage_allowed(platform, actor, artist_id)
        posts = s.scalars(select(BackstagePost).where(BackstagePost.artist_id == artist_id,
                                                      BackstagePost.parent_id.is_(None))
                          .order_by(BackstagePost.created_at.desc(), BackstagePost.id).limit(limit).offset(offset)).all()
        replies: dict[uuid.UUID, list[BackstagePost]] = {p.id: [] for p in posts}
        if posts:
            for r in s.scalars(select(BackstagePost).where(BackstagePost.parent_id.in_(list(replies)))
                               .order_by(BackstagePost.created_at, BackstagePost.id)):
                replies[r.parent_id].append(r)
        found = people(s, [p.author_id for p in posts] + [r.author_id for rs in replies.values() for r in rs],
                       actor.user_id)
        return [{**_post(p, found), "replies": [_post(r, found) for r in replies[p.id]]} for p in posts]


@router.post("/artists/{artist_id}/backstage", status_code=201)
def backstage_post(artist_id: uuid.UUID, body: BackstageIn, actor: Actor = Depends(scope("messages:write")),
                   platform=Depends(get_platform)):
    with platform.session() as s:
        _artist(s, artist_id)
        _backstage_allowed(platform, actor, artist_id)
        p = BackstagePost(id=uuid.uuid4(), artist_id=artist_id, author_id=actor.user_id, body=body.body,
                          created_at=platform.clock.now())
        s.add(p)
        platform.emit(s, "backstage.posted", actor_id=actor.user_id, artist_id=artist_id, subject=("backstage", p.id))
        return _post(p, people(s, [actor.user_id], actor.user_id))


@router.post("/artists/{artist_id}/backstage/{post_id}/replies", status_code=201)
def backstage_reply(artist_id: uuid.UUID, post_id: uuid.UUID, body: BackstageIn, actor: Actor = Depends(scope("messages:write")),
                    platform=Depends(get_platform)):
    with platform.session() as s:
        _artist(s, artist_id)
        _backstage_allowed(platform, actor, artist_id)
        parent = s.get(BackstagePost, post_id)
        if parent is None or parent.artist_id != artist_id or parent.parent_id is not None:
            raise NotFound("backstage post")
        p = BackstagePost(id=uuid.uuid4(), artist_id=artist_id, author_id=actor.user_id, parent_id=post_id,
                          body=body.body, created_at=platform.clock.now())
        s.add(p)
        return _post(p, people(s, [actor.user_id], actor.user_id))


# ---------------------------------------------------------------- privacy

class PrivacyIn(BaseModel):
    anonymous: bool = Field(description='appear as "A fan" (no name, no id) in the backstage, comments and top fans',
                            examples=[True])


@router.get("/me/privacy")
def my_privacy(actor: Actor = Depends(scope("fanclub:read")), platform=Depends(get_platform)):
    """How the fan club shows you to others: by your display name, or as "A fan" (``anonymous``).
    Never by your email. Direct messages to an artist always carry your name."""
    with platform.session() as s:
        row = s.get(Privacy, actor.user_id)
        return {"anonymous": bool(row and row.anonymous)}


@router.put("/me/privacy")
def set_privacy(body: PrivacyIn, actor: Actor = Depends(scope("fanclub:write")), platform=Depends(get_platform)):
    """Choose how the fan club shows you to others (takes effect at once, on past posts too)."""
    from sqlalchemy import update

    now = platform.clock.now()
    with platform.session() as s:  # two at once: one inserts, the other updates (no 500)
        if not atomic.insert_once(s, Privacy, user_id=actor.user_id, anonymous=body.anonymous, updated_at=now):
            s.execute(update(Privacy).where(Privacy.user_id == actor.user_id)
                      .values(anonymous=body.anonymous, updated_at=now))
        return {"anonymous": body.anonymous}
