"""Orphaned objects: files in storage that no database row accounts for.

They appear when a process dies between storing an original and committing its row (an upload,
a bulk import), when a replace is abandoned half-way, or when removing superseded or deleted files
fails. The scheduled job ``streaming.sweep_orphans`` walks ``tracks/`` and ``quarantine/tracks/``
and removes what is orphaned, **only once it has stayed orphaned for the grace period**
(``orphan_grace_hours``): storage keeps no creation time we could trust on every backend, so the
first sighting is recorded (``streaming_orphan_suspects``) and the files go on a later run if
they are still unaccounted for. An upload in flight (files stored, row not yet committed) is seen
at most as a suspect and is forgotten as soon as its row commits.

What is live:
* ``tracks/<id>/v<n>/``: a version row ``(id, n)`` that is not ``superseded``. A replace claims
  its version row (state ``uploading``) before it stores the file, so version numbers are never
  reused; a row still ``uploading`` after the grace period was abandoned: its files and row go.
* ``quarantine/tracks/<id>/``: a track row (a taken-down track keeps its files for appeal).
* anything else under ``tracks/<id>/`` while the track row exists is left alone.
"""
from __future__ import annotations

import logging
import re
import uuid
from datetime import timedelta

from sqlalchemy import delete, select

from .models import OrphanSuspect, Track, TrackVersion

log = logging.getLogger("musicconnect.streaming")

KEY_RE = re.compile(r"^(quarantine/)?tracks/([0-9a-fA-F-]{36})/(?:(v(\d+))/)?")


def _prefixes(storage) -> set[tuple[str, uuid.UUID, int | None, bool]]:
    """(prefix, content id, version or None, quarantined) of every stored track object."""
    found = set()
    for root in ("tracks/", "quarantine/tracks/"):
        for key in storage.list(root):
            m = KEY_RE.match(key)
            if m is None:
                continue
            try:
                cid = uuid.UUID(m.group(2))
            except ValueError:
                continue
            quarantined = bool(m.group(1))
            if quarantined or m.group(3) is None:
                found.add((f"{m.group(1) or ''}tracks/{m.group(2)}/", cid, None, quarantined))
            else:
                found.add((f"tracks/{m.group(2)}/{m.group(3)}/", cid, int(m.group(4)), False))
    return found


def _orphaned(s, cid: uuid.UUID, version: int | None, quarantined: bool) -> str | None:
    """Why the prefix is orphaned now, or None when it is live."""
    track = s.get(Track, cid)
    if track is None:
        return "no track"
    if quarantined or version is None:
        return None
    row = s.get(TrackVersion, (cid, version))
    if row is None:
        return "no version"
    if row.state == "superseded":
        return "superseded"
    return None


def sweep_orphans(ctx) -> dict:
    """The scheduled job: record new suspects, delete the ones orphaned for the grace period."""
    platform = ctx.platform
    storage = platform.storage
    settings = platform.plugin_settings("streaming")
    now = platform.clock.now()
    cutoff = now - timedelta(hours=settings.orphan_grace_hours)
    deleted, suspected = [], 0
    with platform.session() as s:  # replaces abandoned half-way (their row claimed the version)
        abandoned = s.execute(select(TrackVersion.content_id, TrackVersion.version).where(
            TrackVersion.state == "uploading", TrackVersion.created_at < cutoff)).all()
    for cid, version in abandoned:
        prefix = f"tracks/{cid}/v{version}/"
        storage.delete_prefix(prefix)
        with platform.session() as s:
            s.execute(delete(TrackVersion).where(TrackVersion.content_id == cid, TrackVersion.version == version,
                                                 TrackVersion.state == "uploading"))
        deleted.append(prefix)
        log.warning("removed an abandoned upload under %s", prefix)
    stored = _prefixes(storage)  # list first, then read rows: a row committed meanwhile is seen
    with platform.session() as s:
        known = {row.prefix: row for row in s.scalars(select(OrphanSuspect))}
    seen = set()
    for prefix, cid, version, quarantined in sorted(stored):
        with platform.session() as s:
            why = _orphaned(s, cid, version, quarantined)
            if why is None:
                continue
            seen.add(prefix)
            suspect = known.get(prefix)
            if suspect is None or suspect.first_seen > cutoff:
                if suspect is None:
                    s.add(OrphanSuspect(prefix=prefix, first_seen=now))
                    suspected += 1
                continue
            storage.delete_prefix(prefix)
            s.execute(delete(OrphanSuspect).where(OrphanSuspect.prefix == prefix))
            deleted.append(prefix)
            log.warning("removed orphaned objects under %s (%s)", prefix, why)
    gone = [p for p in known if p not in seen]  # live again (an upload committed) or already removed
    if gone:
        with platform.session() as s:
            s.execute(delete(OrphanSuspect).where(OrphanSuspect.prefix.in_(gone)))
    return {"deleted": deleted, "new_suspects": suspected}
