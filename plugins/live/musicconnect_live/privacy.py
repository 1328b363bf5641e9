"""A person's live data: their export and their erasure (GDPR Art. 15, 17, 20; docs/privacy.md).

A fan leaves RSVPs, attendance (when they listened to a party), chat messages and reactions,
per-room chat counters, moderator roles and sanctions (mutes, bans) and moderation-log entries
naming them behind. An artist also their parties (with recaps), chat rooms, stream key, live
sessions and recordings (storage objects). Party recaps are counts that name nobody: a fan's
erasure leaves them as they are."""
from __future__ import annotations

from typing import Any

from sqlalchemy import delete, or_, select, update

from musicconnect.contracts import ErasureReport, ExportFile, ExportPart
from musicconnect.models import Artist

from .ingest_models import LiveStreamKey, LiveStreamSession
from .models import (Attendance, ChatLimit, ChatMessage, ModAction, Moderator, Party, Reaction, Room, Rsvp,
                     Sanction)

NOTES = (
    "rsvps: the listening parties you said you would attend. attendance: when you listened to a party. "
    "chat_messages and chat_reactions: what you wrote and how you reacted in live chats. moderator_roles: "
    "the artists whose chats you moderate. sanctions: mutes and bans you received in artists' chats. "
    "moderation_log: what you did as a moderator, and what moderators did about you. As an artist: your "
    "parties (with their recaps: counts only), your live sessions and their recordings (in recordings/); "
    "your stream key is stored only as a hash and is not exported. Party recaps count listeners and "
    "messages without naming anyone, so they stay when a fan is erased.")


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _str(value) -> str | None:
    return str(value) if value is not None else None


def _artist_id(user):
    artist = getattr(user, "artist", None)
    return artist.id if artist is not None else None


def export(platform, session, user) -> ExportPart | None:
    uid, aid = user.id, _artist_id(user)
    records: dict[str, list[dict[str, Any]]] = {}
    records["rsvps"] = [{"party_id": str(r.party_id), "created_at": _iso(r.created_at)}
                        for r in session.scalars(select(Rsvp).where(Rsvp.user_id == uid).order_by(Rsvp.created_at))]
    records["attendance"] = [{"party_id": str(a.party_id), "joined_at": _iso(a.joined_at), "left_at": _iso(a.left_at)}
                             for a in session.scalars(select(Attendance).where(Attendance.user_id == uid)
                                                      .order_by(Attendance.joined_at))]
    records["chat_messages"] = [
        {"id": str(m.id), "room": m.room, "artist_id": str(m.artist_id), "text": m.text, "deleted": m.deleted,
         "created_at": _iso(m.created_at)}
        for m in session.scalars(select(ChatMessage).where(ChatMessage.user_id == uid).order_by(ChatMessage.id))]
    records["chat_reactions"] = [{"message_id": str(r.message_id), "emoji": r.emoji}
                                 for r in session.scalars(select(Reaction).where(Reaction.user_id == uid))]
    records["moderator_roles"] = [{"artist_id": str(m.artist_id), "created_at": _iso(m.created_at)}
                                  for m in session.scalars(select(Moderator).where(Moderator.user_id == uid))]
    records["sanctions"] = [{"artist_id": str(x.artist_id), "kind": x.kind, "until": _iso(x.until),
                             "created_at": _iso(x.created_at)}
                            for x in session.scalars(select(Sanction).where(Sanction.user_id == uid))]
    records["moderation_log"] = [
        {"id": str(a.id), "artist_id": str(a.artist_id), "action": a.action,
         "by_you": a.moderator_id == uid, "about_you": a.target_user_id == uid, "room": a.room,
         "created_at": _iso(a.created_at)}
        for a in session.scalars(select(ModAction).where(or_(ModAction.moderator_id == uid,
                                                             ModAction.target_user_id == uid))
                                 .order_by(ModAction.created_at))]
    files: list[ExportFile] = []
    if aid is not None:
        records["parties"] = [
            {"id": str(p.id), "title": p.title, "description": p.description, "starts_at": _iso(p.starts_at),
             "timezone": p.timezone, "visibility": p.visibility, "status": p.status, "playlist": p.playlist or [],
             "started_at": _iso(p.started_at), "ended_at": _iso(p.ended_at), "recap": p.recap,
             "created_at": _iso(p.created_at)}
            for p in session.scalars(select(Party).where(Party.artist_id == aid).order_by(Party.starts_at))]
        sessions = list(session.scalars(select(LiveStreamSession).where(LiveStreamSession.artist_id == aid)
                                        .order_by(LiveStreamSession.created_at)))
        records["live_sessions"] = [
            {"id": str(x.id), "title": x.title, "status": x.status, "access": x.access, "reason": x.reason,
             "created_at": _iso(x.created_at), "started_at": _iso(x.started_at), "ended_at": _iso(x.ended_at),
             "recording": x.recording_key is not None, "track_id": _str(x.track_id)} for x in sessions]
        for x in sessions:
            if x.recording_key:
                files.append(ExportFile(path=f"recordings/{x.id}.aac", storage_key=x.recording_key,
                                        content_type="audio/aac"))
        key = session.get(LiveStreamKey, aid)
        records["stream_key"] = [] if key is None else [{"hint": key.hint, "created_at": _iso(key.created_at)}]
    if not any(records.values()) and not files:
        return None
    return ExportPart(records=records, files=tuple(files), notes=NOTES)


def _run(session, stmt) -> int:
    return int(session.execute(stmt.execution_options(synchronize_session=False)).rowcount or 0)


def erase(platform, session, user) -> ErasureReport:
    uid, aid = user.id, _artist_id(user)
    erased: dict[str, int] = {}
    storage_keys: list[str] = []
    theirs = select(ChatMessage.id).where(ChatMessage.user_id == uid)
    erased["chat_reactions"] = _run(session, delete(Reaction).where(
        or_(Reaction.user_id == uid, Reaction.message_id.in_(theirs))))
    erased["chat_messages"] = _run(session, delete(ChatMessage).where(ChatMessage.user_id == uid))
    erased["chat_limits"] = _run(session, delete(ChatLimit).where(ChatLimit.user_id == uid))
    erased["rsvps"] = _run(session, delete(Rsvp).where(Rsvp.user_id == uid))
    erased["attendance"] = _run(session, delete(Attendance).where(Attendance.user_id == uid))
    erased["moderator_roles"] = _run(session, delete(Moderator).where(Moderator.user_id == uid))
    erased["sanctions"] = _run(session, delete(Sanction).where(Sanction.user_id == uid))
    # the artist's moderation log: what they did goes; what was done about them stays without them
    erased["moderation_log"] = _run(session, delete(ModAction).where(ModAction.moderator_id == uid))
    erased["moderation_log_anonymised"] = _run(session, update(ModAction).where(ModAction.target_user_id == uid)
                                               .values(target_user_id=None, data={}))
    # an artist's own parties go with them; a party of another artist they hosted as a moderator is
    # that artist's: it stays, hosted by the artist from now on
    party_ids = [] if aid is None else list(session.scalars(select(Party.id).where(Party.artist_id == aid)))
    owner = select(Artist.user_id).where(Artist.id == Party.artist_id).scalar_subquery()
    erased["parties_hosted_for_others"] = _run(session, update(Party).where(
        Party.host_id == uid, *([Party.artist_id != aid] if aid is not None else [])).values(host_id=owner))
    if party_ids:
        from .parties import room_of

        rooms = [room_of(pid) for pid in party_ids]
        in_rooms = select(ChatMessage.id).where(ChatMessage.room.in_(rooms))
        _run(session, delete(Reaction).where(Reaction.message_id.in_(in_rooms)))
        erased["party_chat_messages"] = _run(session, delete(ChatMessage).where(ChatMessage.room.in_(rooms)))
        _run(session, delete(ChatLimit).where(ChatLimit.room.in_(rooms)))
        _run(session, delete(Rsvp).where(Rsvp.party_id.in_(party_ids)))
        _run(session, delete(Attendance).where(Attendance.party_id.in_(party_ids)))
        erased["parties"] = _run(session, delete(Party).where(Party.id.in_(party_ids)))
    if aid is not None:
        artist_rooms = select(Room.room).where(Room.artist_id == aid)
        own = or_(ChatMessage.artist_id == aid, ChatMessage.room.in_(artist_rooms))
        _run(session, delete(Reaction).where(Reaction.message_id.in_(select(ChatMessage.id).where(own))))
        erased["artist_chat_messages"] = _run(session, delete(ChatMessage).where(own))
        _run(session, delete(ChatLimit).where(or_(ChatLimit.room.in_(artist_rooms),
                                                  ChatLimit.room == f"artist:{aid}")))
        erased["chat_rooms"] = _run(session, delete(Room).where(Room.artist_id == aid))
        erased["moderators_appointed"] = _run(session, delete(Moderator).where(Moderator.artist_id == aid))
        erased["sanctions_given"] = _run(session, delete(Sanction).where(Sanction.artist_id == aid))
        erased["moderation_log"] += _run(session, delete(ModAction).where(ModAction.artist_id == aid))
        erased["stream_key"] = _run(session, delete(LiveStreamKey).where(LiveStreamKey.artist_id == aid))
        sessions = list(session.scalars(select(LiveStreamSession).where(LiveStreamSession.artist_id == aid)))
        for x in sessions:
            if x.recording_key:
                storage_keys.append(x.recording_key)
            from .ingest import live_prefix, recording_prefix

            # prefixes (ending in /): listed and deleted after the commit, segments written meanwhile too
            storage_keys += [live_prefix(x.id) + "/", recording_prefix(x.id) + "/"]
        erased["live_sessions"] = _run(session, delete(LiveStreamSession).where(LiveStreamSession.artist_id == aid))
        erased["recordings"] = sum(1 for x in sessions if x.recording_key)
    return ErasureReport(erased={k: v for k, v in erased.items() if v},
                         storage_keys=tuple(sorted(set(storage_keys))))
