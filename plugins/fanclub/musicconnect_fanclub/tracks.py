"""The one rule for the tracks a post attaches, whichever way the post arrives (the fan club's
form, the core's JSON content API, an edit): each id must be a track of the post's own artist.

The core's ``ContentKind.validate`` sees only ``data``, not the artist nor the database, so the
rule is checked where every write of a post passes: a ``before_flush`` listener on the
platform's sessions, for each new post and each post whose ``data`` changed (only the ids it
adds: an edit of an older post is not refused for a track deleted since)."""
from __future__ import annotations

import uuid

from sqlalchemy import event, inspect, select

from musicconnect import Problem
from musicconnect.models import ContentItem


def _ids(data) -> list[uuid.UUID]:
    tracks = data.get("tracks") if isinstance(data, dict) else None
    out = []
    for t in tracks if isinstance(tracks, list) else []:
        try:
            out.append(t if isinstance(t, uuid.UUID) else uuid.UUID(str(t)))
        except ValueError:
            continue  # the post model refuses these before; nothing to look up
    return list(dict.fromkeys(out))


def check_tracks(session, artist_id: uuid.UUID, ids) -> None:
    """``422 validation`` unless every id is a track of ``artist_id`` (existing, any status)."""
    ids = list(dict.fromkeys(ids))
    if not ids:
        return
    with session.no_autoflush:
        owners = dict(session.execute(select(ContentItem.id, ContentItem.artist_id)
                                      .where(ContentItem.id.in_(ids), ContentItem.kind == "track")).all())
    bad = [t for t in ids if owners.get(t) != artist_id]
    if bad:
        raise Problem(422, "validation", f"data.tracks: {bad[0]} is not a track of this artist",
                      errors=[{"loc": ["data", "tracks"], "msg": f"{t} is not a track of this artist",
                               "type": "value_error"} for t in bad[:20]])


def _before_flush(session, _context, _instances) -> None:
    for obj in [*session.new, *session.dirty]:
        if not isinstance(obj, ContentItem) or obj.kind != "post":
            continue
        ids = _ids(obj.data)
        if not ids:
            continue
        if obj not in session.new:
            history = inspect(obj).attrs.data.history
            if not history.has_changes():
                continue
            before = {t for old in history.deleted for t in _ids(old)}
            ids = [t for t in ids if t not in before]
        check_tracks(session, obj.artist_id, ids)


def install(platform) -> None:
    """Listen on this platform's sessions (once)."""
    factory = platform.db.Session
    if not event.contains(factory, "before_flush", _before_flush):
        event.listen(factory, "before_flush", _before_flush)
