"""Chat rooms (``party:<id>`` and the artist's ``artist:<id>`` live room) and their moderation.

Limits are taken with one conditional UPDATE of the sender's ``live_chat_limits`` row (flood:
``FLOOD_COUNT`` messages per ``FLOOD_WINDOW`` seconds; slow mode: one per N seconds), so two
messages sent at once from two processes cannot both pass a limit only one may.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from musicconnect import Actor, Problem
from musicconnect.models import Artist, Tier, User

from . import parties
from .models import ChatLimit, ChatMessage, ModAction, Moderator, Party, Reaction, Room, Sanction

HISTORY = 50
MAX_PAGE = 200
MAX_MODERATORS = 5
FLOOD_COUNT = 5
FLOOD_WINDOW = 10  # seconds
MAX_TEXT = 500
EMOJI = ("👏", "🔥", "❤️", "😂", "😮", "🎶")


def parse_room(room: str) -> tuple[str, uuid.UUID]:
    """``party-<uuid>`` / ``artist-<uuid>`` (paths) or ``party:<uuid>`` (keys) → (kind, id)."""
    kind, _, rest = room.replace(":", "-", 1).partition("-")
    try:
        ident = uuid.UUID(rest)
    except ValueError:
        raise Problem(404, "room-not-found", "no chat room with this name") from None
    if kind not in ("party", "artist"):
        raise Problem(404, "room-not-found", "no chat room with this name")
    return kind, ident


def resolve(platform, s: Session, actor: Actor | None, room: str) -> tuple[str, uuid.UUID, Party | None]:
    """(room key, artist id, party) after checking the caller may read the room."""
    kind, ident = parse_room(room)
    if kind == "party":
        party = parties.get(s, ident)
        parties.require_view(platform, s, actor, party)
        return f"party:{ident}", party.artist_id, party
    if s.get(Artist, ident) is None:
        raise Problem(404, "room-not-found", "no artist with this id")
    return f"artist:{ident}", ident, None


def is_moderator(platform, s: Session, actor: Actor | None, artist_id: uuid.UUID) -> bool:
    return parties.is_host(platform, s, actor, artist_id)


def require_moderator(platform, s: Session, actor: Actor, artist_id: uuid.UUID) -> None:
    if not is_moderator(platform, s, actor, artist_id):
        raise Problem(403, "not-a-moderator", "only the artist and their moderators moderate this chat")


def _banned(artist_id):
    return select(Sanction.user_id).where(Sanction.artist_id == artist_id, Sanction.kind == "ban")


def serialize(s: Session, rows: list[ChatMessage]) -> list[dict[str, Any]]:
    if not rows:
        return []
    ids = [m.id for m in rows]
    names = dict(s.execute(select(User.id, User.display_name).where(User.id.in_({m.user_id for m in rows}))).all())
    counts: dict[int, dict[str, int]] = {}
    for mid, emoji, n in s.execute(select(Reaction.message_id, Reaction.emoji, func.count())
                                   .where(Reaction.message_id.in_(ids)).group_by(Reaction.message_id, Reaction.emoji)):
        counts.setdefault(mid, {})[emoji] = n
    return [{"type": "chat", "id": m.id, "room": m.room, "user_id": str(m.user_id), "name": names.get(m.user_id, ""),
             "text": m.text, "created_at": m.created_at.isoformat(), "reactions": counts.get(m.id, {})} for m in rows]


def history(s: Session, room: str, artist_id: uuid.UUID, *, before: int | None = None, after: int | None = None,
            limit: int = HISTORY) -> list[dict[str, Any]]:
    """Oldest first. ``before``: the page older than that id; ``after``: everything newer than
    the last id a client saw (resume). Deleted messages and banned users' messages are hidden."""
    q = select(ChatMessage).where(ChatMessage.room == room, ChatMessage.deleted.is_(False),
                                  ChatMessage.user_id.not_in(_banned(artist_id)))
    if after is not None:
        rows = s.scalars(q.where(ChatMessage.id > after).order_by(ChatMessage.id).limit(limit)).all()
    else:
        if before is not None:
            q = q.where(ChatMessage.id < before)
        rows = list(reversed(s.scalars(q.order_by(ChatMessage.id.desc()).limit(limit)).all()))
    return serialize(s, rows)


def settings_of(s: Session, room: str) -> tuple[int, uuid.UUID | None]:
    row = s.get(Room, room)
    return (row.slow_mode_seconds, row.min_tier_id) if row else (0, None)


def _take_limit(platform, s: Session, user_id: uuid.UUID, room: str, slow: int) -> None:
    """Count this message against the flood window and slow mode, atomically, or refuse."""
    now = platform.clock.now()
    try:
        with s.begin_nested():
            s.add(ChatLimit(user_id=user_id, room=room, window_start=now, window_count=0,
                            last_at=now - timedelta(days=1)))
    except IntegrityError:
        pass
    window_open = now - timedelta(seconds=FLOOD_WINDOW)
    fresh = ChatLimit.window_start <= window_open
    conditions = [ChatLimit.user_id == user_id, ChatLimit.room == room,
                  or_(fresh, ChatLimit.window_count < FLOOD_COUNT)]
    if slow:
        conditions.append(ChatLimit.last_at <= now - timedelta(seconds=slow))
    won = s.execute(update(ChatLimit).where(*conditions).values(
        window_start=case((fresh, now), else_=ChatLimit.window_start),
        window_count=case((fresh, 1), else_=ChatLimit.window_count + 1),
        last_at=now).execution_options(synchronize_session=False)).rowcount
    if won:
        return
    row = s.execute(select(ChatLimit.window_start, ChatLimit.window_count, ChatLimit.last_at).where(
        ChatLimit.user_id == user_id, ChatLimit.room == room)).one()
    if slow and row.last_at > now - timedelta(seconds=slow):
        wait = (row.last_at + timedelta(seconds=slow) - now).total_seconds()
        raise Problem(429, "chat-slow-mode", f"slow mode: one message every {slow} s", retry_after=max(1, round(wait)))
    wait = (row.window_start + timedelta(seconds=FLOOD_WINDOW) - now).total_seconds()
    raise Problem(429, "chat-flood", f"at most {FLOOD_COUNT} messages every {FLOOD_WINDOW} s",
                  retry_after=max(1, round(wait)))


def active_sanction(s: Session, artist_id: uuid.UUID, user_id: uuid.UUID, now: datetime) -> Sanction | None:
    return s.scalar(select(Sanction).where(Sanction.artist_id == artist_id, Sanction.user_id == user_id,
                                           or_(Sanction.kind == "ban", Sanction.until > now))
                    .order_by(Sanction.kind)  # ban before mute
                    .limit(1))


def screen(platform, actor: Actor | None, room: str, text: str) -> None:
    """The platform's abuse screens on a chat line (bursts, the same text in many rooms, links
    floods: docs/moderation.md "Abuse"), asked before any transaction is open: ``limit`` → 429
    ``activity-limited`` with Retry-After, ``block`` → 403 ``activity-blocked``. The room's
    moderators (the artist, their moderators) are exempt, as from the flood limit."""
    if actor is None:
        return
    with platform.read() as s:
        _key, artist_id, _party = resolve(platform, s, actor, room)
        if is_moderator(platform, s, actor, artist_id):
            return
    verdict = platform.screen_activity("chat.sent", actor.user_id, room=room, recipient=room, text=text)
    if verdict.action == "limit":
        retry = int(verdict.data.get("retry_after") or 60)
        raise Problem(429, "activity-limited", verdict.detail, retry_after=retry, headers={"Retry-After": str(retry)})
    if verdict.action == "block":
        raise Problem(403, "activity-blocked", verdict.detail)


def post(platform, s: Session, actor: Actor | None, room: str, text: str) -> dict[str, Any]:
    if actor is None:
        raise Problem(401, "unauthorized", "sign in to chat")
    key, artist_id, party = resolve(platform, s, actor, room)
    if party is not None:
        parties.require_open(party)
    text = (text or "").strip()
    if not text or len(text) > MAX_TEXT:
        raise Problem(422, "invalid-message", f"a message is 1 to {MAX_TEXT} characters")
    now = platform.clock.now()
    moderator = is_moderator(platform, s, actor, artist_id)
    if not moderator:
        sanction = active_sanction(s, artist_id, actor.user_id, now)
        if sanction is not None and sanction.kind == "ban":
            raise Problem(403, "chat-banned", "you are banned from this artist's chat")
        if sanction is not None:
            raise Problem(403, "chat-muted", "you are muted in this artist's chat", until=sanction.until.isoformat())
        slow, min_tier = settings_of(s, key)
        if min_tier is not None:
            tier = s.get(Tier, min_tier)
            rank = platform.access.context(actor, artist_id).best_rank()
            if tier is not None and (rank is None or rank < tier.rank):
                raise Problem(403, "chat-members-only", f"this chat is for members of {tier.name} or above",
                              required_tier=str(min_tier))
        _take_limit(platform, s, actor.user_id, key, slow)
    msg = ChatMessage(room=key, artist_id=artist_id, user_id=actor.user_id, text=text, created_at=now)
    s.add(msg)
    s.flush()
    return serialize(s, [msg])[0]


def message(s: Session, message_id: int) -> ChatMessage:
    msg = s.get(ChatMessage, message_id)
    if msg is None or msg.deleted:
        raise Problem(404, "message-not-found", "no chat message with this id")
    return msg


def react(platform, s: Session, actor: Actor, message_id: int, emoji: str, on: bool) -> dict[str, Any]:
    msg = message(s, message_id)
    resolve(platform, s, actor, msg.room)
    if msg.user_id in set(s.scalars(_banned(msg.artist_id))):
        raise Problem(404, "message-not-found", "no chat message with this id")
    if on:
        if active_sanction(s, msg.artist_id, actor.user_id, platform.clock.now()) is not None:
            raise Problem(403, "chat-muted", "you may not react in this artist's chat now")
        if s.get(Reaction, (message_id, actor.user_id, emoji)) is None:
            try:
                with s.begin_nested():
                    s.add(Reaction(message_id=message_id, user_id=actor.user_id, emoji=emoji))
            except IntegrityError:
                pass  # the same reaction at once from another request: one is enough
    else:
        s.execute(delete(Reaction).where(Reaction.message_id == message_id, Reaction.user_id == actor.user_id,
                                         Reaction.emoji == emoji))
    return {"type": "reactions", **{k: v for k, v in serialize(s, [msg])[0].items() if k in ("id", "room", "reactions")}}


# ---------------------------------------------------------------- moderation

def log(platform, s: Session, actor: Actor, artist_id: uuid.UUID, action: str, *, target: uuid.UUID | None = None,
        room: str | None = None, **data: Any) -> None:
    s.add(ModAction(id=uuid.uuid4(), artist_id=artist_id, moderator_id=actor.user_id, action=action,
                    target_user_id=target, room=room, data=data, created_at=platform.clock.now()))


def delete_message(platform, s: Session, actor: Actor, message_id: int) -> ChatMessage:
    msg = message(s, message_id)
    if msg.user_id != actor.user_id:
        require_moderator(platform, s, actor, msg.artist_id)
    msg.deleted = True
    log(platform, s, actor, msg.artist_id, "delete_message", target=msg.user_id, room=msg.room, message_id=msg.id,
        text=msg.text[:100])
    return msg


def sanction(platform, s: Session, actor: Actor, artist_id: uuid.UUID, user_id: uuid.UUID, kind: str,
             minutes: int | None) -> Sanction:
    require_moderator(platform, s, actor, artist_id)
    if s.get(User, user_id) is None:
        raise Problem(404, "not-found", "user not found")
    artist = s.get(Artist, artist_id)
    if user_id == actor.user_id or (artist is not None and artist.user_id == user_id):
        raise Problem(403, "not-a-moderator", "the artist and yourself cannot be muted or banned")
    if s.get(Moderator, (artist_id, user_id)) is not None and not platform.access.manages(actor, artist_id):
        raise Problem(403, "not-a-moderator", "only the artist mutes or bans a moderator")
    if kind == "mute" and not minutes:
        raise Problem(422, "invalid-sanction", "a mute needs minutes (1 to 10080)")
    now = platform.clock.now()
    until = now + timedelta(minutes=minutes) if minutes else None
    row = s.get(Sanction, (artist_id, user_id, kind))
    if row is None:
        row = Sanction(artist_id=artist_id, user_id=user_id, kind=kind, until=until, created_at=now)
        s.add(row)
    else:
        row.until, row.created_at = until, now
    log(platform, s, actor, artist_id, kind, target=user_id, minutes=minutes)
    s.flush()
    return row


def lift(platform, s: Session, actor: Actor, artist_id: uuid.UUID, user_id: uuid.UUID, kind: str) -> None:
    require_moderator(platform, s, actor, artist_id)
    gone = s.execute(delete(Sanction).where(Sanction.artist_id == artist_id, Sanction.user_id == user_id,
                                            Sanction.kind == kind)).rowcount
    if gone:
        log(platform, s, actor, artist_id, f"un{kind}", target=user_id)


def configure(platform, s: Session, actor: Actor, room: str, *, slow_mode_seconds: int | None,
              min_tier_id: uuid.UUID | None, clear_tier: bool) -> Room:
    key, artist_id, _ = resolve(platform, s, actor, room)
    require_moderator(platform, s, actor, artist_id)
    if min_tier_id is not None:
        tier = s.get(Tier, min_tier_id)
        if tier is None or tier.artist_id != artist_id:
            raise Problem(422, "invalid-room-settings", "min_tier_id must be one of the artist's tiers")
    row = s.get(Room, key)
    if row is None:
        row = Room(room=key, artist_id=artist_id, slow_mode_seconds=0, min_tier_id=None)
        s.add(row)
    if slow_mode_seconds is not None:
        row.slow_mode_seconds = slow_mode_seconds
    if min_tier_id is not None or clear_tier:
        row.min_tier_id = min_tier_id
    s.flush()
    log(platform, s, actor, artist_id, "room_settings", room=key, slow_mode_seconds=row.slow_mode_seconds,
        min_tier_id=str(row.min_tier_id) if row.min_tier_id else None)
    return row


def add_moderator(platform, s: Session, actor: Actor, artist_id: uuid.UUID, user_id: uuid.UUID) -> None:
    if not platform.access.manages(actor, artist_id):
        raise Problem(403, "forbidden", "only the artist appoints moderators")
    if s.get(User, user_id) is None:
        raise Problem(404, "not-found", "user not found")
    if s.get(Moderator, (artist_id, user_id)) is not None:
        return
    count = s.scalar(select(func.count()).select_from(Moderator).where(Moderator.artist_id == artist_id)) or 0
    if count >= MAX_MODERATORS:
        raise Problem(409, "too-many-moderators", f"an artist appoints at most {MAX_MODERATORS} moderators",
                      limit=MAX_MODERATORS)
    s.add(Moderator(artist_id=artist_id, user_id=user_id, created_at=platform.clock.now()))
    log(platform, s, actor, artist_id, "appoint", target=user_id)


def remove_moderator(platform, s: Session, actor: Actor, artist_id: uuid.UUID, user_id: uuid.UUID) -> None:
    if not platform.access.manages(actor, artist_id):
        raise Problem(403, "forbidden", "only the artist dismisses moderators")
    if s.execute(delete(Moderator).where(Moderator.artist_id == artist_id, Moderator.user_id == user_id)).rowcount:
        log(platform, s, actor, artist_id, "dismiss", target=user_id)

